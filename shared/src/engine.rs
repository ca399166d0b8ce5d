//! The Secrets Manager rotation protocol: a preamble, then createSecret → setSecret → testSecret →
//! finishSecret. Knows version stages, nothing of databases.

use crate::audit::{Outcome, StepRecord, Telemetry};
use crate::backend::{Backend, BackendContext, BackendError, Mode, VersionSource, Versions};
use crate::error::RotationError;
use crate::event::{RotationEvent, Step};
use crate::secret::{SecretValue, ROTATION_MODE_FIELD};
use crate::store::{
    PutOutcome, SecretMetadata, SecretStore, VersionRef, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use crate::trust;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::Instant;

/// The tag an operator sets to ask for an emergency rotation; removed when it has finished.
pub const MODE_TAG: &str = "rotation:mode";
/// Secrets Manager's limit on a secret value.
pub const MAX_SECRET_BYTES: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    /// A retry found the step's work already done.
    AlreadyDone,
    /// The version is already AWSCURRENT: a late retry.
    AlreadyCurrent,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Done => "done",
            StepOutcome::AlreadyDone => "already_done",
            StepOutcome::AlreadyCurrent => "already_current",
        }
    }
}

enum Preamble {
    Pending,
    AlreadyCurrent,
}

pub struct Engine<S, B> {
    store: S,
    backend: B,
    telemetry: Telemetry,
}

