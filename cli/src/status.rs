//! `status` and `history`: metadata only, never a secret value.

use crate::args::{HistoryArgs, StatusArgs};
use crate::error::CliError;
use crate::table::{human, render};
use crate::Context;
use rotation::health::{self, format_time, RotationDateSource, SecretHealth, Selection, Summary};
use rotation::rotation_log;
use rotation::store::SecretStore;
use serde_json::json;
use std::io::Write;
use std::time::SystemTime;

/// Every rotation-enabled secret (or every secret, with --all), judged by the same rules as the
/// monitor function ([`rotation::health`]).
pub async fn status(
    ctx: &Context,
    args: &StatusArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let selection = Selection {
        filter: args.filter(),
        include_disabled: args.all,
    };
    let now = args.at.unwrap_or_else(SystemTime::now);
    let collected = health::collect(&ctx.store, &selection, now).await?;
    let report: Vec<SecretHealth> = collected
        .secrets
        .iter()
        .map(|secret| health::evaluate(secret, now))
        .collect();
    let summary = Summary::of(&report, collected.errors.len());
    if args.json {
        let document = json!({
            "evaluated_at": format_time(now),
            "summary": {
                "checked": summary.checked,
                "overdue": summary.overdue,
                "pending_stuck": summary.pending_stuck,
                "unreadable": summary.unreadable,
                "described": collected.described.total(),
            },
            "secrets": report.iter().map(health::to_json).collect::<Vec<_>>(),
            "errors": collected.errors.iter().map(|e| json!({
                "secret": e.secret_id,
                "error": e.to_string(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{document:#}")?;
    } else if report.is_empty() {
        writeln!(
            out,
            "no {}secret matches",
            if args.all { "" } else { "rotation-enabled " }
        )?;
    } else {
        let rows: Vec<Vec<String>> = report.iter().map(row).collect();
        write!(
            out,
            "{}",
            render(
                &[
                    "NAME",
                    "ENGINE",
                    "LAST ROTATED",
                    "AGE",
                    "DUE",
                    "PENDING",
                    "STATUS"
                ],
                &rows
            )
        )?;
        writeln!(
            out,
            "\n{} checked, {} overdue, {} with a stuck AWSPENDING (as of {})",
            summary.checked,
            summary.overdue,
            summary.pending_stuck,
            format_time(now)
        )?;
    }
    for error in &collected.errors {
        writeln!(progress, "warning: {error}")?;
    }
    let unhealthy = report.iter().filter(|h| !h.is_healthy()).count();
    if !collected.errors.is_empty() {
        return Err(CliError::Unreadable(collected.errors.len()));
    }
    if args.check && unhealthy > 0 {
        return Err(CliError::Unhealthy(unhealthy));
    }
    Ok(())
}

fn row(health: &SecretHealth) -> Vec<String> {
    let last = match health.last_rotation {
        Some((at, RotationDateSource::LastRotated)) => format_time(at),
        Some((at, RotationDateSource::Created)) => format!("never (created {})", format_time(at)),
        None => "-".into(),
    };
    let pending = match &health.pending {
        Some(p) => format!(
            "{} since {}",
            short(&p.version),
            p.since.map_or_else(|| "?".into(), format_time)
        ),
        None => "-".into(),
    };
    vec![
        health.name.clone(),
        health.engine.clone().unwrap_or_else(|| "-".into()),
        last,
        health.age.map_or_else(|| "-".into(), human),
        health.due.map_or_else(|| "-".into(), format_time),
        pending,
        verdict(health),
    ]
}

fn verdict(health: &SecretHealth) -> String {
    let mut words = Vec::new();
    if health.overdue {
        words.push(format!("OVERDUE by {}", human(health.overdue_by())));
    }
    if health.pending_stuck() {
        words.push("STUCK AWSPENDING".to_owned());
    }
    if words.is_empty() {
        words.push(
            match (&health.pending, health.rotation_enabled) {
                (Some(_), _) => "rotating",
                (None, true) => "ok",
                (None, false) => "rotation off",
            }
            .to_owned(),
        );
    }
    words.join(", ")
}

fn short(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}

/// The secret's versions, newest first, with stages and dates from ListSecretVersionIds, and from
/// the rotation log in its tags who asked for each rotation, how, and why.
pub async fn history(
    ctx: &Context,
    args: &HistoryArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(&args.secret_id).await?;
    let mut versions = ctx.store.list_versions(&secret.arn).await?;
    versions.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let time = |t: Option<SystemTime>| t.map_or_else(|| "-".into(), format_time);
    let log = rotation_log::entries(&secret.tags);
    if args.json {
        let document = json!({
            "name": secret.name,
            "arn": secret.arn,
            "rotation_enabled": secret.rotation_enabled,
            "last_rotated": secret.last_rotated.map(format_time),
            "next_rotation": secret.next_rotation.map(format_time),
            "versions": versions.iter().map(|v| json!({
                "version": v.id,
                "stages": v.stages,
                "created": v.created.map(format_time),
                "last_accessed": v.last_accessed.map(format_time),
                "requested_by": log.get(&v.id).map(|e| &e.request.requested_by),
                "method": log.get(&v.id).map(|e| e.request.method.as_str()),
                "reason": log.get(&v.id).and_then(|e| e.request.reason.as_ref()),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{document:#}")?;
        return Ok(());
    }
    writeln!(out, "{} ({})", secret.name, secret.arn)?;
    writeln!(
        out,
        "rotation {}; last rotated {}; next rotation {}\n",
        if secret.rotation_enabled {
            "enabled"
        } else {
            "off"
        },
        time(secret.last_rotated),
        time(secret.next_rotation)
    )?;
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let entry = log.get(&v.id);
            vec![
                time(v.created),
                secret.name.clone(),
                v.id.clone(),
                if v.stages.is_empty() {
                    "-".into()
                } else {
                    v.stages.join(",")
                },
                entry.map_or_else(|| "-".into(), |e| e.request.requested_by.clone()),
                entry.map_or_else(|| "-".into(), |e| e.request.method.as_str().to_owned()),
                entry
                    .and_then(|e| e.request.reason.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    write!(
        out,
        "{}",
        render(
            &["DATE", "SECRET", "VERSION", "STAGES", "OPERATOR", "METHOD", "NOTES"],
            &rows
        )
    )?;
    Ok(())
}
