//! An ElastiCache RBAC user rotated through the Redis function binary, against the test kit's
//! control-plane emulator: ModifyUser leaves the user `modifying` for [`MODIFYING`], then the
//! emulator applies the change to a TLS redis-server, where the function logs in.
//!
//! Per step: the round trip through the Runtime API; Secrets Manager calls, counted by
//! `X-Amz-Target` at the counting proxy (ElastiCache's Query-protocol requests carry none: the
//! proxy files them under `(no X-Amz-Target)`, which is set apart and checked against the
//! emulator's count); ElastiCache calls, from the emulator's per-scope counts (reset before each
//! step); and the time the function spent waiting for the user to be `active`, from its own log
//! lines (`managed target ready`, `waited_ms`), read anew after each step.

use crate::functions::{invoke, Artifact, Options};
use crate::setup::{credential_at, BenchResult, Stack};
use crate::stats::Samples;
use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPREVIOUS};
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::lambda::{Bootstrap, LambdaCpu};
use testkit::managed_redis::ManagedRedis;
use testkit::proxy::{Calls, CountingProxy};
use testkit::redis::scenario::SecretMaterial;
use testkit::redis::{RedisOptions, TlsFiles};
use testkit::relay::{ConnectionCounter, Session};
use testkit::{Emulator, FunctionProcess, RedisServer};

/// How long the emulator keeps a changed user `modifying` (AWS takes minutes).
pub const MODIFYING: Duration = Duration::from_millis(300);
/// Where the counting proxy files a request without `X-Amz-Target` (testkit::proxy): here, the
/// ElastiCache Query-protocol calls.
const NO_TARGET: &str = "(no X-Amz-Target)";
/// The message of the function's log line after each wait for `active` (rotation::redis::managed).
const READY: &str = "managed target ready";

/// What one step did besides its round trip.
#[derive(Debug, Clone, Default)]
pub struct StepObserved {
    /// ElastiCache calls by action (`DescribeUsers`), from the emulator's scope.
    pub control: Calls,
    /// Waits for `active` and the DescribeUsers polls they took, from the function's log.
    pub waits: u32,
    pub polls: u32,
    /// The sum of the waits' `waited_ms`.
    pub waited: Duration,
}

#[derive(Default)]
pub struct Measured {
    pub steps: [Samples; 4],
    /// Per step: the time spent waiting for `active`, and the step's time without it.
    pub waited: [Samples; 4],
    pub working: [Samples; 4],
    pub rotation: Samples,
    pub rotation_waited: Samples,
    pub rotation_working: Samples,
    /// Per timed rotation and step: the ElastiCache calls and waits.
    pub timed: Vec<[StepObserved; 4]>,
    /// Per counted rotation: Secrets Manager calls per step (the proxy's counts without the
    /// control-plane requests).
    pub calls: Vec<[Calls; 4]>,
    /// Per counted rotation and step: the control-plane requests the proxy saw (no
    /// `X-Amz-Target`) and the ElastiCache calls the emulator counted.
    pub control_at_proxy: Vec<[u32; 4]>,
    pub control: Vec<[StepObserved; 4]>,
    /// Per counted rotation: connections to the TLS endpoint per step.
    pub sessions: Vec<[Vec<Session>; 4]>,
    /// Rotations after which the new password logged in and the previous one still did.
    pub rotated: usize,
    pub verified: usize,
    pub peak_rss_kib: Option<u64>,
    pub cpu_per_rotation: Option<Duration>,
    pub failures: Vec<String>,
}

/// One rotation's figures.
struct Rotation {
    times: [Duration; 4],
    observed: [StepObserved; 4],
    calls: [Calls; 4],
    control_at_proxy: [u32; 4],
    sessions: [Vec<Session>; 4],
}

/// The TLS redis-server, the emulator scope whose changes land on it, and two users with their
/// secrets: one rotated through the counters, one rotated for timing.
struct Rig<'a> {
    emulator: &'a Emulator,
    scope: ManagedRedis<'a>,
    server: RedisServer,
    tls: TlsFiles,
    counter: ConnectionCounter,
    arns: Vec<String>,
    counted: String,
    timed: String,
    /// Every password the secrets held, to check the function's output for.
    material: SecretMaterial,
}

