//! `emergency` over a class of secrets during an incident: every rotation-enabled secret the
//! selection names, listed and confirmed once, rotated a few at a time, summed up in a table. Run
//! again with the same reason, it continues what failed and skips what this incident rotated.

use crate::args::EmergencyArgs;
use crate::emergency::{self, confirm_typed, emergency_secret, pending_version, Emergency};
use crate::error::CliError;
use crate::table::render;
use crate::Context;
use futures::stream::{self, StreamExt};
use rotation::health::engine_of;
use rotation::protocol::{AWSCURRENT, MODE_TAG};
use rotation::rotation_log::{entries, Method};
use rotation::store::{SecretMetadata, SecretStore};
use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, Instant};

/// What the command will do with one selected secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Start an emergency rotation.
    Rotate,
    /// `--local`: continue the emergency rotation this secret has pending or unrevoked.
    Continue,
    /// This incident (same reason) already rotated it: version is AWSCURRENT, revoked.
    DoneEarlier(String),
    /// Cannot be rotated as asked; the text says why and what to do.
    Refused(String),
}

struct Selected {
    secret: SecretMetadata,
    engine: String,
    action: Action,
}

/// How one secret's rotation ended, for the summary.
struct Row {
    name: String,
    engine: String,
    outcome: Result<&'static str, String>,
    elapsed: Option<Duration>,
    revoked: &'static str,
}

pub async fn emergency(
    ctx: &Context,
    args: &EmergencyArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(secret_id) = &args.secret_id {
        return emergency::emergency(ctx, args, secret_id, out, progress).await;
    }
    if args.resume {
        return Err(CliError::Usage(
            "--resume continues one SECRET; over a class, an unfinished emergency rotation is \
             continued without it (with --local)"
                .into(),
        ));
    }
    let selected = select(ctx, args).await?;
    if selected.is_empty() {
        writeln!(out, "no rotation-enabled secret matches")?;
        return Ok(());
    }
    list(&selected, out)?;
    let to_rotate = selected
        .iter()
        .filter(|s| matches!(s.action, Action::Rotate | Action::Continue))
        .count();
    if to_rotate == 0 {
        return finish(selected.iter().map(skipped).collect(), out);
    }
    confirm(to_rotate, args.yes, progress)?;
    let requester = ctx.caller_arn().await?;
    let progress = RefCell::new(progress);
    let rows: Vec<Row> = stream::iter(selected.iter())
        .map(|selected| rotate_one(ctx, args, selected, &requester, &progress))
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    let mut rows = rows;
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    finish(rows, out)
}

/// Every rotation-enabled secret ListSecrets returns for the selection, with what to do with it.
async fn select(ctx: &Context, args: &EmergencyArgs) -> Result<Vec<Selected>, CliError> {
    let mut secrets = ctx.store.list_secrets(&args.filter()).await?;
    secrets.retain(|s| s.rotation_enabled);
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(secrets
        .into_iter()
        .filter_map(|secret| {
            let engine = engine_of(&secret);
            if let Some(wanted) = args.engine {
                let matches = engine
                    .as_deref()
                    .is_some_and(|e| e == wanted.name || wanted.aliases.contains(&e));
                if !matches {
                    return None;
                }
            }
            let action = action(&secret, args);
            Some(Selected {
                engine: engine.unwrap_or_else(|| "-".into()),
                action,
                secret,
            })
        })
        .collect())
}

/// Decided on the ListSecrets entry: its stages, the mode tag and the rotation log.
fn action(secret: &SecretMetadata, args: &EmergencyArgs) -> Action {
    if let Some(pending) = pending_version(secret) {
        return if args.local {
            Action::Continue
        } else {
            Action::Refused(format!(
                "version {pending} is AWSPENDING: a rotation is in progress or stuck; finish it \
                 with `rotationctl emergency --local --resume {}`",
                secret.name
            ))
        };
    }
    if secret.tags.contains_key(MODE_TAG) && args.local {
        // An emergency rotation promoted its version; its revocation did not complete.
        return Action::Continue;
    }
    let current = secret.version_with_stage(AWSCURRENT).unwrap_or_default();
    let log = entries(&secret.tags);
    match log.get(current) {
        Some(entry)
            if entry.request.method == Method::Emergency
                && entry.request.reason.as_deref() == Some(args.reason.as_str())
                && !secret.tags.contains_key(MODE_TAG) =>
        {
            Action::DoneEarlier(current.to_owned())
        }
        _ => Action::Rotate,
    }
}

fn list(selected: &[Selected], out: &mut dyn Write) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = selected
        .iter()
        .map(|s| {
            let action = match &s.action {
                Action::Rotate => "rotate".to_owned(),
                Action::Continue => "continue the unfinished emergency rotation".to_owned(),
                Action::DoneEarlier(version) => {
                    format!("skip: rotated by this incident (version {version})")
                }
                Action::Refused(why) => format!("cannot: {why}"),
            };
            vec![s.secret.name.clone(), s.engine.clone(), action]
        })
        .collect();
    write!(out, "{}", render(&["SECRET", "ENGINE", "ACTION"], &rows))?;
    writeln!(out)?;
    Ok(())
}

