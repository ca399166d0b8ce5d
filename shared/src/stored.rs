//! What a step reads from Secrets Manager besides the event: a version's parsed value, the other
//! versions a backend asks for, and the related secrets it may read.

use crate::backend::{BackendError, RelatedSecrets, VersionSource};
use crate::error::RotationError;
use crate::protocol::{AWSCURRENT, AWSPREVIOUS};
use crate::secret::SecretValue;
use crate::store::{SecretMetadata, SecretStore, VersionRef};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A version's parsed value; a missing one is an error that names the stage.
pub(crate) async fn required_value(
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

/// The version holding AWSCURRENT.
pub(crate) fn current_version(secret: &SecretMetadata) -> Result<&str, RotationError> {
    secret
        .version_with_stage(AWSCURRENT)
        .ok_or_else(|| RotationError::NoCurrentVersion {
            secret: secret.arn.clone(),
        })
}

/// AWSCURRENT and AWSPREVIOUS of one secret, read when a backend asks for them. A failed read
/// is kept, so that the engine reports it as it was rather than as the backend's failure.
pub(crate) struct StoredVersions<'a> {
    store: &'a dyn SecretStore,
    secret: &'a SecretMetadata,
    failure: Mutex<Option<RotationError>>,
}

impl<'a> StoredVersions<'a> {
    pub(crate) fn of(store: &'a dyn SecretStore, secret: &'a SecretMetadata) -> Self {
        Self {
            store,
            secret,
            failure: Mutex::new(None),
        }
    }

    /// The failed read behind a [`BackendError::VersionUnavailable`], if one failed.
    pub(crate) fn take_failure(&self) -> Option<RotationError> {
        self.failure.lock().ok()?.take()
    }

    fn unavailable(&self, stage: &'static str, failure: RotationError) -> BackendError {
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(failure);
        }
        BackendError::VersionUnavailable { stage }
    }
}

#[async_trait]
impl VersionSource for StoredVersions<'_> {
    async fn current(&self) -> Result<SecretValue, BackendError> {
        let read = match current_version(self.secret) {
            Ok(id) => required_value(self.store, self.secret, id, AWSCURRENT).await,
            Err(e) => Err(e),
        };
        read.map_err(|e| self.unavailable(AWSCURRENT, e))
    }

    /// AWSPREVIOUS is a fallback only: one that no longer parses is ignored, not fatal.
    async fn previous(&self) -> Result<Option<SecretValue>, BackendError> {
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
            Err(other) => Err(self.unavailable(AWSPREVIOUS, other)),
        }
    }
}

/// Any store serves a backend's reads of other secrets; failures name the secret, never a value.
#[async_trait]
impl<S: SecretStore + ?Sized> RelatedSecrets for S {
    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, BackendError> {
        let metadata = self
            .describe(secret_id)
            .await
            .map_err(|e| related_failure(secret_id, e))?;
        Ok(metadata.tags)
    }

    async fn current_value(&self, secret_id: &str) -> Result<SecretValue, BackendError> {
        let raw = self
            .value(secret_id, VersionRef::Stage(AWSCURRENT))
            .await
            .map_err(|e| related_failure(secret_id, e))?
            .ok_or_else(|| related_failure(secret_id, "it has no AWSCURRENT value"))?;
        SecretValue::parse(raw.expose_secret()).map_err(|e| related_failure(secret_id, e))
    }
}

fn related_failure(secret_id: &str, problem: impl std::fmt::Display) -> BackendError {
    BackendError::RelatedSecret {
        secret_id: secret_id.to_owned(),
        problem: problem.to_string(),
    }
}
