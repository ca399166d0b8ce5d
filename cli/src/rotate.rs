//! `rotate` and `emergency`.

use crate::args::{EmergencyArgs, RotateArgs};
use crate::error::CliError;
use crate::local::{run_steps, LocalStaging};
use crate::Context;
use rotation::engines::{self, EngineSpec};
use rotation::protocol::{AWSCURRENT, AWSPENDING, MODE_TAG, ROTATION_MODE_FIELD};
use rotation::store::{SecretMetadata, SecretStore, VersionRef};
use rotation::{SecretValue, Step};
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
const EMERGENCY: &str = "emergency";

/// How far a rotation that returned without error got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Finished {
    /// The version is AWSCURRENT (and, when the caller asked to wait for it, the emergency tag
    /// is gone).
    Current(String),
    /// `--no-wait`: Secrets Manager started the rotation of this version.
    Started(String),
}

pub async fn rotate(
    ctx: &Context,
    args: &RotateArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(&args.secret_id).await?;
    let token = plan(&secret, args)?;
    let result = run(
        ctx,
        &secret,
        args,
        token.clone(),
        &Step::ALL,
        false,
        progress,
    )
    .await;
    match result {
        Ok(Finished::Current(version)) => {
            writeln!(
                out,
                "{}: rotated; version {version} is AWSCURRENT",
                secret.name
            )?;
            Ok(())
        }
        Ok(Finished::Started(version)) => {
            writeln!(
                out,
                "{}: rotation started (version {version}); follow it with `rotationctl status`",
                secret.name
            )?;
            Ok(())
        }
        Err(CliError::Step { step, source, .. }) => {
            let hint = match token {
                Some(token) => routine_hint(ctx, &secret, &token).await,
                None => String::new(),
            };
            Err(CliError::Step { step, source, hint })
        }
        Err(other) => Err(other),
    }
}

/// What a failed local routine rotation left, for the error message.
async fn routine_hint(ctx: &Context, secret: &SecretMetadata, token: &str) -> String {
    match ctx.store.describe(&secret.arn).await {
        // A pending emergency rotation finished by `rotate`: its revocation is what failed.
        Ok(now) if now.has_stage(token, AWSCURRENT) && now.tags.contains_key(MODE_TAG) => format!(
            "\nversion {token} is AWSCURRENT, but {MODE_TAG} is still set: the revocation of the \
             previous credential did not complete; fix the cause, then run \
             `rotationctl emergency --local --resume {}`",
            secret.name
        ),
        Ok(now) if now.has_stage(token, AWSCURRENT) => {
            format!("\nversion {token} is AWSCURRENT: it was promoted before the failure")
        }
        Ok(now) if now.has_stage(token, AWSPENDING) => format!(
            "\nversion {token} stays AWSPENDING: fix the cause, then run \
             `rotationctl rotate --local --resume {}`",
            secret.name
        ),
        Ok(_) => "\nnothing was staged".to_owned(),
        Err(e) => format!("\ncould not read the secret again to tell what was staged: {e}"),
    }
}

