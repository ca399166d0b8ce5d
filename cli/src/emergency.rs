//! `emergency` for one secret: tag it, rotate it, and report success only once the previous
//! credential is revoked. [`crate::incident`] runs it over a class of secrets.

use crate::args::{EmergencyArgs, RotateArgs};
use crate::error::CliError;
use crate::rotate::{plan, run, tag_request, untag_request, Finished, EMERGENCY};
use crate::Context;
use rotation::protocol::{AWSCURRENT, AWSPENDING, MODE_TAG, ROTATION_MODE_FIELD};
use rotation::store::{SecretMetadata, SecretStore, VersionRef};
use rotation::{SecretValue, Step};
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, IsTerminal, Write};

/// How an emergency rotation that returned without error ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emergency {
    /// The version is AWSCURRENT and the previous credential revoked.
    Revoked(String),
    /// `--no-wait`: Secrets Manager started the rotation of this version; the function revokes.
    Started(String),
}

/// `rotationctl emergency SECRET`: one secret, confirmed by typing its name.
pub async fn emergency(
    ctx: &Context,
    args: &EmergencyArgs,
    secret_id: &str,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(secret_id).await?;
    let rotate = args.rotate_args(secret_id, args.resume);
    // Refuse what cannot run before asking.
    plan_emergency(ctx, &secret, &rotate).await?;
    confirm(&secret, args.yes, progress)?;
    let requester = ctx.caller_arn().await?;
    match emergency_secret(ctx, &secret, &rotate, &requester, progress).await? {
        Emergency::Revoked(version) => writeln!(
            out,
            "{}: rotated; version {version} is AWSCURRENT and the previous credential is revoked",
            secret.name
        )?,
        Emergency::Started(version) => writeln!(
            out,
            "{}: emergency rotation started (version {version}); the rotation function revokes \
             the previous credential and removes {MODE_TAG} once the version is AWSCURRENT; \
             follow it with `rotationctl status`",
            secret.name
        )?,
    }
    Ok(())
}

