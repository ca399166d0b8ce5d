//! `make bench` (scripts/bench.sh runs this): cold start, step and rotation latency, peak memory,
//! Secrets Manager calls per step and a fleet run, against a local stack (moto, PostgreSQL,
//! redis-server), each function through its own binary and a Lambda Runtime API; and an
//! ElastiCache RBAC user rotated by the Redis function through the kit's control-plane emulator.
//!
//! Settings (environment): BENCH_SMOKE=1 (a short run for CI), BENCH_ROTATIONS, BENCH_COLD_STARTS,
//! BENCH_FLEET (comma-separated sizes), BENCH_CONCURRENCY, BENCH_ONLY
//! (postgres,redis,jwt,elasticache,fleet,health), BENCH_HEALTH (secrets in the health run, 10000;
//! 300 in a smoke run), BENCH_PROFILE (release|debug: the build being measured),
//! `BENCH_<KIND>_BIN` and `BENCH_<KIND>_ZIP` (the binary to run and the zip it came from; KIND =
//! POSTGRES, REDIS, JWT; ELASTICACHE defaults to REDIS's), BENCH_LAMBDA_MEMORY_MB (run the function
//! processes with Lambda's CPU share at that memory size; see testkit::lambda's cpu.rs).
//! Exits non-zero when any rotation or check fails.

mod baseline;
mod elasticache;
mod fleet;
mod functions;
mod health;
mod report;
mod setup;
mod stats;
mod targets;

use functions::{Artifact, Kind, Options};
use setup::{BenchResult, Stack};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use testkit::lambda::LambdaCpu;

