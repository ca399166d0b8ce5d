//! The printed figures: Markdown tables, then the targets with their verdicts.

use crate::baseline::{self, Baseline};
use crate::elasticache::{self, StepObserved};
use crate::fleet::FleetRun;
use crate::functions::{Artifact, Kind, Measured};
use crate::health::HealthRun;
use crate::stats::{mib_from_kib, ms, seconds, size, Samples};
use crate::targets::minimum_calls;
use std::time::Duration;
use testkit::lambda::LambdaCpu;
use testkit::proxy::Calls;

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

pub struct Report<'a> {
    pub profile: &'a str,
    pub cpu: Option<&'a LambdaCpu>,
    pub rotations: usize,
    pub functions: Vec<(Kind, &'a Artifact, Measured)>,
    pub baseline: Option<Baseline>,
    pub elasticache: Option<(&'a Artifact, elasticache::Measured)>,
    pub fleet: Vec<FleetRun>,
    pub health: Option<HealthRun>,
}

impl Report<'_> {
    pub fn print(&self) {
        if !self.functions.is_empty() {
            self.print_functions();
        }
        if let Some(baseline) = &self.baseline {
            self.print_baseline(baseline);
        }
        if let Some((artifact, m)) = &self.elasticache {
            self.print_elasticache(artifact, m);
        }
        if !self.fleet.is_empty() {
            self.print_fleet();
        }
        if let Some(run) = &self.health {
            print_health(run);
        }
        crate::targets::print(self);
    }

    fn print_functions(&self) {
        println!("\n### Start-up and size ({} build)\n", self.profile);
        if let Some(cpu) = self.cpu {
            println!("{}.\n", cpu.describe());
        }
        println!("| function | binary | zip | init: start → first /next, p50 / p95 (ms) | cold start: start → first answer, p50 / p95 (ms) | VmHWM after first event |");
        println!("|---|---|---|---|---|---|");
        for (kind, artifact, m) in &self.functions {
            let binary = file_size(&artifact.binary).map_or("?".into(), size);
            let zip = match &artifact.zip {
                Some(zip) => file_size(zip).map_or("?".into(), size),
                None => "not built".into(),
            };
            println!(
                "| {} | {binary} | {zip} | {} | {} | {} |",
                kind.name(),
                m.init.median_p95(),
                m.first_event.median_p95(),
                m.rss_after_first_event_kib.map_or("?".into(), mib_from_kib)
            );
        }
        println!(
            "\n### Rotation latency through the Runtime API (ms, p50 / p95 over {} rotations, after one warm-up)\n",
            self.rotations
        );
        println!("| function | scenario | createSecret | setSecret | testSecret | finishSecret | rotation | invocation without any call | VmHWM after all rotations | CPU per rotation |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (kind, _, m) in &self.functions {
            let steps: Vec<String> = m.steps.iter().map(Samples::median_p95).collect();
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                kind.name(),
                kind.scenario(),
                steps.join(" | "),
                m.rotation.median_p95(),
                m.empty_invocation.median_p95(),
                m.peak_rss_kib.map_or("?".into(), mib_from_kib),
                m.cpu_per_rotation
                    .map_or("?".into(), |d| format!("{} ms", ms(d)))
            );
        }
        for (kind, _, m) in &self.functions {
            if let Some(note) = &m.note {
                println!("\n{}: {note}.", kind.name());
            }
        }
        println!("\n### Secrets Manager calls per rotation (counted by X-Amz-Target at a proxy)\n");
        println!("| function | createSecret | setSecret | testSecret | finishSecret | total | protocol minimum | first rotation (no AWSPREVIOUS yet) | target connections per step |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (kind, _, m) in &self.functions {
            let (Some(first), Some(steady)) = (m.calls.first(), m.calls.last()) else {
                println!("| {} | not counted | | | | | | | |", kind.name());
                continue;
            };
            let per_step: Vec<String> = steady.iter().map(summary).collect();
            let minimum = minimum_calls(*kind);
            let connections = match (kind, m.sessions.last()) {
                (Kind::Jwt, _) | (_, None) => "none".to_owned(),
                (_, Some(sessions)) => format!(
                    "{} ({} in all)",
                    sessions.each_ref().map(|s| s.len().to_string()).join(" / "),
                    sessions.iter().map(Vec::len).sum::<usize>()
                ),
            };
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                kind.name(),
                per_step.join(" | "),
                rotation_total(steady),
                minimum.iter().sum::<u32>(),
                rotation_total(first),
                connections
            );
        }
        self.print_sessions();
    }

    /// What each step did on the target, from the relay in front of it.
    fn print_sessions(&self) {
        println!("\nTarget sessions of the counted rotation, per step: how long each stayed open (ms, through the relay) / requests the function sent on it.\n");
        println!("| function | createSecret | setSecret | testSecret | finishSecret |");
        println!("|---|---|---|---|---|");
        for (kind, _, m) in &self.functions {
            let Some(sessions) = m.sessions.last().filter(|_| *kind != Kind::Jwt) else {
                continue;
            };
            let cells: Vec<String> = sessions
                .iter()
                .map(|step| {
                    let list: Vec<String> = step
                        .iter()
                        .map(|s| format!("{} / {}", ms(s.duration), s.client_sends))
                        .collect();
                    if list.is_empty() {
                        "–".into()
                    } else {
                        list.join(", ")
                    }
                })
                .collect();
            println!("| {} | {} |", kind.name(), cells.join(" | "));
        }
    }

    fn print_baseline(&self, b: &Baseline) {
        let Some((_, _, m)) = self.functions.iter().find(|(k, _, _)| *k == Kind::Postgres) else {
            return;
        };
        println!("\n### PostgreSQL rotation against its unavoidable work (p50, ms)\n");
        println!("The unavoidable work, done directly from the bench process with raw SDK calls and raw logins:");
        for (step, ops) in crate::targets::MINIMUM {
            let names: Vec<String> = ops
                .iter()
                .map(|(op, why)| format!("{op} ({why})"))
                .collect();
            println!("- {step}: {}", names.join("; "));
        }
        println!("\n| step | function | unavoidable work | ratio |");
        println!("|---|---|---|---|");
        for (i, step) in STEPS.iter().enumerate() {
            println!(
                "| {step} | {} | {} | {:.2} |",
                ms(m.steps[i].median()),
                ms(b.steps[i].median()),
                ratio(m.steps[i].median(), b.steps[i].median())
            );
        }
        println!(
            "| **rotation** | **{}** | **{}** | **{:.2}** |",
            ms(m.rotation.median()),
            ms(b.total.median()),
            ratio(m.rotation.median(), b.total.median())
        );
        let ops: Vec<String> = b
            .ops
            .iter()
            .map(|(op, s)| format!("{op} {} / {}", ms(s.median()), ms(s.p95())))
            .collect();
        println!(
            "\nLatency of one operation, p50 / p95 (ms): {}.",
            ops.join("; ")
        );
        println!(
            "One SCRAM-SHA-256 key derivation (PBKDF2, 4096 iterations: every login pays one on the \
             client, and so does every verifier) takes {} ms p50 in this process (dependencies at \
             opt-level 2; the functions use opt-level \"s\").",
            ms(b.scram.median())
        );
        if let Some(cpu) = m.cpu_per_rotation {
            println!(
                "CPU per rotation: the function {} ms; the unavoidable work, in this process, {} ms.",
                ms(cpu),
                ms(b.cpu / b.total.len().max(1) as u32)
            );
        }
        if let (Some(calls), Some(sessions)) = (m.calls.last(), m.sessions.last()) {
            let connections = sessions.each_ref().map(|s| s.len() as u32);
            let own: Duration = calls
                .iter()
                .flat_map(|step| step.iter())
                .map(|(op, n)| b.op_median(op) * *n)
                .sum::<Duration>()
                + b.op_median(baseline::LOGIN) * connections.iter().sum::<u32>();
            println!(
                "The function's own I/O ({} Secrets Manager calls and {} PostgreSQL connections at those latencies) \
                 is ≈ {} ms: rotation / own I/O = {:.2}.",
                calls.iter().map(total).sum::<u32>(),
                connections.iter().sum::<u32>(),
                ms(own),
                ratio(m.rotation.median(), own)
            );
            let excess = crate::targets::excess(b, calls, connections.iter().sum());
            let without = m.rotation.median().saturating_sub(excess.time);
            println!(
                "Estimate: without the {} Secrets Manager calls and {} login(s) above the minimum (at \
                 these latencies) the rotation would take ≈ {} ms = {:.2}× the unavoidable work.",
                excess.calls,
                excess.logins,
                ms(without),
                ratio(without, b.total.median())
            );
        }
    }

    fn print_elasticache(&self, artifact: &Artifact, m: &elasticache::Measured) {
        println!(
            "\n### ElastiCache RBAC user through the Redis function (ms, p50 / p95 over {} rotations, after one warm-up)\n",
            m.rotation.len()
        );
        println!(
            "The binary: {} (the Redis function's). The control plane is the test kit's emulator: each \
             ModifyUser leaves the user `modifying` for {} ms (emulated: AWS reports minutes), then the \
             emulator applies it to one redis-server, where the function logs in over TLS. The \
             function polls DescribeUsers from 0.2 s, doubling, so the waits below are the emulator's \
             {} ms rounded up to the function's polls, not AWS's. A wait is the `waited_ms` of the \
             function's `managed target ready` log line: from its first DescribeUsers call to the one \
             that shows `active` (a wait of one poll is that call's latency). The function's output is \
             kept for those lines, not discarded as for the other functions.\n",
            artifact.binary.display(),
            elasticache::MODIFYING.as_millis(),
            elasticache::MODIFYING.as_millis()
        );
        let last_timed = m.timed.last();
        let steady = m.calls.last();
        let sessions = m.sessions.last();
        println!("| step | time | waiting for `active` | time − waits | waits / DescribeUsers polls | Secrets Manager calls | ElastiCache calls | TLS logins |");
        println!("|---|---|---|---|---|---|---|---|");
        for (i, step) in STEPS.iter().enumerate() {
            let observed = last_timed.map(|r| &r[i]);
            println!(
                "| {step} | {} | {} | {} | {} | {} | {} | {} |",
                m.steps[i].median_p95(),
                waits(&m.waited[i]),
                m.working[i].median_p95(),
                observed.map_or("–".into(), |o| format!("{} / {}", o.waits, o.polls)),
                steady.map_or("not counted".into(), |c| summary(&c[i])),
                observed.map_or("–".into(), |o| summary(&o.control)),
                sessions.map_or("–".into(), |s| s[i].len().to_string())
            );
        }
        let control_total =
            |r: &[StepObserved; 4]| r.iter().map(|o| total(&o.control)).sum::<u32>();
        println!(
            "| **rotation** | **{}** | **{}** | **{}** | {} | {} | {} | {} |",
            m.rotation.median_p95(),
            waits(&m.rotation_waited),
            m.rotation_working.median_p95(),
            last_timed.map_or("–".into(), |r| format!(
                "{} / {}",
                r.iter().map(|o| o.waits).sum::<u32>(),
                r.iter().map(|o| o.polls).sum::<u32>()
            )),
            steady.map_or("–".into(), |c| rotation_total(c).to_string()),
            last_timed.map_or("–".into(), |r| control_total(r).to_string()),
            sessions.map_or("–".into(), |s| s
                .iter()
                .map(Vec::len)
                .sum::<usize>()
                .to_string())
        );
        println!(
            "\nWaits, polls and ElastiCache calls: the last timed rotation (the emulator's counts, reset \
             before each step)."
        );
        let per_rotation: Vec<u32> = m.timed.iter().map(control_total).collect();
        if let (Some(least), Some(most)) = (per_rotation.iter().min(), per_rotation.iter().max()) {
            if least == most {
                println!("ElastiCache calls per rotation: {least} in each timed rotation.");
            } else {
                println!(
                    "ElastiCache calls per rotation over the timed rotations: {least} to {most}."
                );
            }
        }
        if let (Some(first), Some(at_proxy), Some(counted)) =
            (m.calls.first(), m.control_at_proxy.last(), m.control.last())
        {
            let emulated: u32 = counted.iter().map(|o| total(&o.control)).sum();
            println!(
                "Secrets Manager calls and TLS logins: the second of two counted rotations, a process of \
                 its own whose AWS_ENDPOINT_URL is the counting proxy (first rotation: {} calls). Its \
                 ElastiCache requests went through the same proxy and carry no X-Amz-Target (AWS Query \
                 protocol): the proxy saw {} such requests, the emulator counted {emulated} ElastiCache \
                 calls (compared per step), none counted as Secrets Manager calls. TLS logins reach the \
                 endpoint through a TCP relay.",
                rotation_total(first),
                at_proxy.iter().sum::<u32>(),
            );
        }
        println!(
            "VmHWM after all rotations: {}; CPU per rotation: {}; {} / {} rotations left the new \
             password and the previous one logging in.",
            m.peak_rss_kib.map_or("?".into(), mib_from_kib),
            m.cpu_per_rotation
                .map_or("?".into(), |d| format!("{} ms", ms(d))),
            m.verified,
            m.rotated
        );
        if let Some((_, _, redis)) = self
            .functions
            .iter()
            .find(|(k, _, r)| *k == Kind::Redis && !r.rotation.is_empty())
        {
            println!(
                "For comparison, the self-managed Redis rotation above ({}): {} ms p50; this one \
                 without its waits: {} ms p50.",
                Kind::Redis.scenario(),
                ms(redis.rotation.median()),
                ms(m.rotation_working.median())
            );
        }
    }

    fn print_fleet(&self) {
        println!("\n### Fleet: in-process engine, one PostgreSQL, one Redis, one emulator\n");
        println!("| secrets | at a time | total | rotations/s | per rotation p50 / p95 (ms) | failures | AWSCURRENT logs in afterwards | finished by |");
        println!("|---|---|---|---|---|---|---|---|");
        for run in &self.fleet {
            let checkpoints: Vec<String> = run
                .checkpoints
                .iter()
                .map(|(n, at)| format!("{n} → {}", seconds(*at)))
                .collect();
            println!(
                "| {} | {} | {} | {:.1} | {} | {} | {} / {} | {} |",
                run.size,
                run.concurrency,
                seconds(run.total),
                run.size as f64 / run.total.as_secs_f64(),
                run.rotation.median_p95(),
                run.failures.len(),
                run.verified,
                run.size,
                checkpoints.join(", ")
            );
        }
        if let (Some(small), Some(large)) = (self.fleet.first(), self.fleet.last()) {
            if large.size > small.size {
                println!(
                    "\nFrom {} to {} secrets ({}× the secrets) the total grew {:.1}×; per-rotation p50 grew {:.2}×.",
                    small.size,
                    large.size,
                    large.size / small.size.max(1),
                    ratio(large.total, small.total),
                    ratio(large.rotation.median(), small.rotation.median())
                );
            }
        }
        for failure in self.fleet.iter().flat_map(|r| r.failures.iter()).take(10) {
            println!("- fleet failure: {failure}");
        }
    }
}