impl<S: SecretStore, B: Backend> Engine<S, B> {
    pub fn new(store: S, backend: B, telemetry: Telemetry) -> Self {
        Self {
            store,
            backend,
            telemetry,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn context<'a>(&'a self, secret_arn: &'a str, mode: Mode) -> BackendContext<'a> {
        BackendContext::new(secret_arn, mode, &self.store).with_telemetry(&self.telemetry)
    }

    /// Entry point for a raw Lambda payload.
    pub async fn handle_json(&self, payload: &Value) -> Result<StepOutcome, RotationError> {
        let event = RotationEvent::from_json(payload).inspect_err(|e| {
            tracing::error!(engine = self.backend.engine(), error = %e, "rejected rotation event");
        })?;
        self.handle(&event).await
    }

    /// Runs one step and writes its audit and metric lines.
    pub async fn handle(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let started = Instant::now();
        let result = self.run_step(event).await;
        let error = result.as_ref().err().map(|e| (e.kind(), e.to_string()));
        self.telemetry.record_step(&StepRecord {
            engine: self.backend.engine(),
            secret: &event.secret_id,
            step: event.step,
            version: &event.client_request_token,
            outcome: match &result {
                Ok(StepOutcome::Done) => Outcome::Ok,
                Ok(_) => Outcome::Skipped,
                Err(_) => Outcome::Error,
            },
            elapsed: started.elapsed(),
            error,
        });
        result
    }

    async fn run_step(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let secret = self.store.describe(&event.secret_id).await?;
        let token = event.client_request_token.as_str();
        if let Preamble::AlreadyCurrent = preamble(&secret, token)? {
            tracing::info!(secret = %secret.arn, version = token, step = %event.step, "version is already AWSCURRENT");
            return match event.step {
                Step::FinishSecret => self.finish_leftovers(&secret, token).await,
                _ => Ok(StepOutcome::AlreadyCurrent),
            };
        }
        match event.step {
            Step::CreateSecret => self.create_secret(&secret, event).await,
            Step::SetSecret => self.set_secret(&secret, token).await,
            Step::TestSecret => self.test_secret(&secret, token).await,
            Step::FinishSecret => self.finish_secret(&secret, token).await,
        }
    }

    /// createSecret: fill the empty AWSPENDING version the service made with a value built from
    /// AWSCURRENT. Touches nothing but Secrets Manager. A retry needs no read of its own: Secrets
    /// Manager refuses a second value for the same token, and that answer leads to the first one.
    async fn create_secret(
        &self,
        secret: &SecretMetadata,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let (arn, token) = (secret.arn.as_str(), event.client_request_token.as_str());
        let current =
            required_value(&self.store, secret, current_version(secret)?, AWSCURRENT).await?;
        let mode = requested_mode(secret)?;
        let ctx = self.context(arn, mode);
        let mut pending = self
            .backend
            .build_pending(&ctx, &current)
            .await
            .map_err(|e| backend_error(Step::CreateSecret, arn, e))?;
        record_mode(&mut pending, mode);
        let seal = trust::seal(&current, arn, token, &pending);
        pending.insert(trust::SEAL_FIELD, Value::from(seal));
        let bytes = pending.serialized_len();
        if bytes > MAX_SECRET_BYTES {
            return Err(RotationError::ValueTooLarge {
                secret: arn.to_owned(),
                bytes,
                limit: MAX_SECRET_BYTES,
            });
        }
        let put = self
            .store
            .put_pending(
                arn,
                token,
                &pending.to_secret_string(),
                event.rotation_token.as_ref(),
            )
            .await?;
        match put {
            PutOutcome::Created => Ok(StepOutcome::Done),
            // Another invocation filled this version first: its value is the pending one.
            PutOutcome::AlreadyExists => {
                required_value(&self.store, secret, token, AWSPENDING).await?;
                Ok(StepOutcome::AlreadyDone)
            }
        }
    }

    /// setSecret: refuse a pending value that createSecret did not seal with AWSCURRENT (someone
    /// else may have written it), then make the target accept the pending credential while the
    /// current one keeps working.
    async fn set_secret(
        &self,
        secret: &SecretMetadata,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let pending = required_value(&self.store, secret, token, AWSPENDING).await?;
        let others = StoredVersions::of(&self.store, secret);
        let versions = Versions::new(pending, &others);
        let failed = |e| backend_error(Step::SetSecret, &secret.arn, e);
        let current = versions.current().await.map_err(failed)?;
        trust::check_seal(current, &secret.arn, token, &versions.pending).map_err(failed)?;
        let ctx = self.context(&secret.arn, recorded_mode(&versions.pending));
        self.backend
            .accept_pending(&ctx, &versions)
            .await
            .map_err(failed)?;
        Ok(StepOutcome::Done)
    }

    /// testSecret: prove the pending credential works on the target. Changes nothing.
    async fn test_secret(
        &self,
        secret: &SecretMetadata,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let pending = required_value(&self.store, secret, token, AWSPENDING).await?;
        let others = StoredVersions::of(&self.store, secret);
        let versions = Versions::new(pending, &others);
        let ctx = self.context(&secret.arn, recorded_mode(&versions.pending));
        self.backend
            .verify_pending(&ctx, &versions)
            .await
            .map_err(|e| backend_error(Step::TestSecret, &secret.arn, e))?;
        Ok(StepOutcome::Done)
    }

    /// finishSecret: move AWSCURRENT to the pending version (the service moves AWSPREVIOUS to the old
    /// one), remove the leftover AWSPENDING, then the backend's post-promotion work.
    async fn finish_secret(
        &self,
        secret: &SecretMetadata,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let arn = secret.arn.as_str();
        let old_current = current_version(secret)?;
        let promoted = required_value(&self.store, secret, token, AWSPENDING).await?;
        // Only an emergency rotation revokes what the demoted version could do.
        let demoted = match recorded_mode(&promoted) {
            Mode::Emergency => {
                Some(required_value(&self.store, secret, old_current, AWSCURRENT).await?)
            }
            Mode::Routine => None,
        };
        self.store
            .move_stage(arn, AWSCURRENT, Some(token), Some(old_current))
            .await?;
        self.store
            .move_stage(arn, AWSPENDING, None, Some(token))
            .await?;
        self.after_promotion(secret, &promoted, demoted.as_ref())
            .await?;
        Ok(StepOutcome::Done)
    }

    /// A finishSecret retried after the promotion: finish what a crash may have left undone.
    async fn finish_leftovers(
        &self,
        secret: &SecretMetadata,
        token: &str,
    ) -> Result<StepOutcome, RotationError> {
        let mut finished_something = false;
        if secret.has_stage(token, AWSPENDING) {
            self.store
                .move_stage(&secret.arn, AWSPENDING, None, Some(token))
                .await?;
            finished_something = true;
        }
        if requested_mode(secret)? == Mode::Emergency {
            let promoted = required_value(&self.store, secret, token, AWSCURRENT).await?;
            if recorded_mode(&promoted) == Mode::Emergency {
                let demoted = match secret.version_with_stage(AWSPREVIOUS) {
                    Some(previous) => {
                        Some(required_value(&self.store, secret, previous, AWSPREVIOUS).await?)
                    }
                    None => None,
                };
                self.after_promotion(secret, &promoted, demoted.as_ref())
                    .await?;
                finished_something = true;
            }
        }
        Ok(if finished_something {
            StepOutcome::Done
        } else {
            StepOutcome::AlreadyCurrent
        })
    }

    /// Backend work after promotion; an emergency rotation removes its tag last, so a crash before
    /// that repeats the (idempotent) revocation.
    async fn after_promotion(
        &self,
        secret: &SecretMetadata,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), RotationError> {
        let mode = recorded_mode(promoted);
        let ctx = self.context(&secret.arn, mode);
        self.backend
            .after_promotion(&ctx, promoted, demoted)
            .await
            .map_err(|e| backend_error(Step::FinishSecret, &secret.arn, e))?;
        if mode == Mode::Emergency && secret.tags.contains_key(MODE_TAG) {
            self.store.remove_tag(&secret.arn, MODE_TAG).await?;
        }
        Ok(())
    }
}

/// AWSCURRENT and AWSPREVIOUS of one secret, read when a backend asks for them.
struct StoredVersions<'a> {
    store: &'a dyn SecretStore,
    secret: &'a SecretMetadata,
}

impl<'a> StoredVersions<'a> {
    fn of(store: &'a dyn SecretStore, secret: &'a SecretMetadata) -> Self {
        Self { store, secret }
    }
}

#[async_trait]
impl VersionSource for StoredVersions<'_> {
    async fn current(&self) -> Result<SecretValue, RotationError> {
        let id = current_version(self.secret)?;
        required_value(self.store, self.secret, id, AWSCURRENT).await
    }

