//! The reliability harness: a live prober, the Secrets Manager service's retry behaviour, and a
//! matrix of faults per step, for any backend whose target the test can control.

use crate::emulator::{run_step, Emulator};
use crate::fake::{CrashingBackend, FaultyStore};
use crate::faults::{Fault, FaultProxy};
use async_trait::async_trait;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::store::AwsSecretStore;
use rotation::{Backend, Engine, Step};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a fault suite needs from the system behind a backend.
#[async_trait]
pub trait Target: Send + Sync {
    /// Whether an application holding this secret value gets in right now.
    async fn login(&self, value: &Value) -> bool;
    /// Stops the target (every login fails until `bring_up`).
    async fn take_down(&self);
    async fn bring_up(&self);
    /// Makes the credential the rotation itself logs in with refuse logins (the admin, or the
    /// pending user for testSecret), without touching what applications use.
    async fn refuse_rotation_login(&self, step: Step, pending: &Value);
    async fn allow_rotation_login(&self, step: Step, pending: &Value);
    /// Whether a fault applies: a target that is only the secret itself cannot go down.
    fn applicable(&self, _fault: FaultKind) -> bool {
        true
    }
}

/// The `username` and `password` of a secret value, when both are strings: what a [`Target`]
/// logs in with.
pub fn credential(value: &Value) -> Option<(&str, &str)> {
    Some((value["username"].as_str()?, value["password"].as_str()?))
}

/// Logs in with whatever AWSCURRENT holds, every `interval`, and counts failures.
pub struct Prober {
    pub attempts: Arc<AtomicUsize>,
    pub failures: Arc<AtomicUsize>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Prober {
    pub fn start<T: Target + 'static>(
        target: Arc<T>,
        secret_id: String,
        interval: Duration,
    ) -> Self {
        let (attempts, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (paused, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let task = {
            let (attempts, failures, paused, stop) = (
                attempts.clone(),
                failures.clone(),
                paused.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let emulator = Emulator::shared();
                let mut probes = tokio::task::JoinSet::new();
                while !stop.load(Ordering::SeqCst) {
                    if !paused.load(Ordering::SeqCst) {
                        // Each probe is its own client, started on time whatever the last one takes.
                        let (target, secret_id) = (target.clone(), secret_id.clone());
                        let (attempts, failures, paused) =
                            (attempts.clone(), failures.clone(), paused.clone());
                        probes.spawn(async move {
                            let Some(raw) = emulator.value_at(&secret_id, AWSCURRENT).await else {
                                return;
                            };
                            let value: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
                            let ok = target.login(&value).await;
                            // A login that raced with a deliberate outage is not the rotation's fault.
                            if !paused.load(Ordering::SeqCst) {
                                attempts.fetch_add(1, Ordering::SeqCst);
                                if !ok {
                                    failures.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        });
                    }
                    tokio::time::sleep(interval).await;
                    while probes.try_join_next().is_some() {}
                }
                while probes.join_next().await.is_some() {}
            })
        };
        Self {
            attempts,
            failures,
            paused,
            stop,
            task,
        }
    }

    /// While the target is deliberately down, nobody can log in: not counted.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        (
            self.attempts.load(Ordering::SeqCst),
            self.failures.load(Ordering::SeqCst),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    TargetDown,
    LoginRefused,
    ServerError,
    Throttling,
    Timeout,
    CrashAfterSideEffect,
    ConcurrentDuplicate,
    StalePending,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::TargetDown,
        FaultKind::LoginRefused,
        FaultKind::ServerError,
        FaultKind::Throttling,
        FaultKind::Timeout,
        FaultKind::CrashAfterSideEffect,
        FaultKind::ConcurrentDuplicate,
        FaultKind::StalePending,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FaultKind::TargetDown => "target down",
            FaultKind::LoginRefused => "target refuses the login",
            FaultKind::ServerError => "Secrets Manager 5xx",
            FaultKind::Throttling => "Secrets Manager throttling",
            FaultKind::Timeout => "Secrets Manager timeout",
            FaultKind::CrashAfterSideEffect => "crash after the side effect",
            FaultKind::ConcurrentDuplicate => "step invoked twice at once",
            FaultKind::StalePending => "new rotation over a stale pending",
        }
    }
}

/// The Secrets Manager call each step cannot do without.
fn key_operation(step: Step) -> &'static str {
    match step {
        Step::CreateSecret => "PutSecretValue",
        Step::SetSecret | Step::TestSecret => "GetSecretValue",
        Step::FinishSecret => "UpdateSecretVersionStage",
    }
}

