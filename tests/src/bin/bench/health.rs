//! Health at scale: `size` rotation-enabled secrets in the emulator and one run of the monitor's
//! own binary over them, through a counting proxy: Secrets Manager calls (target: one ListSecrets
//! per 100 secrets and no DescribeSecret while every secret is healthy), wall time, the monitor's
//! CPU time and peak memory. moto answers each ListSecrets page by walking every secret, so its
//! time per page grows with the fleet; Secrets Manager's does not: the monitor's own CPU per page
//! is the figure that carries over.

use crate::setup::{BenchResult, Stack};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::emulator::request_rotation;
use testkit::lambda::Bootstrap;
use testkit::proxy::{Calls, CountingProxy};
use testkit::FunctionProcess;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub struct HealthRun {
    pub size: usize,
    /// Creating the secrets and staging their rotations (the emulator's time, not the monitor's).
    pub seeding: Duration,
    pub wall: Duration,
    pub cpu: Option<Duration>,
    pub peak_rss_kib: Option<u64>,
    pub calls: Calls,
    pub checked: u64,
    pub failures: Vec<String>,
}

impl HealthRun {
    pub fn list_calls(&self) -> u32 {
        self.calls.get("ListSecrets").copied().unwrap_or(0)
    }

    pub fn describe_calls(&self) -> u32 {
        self.calls.get("DescribeSecret").copied().unwrap_or(0)
    }

    /// One call per 100 secrets, and at most one more for an empty last page.
    pub fn target_calls(&self) -> usize {
        self.size / 100 + 1
    }
}

/// Seeds `size` secrets under a fresh prefix, `concurrency` at a time, then runs the monitor
/// (`binary`) once over them.
pub async fn run(
    stack: &Stack,
    binary: &Path,
    size: usize,
    concurrency: usize,
) -> BenchResult<HealthRun> {
    let emulator = Arc::clone(&stack.emulator);
    let prefix = format!("health-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let seeding = Instant::now();
    // Few at a time: moto's threaded server answers 500 now and then when secrets are added while
    // another request walks them; more in flight does not seed faster (moto is one Python process).
    let permits = Arc::new(Semaphore::new(concurrency.min(4)));
    let mut tasks = JoinSet::new();
    for n in 0..size {
        let (emulator, permits) = (Arc::clone(&emulator), Arc::clone(&permits));
        let name = format!("{prefix}/secret-{n:06}");
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            let client = emulator.client();
            // moto's threaded server fails a call now and then when another thread adds a secret
            // while it walks them (a 500): seeding retries; the measured run never needs to.
            let mut last = String::new();
            for _ in 0..5 {
                let created = client
                    .create_secret()
                    .name(&name)
                    .secret_string(r#"{"engine":"jwt"}"#)
                    .send()
                    .await;
                match created {
                    Ok(_) => break,
                    Err(e) if e.code() == Some("ResourceExistsException") => break,
                    Err(e) => last = format!("CreateSecret: {}", DisplayErrorContext(e)),
                }
            }
            let token = uuid::Uuid::new_v4().to_string();
            for _ in 0..5 {
                match request_rotation(&client, &name, &token, 30).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = format!("RotateSecret: {}", DisplayErrorContext(e)),
                }
            }
            Err(last)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let seeding = seeding.elapsed();

    let proxy = CountingProxy::start(emulator.endpoint()).await?;
    let mut env = emulator.env();
    for (key, value) in env.iter_mut() {
        if *key == "AWS_ENDPOINT_URL" {
            *value = proxy.endpoint().to_owned();
        }
    }
    env.push(("ROTATION_MONITOR_NAME_PREFIX", format!("{prefix}/")));
    env.push(("ROTATION_METRICS_NAMESPACE", "SecretRotationBench".into()));
    let mut monitor = FunctionProcess::launch(
        &Bootstrap::new(binary)
            .env(&env)
            .discard_output()
            .timeout(Duration::from_secs(900)),
    )
    .await
    .map_err(|e| format!("{}: {e}", binary.display()))?;
    proxy.take();
    let started = Instant::now();
    let answer = monitor.invoke(&serde_json::json!({})).await;
    let wall = started.elapsed();
    let (cpu, peak_rss_kib) = (monitor.cpu_time(), monitor.peak_rss_kib());
    monitor.stop();
    let calls = proxy.take();
    let checked = match answer {
        Ok(report) => {
            if report["overdue"] != 0 || report["pending_stuck"] != 0 {
                failures.push(format!("the fleet is not healthy: {report}"));
            }
            report["checked"].as_u64().unwrap_or(0)
        }
        Err(e) => {
            failures.push(format!(
                "the monitor failed: {}: {}",
                e.error_type, e.error_message
            ));
            0
        }
    };
    let run_calls = calls.values().sum::<u32>() as usize;
    if run_calls > size / 100 + 1 {
        failures.push(format!(
            "{run_calls} Secrets Manager calls for {size} healthy secrets: {calls:?}"
        ));
    }
    if checked != size as u64 {
        failures.push(format!("the monitor checked {checked} of {size} secrets"));
    }
    Ok(HealthRun {
        size,
        seeding,
        wall,
        cpu,
        peak_rss_kib,
        calls,
        checked,
        failures,
    })
}
