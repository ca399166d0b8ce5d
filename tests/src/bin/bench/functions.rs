//! One function binary under the Runtime API: cold starts, Secrets Manager calls and target
//! connections per step (through counters), step and rotation latency, peak memory, CPU.

use crate::baseline::Rig;
use crate::setup::{BenchResult, Stack};
use crate::stats::Samples;
use rotation::protocol::AWSCURRENT;
use rotation::Step;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::lambda::{Bootstrap, InvocationResult, LambdaCpu};
use testkit::proxy::{Calls, CountingProxy};
use testkit::relay::{ConnectionCounter, Session};
use testkit::{Emulator, FunctionProcess};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Redis,
    Jwt,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Postgres, Kind::Redis, Kind::Jwt];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
            Kind::Jwt => "jwt",
        }
    }

    /// The least time between two rotations: JWT rotations a second apart keep, with the bench
    /// secret's previous keys verifying 2 s (`maxRotationSeconds` 1 + `graceSeconds` 1), two
    /// previous keys (a real schedule keeps one) instead of gaining one per rotation.
    fn spacing(self) -> Duration {
        match self {
            Kind::Jwt => Duration::from_secs(1),
            Kind::Postgres | Kind::Redis => Duration::ZERO,
        }
    }

    /// What the benchmark rotates with this function.
    pub fn scenario(self) -> &'static str {
        match self {
            Kind::Postgres => "alternating users, admin secret (masterarn), no TLS",
            Kind::Redis => "single user, admin secret (masterarn), one node, no TLS",
            Kind::Jwt => "HS256 access set + EdDSA refresh set",
        }
    }
}

/// The binary that runs, and the zip it came from when there is one.
pub struct Artifact {
    pub binary: PathBuf,
    pub zip: Option<PathBuf>,
}

pub struct Options<'a> {
    pub rotations: usize,
    pub cold_starts: usize,
    pub counted_rotations: usize,
    /// Lambda's CPU share at a memory size, when the functions run confined to it.
    pub cpu: Option<&'a LambdaCpu>,
}

#[derive(Default)]
pub struct Measured {
    pub init: Samples,
    pub first_event: Samples,
    pub rss_after_first_event_kib: Option<u64>,
    pub steps: [Samples; 4],
    pub rotation: Samples,
    /// An invocation that makes no call (an invalid event): the Runtime API hop and the handler.
    pub empty_invocation: Samples,
    pub peak_rss_kib: Option<u64>,
    pub cpu_per_rotation: Option<Duration>,
    /// Per counted rotation: Secrets Manager calls per step.
    pub calls: Vec<[Calls; 4]>,
    /// Per counted rotation: connections to the target (PostgreSQL, Redis) per step.
    pub sessions: Vec<[Vec<Session>; 4]>,
    pub failures: Vec<String>,
    /// What the secret looked like at the end, where that matters for the figures.
    pub note: Option<String>,
}

/// Runs every measurement for one function; failures are collected, not fatal.
pub async fn measure(
    stack: &Stack,
    kind: Kind,
    artifact: &Artifact,
    options: &Options<'_>,
    mut interleaved: Option<&mut Rig<'_>>,
) -> BenchResult<Measured> {
    let mut out = Measured::default();
    let emulator: &Emulator = &stack.emulator;
    let (counted, timed, counter) = stack.function_secrets(kind).await?;

    // 1. Calls and connections per step, through the counters (a process of its own).
    let proxy = CountingProxy::start(emulator.endpoint()).await?;
    let mut env = emulator.env();
    for (key, value) in env.iter_mut() {
        if *key == "AWS_ENDPOINT_URL" {
            *value = proxy.endpoint().to_owned();
        }
    }
    let mut pacer = Pacer {
        every: kind.spacing(),
        last: None,
    };
    let mut function = started(artifact, &env, options.cpu).await?;
    for _ in 0..options.counted_rotations {
        proxy.take();
        if let Some(counter) = &counter {
            counter.take().await;
        }
        match rotate(
            &function,
            emulator,
            &counted,
            Some((&proxy, counter.as_ref())),
            &mut pacer,
        )
        .await
        {
            Ok((_, observed)) => {
                out.calls.push(observed.calls);
                out.sessions.push(observed.sessions);
            }
            Err(e) => {
                out.failures.push(format!("counted rotation: {e}"));
                break;
            }
        }
    }
    function.stop();

    // 2. Cold starts: the event waits in the queue before the process exists. A late retry on the
    //    AWSCURRENT version: one DescribeSecret, then `already_current`.
    let current = emulator
        .version_with(&counted, AWSCURRENT)
        .await
        .ok_or("the counted secret has no AWSCURRENT version")?;
    let event = json!({"Step": "testSecret", "SecretId": counted, "ClientRequestToken": current});
    let env = emulator.env();
    for _ in 0..options.cold_starts {
        let mut function = FunctionProcess::prepare().await?;
        let answer = function.submit(&event);
        function.spawn(&bootstrap(artifact, &env, options.cpu))?;
        let answer = answer.answer().await;
        let init = function.time_to_first_poll().await;
        match (&answer.result, init, function.spawned()) {
            (Ok(value), Some(init), Some(spawned)) if value["outcome"] == "already_current" => {
                out.init.push(init);
                out.first_event.push(answer.at - spawned);
                out.rss_after_first_event_kib =
                    out.rss_after_first_event_kib.max(function.peak_rss_kib());
            }
            (result, _, _) => out
                .failures
                .push(format!("cold start: unexpected answer {result:?}")),
        }
        function.stop();
    }

    // 3. Latency, CPU and memory over the timed rotations, after one warm-up rotation. (CPU and
    //    memory are the function process's own: the interleaved work runs in this process.)
    let mut function = started(artifact, &env, options.cpu).await?;
    if let Err(e) = rotate(&function, emulator, &timed, None, &mut pacer).await {
        out.failures.push(format!("warm-up rotation: {e}"));
        return Ok(out);
    }
    // What the Runtime API and the handler cost without any call: an event rejected at parsing.
    for _ in 0..options.rotations {
        match invoke(&function, &json!({"Step": "bench-invalid"})).await {
            (Err(e), elapsed) if e.error_type.starts_with("InvalidEvent") => {
                out.empty_invocation.push(elapsed)
            }
            (other, _) => out
                .failures
                .push(format!("invalid event: unexpected {other:?}")),
        }
    }
    let cpu_before = function.cpu_time();
    for n in 0..options.rotations {
        match rotate(&function, emulator, &timed, None, &mut pacer).await {
            Ok((times, _)) => {
                for (samples, time) in out.steps.iter_mut().zip(times) {
                    samples.push(time);
                }
                out.rotation.push(times.iter().sum());
            }
            Err(e) => {
                out.failures.push(format!("rotation {}: {e}", n + 1));
                break;
            }
        }
        // The unavoidable work in lockstep, so that both see the same load on the machine.
        if let Some(rig) = interleaved.as_deref_mut() {
            rig.iteration().await?;
        }
    }
    if let (Some(before), Some(after), false) =
        (cpu_before, function.cpu_time(), out.rotation.is_empty())
    {
        out.cpu_per_rotation = Some((after - before) / out.rotation.len() as u32);
    }
    out.peak_rss_kib = function.peak_rss_kib();
    function.stop();
    if kind == Kind::Jwt {
        out.note = jwt_note(emulator, &timed).await;
    }
    Ok(out)
}