struct Config {
    smoke: bool,
    profile: String,
    rotations: usize,
    cold_starts: usize,
    fleet_sizes: Vec<usize>,
    concurrency: usize,
    only: Option<Vec<String>>,
    lambda_memory_mb: Option<u32>,
    health_size: usize,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1");
        let number = |name: &str, default: usize| -> Result<usize, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("{name} must be a positive integer")),
                Err(_) => Ok(default),
            }
        };
        let fleet_sizes = match std::env::var("BENCH_FLEET") {
            Ok(list) => list
                .split(',')
                .map(|n| n.trim().parse().ok().filter(|n| *n > 0))
                .collect::<Option<Vec<usize>>>()
                .ok_or("BENCH_FLEET must be positive integers separated by commas")?,
            Err(_) if smoke => vec![20],
            Err(_) => vec![100, 1000],
        };
        let lambda_memory_mb = match std::env::var("BENCH_LAMBDA_MEMORY_MB") {
            Ok(v) => Some(
                v.trim()
                    .parse()
                    .ok()
                    .filter(|mb| (128..=10240).contains(mb))
                    .ok_or("BENCH_LAMBDA_MEMORY_MB must be a Lambda memory size, 128 to 10240")?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            lambda_memory_mb,
            smoke,
            profile: std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into()),
            rotations: number("BENCH_ROTATIONS", if smoke { 3 } else { 20 })?,
            cold_starts: number("BENCH_COLD_STARTS", if smoke { 3 } else { 20 })?,
            fleet_sizes,
            concurrency: number("BENCH_CONCURRENCY", 32)?,
            health_size: number("BENCH_HEALTH", if smoke { 300 } else { 10_000 })?,
            only: std::env::var("BENCH_ONLY")
                .ok()
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
        })
    }

    fn wants(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == part))
    }

    fn artifact(&self, kind: Kind) -> Artifact {
        let upper = kind.name().to_uppercase();
        let binary = std::env::var_os(format!("BENCH_{upper}_BIN"))
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(format!(
                    "target/{}/secret-rotation-{}",
                    self.profile,
                    kind.name()
                ))
            });
        let zip = std::env::var_os(format!("BENCH_{upper}_ZIP"))
            .filter(|z| !z.is_empty())
            .map(PathBuf::from);
        Artifact { binary, zip }
    }

    /// The monitor's binary (`BENCH_MONITOR_BIN`, which scripts/bench.sh sets).
    fn monitor_binary(&self) -> PathBuf {
        std::env::var_os("BENCH_MONITOR_BIN")
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(format!("target/{}/secret-rotation-monitor", self.profile))
            })
    }

    /// The Redis function's binary, which rotates ElastiCache users too, unless
    /// `BENCH_ELASTICACHE_BIN` names another.
    fn elasticache_artifact(&self) -> Artifact {
        match std::env::var_os("BENCH_ELASTICACHE_BIN").filter(|b| !b.is_empty()) {
            Some(binary) => Artifact {
                binary: PathBuf::from(binary),
                zip: std::env::var_os("BENCH_ELASTICACHE_ZIP")
                    .filter(|z| !z.is_empty())
                    .map(PathBuf::from),
            },
            None => self.artifact(Kind::Redis),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&config).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: some rotations or checks FAILED (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs what the configuration asks for and prints it; `Ok(false)` when anything failed.
async fn run(config: &Config) -> BenchResult<bool> {
    let started = Instant::now();
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| config.wants(k.name()))
        .collect();
    let artifacts: Vec<(Kind, Artifact)> =
        kinds.iter().map(|k| (*k, config.artifact(*k))).collect();
    let managed = config
        .wants("elasticache")
        .then(|| config.elasticache_artifact());
    // scripts/bench.sh builds (or unzips) the Redis binary only when redis is wanted.
    let redis_hint = if config.wants("redis") {
        ""
    } else {
        " (elasticache runs the Redis function's binary: add redis to BENCH_ONLY, or set \
         BENCH_REDIS_BIN)"
    };
    let monitor = config.wants("health").then(|| config.monitor_binary());
    let checks = artifacts
        .iter()
        .map(|(_, a)| (&a.binary, ""))
        .chain(managed.iter().map(|a| (&a.binary, redis_hint)))
        .chain(monitor.iter().map(|m| (m, "")));
    for (binary, hint) in checks {
        if !binary.is_file() {
            return Err(format!(
                "{} is missing: run scripts/bench.sh, which builds it{hint}",
                binary.display()
            )
            .into());
        }
    }
    println!(
        "secret-rotation bench{}: {} rotations per function, {} cold starts, fleet {:?} at {} at a time",
        if config.smoke { " (smoke run)" } else { "" },
        config.rotations,
        config.cold_starts,
        config.fleet_sizes,
        config.concurrency
    );
    let cpu = config
        .lambda_memory_mb
        .map(LambdaCpu::create)
        .transpose()
        .map_err(|e| format!("BENCH_LAMBDA_MEMORY_MB: {e}"))?;
    if let Some(cpu) = &cpu {
        println!("{}", cpu.describe());
    }
    println!("starting moto_server, PostgreSQL and redis-server on 127.0.0.1 …");
    let stack = Stack::start().await?;
    let options = Options {
        rotations: config.rotations,
        cold_starts: config.cold_starts,
        counted_rotations: 2,
        cpu: cpu.as_ref(),
    };
    let mut ok = true;
    let mut measured = Vec::new();
    let mut rig = None;
    for (kind, artifact) in &artifacts {
        println!(
            "measuring {} ({}) …",
            kind.name(),
            artifact.binary.display()
        );
        if *kind == Kind::Postgres {
            println!("  with the unavoidable work of each rotation done directly, in lockstep");
            rig = Some(baseline::Rig::prepare(&stack).await?);
        }
        let interleaved = rig.as_mut().filter(|_| *kind == Kind::Postgres);
        let m = functions::measure(&stack, *kind, artifact, &options, interleaved).await?;
        for failure in &m.failures {
            println!("  FAILED: {failure}");
            ok = false;
        }
        measured.push((*kind, artifact, m));
    }
    let mut managed_run = None;
    if let Some(artifact) = &managed {
        println!(
            "measuring elasticache ({}: the Redis function) against the control-plane emulator, \
             a change `modifying` for {} ms …",
            artifact.binary.display(),
            elasticache::MODIFYING.as_millis()
        );
        let m = elasticache::measure(&stack, artifact, &options).await?;
        for failure in &m.failures {
            println!("  FAILED: {failure}");
            ok = false;
        }
        managed_run = Some((artifact, m));
    }
    let baseline = rig.map(|mut rig| {
        rig.scram(config.rotations);
        rig.out
    });
    let mut fleet_runs = Vec::new();
    if config.wants("fleet") {
        for (n, size) in config.fleet_sizes.iter().enumerate() {
            println!("fleet: {size} secrets, {} at a time …", config.concurrency);
            let run = fleet::run(&stack, n, *size, config.concurrency).await?;
            ok &= run.failures.is_empty() && run.verified == run.size;
            fleet_runs.push(run);
        }
    }
    let mut health_run = None;
    if let Some(monitor) = &monitor {
        println!(
            "health: {} secrets, seeded {} at a time, then one monitor run ({}) …",
            config.health_size,
            config.concurrency.min(4),
            monitor.display()
        );
        let run = health::run(&stack, monitor, config.health_size, config.concurrency).await?;
        ok &= run.failures.is_empty();
        health_run = Some(run);
    }
    report::Report {
        profile: &config.profile,
        cpu: cpu.as_ref(),
        rotations: config.rotations,
        functions: measured,
        baseline,
        elasticache: managed_run,
        fleet: fleet_runs,
        health: health_run,
    }
    .print();
    println!("\nbench finished in {}", stats::seconds(started.elapsed()));
    Ok(ok)
}