/// Results: (engine, step, fault) → survived.
#[derive(Default)]
pub struct Report {
    pub rows: BTreeMap<(String, Step, FaultKind), bool>,
    pub probes: usize,
    pub prober_failures: usize,
}

type FaultEngine<B> = Engine<FaultyStore<AwsSecretStore>, CrashingBackend<B>>;

pub struct Suite<B: Backend, T: Target> {
    pub engine: FaultEngine<B>,
    pub proxy: FaultProxy,
    pub target: Arc<T>,
}

impl<B: Backend, T: Target + 'static> Suite<B, T> {
    pub async fn new(backend: B, target: Arc<T>) -> Self {
        let proxy = FaultProxy::start(Emulator::shared().endpoint())
            .await
            .expect("fault proxy");
        let store = FaultyStore::new(proxy.store());
        let engine = Engine::new(
            store,
            CrashingBackend::new(backend),
            crate::LogCapture::global().telemetry(),
        );
        Self {
            engine,
            proxy,
            target,
        }
    }

    /// A suite whose engine has rotated `secret_id` once already, so that AWSPREVIOUS exists and
    /// every scenario can check it still works.
    pub async fn after_first_rotation(backend: B, target: Arc<T>, secret_id: &str) -> Self {
        let suite = Self::new(backend, target).await;
        Emulator::shared()
            .rotate(&suite.engine, secret_id)
            .await
            .expect("first rotation");
        suite
    }

    /// [`Suite::run`] into a new report.
    pub async fn report(&self, secret_id: &str) -> Report {
        let mut report = Report::default();
        self.run(secret_id, &mut report).await;
        report
    }

    /// Every fault at every step, each in a rotation that must complete; a prober watches throughout.
    pub async fn run(&self, secret_id: &str, report: &mut Report) {
        let prober = Prober::start(
            self.target.clone(),
            secret_id.to_owned(),
            Duration::from_millis(25),
        );
        for step in Step::ALL {
            for fault in FaultKind::ALL
                .into_iter()
                .filter(|f| self.target.applicable(*f))
            {
                let survived = self.scenario(secret_id, step, fault, &prober).await;
                report.rows.insert(
                    (self.engine.backend().engine().to_owned(), step, fault),
                    survived,
                );
            }
        }
        let (probes, failures) = prober.finish().await;
        report.probes += probes;
        report.prober_failures += failures;
    }

    /// One rotation with `fault` injected at `step`, then the service's retries until it completes.
    async fn scenario(&self, id: &str, step: Step, fault: FaultKind, prober: &Prober) -> bool {
        let emulator = Emulator::shared();
        let previous = emulator.value_at(id, AWSCURRENT).await;
        let mut token = emulator.stage_rotation(id).await;
        for earlier in Step::ALL.into_iter().take_while(|s| *s != step) {
            run_step(&self.engine, earlier, id, &token)
                .await
                .unwrap_or_else(|e| panic!("{earlier} before {fault:?}: {e}"));
        }
        let pending: Value = emulator
            .value_at(id, AWSPENDING)
            .await
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or(Value::Null);
        match fault {
            FaultKind::TargetDown => {
                prober.pause(true);
                self.target.take_down().await;
                let _ = run_step(&self.engine, step, id, &token).await;
                self.target.bring_up().await;
                prober.pause(false);
            }
            FaultKind::LoginRefused => {
                self.target.refuse_rotation_login(step, &pending).await;
                let _ = run_step(&self.engine, step, id, &token).await;
                self.target.allow_rotation_login(step, &pending).await;
            }
            FaultKind::ServerError | FaultKind::Throttling | FaultKind::Timeout => {
                let injected = match fault {
                    FaultKind::ServerError => Fault::ServerError,
                    FaultKind::Throttling => Fault::Throttle,
                    _ => Fault::Hang(Duration::from_millis(1200)),
                };
                // More than the SDK's three attempts: the step itself fails.
                self.proxy.inject(key_operation(step), injected, 4);
                let _ = run_step(&self.engine, step, id, &token).await;
                self.proxy.clear();
            }
            FaultKind::CrashAfterSideEffect => {
                match step {
                    Step::CreateSecret => self.engine.store().crash_once_after("PutSecretValue"),
                    Step::FinishSecret => self
                        .engine
                        .store()
                        .crash_once_after("UpdateSecretVersionStage"),
                    other => self.engine.backend().crash_once_after(other),
                }
                let _ = run_step(&self.engine, step, id, &token).await;
            }
            FaultKind::ConcurrentDuplicate => {
                let _ = tokio::join!(
                    run_step(&self.engine, step, id, &token),
                    run_step(&self.engine, step, id, &token)
                );
            }
            FaultKind::StalePending => {
                let _ = run_step(&self.engine, step, id, &token).await;
                if step != Step::FinishSecret {
                    // The service gives up on this rotation and starts another one.
                    token = emulator.stage_rotation(id).await;
                }
            }
        }
        let completed = self.service_retries(id, &mut token).await;
        let stages = emulator.stages(id).await;
        let promoted = stages
            .get(&token)
            .is_some_and(|s| s.iter().any(|x| x == AWSCURRENT));
        let no_pending = !stages.values().flatten().any(|s| s == AWSPENDING);
        let previous_still_works = match (previous, emulator.value_at(id, AWSPREVIOUS).await) {
            (Some(before), Some(now)) if before == now => {
                self.target
                    .login(&serde_json::from_str(&now).unwrap_or(Value::Null))
                    .await
            }
            _ => false,
        };
        completed && promoted && no_pending && previous_still_works
    }

    /// As the service does: retry the failed step a few times, then start the whole rotation over.
    async fn service_retries(&self, id: &str, token: &mut String) -> bool {
        for _attempt in 0..3 {
            let mut failed = false;
            for step in Step::ALL {
                let mut done = false;
                for _retry in 0..3 {
                    if run_step(&self.engine, step, id, token).await.is_ok() {
                        done = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if !done {
                    failed = true;
                    break;
                }
            }
            if !failed {
                return true;
            }
            *token = Emulator::shared().stage_rotation(id).await;
        }
        false
    }
}

impl Report {
    /// A markdown table: per engine and step, faults injected and survived; prober failures.
    pub fn markdown(&self) -> String {
        let mut by_step: BTreeMap<(String, Step), (usize, usize)> = BTreeMap::new();
        for ((engine, step, _), survived) in &self.rows {
            let entry = by_step.entry((engine.clone(), *step)).or_default();
            entry.0 += 1;
            entry.1 += usize::from(*survived);
        }
        let mut out = String::from(
            "| engine | step | faults injected | survived |\n| --- | --- | ---: | ---: |\n",
        );
        for ((engine, step), (injected, survived)) in &by_step {
            out.push_str(&format!(
                "| {engine} | {step} | {injected} | {survived} |\n"
            ));
        }
        let mut kinds: Vec<FaultKind> = self.rows.keys().map(|(_, _, kind)| *kind).collect();
        kinds.sort();
        kinds.dedup();
        let kinds: Vec<&str> = kinds.iter().map(|k| k.label()).collect();
        out.push_str(&format!("\nFaults per step: {}.\n", kinds.join(", ")));
        out.push_str(&format!(
            "\nProber: {} logins with AWSCURRENT, {} failed.\n",
            self.probes, self.prober_failures
        ));
        out
    }

    pub fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|((e, s, f), _)| format!("{e} {s} {}", f.label()))
            .collect()
    }

    /// The suite's verdict: the report written to target/reports/`name`, every one of `rows` scenarios
    /// survived, the prober ran and never failed, and nothing the suite logged holds secret material.
    pub async fn assert_survived(&self, name: &str, rows: usize) {
        let logs = crate::LogCapture::global().contents();
        let scanned = crate::secrecy::assert_no_secret_material(
            Emulator::shared(),
            &[("the suite's captured logs", &logs)],
        )
        .await;
        assert!(scanned > 10, "the scan looked for {scanned} secret strings");
        self.write(name);
        assert_eq!(self.rows.len(), rows, "scenarios run");
        assert!(
            self.failures().is_empty(),
            "not survived: {:?}",
            self.failures()
        );
        assert!(self.probes > 100, "the prober ran ({} probes)", self.probes);
        assert_eq!(
            self.prober_failures, 0,
            "an application using AWSCURRENT was locked out"
        );
    }

    pub fn write(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/reports");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(name), self.markdown());
    }
}
