//! The Secrets Manager rotation protocol: a preamble, then createSecret → setSecret → testSecret →
//! finishSecret. Knows version stages, nothing of databases.

use crate::audit::{Outcome, StepRecord, Telemetry};
use crate::backend::{Backend, BackendContext, BackendError, Versions};
use crate::error::RotationError;
use crate::event::{RotationEvent, Step};
use crate::protocol::{Mode, AWSCURRENT, AWSPENDING, AWSPREVIOUS, MODE_TAG};
use crate::rotation_log::{surplus_log_tags, LogEntry, Request, REASON_TAG, REQUESTED_BY_TAG};
use crate::secret::SecretValue;
use crate::store::{PutOutcome, SecretMetadata, SecretStore};
use crate::stored::{current_version, required_value, StoredVersions};
use crate::trust;
use serde_json::Value;
use std::time::{Instant, SystemTime};

/// Secrets Manager's limit on a secret value.
pub const MAX_SECRET_BYTES: usize = 65_536;

/// How a step ended when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The step did its work.
    Done,
    /// A retry found the step's work already done.
    AlreadyDone,
    /// The version is already AWSCURRENT: a late retry.
    AlreadyCurrent,
}

impl StepOutcome {
    /// The outcome as the handler's response names it.
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

/// The rotation protocol over a store `S` (Secrets Manager) and a backend `B` (the target system).
///
/// Secrets Manager invokes the function once per step with the same token; each call runs one step
/// and may be repeated. Driving a whole rotation by hand, as `rotationctl rotate --local` does:
///
/// ```no_run
/// use rotation::{AwsSecretStore, Engine, RotationEvent, Step};
///
/// # async fn rotate(token: &str) -> Result<(), rotation::RotationError> {
/// let store = AwsSecretStore::from_env().await;
/// let engine = Engine::new(store, rotation::redis::RedisBackend::new(), rotation::audit::Telemetry::stdout());
/// for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
///     let event = RotationEvent::new(step, "app/redis", token);
///     let outcome = engine.handle(&event).await?;
///     println!("{step}: {}", outcome.as_str());
/// }
/// # Ok(())
/// # }
/// ```
pub struct Engine<S, B> {
    store: S,
    backend: B,
    telemetry: Telemetry,
}

impl<S: SecretStore, B: Backend> Engine<S, B> {
    /// An engine writing its audit and metric lines to `telemetry`.
    pub fn new(store: S, backend: B, telemetry: Telemetry) -> Self {
        Self {
            store,
            backend,
            telemetry,
        }
    }

    /// The backend it drives.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The store it reads and writes.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn context<'a>(
        &'a self,
        secret_arn: &'a str,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> BackendContext<'a> {
        BackendContext::new(secret_arn, mode, &self.store)
            .with_telemetry(&self.telemetry)
            .with_deadline(deadline)
    }

    /// Entry point for a raw Lambda payload.
    pub async fn handle_json(&self, payload: &Value) -> Result<StepOutcome, RotationError> {
        self.handle_json_until(payload, None).await
    }

    /// Entry point for a raw Lambda payload that must be handled before `deadline`.
    pub async fn handle_json_until(
        &self,
        payload: &Value,
        deadline: Option<Instant>,
    ) -> Result<StepOutcome, RotationError> {
        let mut event = RotationEvent::from_json(payload).inspect_err(|e| {
            tracing::error!(engine = self.backend.engine(), error = %e, "rejected rotation event");
        })?;
        event.deadline = deadline;
        self.handle(&event).await
    }

