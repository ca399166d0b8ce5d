//! The targets and whether the figures meet them.

use crate::baseline::{Baseline, DESCRIBE, GET, LOGIN, PUT, REFUSED, TAG, UNTAG, UPDATE};
use crate::functions::Kind;
use crate::report::{ratio, total, Report};
use crate::stats::{mib_from_kib, ms};
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::proxy::Calls;

const COLD_START_TARGET: Duration = Duration::from_millis(20);
const RSS_TARGET_KIB: u64 = 16 * 1024;
const RATIO_TARGET: f64 = 1.3;

/// Calls the protocol needs per step (see BENCHMARKS.md for why each one). createSecret's
/// include the rotation log: its entry (TagResource) and, once five entries exist, dropping the
/// oldest (UntagResource); a JWT finishSecret also tags when the previous key stops verifying.
pub fn minimum_calls(kind: Kind) -> [u32; 4] {
    match kind {
        Kind::Postgres => [5, 4, 2, 4],
        Kind::Redis => [5, 4, 3, 4],
        Kind::Jwt => [5, 3, 3, 5],
    }
}

/// What the protocol needs, per step, for an alternating-users PostgreSQL rotation.
pub const MINIMUM: [(&str, &[(&str, &str)]); 4] = [
    (
        "createSecret",
        &[
            (DESCRIBE, "preamble: rotation enabled, token is AWSPENDING"),
            (GET, "AWSCURRENT, to build the pending value from"),
            (PUT, "the pending value, ClientRequestToken = token"),
            (TAG, "the rotation log entry: who asked, how, why"),
            (UNTAG, "the oldest log entry, once five exist"),
        ],
    ),
    (
        "setSecret",
        &[
            (DESCRIBE, "preamble"),
            (GET, "the pending value"),
            (
                GET,
                "AWSCURRENT: the pending value's seal, and the credential to prove",
            ),
            (GET, "the admin secret (masterarn)"),
            (
                REFUSED,
                "one login as the pending user (refused: this baseline never changes the password)",
            ),
            (
                LOGIN,
                "proof of possession: the current credential logs in before the admin acts",
            ),
            (LOGIN, "the admin session that sets the password"),
        ],
    ),
    (
        "testSecret",
        &[
            (DESCRIBE, "preamble"),
            (GET, "the pending value"),
            (LOGIN, "the pending credential logs in"),
        ],
    ),
    (
        "finishSecret",
        &[
            (DESCRIBE, "preamble; gives the old AWSCURRENT version"),
            (
                GET,
                "the pending value: its recorded mode (emergency or not)",
            ),
            (UPDATE, "move AWSCURRENT to the token"),
            (UPDATE, "remove AWSPENDING from the token"),
        ],
    ),
];

/// What a rotation does beyond [`MINIMUM`], and what that costs at the measured latencies.
pub struct Excess {
    pub calls: u32,
    pub logins: u32,
    pub time: Duration,
}

/// The calls (per operation) and logins of a counted rotation beyond the minimum.
pub fn excess(baseline: &Baseline, calls: &[Calls; 4], logins: u32) -> Excess {
    let mut minimum: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, ops) in MINIMUM {
        for (op, _) in ops {
            *minimum.entry(op).or_default() += 1;
        }
    }
    let mut counted: BTreeMap<&str, u32> = BTreeMap::new();
    for (op, n) in calls.iter().flat_map(|step| step.iter()) {
        *counted.entry(op.as_str()).or_default() += n;
    }
    let mut out = Excess {
        calls: 0,
        logins: 0,
        time: Duration::ZERO,
    };
    for (op, n) in counted {
        let extra = n.saturating_sub(minimum.get(op).copied().unwrap_or(0));
        out.calls += extra;
        out.time += baseline.op_median(op) * extra;
    }
    let minimum_logins = minimum.get(LOGIN).unwrap_or(&0) + minimum.get(REFUSED).unwrap_or(&0);
    out.logins = logins.saturating_sub(minimum_logins);
    out.time += baseline.op_median(LOGIN) * out.logins;
    out
}