/// Tags the secret `rotation:mode=emergency` (and who asks, and why), then rotates it: the
/// rotation revokes the previous credential as soon as the new one is promoted, and removes the
/// tags last. Success is reported only once DescribeSecret shows the new version AWSCURRENT and
/// the mode tag gone; a rotation that stopped after staging or before the revocation completed
/// keeps the tag, so that a retried finishSecret or `emergency --local --resume` finishes it. When
/// nothing could be staged, the tags this command added are removed again, so the next scheduled
/// rotation is not an emergency one.
pub async fn emergency_secret(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    requester: &str,
    progress: &mut dyn Write,
) -> Result<Emergency, CliError> {
    let plan = plan_emergency(ctx, secret, args).await?;
    let already_tagged = secret.tags.get(MODE_TAG).map(String::as_str) == Some(EMERGENCY);
    tag_request(ctx, secret, requester, args.reason.as_deref()).await?;
    if already_tagged {
        writeln!(progress, "{MODE_TAG}={EMERGENCY} is already set")?;
    } else {
        ctx.store.add_tag(&secret.arn, MODE_TAG, EMERGENCY).await?;
        writeln!(progress, "tagged {MODE_TAG}={EMERGENCY}")?;
    }
    let steps: &[Step] = if plan.revocation_only {
        writeln!(
            progress,
            "version {} is already AWSCURRENT: finishing its revocation",
            plan.token.as_deref().unwrap_or_default()
        )?;
        &[Step::FinishSecret]
    } else {
        &Step::ALL
    };
    let result = run(ctx, secret, args, plan.token.clone(), steps, true, progress).await;
    if let Ok(Finished::Started(version)) = &result {
        return Ok(Emergency::Started(version.clone()));
    }
    // Decided on what Secrets Manager shows now, not on what the steps returned.
    let now = match ctx.store.describe(&secret.arn).await {
        Ok(now) => now,
        Err(e) => {
            writeln!(
                progress,
                "could not read the secret again to check the revocation; {MODE_TAG} left as it is"
            )?;
            return Err(result.err().unwrap_or(CliError::Store(e)));
        }
    };
    let promoted_before = secret.version_with_stage(AWSCURRENT);
    match aftermath(promoted_before, plan.revocation_only, &now) {
        Aftermath::Done(version) => result.map(|_| Emergency::Revoked(version)),
        Aftermath::RevocationUnfinished(version) => Err(revocation_incomplete(
            secret,
            format!("version {version} is AWSCURRENT, but the previous credential may still work"),
            result.err(),
        )),
        Aftermath::Pending(version) => Err(revocation_incomplete(
            secret,
            format!(
                "version {version} stays AWSPENDING: nothing was promoted, the previous \
                 credential still works"
            ),
            result.err(),
        )),
        Aftermath::NothingStaged => {
            if already_tagged {
                // Set before this command, possibly by an emergency rotation still unfinished.
                writeln!(
                    progress,
                    "nothing was staged; {MODE_TAG} was set before: kept"
                )?;
            } else if now.tags.contains_key(MODE_TAG) {
                match ctx.store.remove_tag(&secret.arn, MODE_TAG).await {
                    Ok(()) => writeln!(progress, "nothing was staged: removed {MODE_TAG} again")?,
                    Err(e) => writeln!(progress, "could not remove {MODE_TAG} again: {e}")?,
                }
            }
            untag_request(ctx, &now, progress).await?;
            match result {
                Ok(Finished::Current(version) | Finished::Started(version)) => {
                    Err(CliError::Abandoned {
                        secret: secret.name.clone(),
                        version,
                    })
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn revocation_incomplete(
    secret: &SecretMetadata,
    state: String,
    cause: Option<CliError>,
) -> CliError {
    CliError::RevocationIncomplete {
        secret: secret.name.clone(),
        state,
        cause: cause.map(|e| format!("{e}\n")).unwrap_or_default(),
    }
}

/// Where an emergency rotation stands, from DescribeSecret after it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Aftermath {
    /// The new version is AWSCURRENT and the tag is gone: the revocation completed.
    Done(String),
    /// The new version is AWSCURRENT but the tag is still on: the revocation has not completed.
    RevocationUnfinished(String),
    /// A version is still AWSPENDING: nothing was promoted.
    Pending(String),
    /// Nothing pending and AWSCURRENT did not move: nothing was staged (or it was abandoned).
    NothingStaged,
}

/// `promoted_before` is the AWSCURRENT version before the rotation; `revocation_only` says the
/// rotation only finished the revocation of that version.
fn aftermath(
    promoted_before: Option<&str>,
    revocation_only: bool,
    now: &SecretMetadata,
) -> Aftermath {
    let current = now.version_with_stage(AWSCURRENT);
    match current {
        Some(version) if revocation_only || current != promoted_before => {
            if now.tags.contains_key(MODE_TAG) {
                Aftermath::RevocationUnfinished(version.to_owned())
            } else {
                Aftermath::Done(version.to_owned())
            }
        }
        _ => match pending_version(now) {
            Some(version) => Aftermath::Pending(version.to_owned()),
            None => Aftermath::NothingStaged,
        },
    }
}

/// The version labelled AWSPENDING and not also AWSCURRENT, if any.
pub fn pending_version(secret: &SecretMetadata) -> Option<&str> {
    secret
        .versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == AWSPENDING) && !stages.iter().any(|s| s == AWSCURRENT)
        })
        .map(|(id, _)| id.as_str())
}

/// What `emergency` runs.
pub struct EmergencyPlan {
    /// As for [`plan`].
    pub token: Option<String>,
    /// `--resume` after the new version was promoted but its revocation did not complete: only
    /// finishSecret runs again, on the AWSCURRENT version.
    pub revocation_only: bool,
}

pub async fn plan_emergency(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
) -> Result<EmergencyPlan, CliError> {
    match plan(secret, args) {
        Ok(Some(token)) if args.resume => {
            refuse_routine_pending(ctx, secret, &token).await?;
            Ok(EmergencyPlan {
                token: Some(token),
                revocation_only: false,
            })
        }
        Ok(token) => Ok(EmergencyPlan {
            token,
            revocation_only: false,
        }),
        // Nothing pending, but the tag is still on: an emergency rotation promoted its version
        // and its revocation did not complete. finishSecret on that version finishes it.
        Err(CliError::NothingToResume { secret: name }) if secret.tags.contains_key(MODE_TAG) => {
            let current = secret.version_with_stage(AWSCURRENT);
            match current {
                Some(current) if records_emergency(ctx, secret, current).await? => {
                    Ok(EmergencyPlan {
                        token: Some(current.to_owned()),
                        revocation_only: true,
                    })
                }
                _ => Err(CliError::NothingToResume { secret: name }),
            }
        }
        Err(e) => Err(e),
    }
}

/// createSecret records the mode in the pending value and the later steps follow it, not the tag:
/// a pending version written by a routine createSecret cannot finish as an emergency rotation.
async fn refuse_routine_pending(
    ctx: &Context,
    secret: &SecretMetadata,
    token: &str,
) -> Result<(), CliError> {
    let Some(raw) = ctx.store.value(&secret.arn, VersionRef::Id(token)).await? else {
        // Still empty: createSecret will record the emergency mode from the tag.
        return Ok(());
    };
    if recorded_mode(&raw).as_deref() == Some(EMERGENCY) {
        Ok(())
    } else {
        Err(CliError::RoutinePending {
            secret: secret.name.clone(),
            version: token.to_owned(),
        })
    }
}

async fn records_emergency(
    ctx: &Context,
    secret: &SecretMetadata,
    version: &str,
) -> Result<bool, CliError> {
    let raw = ctx
        .store
        .value(&secret.arn, VersionRef::Id(version))
        .await?;
    Ok(raw.is_some_and(|raw| recorded_mode(&raw).as_deref() == Some(EMERGENCY)))
}

/// The `rotation_mode` field of a value; nothing else of the value is kept.
fn recorded_mode(raw: &SecretString) -> Option<String> {
    SecretValue::parse(raw.expose_secret()).ok().and_then(|v| {
        v.optional_str(ROTATION_MODE_FIELD)
            .ok()
            .flatten()
            .map(str::to_owned)
    })
}

fn confirm(secret: &SecretMetadata, yes: bool, progress: &mut dyn Write) -> Result<(), CliError> {
    let warning = format!(
        "Emergency rotation of {}: its previous credential stops working as soon as the new one \
         is promoted, and clients still using it fail.\nType the secret's name to go on: ",
        secret.name
    );
    confirm_typed(&warning, &secret.name, yes, progress)
}

/// Asks on the terminal for `expected` to be typed after `warning`; `yes` skips the question,
/// and without a terminal only `yes` confirms.
pub fn confirm_typed(
    warning: &str,
    expected: &str,
    yes: bool,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "an emergency rotation revokes the previous credential at once: confirm with --yes"
                .into(),
        ));
    }
    write!(progress, "{warning}")?;
    progress.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(CliError::NotConfirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::tests::{secret, FUNCTION};

    fn tagged(mut secret: SecretMetadata) -> SecretMetadata {
        secret.tags.insert(MODE_TAG.into(), EMERGENCY.into());
        secret
    }

    #[test]
    fn an_emergency_succeeds_only_once_promoted_and_untagged() {
        let before = Some("v1");
        let promoted = secret(
            &[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT"])],
            FUNCTION,
        );
        assert_eq!(
            aftermath(before, false, &promoted),
            Aftermath::Done("v2".into())
        );
        assert_eq!(
            aftermath(before, false, &tagged(promoted)),
            Aftermath::RevocationUnfinished("v2".into())
        );
        let pending = secret(
            &[("v1", &["AWSCURRENT"]), ("v2", &["AWSPENDING"])],
            FUNCTION,
        );
        assert_eq!(
            aftermath(before, false, &tagged(pending)),
            Aftermath::Pending("v2".into())
        );
        let untouched = secret(&[("v1", &["AWSCURRENT"])], FUNCTION);
        assert_eq!(
            aftermath(before, false, &tagged(untouched.clone())),
            Aftermath::NothingStaged
        );
        // AWSPENDING left on the current version is no pending rotation.
        let leftover = secret(&[("v1", &["AWSCURRENT", "AWSPENDING"])], FUNCTION);
        assert_eq!(
            aftermath(before, false, &tagged(leftover)),
            Aftermath::NothingStaged
        );
        // Finishing a revocation moves nothing: the tag alone tells whether it completed.
        assert_eq!(
            aftermath(before, true, &tagged(untouched.clone())),
            Aftermath::RevocationUnfinished("v1".into())
        );
        assert_eq!(
            aftermath(before, true, &untouched),
            Aftermath::Done("v1".into())
        );
    }
}