    /// Runs one step and writes its audit and metric lines, which name who asked for the
    /// rotation and why (the secret's request tags, read as the step starts).
    pub async fn handle(&self, event: &RotationEvent) -> Result<StepOutcome, RotationError> {
        let started = Instant::now();
        let (request, result) = match self.store.describe(&event.secret_id).await {
            Ok(secret) => (
                Some(Request::of(&secret.tags)),
                self.run_step(&secret, event).await,
            ),
            Err(e) => (None, Err(e.into())),
        };
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
            request: request.as_ref(),
        });
        result
    }

    async fn run_step(
        &self,
        secret: &SecretMetadata,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        if let Preamble::AlreadyCurrent = preamble(secret, token)? {
            tracing::info!(secret = %secret.arn, version = token, step = %event.step, "version is already AWSCURRENT");
            return match event.step {
                Step::FinishSecret => self.finish_leftovers(secret, event).await,
                _ => Ok(StepOutcome::AlreadyCurrent),
            };
        }
        match event.step {
            Step::CreateSecret => self.create_secret(secret, event).await,
            Step::SetSecret => self.set_secret(secret, event).await,
            Step::TestSecret => self.test_secret(secret, event).await,
            Step::FinishSecret => self.finish_secret(secret, event).await,
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
        let ctx = self.context(arn, mode, event.deadline);
        let mut pending = self
            .backend
            .build_pending(&ctx, &current)
            .await
            .map_err(|e| backend_error(Step::CreateSecret, arn, e))?;
        mode.record(&mut pending);
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
        let outcome = match put {
            PutOutcome::Created => StepOutcome::Done,
            // Another invocation filled this version first: its value is the pending one.
            PutOutcome::AlreadyExists => {
                required_value(&self.store, secret, token, AWSPENDING).await?;
                StepOutcome::AlreadyDone
            }
        };
        self.write_log_entry(secret, token).await;
        Ok(outcome)
    }

    /// Adds the rotation's entry to the log in the secret's tags, dropping the oldest. Best effort:
    /// the log is for people, and a secret with no tag left to spare must still rotate.
    async fn write_log_entry(&self, secret: &SecretMetadata, token: &str) {
        let key = LogEntry::key(token);
        let entry = LogEntry {
            at: SystemTime::now(),
            request: Request::of(&secret.tags),
        };
        let written = async {
            for surplus in surplus_log_tags(&secret.tags, &key) {
                self.store.remove_tag(&secret.arn, &surplus).await?;
            }
            self.store
                .add_tag(&secret.arn, &key, &entry.to_tag_value())
                .await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(secret = %secret.arn, version = token, error = %e, "the rotation log entry was not written");
        }
    }

    /// setSecret: refuse a pending value that createSecret did not seal with AWSCURRENT (someone
    /// else may have written it), then make the target accept the pending credential while the
    /// current one keeps working.
    async fn set_secret(
        &self,
        secret: &SecretMetadata,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        let pending = required_value(&self.store, secret, token, AWSPENDING).await?;
        let others = StoredVersions::of(&self.store, secret);
        let versions = Versions::new(pending, &others);
        let failed = |e| step_failure(Step::SetSecret, secret, &others, e);
        let current = versions.current().await.map_err(failed)?;
        trust::check_seal(current, &secret.arn, token, &versions.pending).map_err(failed)?;
        let ctx = self.context(
            &secret.arn,
            Mode::recorded(&versions.pending),
            event.deadline,
        );
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
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        let pending = required_value(&self.store, secret, token, AWSPENDING).await?;
        let others = StoredVersions::of(&self.store, secret);
        let versions = Versions::new(pending, &others);
        let ctx = self.context(
            &secret.arn,
            Mode::recorded(&versions.pending),
            event.deadline,
        );
        self.backend
            .verify_pending(&ctx, &versions)
            .await
            .map_err(|e| step_failure(Step::TestSecret, secret, &others, e))?;
        Ok(StepOutcome::Done)
    }

    /// finishSecret: move AWSCURRENT to the pending version (the service moves AWSPREVIOUS to the old
    /// one), remove the leftover AWSPENDING, then the backend's post-promotion work.
    async fn finish_secret(
        &self,
        secret: &SecretMetadata,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        let arn = secret.arn.as_str();
        let old_current = current_version(secret)?;
        let promoted = required_value(&self.store, secret, token, AWSPENDING).await?;
        // Only an emergency rotation revokes what the demoted version could do.
        let demoted = match Mode::recorded(&promoted) {
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
        self.after_promotion(secret, &promoted, demoted.as_ref(), event.deadline)
            .await?;
        Ok(StepOutcome::Done)
    }

    /// A finishSecret retried after the promotion: finish what a crash may have left undone.
    async fn finish_leftovers(
        &self,
        secret: &SecretMetadata,
        event: &RotationEvent,
    ) -> Result<StepOutcome, RotationError> {
        let token = event.client_request_token.as_str();
        let mut finished_something = false;
        if secret.has_stage(token, AWSPENDING) {
            self.store
                .move_stage(&secret.arn, AWSPENDING, None, Some(token))
                .await?;
            finished_something = true;
        }
        if requested_mode(secret)? == Mode::Emergency {
            let promoted = required_value(&self.store, secret, token, AWSCURRENT).await?;
            if Mode::recorded(&promoted) == Mode::Emergency {
                let demoted = match secret.version_with_stage(AWSPREVIOUS) {
                    Some(previous) => {
                        Some(required_value(&self.store, secret, previous, AWSPREVIOUS).await?)
                    }
                    None => None,
                };
                // Removes the request tags too.
                self.after_promotion(secret, &promoted, demoted.as_ref(), event.deadline)
                    .await?;
                return Ok(StepOutcome::Done);
            }
        }
        if Request::tagged(&secret.tags) {
            self.remove_request_tags(secret).await?;
            finished_something = true;
        }
        Ok(if finished_something {
            StepOutcome::Done
        } else {
            StepOutcome::AlreadyCurrent
        })
    }

    /// Backend work after promotion; an emergency rotation removes its tag after it, so a crash
    /// before that repeats the (idempotent) revocation. The request tags go last.
    async fn after_promotion(
        &self,
        secret: &SecretMetadata,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
        deadline: Option<Instant>,
    ) -> Result<(), RotationError> {
        let mode = Mode::recorded(promoted);
        let ctx = self.context(&secret.arn, mode, deadline);
        self.backend
            .after_promotion(&ctx, promoted, demoted)
            .await
            .map_err(|e| backend_error(Step::FinishSecret, &secret.arn, e))?;
        self.write_metadata_tags(secret, promoted).await;
        if mode == Mode::Emergency && secret.tags.contains_key(MODE_TAG) {
            self.store.remove_tag(&secret.arn, MODE_TAG).await?;
        }
        self.remove_request_tags(secret).await
    }

    /// The backend's [`Backend::metadata_tags`] for the promoted value. Best effort: they inform,
    /// and the promotion they describe has happened.
    async fn write_metadata_tags(&self, secret: &SecretMetadata, promoted: &SecretValue) {
        for (key, value) in self.backend.metadata_tags(promoted) {
            let written = match value {
                Some(value) if secret.tags.get(key) != Some(&value) => {
                    self.store.add_tag(&secret.arn, key, &value).await
                }
                None if secret.tags.contains_key(key) => {
                    self.store.remove_tag(&secret.arn, key).await
                }
                _ => Ok(()),
            };
            if let Err(e) = written {
                tracing::warn!(secret = %secret.arn, tag = key, error = %e, "a metadata tag was not written");
            }
        }
    }

    /// The rotation has ended: the next one, unless someone asks again, is the schedule's.
    async fn remove_request_tags(&self, secret: &SecretMetadata) -> Result<(), RotationError> {
        for key in [REQUESTED_BY_TAG, REASON_TAG] {
            if secret.tags.contains_key(key) {
                self.store.remove_tag(&secret.arn, key).await?;
            }
        }
        Ok(())
    }
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

/// The mode the operator asked for, by tag.
fn requested_mode(secret: &SecretMetadata) -> Result<Mode, RotationError> {
    Mode::requested(&secret.tags).map_err(|_| RotationError::InvalidModeTag {
        secret: secret.arn.clone(),
        tag: MODE_TAG.to_owned(),
    })
}

/// A backend's failure as the step's error; when it could not read a version it asked for, the
/// failed read itself.
fn step_failure(
    step: Step,
    secret: &SecretMetadata,
    versions: &StoredVersions<'_>,
    source: BackendError,
) -> RotationError {
    match (&source, versions.take_failure()) {
        (BackendError::VersionUnavailable { .. }, Some(read)) => read,
        _ => backend_error(step, &secret.arn, source),
    }
}

fn backend_error(step: Step, secret: &str, source: BackendError) -> RotationError {
    RotationError::Backend {
        step,
        secret: secret.to_owned(),
        source,
    }
}