/// The function as the bench runs it: exactly `env` and the Lambda variables (nothing from the
/// shell changes a figure), its output discarded.
fn bootstrap<'a>(
    artifact: &'a Artifact,
    env: &'a [(&'a str, String)],
    cpu: Option<&'a LambdaCpu>,
) -> Bootstrap<'a> {
    Bootstrap::new(&artifact.binary)
        .env(env)
        .clean_env()
        .discard_output()
        .name("bench-rotation")
        .cpu(cpu)
}

/// The function started and polling (within 30 s).
async fn started(
    artifact: &Artifact,
    env: &[(&str, String)],
    cpu: Option<&LambdaCpu>,
) -> BenchResult<FunctionProcess> {
    FunctionProcess::launch(&bootstrap(artifact, env, cpu))
        .await
        .map_err(|e| format!("{}: {e}", artifact.binary.display()).into())
}

/// Sends one event and waits for the answer; also returns the round trip through the Runtime API.
pub async fn invoke(function: &FunctionProcess, event: &Value) -> (InvocationResult, Duration) {
    let sent = Instant::now();
    let answer = function.submit(event).answer().await;
    (answer.result, answer.at - sent)
}

/// The size of the JWT value after the timed rotations: rotations a second apart keep two
/// previous keys per set (4 keys per set), one more than a 90-day schedule would (3).
async fn jwt_note(emulator: &Emulator, secret_id: &str) -> Option<String> {
    let raw = emulator.value_at(secret_id, AWSCURRENT).await?;
    let value: serde_json::Value = serde_json::from_str(&raw).ok()?;
    let keys = |set: &str| value["keySets"][set].as_array().map_or(0, Vec::len);
    Some(format!(
        "the last AWSCURRENT holds {} access and {} refresh keys, {} bytes",
        keys("access"),
        keys("refresh"),
        raw.len()
    ))
}

/// Keeps rotations of one function at least `every` apart (untimed).
struct Pacer {
    every: Duration,
    last: Option<Instant>,
}

impl Pacer {
    async fn wait(&mut self) {
        if let Some(last) = self.last {
            tokio::time::sleep_until(tokio::time::Instant::from_std(last + self.every)).await;
        }
        self.last = Some(Instant::now());
    }
}

#[derive(Default)]
struct Observed {
    calls: [Calls; 4],
    sessions: [Vec<Session>; 4],
}

/// Stages a rotation as the service does (not timed), then sends the four steps; returns each
/// step's round trip through the Runtime API and, with counters, what each step did through them.
async fn rotate(
    function: &FunctionProcess,
    emulator: &Emulator,
    secret_id: &str,
    counters: Option<(&CountingProxy, Option<&ConnectionCounter>)>,
    pacer: &mut Pacer,
) -> Result<([Duration; 4], Observed), String> {
    pacer.wait().await;
    let token = emulator.stage_rotation(secret_id).await;
    let mut times = [Duration::ZERO; 4];
    let mut observed = Observed::default();
    for (i, step) in Step::ALL.into_iter().enumerate() {
        let event =
            json!({"Step": step.as_str(), "SecretId": secret_id, "ClientRequestToken": token});
        let (result, elapsed) = invoke(function, &event).await;
        match result {
            Ok(value) if value["outcome"] == "done" => times[i] = elapsed,
            Ok(value) => return Err(format!("{step}: unexpected outcome {value}")),
            Err(e) => return Err(format!("{step}: {e}")),
        }
        if let Some((proxy, relay)) = counters {
            if let Some(relay) = relay {
                observed.sessions[i] = relay.take().await;
            }
            observed.calls[i] = proxy.take();
        }
    }
    Ok((times, observed))
}
