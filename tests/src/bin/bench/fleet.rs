//! A fleet run: many secrets (PostgreSQL alternating users and Redis single user, alternately)
//! rotated `concurrency` at a time against one PostgreSQL, one Redis and one emulator, by the
//! in-process engine (`rotation::Engine` over the emulator's store): the same engine and backends as
//! the functions, without a process per rotation. Afterwards every AWSCURRENT must log in.

use crate::setup::{credential_at, pg_login, redis_value, BenchResult, Stack};
use crate::stats::Samples;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use rotation::audit::Telemetry;
use rotation::postgres::PostgresBackend;
use rotation::protocol::AWSCURRENT;
use rotation::redis::RedisBackend;
use rotation::{AwsSecretStore, Engine};
use secrecy::{ExposeSecret, SecretString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::emulator::{request_rotation, run_steps};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Postgres,
    Redis,
}

pub struct FleetRun {
    pub size: usize,
    pub concurrency: usize,
    pub total: Duration,
    /// Per secret: staging (RotateSecret) plus the four steps.
    pub rotation: Samples,
    /// (rotations finished, time since the start)
    pub checkpoints: Vec<(usize, Duration)>,
    pub failures: Vec<String>,
    pub verified: usize,
}

struct Engines {
    postgres: Engine<AwsSecretStore, PostgresBackend>,
    redis: Engine<AwsSecretStore, RedisBackend>,
    client: aws_sdk_secretsmanager::Client,
}

/// Run number `run` (it names the users) of `size` secrets.
pub async fn run(
    stack: &Stack,
    run: usize,
    size: usize,
    concurrency: usize,
) -> BenchResult<FleetRun> {
    let secrets = create_secrets(stack, run, size, concurrency).await?;
    let silent = || Telemetry::to_writer(std::io::sink(), "bench".into());
    let engines = Arc::new(Engines {
        postgres: Engine::new(stack.emulator.store(), PostgresBackend::new(), silent()),
        redis: Engine::new(stack.emulator.store(), RedisBackend::new(), silent()),
        client: stack.emulator.client(),
    });
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (target, id) in secrets.clone() {
        let permit = Arc::clone(&semaphore).acquire_owned().await?;
        let (engines, finished) = (Arc::clone(&engines), Arc::clone(&finished));
        tasks.spawn(async move {
            let began = Instant::now();
            let result = rotate(&engines, target, &id).await;
            let elapsed = began.elapsed();
            drop(permit);
            let rank = finished.fetch_add(1, Ordering::SeqCst) + 1;
            (id, result, elapsed, rank, started.elapsed())
        });
    }
    let mut out = FleetRun {
        size,
        concurrency,
        total: Duration::ZERO,
        rotation: Samples::default(),
        checkpoints: Vec::new(),
        failures: Vec::new(),
        verified: 0,
    };
    let mut finishes = Vec::with_capacity(size);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((id, result, elapsed, rank, at)) => {
                finishes.push((rank, at));
                match result {
                    Ok(()) => out.rotation.push(elapsed),
                    Err(e) => out.failures.push(format!("{id}: {e}")),
                }
            }
            Err(e) => out.failures.push(format!("a rotation task failed: {e}")),
        }
    }
    out.total = started.elapsed();
    finishes.sort();
    for share in [10, 25, 50, 75, 100] {
        let rank = (size * share).div_ceil(100).max(1);
        if let Some(&(_, at)) = finishes.iter().find(|(r, _)| *r == rank) {
            out.checkpoints.push((rank, at));
        }
    }
    verify(stack, &secrets, concurrency, &mut out).await;
    Ok(out)
}

async fn rotate(engines: &Engines, target: Target, id: &str) -> Result<(), String> {
    let token = uuid::Uuid::new_v4().to_string();
    // The emulator does not know the Lambda: rotation is enabled and AWSPENDING staged.
    if let Err(e) = request_rotation(&engines.client, id, &token, 90).await {
        return Err(format!("RotateSecret: {}", DisplayErrorContext(e)));
    }
    let result = match target {
        Target::Postgres => run_steps(&engines.postgres, id, &token).await,
        Target::Redis => run_steps(&engines.redis, id, &token).await,
    };
    result.map_err(|e| format!("{}: {e}", e.kind()))
}