    /// AWSPREVIOUS is a fallback only: one that no longer parses is ignored, not fatal.
    async fn previous(&self) -> Result<Option<SecretValue>, RotationError> {
        let Some(id) = self.secret.version_with_stage(AWSPREVIOUS) else {
            return Ok(None);
        };
        match required_value(self.store, self.secret, id, AWSPREVIOUS).await {
            Ok(value) => Ok(Some(value)),
            Err(RotationError::MalformedSecret { source, .. }) => {
                tracing::warn!(secret = %self.secret.arn, error = %source, "ignoring unreadable AWSPREVIOUS");
                Ok(None)
            }
            Err(RotationError::PendingValueMissing { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// A version's parsed value; a missing one is an error that names the stage.
async fn required_value(
    store: &dyn SecretStore,
    secret: &SecretMetadata,
    version: &str,
    stage: &'static str,
) -> Result<SecretValue, RotationError> {
    let raw = store
        .value(&secret.arn, VersionRef::Id(version))
        .await?
        .ok_or_else(|| RotationError::PendingValueMissing {
            secret: secret.arn.clone(),
            version: version.to_owned(),
        })?;
    SecretValue::parse(raw.expose_secret()).map_err(|source| RotationError::MalformedSecret {
        secret: secret.arn.clone(),
        stage,
        source,
    })
}

/// The checks made before every step.
fn preamble(secret: &SecretMetadata, token: &str) -> Result<Preamble, RotationError> {
    if !secret.rotation_enabled {
        return Err(RotationError::RotationNotEnabled {
            secret: secret.arn.clone(),
        });
    }
    let stages = secret
        .stages_of(token)
        .ok_or_else(|| RotationError::UnknownVersion {
            secret: secret.arn.clone(),
            version: token.to_owned(),
        })?;
    if stages.iter().any(|s| s == AWSCURRENT) {
        return Ok(Preamble::AlreadyCurrent);
    }
    if !stages.iter().any(|s| s == AWSPENDING) {
        return Err(RotationError::NotPending {
            secret: secret.arn.clone(),
            version: token.to_owned(),
            stages: stages.to_vec(),
        });
    }
    Ok(Preamble::Pending)
}

fn current_version(secret: &SecretMetadata) -> Result<&str, RotationError> {
    secret
        .version_with_stage(AWSCURRENT)
        .ok_or_else(|| RotationError::NoCurrentVersion {
            secret: secret.arn.clone(),
        })
}

/// The mode the operator asked for, by tag.
fn requested_mode(secret: &SecretMetadata) -> Result<Mode, RotationError> {
    match secret.tags.get(MODE_TAG) {
        None => Ok(Mode::Routine),
        Some(value) => Mode::parse(value).ok_or_else(|| RotationError::InvalidModeTag {
            secret: secret.arn.clone(),
            tag: MODE_TAG.to_owned(),
        }),
    }
}

/// createSecret writes the mode into the pending value, so later steps and retries do not depend on
/// the tag.
fn record_mode(pending: &mut SecretValue, mode: Mode) {
    match mode {
        Mode::Emergency => pending.insert(ROTATION_MODE_FIELD, Value::from(mode.as_str())),
        Mode::Routine => {
            pending.remove(ROTATION_MODE_FIELD);
        }
    }
}

fn recorded_mode(value: &SecretValue) -> Mode {
    match value.get(ROTATION_MODE_FIELD).and_then(Value::as_str) {
        Some("emergency") => Mode::Emergency,
        _ => Mode::Routine,
    }
}

/// A backend's failure, or the failure to read a version it asked for, as it was.
fn backend_error(step: Step, secret: &str, source: BackendError) -> RotationError {
    match source {
        BackendError::Stored(inner) => *inner,
        source => RotationError::Backend {
            step,
            secret: secret.to_owned(),
            source,
        },
    }
}