pub fn print(report: &Report<'_>) {
    println!("\n### Targets\n");
    let evaluated = report.profile == "release" && report.cpu.is_none();
    if report.profile != "release" {
        println!("({} build: the start-up, memory and latency targets are for release builds and are not judged here)\n", report.profile);
    } else if let Some(cpu) = report.cpu {
        println!("(functions limited to Lambda's CPU share at {} MB: the start-up, memory and latency targets are for this machine's cores and are not judged here)\n", cpu.memory_mb);
    }
    println!("| target | measured | verdict |");
    println!("|---|---|---|");
    for (kind, _, m) in &report.functions {
        let cold = m.first_event.median();
        println!(
            "| {} cold start < 20 ms | {} ms to the first answer (init alone {} ms), p50 | {} |",
            kind.name(),
            ms(cold),
            ms(m.init.median()),
            verdict(
                evaluated && !m.first_event.is_empty(),
                cold <= COLD_START_TARGET,
                &format!("{} ms", ms(cold.abs_diff(COLD_START_TARGET)))
            )
        );
        if let Some(rss) = m.peak_rss_kib {
            println!(
                "| {} peak RSS < 16 MiB | {} | {} |",
                kind.name(),
                mib_from_kib(rss),
                verdict(
                    evaluated,
                    rss < RSS_TARGET_KIB,
                    &mib_from_kib(rss.abs_diff(RSS_TARGET_KIB))
                )
            );
        }
        if let Some(steady) = m.calls.last() {
            let counted: u32 = steady.iter().map(total).sum();
            let minimum: u32 = minimum_calls(*kind).iter().sum();
            println!(
                "| {} Secrets Manager calls ≤ protocol minimum | {counted} per rotation (minimum {minimum}) | {} |",
                kind.name(),
                verdict(true, counted <= minimum, &format!("{} calls", counted.abs_diff(minimum)))
            );
        }
    }
    if let (Some(b), Some((_, _, m))) = (
        &report.baseline,
        report
            .functions
            .iter()
            .find(|(k, _, m)| *k == Kind::Postgres && !m.rotation.is_empty()),
    ) {
        let r = ratio(m.rotation.median(), b.total.median());
        println!(
            "| postgres rotation ≤ 1.3× unavoidable work | {r:.2}× ({} ms vs {} ms, p50) | {} |",
            ms(m.rotation.median()),
            ms(b.total.median()),
            verdict(
                evaluated,
                r <= RATIO_TARGET,
                &format!("{:.2}×", (r - RATIO_TARGET).abs())
            )
        );
    }
    if let Some((_, m)) = &report.elasticache {
        let ok = m.failures.is_empty() && m.verified == m.rotated;
        println!(
            "| elasticache: 0 failures | {} failures, {} / {} rotations: new and previous password log in | {} |",
            m.failures.len(),
            m.verified,
            m.rotated,
            verdict(true, ok, "")
        );
    }
    for run in &report.fleet {
        println!(
            "| fleet of {}: 0 failures | {} failures, {} / {} log in | {} |",
            run.size,
            run.failures.len(),
            run.verified,
            run.size,
            verdict(
                true,
                run.failures.is_empty() && run.verified == run.size,
                ""
            )
        );
    }
    if let Some(run) = &report.health {
        let calls = run.list_calls() as usize + run.describe_calls() as usize;
        println!(
            "| health over {} secrets: ≤ {} Secrets Manager calls, no DescribeSecret while healthy | {} ListSecrets + {} DescribeSecret | {} |",
            run.size,
            run.target_calls(),
            run.list_calls(),
            run.describe_calls(),
            verdict(
                true,
                calls <= run.target_calls() && run.failures.is_empty(),
                ""
            )
        );
    }
}

fn verdict(evaluated: bool, met: bool, margin: &str) -> String {
    match (evaluated, met, margin.is_empty()) {
        (false, _, _) => "not judged".into(),
        (true, true, true) => "met".into(),
        (true, false, true) => "**MISSED**".into(),
        (true, true, false) => format!("met (margin {margin})"),
        (true, false, false) => format!("**MISSED** by {margin}"),
    }
}
