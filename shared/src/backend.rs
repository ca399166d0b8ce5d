//! The one trait between the engine and a target system.
//!
//! A backend knows its target (a database, a cache, a key set) and nothing of version stages.

use crate::secret::{SecretFormatError, SecretValue};
use crate::store::{SecretStore, VersionRef, AWSCURRENT};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

/// How a rotation treats the credential it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The previous credential keeps working until the next rotation.
    #[default]
    Routine,
    /// The previous credential is revoked as soon as the new one is promoted.
    Emergency,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Routine => "routine",
            Mode::Emergency => "emergency",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "routine" => Some(Mode::Routine),
            "emergency" => Some(Mode::Emergency),
            _ => None,
        }
    }
}

/// The versions a step works with. `previous` is absent before the first rotation.
#[derive(Debug, Clone)]
pub struct Versions {
    pub current: SecretValue,
    pub pending: SecretValue,
    pub previous: Option<SecretValue>,
}

/// What a backend may know about the rotation, and its only way to read another secret
/// (such as the privileged one named by `masterarn`).
pub struct BackendContext<'a> {
    pub secret_arn: &'a str,
    pub mode: Mode,
    store: &'a dyn SecretStore,
}

impl<'a> BackendContext<'a> {
    pub fn new(secret_arn: &'a str, mode: Mode, store: &'a dyn SecretStore) -> Self {
        Self {
            secret_arn,
            mode,
            store,
        }
    }

    /// The tags of another secret (e.g. the RDS instance an RDS-managed master secret belongs to).
    pub async fn related_secret_tags(
        &self,
        secret_id: &str,
    ) -> Result<BTreeMap<String, String>, BackendError> {
        let metadata =
            self.store
                .describe(secret_id)
                .await
                .map_err(|e| BackendError::RelatedSecret {
                    secret_id: secret_id.to_owned(),
                    problem: e.to_string(),
                })?;
        Ok(metadata.tags)
    }

    /// The AWSCURRENT value of another secret.
    pub async fn read_secret(&self, secret_id: &str) -> Result<SecretValue, BackendError> {
        let raw = self
            .store
            .value(secret_id, VersionRef::Stage(AWSCURRENT))
            .await
            .map_err(|e| BackendError::RelatedSecret {
                secret_id: secret_id.to_owned(),
                problem: e.to_string(),
            })?
            .ok_or_else(|| BackendError::RelatedSecret {
                secret_id: secret_id.to_owned(),
                problem: "it has no AWSCURRENT value".into(),
            })?;
        SecretValue::parse(raw.expose_secret()).map_err(|e| BackendError::RelatedSecret {
            secret_id: secret_id.to_owned(),
            problem: e.to_string(),
        })
    }
}

/// A target-side failure. Messages name users, hosts and fields, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the secret value is not usable: {0}")]
    InvalidSecret(#[from] SecretFormatError),
    #[error("field `{field}`: {problem}")]
    InvalidField { field: String, problem: String },
    #[error("cannot read related secret {secret_id}: {problem}")]
    RelatedSecret { secret_id: String, problem: String },
    #[error("cannot reach {target}: {detail}")]
    Unreachable { target: String, detail: String },
    #[error("{target} refused the login of {user}: {detail}")]
    LoginRefused {
        target: String,
        user: String,
        detail: String,
    },
    #[error("{target} rejected the change: {detail}")]
    Rejected { target: String, detail: String },
    #[error("the pending credential does not work: {0}")]
    NotVerified(String),
}

impl BackendError {
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::InvalidSecret(_) | BackendError::InvalidField { .. } => "InvalidSecret",
            BackendError::RelatedSecret { .. } => "RelatedSecret",
            BackendError::Unreachable { .. } => "TargetUnreachable",
            BackendError::LoginRefused { .. } => "LoginRefused",
            BackendError::Rejected { .. } => "TargetRejected",
            BackendError::NotVerified(_) => "NotVerified",
        }
    }
}

/// A target system. Each method is one protocol step's target-side work and must be safe to repeat.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Short name for logs and metrics: `postgres`, `redis`, `jwt`.
    fn engine(&self) -> &'static str;

    /// createSecret: the pending value, built from the current one. No side effect on the target.
    async fn build_pending(
        &self,
        ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError>;

    /// setSecret: make the target accept the pending credential, keeping the current one working.
    /// Checks first whether it already does.
    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions,
    ) -> Result<(), BackendError>;

    /// testSecret: prove the pending credential works. Read-only.
    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions,
    ) -> Result<(), BackendError>;

    /// finishSecret, after AWSCURRENT moved to `promoted`: optional work, such as revoking `demoted`
    /// in an emergency rotation (the engine reads `demoted` only then).
    async fn after_promotion(
        &self,
        _ctx: &BackendContext<'_>,
        _promoted: &SecretValue,
        _demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        Ok(())
    }
}