impl<'a> Rig<'a> {
    async fn prepare(emulator: &'a Emulator) -> BenchResult<Self> {
        let tls = TlsFiles::generate().map_err(|e| format!("TLS files: {e}"))?;
        let server = RedisServer::start_opts(RedisOptions {
            tls: Some(&tls),
            ..Default::default()
        })
        .map_err(|e| format!("cannot start redis-server with TLS: {e}"))?;
        let tls_port = server.tls_port.ok_or("redis-server has no TLS port")?;
        let counter = ConnectionCounter::start(tls_port).await?;
        let scope = ManagedRedis::new(emulator);
        scope.attach(&[&server], MODIFYING).await;
        let mut rig = Self {
            emulator,
            scope,
            server,
            tls,
            counter,
            arns: Vec::new(),
            counted: String::new(),
            timed: String::new(),
            material: SecretMaterial::default(),
        };
        rig.counted = rig.user_secret("counted", rig.counter.port).await?;
        rig.timed = rig.user_secret("timed", tls_port).await?;
        Ok(rig)
    }

    /// An active ElastiCache user `bench_ec_<name>` with one password, and its secret naming the
    /// TLS endpoint `localhost:<port>`.
    async fn user_secret(&mut self, name: &str, port: u16) -> BenchResult<String> {
        let login = format!("bench_ec_{name}");
        let id = format!(
            "bench-ec-{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let password = generate_password(32);
        self.material.add(password.expose_secret());
        let access = format!("on ~{login}:* +@read +@write +@connection");
        let arn = self
            .scope
            .create_elasticache_user(&id, &login, &access, &[password.expose_secret()])
            .await;
        let value = json!({"user_arn": arn, "username": login,
            "password": password.expose_secret(), "host": "localhost", "port": port});
        self.arns.push(arn);
        Ok(self
            .emulator
            .create_secret("bench/elasticache", &value.to_string())
            .await)
    }

    /// The function's environment: the emulator (or `endpoint` in front of it) signing as this
    /// scope, the kit's CA, and the users and endpoint it may change and log in at.
    fn env(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        let arns: Vec<&str> = self.arns.iter().map(String::as_str).collect();
        let mut env = self.scope.function_env(&self.tls.ca_path(), &arns);
        for (key, value) in env.iter_mut() {
            if *key == "AWS_ENDPOINT_URL" {
                *value = endpoint.to_owned();
            }
        }
        env
    }

    /// After a rotation (untimed): AWSCURRENT's password logs in, AWSPREVIOUS's still does.
    async fn check(&mut self, secret_id: &str) -> Result<(), String> {
        let mut working = Vec::new();
        for stage in [AWSCURRENT, AWSPREVIOUS] {
            let (user, password) = credential_at(self.emulator, secret_id, stage)
                .await
                .ok_or(format!("no {stage} credential after the rotation"))?;
            self.material.add(password.expose_secret());
            let works = self.server.can_login(&user, password.expose_secret()).await;
            working.push((stage, works));
        }
        match working.iter().find(|(_, works)| !works) {
            None => Ok(()),
            Some((stage, _)) => Err(format!("the {stage} password does not log in")),
        }
    }
}

/// Rotates the ElastiCache users through `artifact`; failures are collected, not fatal.
pub async fn measure(
    stack: &Stack,
    artifact: &Artifact,
    options: &Options<'_>,
) -> BenchResult<Measured> {
    let mut out = Measured::default();
    let mut rig = Rig::prepare(&stack.emulator).await?;

    // 1. Calls and connections per step, through the counters (a process of its own).
    let proxy = CountingProxy::start(stack.emulator.endpoint()).await?;
    let env = rig.env(proxy.endpoint());
    let mut function = started(artifact, &env, options.cpu).await?;
    let mut log = LogCursor::default();
    proxy.take();
    rig.counter.take().await;
    for _ in 0..options.counted_rotations {
        let counters = Some((&proxy, &rig.counter));
        match rotate(&function, &mut log, &rig, &rig.counted, counters).await {
            Ok(r) => {
                for (i, step) in Step::ALL.into_iter().enumerate() {
                    let counted: u32 = r.observed[i].control.values().sum();
                    if r.control_at_proxy[i] != counted {
                        out.failures.push(format!(
                            "counted rotation, {step}: the proxy saw {} requests without \
                             X-Amz-Target, the emulator counted {counted} ElastiCache calls",
                            r.control_at_proxy[i]
                        ));
                    }
                }
                out.calls.push(r.calls);
                out.control_at_proxy.push(r.control_at_proxy);
                out.control.push(r.observed);
                out.sessions.push(r.sessions);
            }
            Err(e) => {
                out.failures.push(format!("counted rotation: {e}"));
                break;
            }
        }
        out.rotated += 1;
        match rig.check(&rig.counted.clone()).await {
            Ok(()) => out.verified += 1,
            Err(e) => out.failures.push(format!("counted rotation: {e}")),
        }
    }
    function.stop();
    let mut outputs = vec![function.output()];

    // 2. Latency, waits and CPU over the timed rotations, after one warm-up rotation.
    let env = rig.env(stack.emulator.endpoint());
    let mut function = started(artifact, &env, options.cpu).await?;
    let mut log = LogCursor::default();
    let timed = rig.timed.clone();
    let warm_up = rotate(&function, &mut log, &rig, &timed, None).await;
    if let Err(e) = &warm_up {
        out.failures.push(format!("warm-up rotation: {e}"));
    }
    let rotations = if warm_up.is_ok() {
        options.rotations
    } else {
        0
    };
    let cpu_before = function.cpu_time();
    for n in 0..rotations {
        match rotate(&function, &mut log, &rig, &timed, None).await {
            Ok(r) => {
                let mut waited = Duration::ZERO;
                for i in 0..4 {
                    let wait = r.observed[i].waited;
                    out.steps[i].push(r.times[i]);
                    out.waited[i].push(wait);
                    out.working[i].push(r.times[i].saturating_sub(wait));
                    waited += wait;
                }
                let rotation: Duration = r.times.iter().sum();
                out.rotation.push(rotation);
                out.rotation_waited.push(waited);
                out.rotation_working.push(rotation.saturating_sub(waited));
                out.timed.push(r.observed);
            }
            Err(e) => {
                out.failures.push(format!("rotation {}: {e}", n + 1));
                break;
            }
        }
        out.rotated += 1;
        match rig.check(&timed).await {
            Ok(()) => out.verified += 1,
            Err(e) => out.failures.push(format!("rotation {}: {e}", n + 1)),
        }
    }
    if let (Some(before), Some(after), false) =
        (cpu_before, function.cpu_time(), out.rotation.is_empty())
    {
        out.cpu_per_rotation = Some((after - before) / out.rotation.len() as u32);
    }
    out.peak_rss_kib = function.peak_rss_kib();
    function.stop();
    outputs.push(function.output());
    if rig.material.any_password_in(&outputs.concat()) {
        out.failures
            .push("a password appears in the function's output".into());
    }
    Ok(out)
}

/// The function as the bench runs it (exactly `env` and the Lambda variables), its output kept:
/// the waits come from its log lines.
async fn started(
    artifact: &Artifact,
    env: &[(&str, String)],
    cpu: Option<&LambdaCpu>,
) -> BenchResult<FunctionProcess> {
    let bootstrap = Bootstrap::new(&artifact.binary)
        .env(env)
        .clean_env()
        .name("bench-rotation")
        .cpu(cpu);
    FunctionProcess::launch(&bootstrap)
        .await
        .map_err(|e| format!("{}: {e}", artifact.binary.display()).into())
}

/// Stages a rotation (not timed), then sends the four steps; around each (not timed) resets and
/// reads the scope's call counts, reads the function's new log lines and, with counters, what
/// the step did through them.
async fn rotate(
    function: &FunctionProcess,
    log: &mut LogCursor,
    rig: &Rig<'_>,
    secret_id: &str,
    counters: Option<(&CountingProxy, &ConnectionCounter)>,
) -> Result<Rotation, String> {
    let token = rig.emulator.stage_rotation(secret_id).await;
    let mut out = Rotation {
        times: [Duration::ZERO; 4],
        observed: Default::default(),
        calls: Default::default(),
        control_at_proxy: [0; 4],
        sessions: Default::default(),
    };
    // Whatever the staging and the last step left in the log is not this rotation's.
    log.read(function)?;
    for (i, step) in Step::ALL.into_iter().enumerate() {
        rig.scope.reset_calls().await;
        let event =
            json!({"Step": step.as_str(), "SecretId": secret_id, "ClientRequestToken": token});
        let (result, elapsed) = invoke(function, &event).await;
        match result {
            Ok(value) if value["outcome"] == "done" => out.times[i] = elapsed,
            Ok(value) => return Err(format!("{step}: unexpected outcome {value}")),
            Err(e) => return Err(format!("{step}: {}: {}", e.error_type, e.error_message)),
        }
        let mut observed = log.read(function)?;
        observed.control = rig
            .scope
            .calls()
            .await
            .into_iter()
            .map(|(name, n)| {
                let action = name.strip_prefix("elasticache.").unwrap_or(&name);
                (action.to_owned(), u32::try_from(n).unwrap_or(u32::MAX))
            })
            .collect();
        out.observed[i] = observed;
        if let Some((proxy, relay)) = counters {
            out.sessions[i] = relay.take().await;
            let mut calls = proxy.take();
            out.control_at_proxy[i] = calls.remove(NO_TARGET).unwrap_or(0);
            out.calls[i] = calls;
        }
    }
    Ok(out)
}

/// Reads the function's output from where it last stopped, complete lines only.
#[derive(Default)]
struct LogCursor {
    offset: usize,
}

impl LogCursor {
    /// The waits for `active` logged since the last read.
    fn read(&mut self, function: &FunctionProcess) -> Result<StepObserved, String> {
        self.read_from(&function.output())
    }

