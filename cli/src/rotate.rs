//! `rotate`, and what every rotation the CLI starts shares: the plan, the run (locally or by the
//! service), and the request tags that say who asked and why.

use crate::args::RotateArgs;
use crate::emergency::pending_version;
use crate::error::CliError;
use crate::local::{run_steps, LocalStaging};
use crate::Context;
use rotation::engines::{self, EngineSpec};
use rotation::protocol::{AWSCURRENT, AWSPENDING, MODE_TAG};
use rotation::rotation_log::{REASON_TAG, REQUESTED_BY_TAG};
use rotation::store::{SecretMetadata, SecretStore, VersionRef};
use rotation::{SecretValue, Step};
use secrecy::ExposeSecret;
use std::io::Write;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
pub const EMERGENCY: &str = "emergency";

/// How far a rotation that returned without error got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
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
    let requester = ctx.caller_arn().await?;
    tag_request(ctx, &secret, &requester, args.reason.as_deref()).await?;
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
            untag_if_nothing_staged(ctx, &secret, progress).await;
            let hint = match token {
                Some(token) => routine_hint(ctx, &secret, &token).await,
                None => String::new(),
            };
            Err(CliError::Step { step, source, hint })
        }
        Err(other) => {
            untag_if_nothing_staged(ctx, &secret, progress).await;
            Err(other)
        }
    }
}

/// Tags the secret with who asks for its rotation ([`REQUESTED_BY_TAG`]) and why
/// ([`REASON_TAG`], removed when no reason is given): the function logs both with every step and
/// removes them when the rotation ends.
pub async fn tag_request(
    ctx: &Context,
    secret: &SecretMetadata,
    requester: &str,
    reason: Option<&str>,
) -> Result<(), CliError> {
    ctx.store
        .add_tag(&secret.arn, REQUESTED_BY_TAG, requester)
        .await?;
    match reason {
        Some(reason) => ctx.store.add_tag(&secret.arn, REASON_TAG, reason).await?,
        None if secret.tags.contains_key(REASON_TAG) => {
            ctx.store.remove_tag(&secret.arn, REASON_TAG).await?;
        }
        None => {}
    }
    Ok(())
}

/// Removes the request tags again from a secret on which nothing was staged: the next rotation is
/// not this request's.
pub async fn untag_request(
    ctx: &Context,
    now: &SecretMetadata,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    for key in [REQUESTED_BY_TAG, REASON_TAG] {
        if now.tags.contains_key(key) {
            if let Err(e) = ctx.store.remove_tag(&now.arn, key).await {
                writeln!(progress, "could not remove {key} again: {e}")?;
            }
        }
    }
    Ok(())
}

/// After a routine rotation failed: the request tags stay with a staged version (its rotation is
/// still to finish), and go when nothing was staged.
async fn untag_if_nothing_staged(ctx: &Context, secret: &SecretMetadata, progress: &mut dyn Write) {
    let before = secret.version_with_stage(AWSCURRENT);
    if let Ok(now) = ctx.store.describe(&secret.arn).await {
        let moved = now.version_with_stage(AWSCURRENT) != before;
        if !moved && pending_version(&now).is_none() {
            let _ = untag_request(ctx, &now, progress).await;
        }
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

/// Refuses to start over a pending rotation; with `--resume`, continues it. Returns the token a
/// local rotation uses (`None` for a rotation by the service, which picks its own).
pub fn plan(secret: &SecretMetadata, args: &RotateArgs) -> Result<Option<String>, CliError> {
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

/// Runs the rotation: `steps` locally with `token`, or by the service. `wait_for_untag`: by the
/// service, also wait until the function has removed the emergency tag.
pub async fn run(
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
pub(crate) mod tests {
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
            reason: None,
        }
    }

    pub(crate) fn secret(versions: &[(&str, &[&str])], function: Option<&str>) -> SecretMetadata {
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

    pub(crate) const FUNCTION: Option<&str> = Some("arn:aws:lambda:eu-west-1:1:function:f");

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