/// Secret `i` is PostgreSQL when `i` is even, Redis when odd. One admin secret per server.
async fn create_secrets(
    stack: &Stack,
    run: usize,
    size: usize,
    concurrency: usize,
) -> BenchResult<Vec<(Target, String)>> {
    let pg_names: Vec<String> = (0..size.div_ceil(2))
        .map(|i| format!("fleet{run}_pg_{i}"))
        .collect();
    let redis_names: Vec<String> = (0..size / 2)
        .map(|i| format!("fleet{run}_rd_{i}"))
        .collect();
    let pg_passwords = stack.pg_roles(&pg_names).await?;
    let redis_passwords = stack.redis_users(&redis_names).await?;
    let admin_arn = stack.pg_admin_secret(stack.postgres.port).await;
    let (pg_port, redis_port) = (stack.postgres.port, stack.redis.port);
    let values = (0..size).map(|i| {
        if i % 2 == 0 {
            let (name, password) = (&pg_names[i / 2], &pg_passwords[i / 2]);
            let value = crate::setup::pg_value(name, password, pg_port, &admin_arn);
            (Target::Postgres, "fleet/postgres", value.to_string())
        } else {
            let (name, password) = (&redis_names[i / 2], &redis_passwords[i / 2]);
            let value = redis_value(name, password, redis_port, &stack.redis_admin_arn);
            (Target::Redis, "fleet/redis", value.to_string())
        }
    });
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for (i, (target, prefix, value)) in values.enumerate() {
        let permit = Arc::clone(&semaphore).acquire_owned().await?;
        let emulator = Arc::clone(&stack.emulator);
        tasks.spawn(async move {
            let id = emulator.create_secret(prefix, &value).await;
            drop(permit);
            (i, target, id)
        });
    }
    let mut secrets = Vec::with_capacity(size);
    while let Some(joined) = tasks.join_next().await {
        secrets.push(joined.map_err(|e| format!("CreateSecret for the fleet: {e}"))?);
    }
    secrets.sort_by_key(|(i, _, _)| *i);
    Ok(secrets.into_iter().map(|(_, t, id)| (t, id)).collect())
}

/// Every secret's AWSCURRENT logs in (untimed).
async fn verify(
    stack: &Stack,
    secrets: &[(Target, String)],
    concurrency: usize,
    out: &mut FleetRun,
) {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let (pg_port, redis_port) = (stack.postgres.port, stack.redis.port);
    let mut tasks = JoinSet::new();
    for (target, id) in secrets.iter().cloned() {
        let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
            break;
        };
        let emulator = Arc::clone(&stack.emulator);
        tasks.spawn(async move {
            let _permit = permit;
            let Some((user, password)) = credential_at(&emulator, &id, AWSCURRENT).await else {
                return Err(format!("{id}: no readable AWSCURRENT"));
            };
            let works = match target {
                Target::Postgres => pg_login(pg_port, &user, &password).await.unwrap_or(false),
                Target::Redis => redis_login(redis_port, &user, &password).await,
            };
            if works {
                Ok(())
            } else {
                Err(format!("{id}: AWSCURRENT ({user}) does not log in"))
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => out.verified += 1,
            Ok(Err(e)) => out.failures.push(format!("check: {e}")),
            Err(e) => out.failures.push(format!("check task failed: {e}")),
        }
    }
}

async fn redis_login(port: u16, user: &str, password: &SecretString) -> bool {
    let info = ConnectionAddr::Tcp("127.0.0.1".into(), port)
        .into_connection_info()
        .map(|info| {
            info.set_redis_settings(
                RedisConnectionInfo::default()
                    .set_username(user)
                    .set_password(password.expose_secret()),
            )
        });
    let Ok(client) = info.and_then(redis::Client::open) else {
        return false;
    };
    client.get_multiplexed_async_connection().await.is_ok()
}