fn confirm(count: usize, yes: bool, progress: &mut dyn Write) -> Result<(), CliError> {
    let warning = format!(
        "Emergency rotation of {count} secret(s): each previous credential stops working as soon \
         as its new one is promoted, and clients still using it fail.\nType {count} to go on: "
    );
    confirm_typed(&warning, &count.to_string(), yes, progress)
}

async fn rotate_one(
    ctx: &Context,
    args: &EmergencyArgs,
    selected: &Selected,
    requester: &str,
    progress: &RefCell<&mut dyn Write>,
) -> Row {
    let name = selected.secret.name.clone();
    let row = |outcome, elapsed, revoked| Row {
        name: name.clone(),
        engine: selected.engine.clone(),
        outcome,
        elapsed,
        revoked,
    };
    if let Action::DoneEarlier(_) | Action::Refused(_) = selected.action {
        return skipped(selected);
    }
    // ListSecrets may lag a few minutes behind; DescribeSecret does not. Decided again on it, so
    // a re-run moments after the first never rotates a secret this incident already rotated.
    let fresh = match ctx.store.describe(&selected.secret.arn).await {
        Ok(fresh) => Selected {
            action: action(&fresh, args),
            secret: fresh,
            engine: selected.engine.clone(),
        },
        Err(e) => return row(Err(e.to_string()), None, "no"),
    };
    let resume = match &fresh.action {
        Action::Rotate => false,
        Action::Continue => true,
        Action::DoneEarlier(_) | Action::Refused(_) => return skipped(&fresh),
    };
    let mut lines = Prefixed::new(&name, progress);
    let started = Instant::now();
    let rotate = args.rotate_args(&fresh.secret.arn, resume);
    let result = emergency_secret(ctx, &fresh.secret, &rotate, requester, &mut lines).await;
    let elapsed = Some(started.elapsed());
    match result {
        Ok(Emergency::Revoked(_)) => {
            let _ = writeln!(lines, "done");
            row(Ok("rotated"), elapsed, "yes")
        }
        Ok(Emergency::Started(_)) => {
            let _ = writeln!(lines, "started");
            row(Ok("started"), elapsed, "by the function")
        }
        Err(e) => {
            let _ = writeln!(lines, "failed: {e}");
            row(Err(e.to_string()), elapsed, "no")
        }
    }
}

/// The row of a secret not rotated: rotated earlier by this incident, or refused.
fn skipped(selected: &Selected) -> Row {
    let (outcome, revoked) = match &selected.action {
        Action::Refused(why) => (Err(why.clone()), "no"),
        _ => (Ok("rotated earlier"), "yes"),
    };
    Row {
        name: selected.secret.name.clone(),
        engine: selected.engine.clone(),
        outcome,
        elapsed: None,
        revoked,
    }
}

/// The summary table; an error when any secret failed, naming the command that continues.
fn finish(rows: Vec<Row>, out: &mut dyn Write) -> Result<(), CliError> {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.name.clone(),
                row.engine.clone(),
                match &row.outcome {
                    Ok(outcome) => (*outcome).to_owned(),
                    Err(_) => "FAILED".to_owned(),
                },
                row.elapsed
                    .map_or_else(|| "-".into(), |d| format!("{:.1}s", d.as_secs_f64())),
                row.revoked.to_owned(),
            ]
        })
        .collect();
    write!(
        out,
        "{}",
        render(&["SECRET", "ENGINE", "OUTCOME", "TIME", "REVOKED"], &table)
    )?;
    let failed: Vec<&Row> = rows.iter().filter(|r| r.outcome.is_err()).collect();
    for row in &failed {
        if let Err(why) = &row.outcome {
            writeln!(out, "\n{}: {why}", row.name)?;
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::IncidentIncomplete {
            failed: failed.len(),
            total: rows.len(),
        })
    }
}

/// Progress of one secret among several: each line it writes appears whole, prefixed with the
/// secret's name.
struct Prefixed<'a, 'b> {
    prefix: String,
    pending: Vec<u8>,
    out: &'a RefCell<&'b mut dyn Write>,
}

impl<'a, 'b> Prefixed<'a, 'b> {
    fn new(name: &str, out: &'a RefCell<&'b mut dyn Write>) -> Self {
        Self {
            prefix: format!("[{name}] "),
            pending: Vec::new(),
            out,
        }
    }
}

impl Write for Prefixed<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            // Borrowed only for this write: no await happens while it is held.
            let mut out = self.out.borrow_mut();
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.borrow_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_concurrent_rotations_come_out_whole_and_named() {
        let mut sink: Vec<u8> = Vec::new();
        {
            let shared: RefCell<&mut dyn Write> = RefCell::new(&mut sink);
            let mut a = Prefixed::new("a", &shared);
            let mut b = Prefixed::new("b", &shared);
            write!(a, "[1/4] createSecret ... ").unwrap();
            writeln!(b, "tagged").unwrap();
            writeln!(a, "done (3 ms)").unwrap();
        }
        assert_eq!(
            String::from_utf8(sink).unwrap(),
            "[b] tagged\n[a] [1/4] createSecret ... done (3 ms)\n"
        );
    }
}