/// Health at scale, and the projection to 100,000 secrets from the measured cost per page.
fn print_health(run: &HealthRun) {
    println!(
        "\n### Health at scale: the monitor's binary over {} healthy secrets\n",
        run.size
    );
    println!("| checked / secrets | ListSecrets | DescribeSecret | target (calls) | wall | monitor CPU | monitor peak RSS | seeding (emulator) |");
    println!("|---|---|---|---|---|---|---|---|");
    let cpu = run.cpu.map_or("?".into(), |c| format!("{} ms", ms(c)));
    println!(
        "| {} / {} | {} | {} | ≤ {} | {} | {cpu} | {} | {} |",
        run.checked,
        run.size,
        run.list_calls(),
        run.describe_calls(),
        run.target_calls(),
        seconds(run.wall),
        run.peak_rss_kib.map_or("?".into(), mib_from_kib),
        seconds(run.seeding)
    );
    let pages = f64::from(run.list_calls().max(1));
    let wall_per_page = run.wall.as_secs_f64() / pages;
    let cpu_per_page = run.cpu.map_or(0.0, |c| c.as_secs_f64() / pages);
    println!(
        "\nPer ListSecrets page of 100: {:.1} ms wall here (moto walks every secret for each page, so \
         this grows with the fleet), {:.2} ms of the monitor's CPU. 100,000 secrets are 1,000 pages: \
         {:.0} s of the monitor's CPU, and 1,000 × Secrets Manager's page latency in wall time \
         (at this emulator's {:.0} ms per page: {:.0} s) — against the module's 900 s ceiling.",
        wall_per_page * 1000.0,
        cpu_per_page * 1000.0,
        cpu_per_page * 1000.0,
        wall_per_page * 1000.0,
        wall_per_page * 1000.0
    );
    for failure in run.failures.iter().take(10) {
        println!("- health failure: {failure}");
    }
}

/// `median / p95` of a wait, `–` for a step that never waits.
fn waits(samples: &Samples) -> String {
    if samples.percentile(100.0).is_zero() {
        "–".into()
    } else {
        samples.median_p95()
    }
}

pub fn total(calls: &Calls) -> u32 {
    calls.values().sum()
}

/// `3 Describe · 5 Get · 1 Put` style summary with short operation names.
fn summary(calls: &Calls) -> String {
    if calls.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = calls
        .iter()
        .map(|(op, n)| format!("{n} {}", short(op)))
        .collect();
    format!("{} ({})", total(calls), parts.join(" · "))
}

fn short(operation: &str) -> &str {
    match operation {
        "DescribeSecret" => "Describe",
        "GetSecretValue" => "Get",
        "PutSecretValue" => "Put",
        "UpdateSecretVersionStage" => "Update",
        other => other,
    }
}

fn rotation_total(steps: &[Calls; 4]) -> u32 {
    steps.iter().map(total).sum()
}

fn file_size(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}
