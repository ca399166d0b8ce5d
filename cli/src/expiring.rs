//! `check-expiring`: what lapses within a window, for cron and CI (exit 3 when anything does).
//! Metadata only, from ListSecrets entries: the next rotation by the same rules as `status`, and
//! the end of the previous JWT keys' grace from the `rotation:jwt-verify-until` tag the JWT
//! function keeps.

use crate::args::CheckExpiringArgs;
use crate::error::CliError;
use crate::table::{human, render};
use crate::Context;
use rotation::health::{self, format_time, Selection};
use serde_json::json;
use std::io::Write;
use std::time::SystemTime;

/// What lapses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The secret's next rotation is due (or overdue).
    Rotation,
    /// The oldest previous JWT key stops verifying.
    KeyGrace,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Rotation => "rotation",
            Kind::KeyGrace => "jwt_key_grace",
        }
    }
}

struct Expiring {
    secret: String,
    engine: Option<String>,
    kind: Kind,
    at: SystemTime,
    overdue: bool,
}

pub async fn check_expiring(
    ctx: &Context,
    args: &CheckExpiringArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let now = args.at.unwrap_or_else(SystemTime::now);
    let until = now + args.within;
    let selection = Selection {
        filter: args.filter(),
        include_disabled: false,
    };
    let collected = health::collect(&ctx.store, &selection, now).await?;
    let mut found = Vec::new();
    for secret in &collected.secrets {
        let health = health::evaluate(secret, now);
        if let Some(due) = health.due.filter(|due| *due <= until) {
            found.push(Expiring {
                secret: health.name.clone(),
                engine: health.engine.clone(),
                kind: Kind::Rotation,
                at: due,
                overdue: health.overdue,
            });
        }
        // A grace already over is no warning: that key no longer verifies, as planned.
        if let Some(ends) = health.jwt_verify_until.filter(|t| *t > now && *t <= until) {
            found.push(Expiring {
                secret: health.name.clone(),
                engine: health.engine.clone(),
                kind: Kind::KeyGrace,
                at: ends,
                overdue: false,
            });
        }
    }
    found.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.secret.cmp(&b.secret)));
    if args.json {
        let document = json!({
            "evaluated_at": format_time(now),
            "window_ends": format_time(until),
            "checked": collected.secrets.len(),
            "expiring": found.iter().map(|e| json!({
                "secret": e.secret,
                "engine": e.engine,
                "kind": e.kind.as_str(),
                "at": format_time(e.at),
                "overdue": e.overdue,
            })).collect::<Vec<_>>(),
            "errors": collected.errors.iter().map(|e| json!({
                "secret": e.secret_id,
                "error": e.to_string(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{document:#}")?;
    } else {
        let rows: Vec<Vec<String>> = found.iter().map(|e| row(e, now)).collect();
        if !rows.is_empty() {
            write!(
                out,
                "{}",
                render(&["SECRET", "ENGINE", "WHAT", "WHEN", "IN"], &rows)
            )?;
        }
        writeln!(
            out,
            "{} of {} secret(s) have something expiring by {} ({} from {})",
            found
                .iter()
                .map(|e| &e.secret)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            collected.secrets.len(),
            format_time(until),
            human(args.within),
            format_time(now),
        )?;
        for error in &collected.errors {
            writeln!(out, "warning: {error}")?;
        }
    }
    if !collected.errors.is_empty() {
        return Err(CliError::Unreadable(collected.errors.len()));
    }
    if !found.is_empty() {
        return Err(CliError::Expiring(found.len()));
    }
    Ok(())
}

fn row(expiring: &Expiring, now: SystemTime) -> Vec<String> {
    let what = match expiring.kind {
        Kind::Rotation => "next rotation",
        Kind::KeyGrace => "previous JWT key stops verifying",
    };
    let when = match expiring.at.duration_since(now) {
        Ok(left) => human(left),
        Err(past) => format!("OVERDUE by {}", human(past.duration())),
    };
    vec![
        expiring.secret.clone(),
        expiring.engine.clone().unwrap_or_else(|| "-".into()),
        what.to_owned(),
        format_time(expiring.at),
        when,
    ]
}
