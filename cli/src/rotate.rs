//! `rotate` and `emergency`.

use crate::args::{EmergencyArgs, RotateArgs};
use crate::error::CliError;
use crate::local::{run_steps, LocalStaging};
use crate::Context;
use rotation::engine::MODE_TAG;
use rotation::jwt::JwtBackend;
use rotation::postgres::PostgresBackend;
use rotation::redis::RedisBackend;
use rotation::secret::ROTATION_MODE_FIELD;
use rotation::store::{SecretMetadata, SecretStore, VersionRef, AWSCURRENT, AWSPENDING};
use rotation::SecretValue;
use secrecy::ExposeSecret;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Which command runs, for the hints printed on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Routine,
    Emergency,
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::Routine => "rotate",
            Kind::Emergency => "emergency",
        }
    }
}

pub async fn rotate(
    ctx: &Context,
    args: &RotateArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(&args.secret_id).await?;
    let token = plan(&secret, args)?;
    run(ctx, &secret, args, token, Kind::Routine, out, progress).await
}

/// Tags the secret `rotation:mode=emergency`, then rotates it: the rotation revokes the previous
/// credential as soon as the new one is promoted, and removes the tag. When nothing could be
/// staged, the tag is removed again, so the next scheduled rotation is not an emergency one.
pub async fn emergency(
    ctx: &Context,
    args: &EmergencyArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = ctx.store.describe(&args.rotate.secret_id).await?;
    let token = plan(&secret, &args.rotate)?;
    if args.rotate.resume {
        if let Some(token) = &token {
            refuse_routine_pending(ctx, &secret, token).await?;
        }
    }
    confirm(&secret, args.yes, progress)?;
    ctx.store
        .add_tag(&secret.arn, MODE_TAG, "emergency")
        .await?;
    writeln!(progress, "tagged {MODE_TAG}=emergency")?;
    let result = run(
        ctx,
        &secret,
        &args.rotate,
        token.clone(),
        Kind::Emergency,
        out,
        progress,
    )
    .await;
    if result.is_err() && !staged(ctx, &secret, token.as_deref()).await {
        match ctx.store.remove_tag(&secret.arn, MODE_TAG).await {
            Ok(()) => writeln!(progress, "nothing was staged: removed {MODE_TAG} again")?,
            Err(e) => writeln!(progress, "could not remove {MODE_TAG} again: {e}")?,
        }
    }
    result
}

/// createSecret records the mode in the pending value and the later steps follow it, not the tag:
/// a pending version written by a routine createSecret cannot finish as an emergency rotation.
/// Only the `rotation_mode` field of the pending value is looked at.
async fn refuse_routine_pending(
    ctx: &Context,
    secret: &SecretMetadata,
    token: &str,
) -> Result<(), CliError> {
    let Some(raw) = ctx.store.value(&secret.arn, VersionRef::Id(token)).await? else {
        // Still empty: createSecret will record the emergency mode from the tag.
        return Ok(());
    };
    let mode = SecretValue::parse(raw.expose_secret()).ok().and_then(|v| {
        v.optional_str(ROTATION_MODE_FIELD)
            .ok()
            .flatten()
            .map(str::to_owned)
    });
    if mode.as_deref() == Some("emergency") {
        Ok(())
    } else {
        Err(CliError::RoutinePending {
            secret: secret.name.clone(),
            version: token.to_owned(),
        })
    }
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

async fn run(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    token: Option<String>,
    kind: Kind,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    match token {
        Some(token) if args.local => {
            let result = rotate_local(ctx, secret, args, &token, progress).await;
            match result {
                Ok(()) => {
                    writeln!(
                        out,
                        "{}: rotated; version {token} is AWSCURRENT",
                        secret.name
                    )?;
                    Ok(())
                }
                Err(CliError::Step { step, source, .. }) => {
                    let hint = if staged(ctx, secret, Some(&token)).await {
                        format!(
                            "\nversion {token} stays AWSPENDING: fix the cause, then run \
                             `rotationctl {} --local --resume {}`",
                            kind.command(),
                            secret.name
                        )
                    } else {
                        "\nnothing was staged".to_owned()
                    };
                    Err(CliError::Step { step, source, hint })
                }
                Err(other) => Err(other),
            }
        }
        _ => rotate_by_service(ctx, secret, args, out, progress).await,
    }
}

/// Whether `token` is now a version of the secret that carries AWSPENDING.
async fn staged(ctx: &Context, secret: &SecretMetadata, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return false;
    };
    ctx.store
        .describe(&secret.arn)
        .await
        .is_ok_and(|s| s.has_stage(token, AWSPENDING))
}

async fn rotate_local(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    token: &str,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let engine = match args.engine {
        Some(engine) => engine.as_str().to_owned(),
        None => engine_field(ctx, secret).await?,
    };
    writeln!(
        progress,
        "rotating {} locally with the {engine} backend; pending version {token}",
        secret.name
    )?;
    let staging = LocalStaging {
        inner: ctx.store.clone(),
        arn: secret.arn.clone(),
        token: token.to_owned(),
    };
    match engine.as_str() {
        "postgres" | "postgresql" | "aurora-postgresql" => {
            run_steps(staging, PostgresBackend::from_config(&ctx.config), progress).await
        }
        "redis" => run_steps(staging, RedisBackend::new(), progress).await,
        "jwt" => run_steps(staging, JwtBackend::new(), progress).await,
        _ => Err(CliError::UnknownEngine {
            secret: secret.name.clone(),
            engine,
        }),
    }
}

/// The `engine` field of the AWSCURRENT value; nothing else of the value is kept.
async fn engine_field(ctx: &Context, secret: &SecretMetadata) -> Result<String, CliError> {
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
        })?;
    Ok(engine.to_ascii_lowercase())
}

/// RotateSecret, then (unless --no-wait) DescribeSecret every 2 s until the new version is
/// AWSCURRENT, has been abandoned, or the timeout has passed.
async fn rotate_by_service(
    ctx: &Context,
    secret: &SecretMetadata,
    args: &RotateArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let version = ctx.store.start_rotation(&secret.arn).await?;
    writeln!(
        progress,
        "Secrets Manager started the rotation: pending version {version}"
    )?;
    if args.no_wait {
        writeln!(
            out,
            "{}: rotation started (version {version}); follow it with `rotationctl status`",
            secret.name
        )?;
        return Ok(());
    }
    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout);
    let mut last_note = Instant::now();
    loop {
        let now = ctx.store.describe(&secret.arn).await?;
        match now.stages_of(&version) {
            Some(stages) if stages.iter().any(|s| s == AWSCURRENT) => {
                writeln!(
                    out,
                    "{}: rotated; version {version} is AWSCURRENT",
                    secret.name
                )?;
                return Ok(());
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