/// Tags the secret `rotation:mode=emergency`, then rotates it: the rotation revokes the previous
/// credential as soon as the new one is promoted, and removes the tag last. Success is reported
/// only once DescribeSecret shows the new version AWSCURRENT and the tag gone; a rotation that
/// stopped after staging or before the revocation completed keeps the tag, so that a retried
/// finishSecret or `emergency --local --resume` finishes it. When nothing could be staged, a tag
/// this command added is removed again, so the next scheduled rotation is not an emergency one.
pub async fn emergency(
    ctx: &Context,
    args: &EmergencyArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(&args.rotate.secret_id).await?;
    let plan = plan_emergency(ctx, &secret, &args.rotate).await?;
    confirm(&secret, args.yes, progress)?;
    let already_tagged = secret.tags.get(MODE_TAG).map(String::as_str) == Some(EMERGENCY);
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
    let result = run(
        ctx,
        &secret,
        &args.rotate,
        plan.token.clone(),
        steps,
        true,
        progress,
    )
    .await;
    if let Ok(Finished::Started(version)) = &result {
        writeln!(
            out,
            "{}: emergency rotation started (version {version}); the rotation function revokes \
             the previous credential and removes {MODE_TAG} once the version is AWSCURRENT; \
             follow it with `rotationctl status`",
            secret.name
        )?;
        return Ok(());
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
        Aftermath::Done(version) => match result {
            Ok(_) => {
                writeln!(
                    out,
                    "{}: rotated; version {version} is AWSCURRENT and the previous credential \
                     is revoked",
                    secret.name
                )?;
                Ok(())
            }
            Err(e) => Err(e),
        },
        Aftermath::RevocationUnfinished(version) => Err(revocation_incomplete(
            &secret,
            format!("version {version} is AWSCURRENT, but the previous credential may still work"),
            result.err(),
        )),
        Aftermath::Pending(version) => Err(revocation_incomplete(
            &secret,
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
fn pending_version(secret: &SecretMetadata) -> Option<&str> {
    secret
        .versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == AWSPENDING) && !stages.iter().any(|s| s == AWSCURRENT)
        })
        .map(|(id, _)| id.as_str())
}

/// What `emergency` runs.
struct EmergencyPlan {
    /// As for [`plan`].
    token: Option<String>,
    /// `--resume` after the new version was promoted but its revocation did not complete: only
    /// finishSecret runs again, on the AWSCURRENT version.
    revocation_only: bool,
}

async fn plan_emergency(
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

/// Refuses to start over a pending rotation; with `--resume`, continues it. Returns the token a
/// local rotation uses (`None` for a rotation by the service, which picks its own).
fn plan(secret: &SecretMetadata, args: &RotateArgs) -> Result<Option<String>, CliError> {
    let pending = secret
        .versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == AWSPENDING) && !stages.iter().any(|s| s == AWSCURRENT)
        })
        .map(|(id, _)| id.clone());
    match (pending, args.resume) {
        (Some(version), true) => Ok(Some(version)),
        (None, true) => Err(CliError::NothingToResume {
            secret: secret.name.clone(),
        }),
        (Some(version), false) => Err(CliError::AlreadyPending {
            secret: secret.name.clone(),
            version,
        }),
        (None, false) if args.local => Ok(Some(uuid::Uuid::new_v4().to_string())),
        (None, false)
            if secret
                .rotation_lambda_arn
                .as_deref()
                .unwrap_or("")
                .is_empty() =>
        {
            Err(CliError::NoRotationFunction {
                secret: secret.name.clone(),
            })
        }
        (None, false) => Ok(None),
    }
}

fn confirm(secret: &SecretMetadata, yes: bool, progress: &mut dyn Write) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "an emergency rotation revokes the previous credential at once: confirm with --yes"
                .into(),
        ));
    }
    write!(
        progress,
        "Emergency rotation of {}: its previous credential stops working as soon as the new one \
         is promoted, and clients still using it fail.\nType the secret's name to go on: ",
        secret.name
    )?;
    progress.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == secret.name {
        Ok(())
    } else {
        Err(CliError::NotConfirmed)
    }
}

/// Runs the rotation: `steps` locally with `token`, or by the service. `wait_for_untag`: by the
/// service, also wait until the function has removed the emergency tag.
async fn run(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    token: Option<String>,
    steps: &[Step],
    wait_for_untag: bool,
    progress: &mut dyn Write,
) -> Result<Finished, CliError> {
    match token {
        Some(token) if args.local => {
            rotate_local(ctx, secret, args, &token, steps, progress).await?;
            Ok(Finished::Current(token))
        }
        _ => rotate_by_service(ctx, secret, args, wait_for_untag, progress).await,
    }
}

async fn rotate_local(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    token: &str,
    steps: &[Step],
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let spec = match args.engine {
        Some(spec) => spec,
        None => engine_of(ctx, secret).await?,
    };
    let engine = spec.name;
    if steps.contains(&Step::CreateSecret) {
        writeln!(
            progress,
            "rotating {} locally with the {engine} backend; pending version {token}",
            secret.name
        )?;
    } else {
        writeln!(
            progress,
            "finishing {} locally with the {engine} backend; version {token}",
            secret.name
        )?;
    }
    let staging = LocalStaging {
        inner: ctx.store.clone(),
        arn: secret.arn.clone(),
        token: token.to_owned(),
    };
    run_steps(staging, (spec.build)(&ctx.config), steps, progress).await
}

/// The engine the `engine` field of the AWSCURRENT value names (any case); nothing else of the
/// value is kept.
async fn engine_of(
    ctx: &Context,
    secret: &SecretMetadata,
) -> Result<&'static EngineSpec, CliError> {
    let raw = ctx
        .store
        .value(&secret.arn, VersionRef::Stage(AWSCURRENT))
        .await?
        .ok_or_else(|| CliError::NoCurrentValue {
            secret: secret.name.clone(),
        })?;
    let value =
        SecretValue::parse(raw.expose_secret()).map_err(|source| CliError::MalformedSecret {
            secret: secret.name.clone(),
            source,
        })?;
    let engine = value
        .optional_str("engine")
        .map_err(|source| CliError::MalformedSecret {
            secret: secret.name.clone(),
            source,
        })?
        .ok_or_else(|| CliError::NoEngine {
            secret: secret.name.clone(),
        })?
        .to_ascii_lowercase();
    engines::find(&engine).ok_or_else(|| CliError::UnknownEngine {
        secret: secret.name.clone(),
        engine,
        known: engines::names().collect::<Vec<_>>().join(", "),
    })
}