    fn read_from(&mut self, output: &str) -> Result<StepObserved, String> {
        let new = output.get(self.offset..).unwrap_or_default();
        let complete = new.rfind('\n').map_or(0, |end| end + 1);
        self.offset += complete;
        let mut observed = StepObserved::default();
        for line in new[..complete].lines() {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let fields = &entry["fields"];
            if fields["message"] != READY {
                continue;
            }
            let (Some(waited_ms), Some(polls)) =
                (fields["waited_ms"].as_u64(), fields["polls"].as_u64())
            else {
                let names: Vec<&str> = fields
                    .as_object()
                    .map(|f| f.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(format!(
                    "a `{READY}` log line without waited_ms and polls (fields: {})",
                    names.join(", ")
                ));
            };
            observed.waits += 1;
            observed.polls += u32::try_from(polls).unwrap_or(u32::MAX);
            observed.waited += Duration::from_millis(waited_ms);
        }
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(waited_ms: u64, polls: u64) -> String {
        json!({"level": "INFO", "fields": {"message": READY, "target": "arn", "status": "active",
            "polls": polls, "waited_ms": waited_ms}})
        .to_string()
    }

    #[test]
    fn each_read_sums_the_new_complete_wait_lines_only() {
        let other = json!({"level": "INFO", "fields": {"message": "step done"}}).to_string();
        let mut output = format!("{}\n{other}\nnot json\n{}\n", ready(4, 1), ready(620, 3));
        let mut log = LogCursor::default();
        let first = log.read_from(&output).unwrap();
        assert_eq!((first.waits, first.polls), (2, 4));
        assert_eq!(first.waited, Duration::from_millis(624));
        // A line still being written is left for the next read.
        let last = ready(5, 1);
        output.push_str(&last[..10]);
        assert_eq!(log.read_from(&output).unwrap().waits, 0);
        output.push_str(&last[10..]);
        output.push('\n');
        let second = log.read_from(&output).unwrap();
        assert_eq!((second.waits, second.polls), (1, 1));
        assert_eq!(second.waited, Duration::from_millis(5));
    }

    #[test]
    fn a_wait_line_without_its_figures_is_an_error() {
        let line = json!({"fields": {"message": READY, "waited_seconds": 1}}).to_string();
        let err = LogCursor::default()
            .read_from(&format!("{line}\n"))
            .unwrap_err();
        assert!(err.contains("waited_seconds"), "{err}");
    }
}
