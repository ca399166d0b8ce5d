//! `make demo`: a real rotation of each kind on a local stack (moto, PostgreSQL, redis-server),
//! each through its function's own binary via the Lambda Runtime API, and an ElastiCache user
//! rotated by the Redis function through the test kit's control-plane emulator. Stops all it
//! started.

mod elasticache;
mod jwt;
mod postgres;
mod redis;

use rotation::Step;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::lambda::workspace_binary;
use testkit::{Emulator, FunctionProcess};

type DemoResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    println!("secret-rotation demo: starting moto (Secrets Manager, and the test kit's ElastiCache control-plane emulator), PostgreSQL and redis-server on 127.0.0.1 …");
    let emulator = match Emulator::start() {
        Ok(emulator) => emulator,
        Err(e) => return fail(&format!("cannot start the Secrets Manager emulator: {e}")),
    };
    let demos: [(&str, DemoFuture<'_>); 4] = [
        (
            "PostgreSQL (alternating users)",
            Box::pin(postgres::run(&emulator)),
        ),
        (
            "Redis (one ACL user, two passwords)",
            Box::pin(redis::run(&emulator)),
        ),
        (
            "ElastiCache (an RBAC user changed through the control plane, two passwords)",
            Box::pin(elasticache::run(&emulator)),
        ),
        (
            "JWT signing keys (grace period)",
            Box::pin(jwt::run(&emulator)),
        ),
    ];
    let mut failed = false;
    for (name, demo) in demos {
        println!("\n━━ {name} ━━");
        if let Err(e) = demo.await {
            println!("✗ {name}: {e}");
            failed = true;
        }
    }
    drop(emulator);
    if failed {
        return fail("a rotation failed");
    }
    println!("\nEvery rotation succeeded; every process the demo started is stopped.");
    std::process::ExitCode::SUCCESS
}

type DemoFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = DemoResult> + 'a>>;

fn fail(message: &str) -> std::process::ExitCode {
    eprintln!("demo failed: {message}");
    std::process::ExitCode::FAILURE
}

/// Starts the function's binary, stages a rotation as Secrets Manager does, and sends it the four
/// steps through the Runtime API, printing each step's time.
pub async fn rotate_through_function(
    emulator: &Emulator,
    binary: &str,
    secret_id: &str,
) -> DemoResult {
    rotate_through_function_with(emulator, binary, secret_id, &emulator.env()).await?;
    Ok(())
}

/// [`rotate_through_function`] with the function's environment `env` (on top of the demo's own);
/// returns the function process, still running, for its output.
pub async fn rotate_through_function_with(
    emulator: &Emulator,
    binary: &str,
    secret_id: &str,
    env: &[(&str, String)],
) -> Result<FunctionProcess, Box<dyn std::error::Error>> {
    let function = FunctionProcess::start(&workspace_binary(binary), env).await?;
    if let Some(cold) = function.time_to_first_poll().await {
        println!(
            "  {binary} started and polled the Runtime API after {}",
            ms(cold)
        );
    }
    let token = emulator.stage_rotation(secret_id).await;
    println!("  rotation staged: version {token} is AWSPENDING (empty until createSecret)");
    let started = Instant::now();
    for step in Step::ALL {
        let event =
            json!({"Step": step.as_str(), "SecretId": secret_id, "ClientRequestToken": token});
        let step_started = Instant::now();
        let outcome = function.invoke(&event).await;
        match outcome {
            Ok(response) => println!(
                "  {:<13} {:>9}  {}",
                step.as_str(),
                ms(step_started.elapsed()),
                response["outcome"].as_str().unwrap_or("?")
            ),
            Err(e) => {
                return Err(format!("{step} failed: {}: {}", e.error_type, e.error_message).into())
            }
        }
    }
    println!("  {:<13} {:>9}", "rotation", ms(started.elapsed()));
    Ok(function)
}

/// The version stages of a secret, one line per version.
pub async fn print_stages(emulator: &Emulator, secret_id: &str, when: &str) {
    println!("  version stages {when}:");
    for (version, stages) in emulator.stages(secret_id).await {
        let stages = if stages.is_empty() {
            "(none)".to_owned()
        } else {
            stages.join(", ")
        };
        println!("    {version}  {stages}");
    }
}

pub fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

pub fn yes_no(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}

/// A version's value, parsed.
pub async fn stage(
    emulator: &Emulator,
    id: &str,
    stage: &str,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let raw = emulator
        .value_at(id, stage)
        .await
        .ok_or(format!("no {stage} version"))?;
    Ok(serde_json::from_str(&raw)?)
}