/// RotateSecret, then (unless --no-wait) DescribeSecret every 2 s until the new version is
/// AWSCURRENT (with `wait_for_untag`, and the emergency tag gone), has been abandoned, or the
/// timeout has passed.
async fn rotate_by_service(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    wait_for_untag: bool,
    progress: &mut dyn Write,
) -> Result<Finished, CliError> {
    let version = ctx.store.start_rotation(&secret.arn).await?;
    writeln!(
        progress,
        "Secrets Manager started the rotation: pending version {version}"
    )?;
    if args.no_wait {
        return Ok(Finished::Started(version));
    }
    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout);
    let mut last_note = Instant::now();
    let mut noted_promotion = false;
    loop {
        let now = ctx.store.describe(&secret.arn).await?;
        match now.stages_of(&version) {
            Some(stages) if stages.iter().any(|s| s == AWSCURRENT) => {
                // The function removes the tag after the revocation, a moment after promoting.
                if !wait_for_untag || !now.tags.contains_key(MODE_TAG) {
                    return Ok(Finished::Current(version));
                }
                if !noted_promotion {
                    writeln!(
                        progress,
                        "version {version} is AWSCURRENT; waiting for the revocation of the \
                         previous credential"
                    )?;
                    noted_promotion = true;
                }
            }
            Some(stages) if !stages.iter().any(|s| s == AWSPENDING) => {
                return Err(CliError::Abandoned {
                    secret: secret.name.clone(),
                    version,
                });
            }
            _ => {}
        }
        if started.elapsed() >= timeout {
            return Err(CliError::NotFinished {
                secret: secret.name.clone(),
                version,
                waited: started.elapsed().as_secs(),
            });
        }
        if last_note.elapsed() >= PROGRESS_EVERY {
            writeln!(
                progress,
                "waiting for the rotation function ({} s)",
                started.elapsed().as_secs()
            )?;
            last_note = Instant::now();
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn args(local: bool, resume: bool) -> RotateArgs {
        RotateArgs {
            secret_id: "s".into(),
            local,
            resume,
            engine: None,
            no_wait: false,
            timeout: 300,
        }
    }

    fn secret(versions: &[(&str, &[&str])], function: Option<&str>) -> SecretMetadata {
        SecretMetadata {
            name: "s".into(),
            versions: versions
                .iter()
                .map(|(id, stages)| {
                    (
                        (*id).to_owned(),
                        stages.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            rotation_lambda_arn: function.map(str::to_owned),
            ..SecretMetadata::default()
        }
    }

    const FUNCTION: Option<&str> = Some("arn:aws:lambda:eu-west-1:1:function:f");

    #[test]
    fn a_pending_rotation_is_refused_unless_resumed() {
        let pending = secret(
            &[("v1", &["AWSCURRENT"]), ("v2", &["AWSPENDING"])],
            FUNCTION,
        );
        assert!(matches!(
            plan(&pending, &args(true, false)),
            Err(CliError::AlreadyPending { version, .. }) if version == "v2"
        ));
        assert!(matches!(
            plan(&pending, &args(false, false)),
            Err(CliError::AlreadyPending { .. })
        ));
        assert_eq!(
            plan(&pending, &args(true, true)).unwrap().as_deref(),
            Some("v2")
        );
    }

    #[test]
    fn pending_on_the_current_version_is_a_finished_rotation() {
        let done = secret(&[("v1", &["AWSCURRENT", "AWSPENDING"])], FUNCTION);
        assert_eq!(plan(&done, &args(false, false)).unwrap(), None);
        assert!(matches!(
            plan(&done, &args(true, true)),
            Err(CliError::NothingToResume { .. })
        ));
        let token = plan(&done, &args(true, false)).unwrap().unwrap();
        assert_eq!(token.len(), 36, "a fresh uuid token: {token}");
    }

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

    #[test]
    fn the_service_needs_a_rotation_function_local_does_not() {
        for function in [None, Some("")] {
            let plain = secret(&[("v1", &["AWSCURRENT"])], function);
            assert!(matches!(
                plan(&plain, &args(false, false)),
                Err(CliError::NoRotationFunction { .. })
            ));
            assert!(plan(&plain, &args(true, false)).unwrap().is_some());
        }
    }
}
