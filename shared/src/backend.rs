//! The one trait between the engine and a target system.
//!
//! A backend knows its target (a database, a cache, a key set) and nothing of version stages.

use crate::audit::Telemetry;
use crate::error::RotationError;
use crate::secret::{SecretFormatError, SecretValue};
use crate::store::{SecretStore, VersionRef, AWSCURRENT};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::fmt;
use tokio::sync::OnceCell;

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

/// Where a step's other versions come from: the engine implements it over Secrets Manager.
#[async_trait]
pub trait VersionSource: Send + Sync {
    /// The AWSCURRENT value.
    async fn current(&self) -> Result<SecretValue, RotationError>;
    /// The AWSPREVIOUS value; absent before the first rotation, or when it no longer parses.
    async fn previous(&self) -> Result<Option<SecretValue>, RotationError>;
}

/// The versions a step works with: the pending value, and the current and previous ones, read
/// only when a backend asks for them (each read is a Secrets Manager call) and at most once.
pub struct Versions<'a> {
    pub pending: SecretValue,
    current: OnceCell<SecretValue>,
    previous: OnceCell<Option<SecretValue>>,
    source: Option<&'a dyn VersionSource>,
}

impl<'a> Versions<'a> {
    pub fn new(pending: SecretValue, source: &'a dyn VersionSource) -> Self {
        Self {
            pending,
            current: OnceCell::new(),
            previous: OnceCell::new(),
            source: Some(source),
        }
    }

    /// Versions already in hand (tests, tools): nothing more is read.
    pub fn loaded(
        current: SecretValue,
        pending: SecretValue,
        previous: Option<SecretValue>,
    ) -> Versions<'static> {
        Versions {
            pending,
            current: OnceCell::new_with(Some(current)),
            previous: OnceCell::new_with(Some(previous)),
            source: None,
        }
    }

    pub async fn current(&self) -> Result<&SecretValue, BackendError> {
        self.current
            .get_or_try_init(|| async { self.source()?.current().await.map_err(stored) })
            .await
    }

    pub async fn previous(&self) -> Result<Option<&SecretValue>, BackendError> {
        let previous = self
            .previous
            .get_or_try_init(|| async { self.source()?.previous().await.map_err(stored) })
            .await?;
        Ok(previous.as_ref())
    }

    fn source(&self) -> Result<&'a dyn VersionSource, BackendError> {
        self.source.ok_or_else(|| BackendError::InvalidField {
            field: "versions".into(),
            problem: "were given without a source to read the others from".into(),
        })
    }
}

impl fmt::Debug for Versions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versions")
            .field("pending", &self.pending)
            .field("current_read", &self.current.initialized())
            .field("previous_read", &self.previous.initialized())
            .finish()
    }
}

fn stored(err: RotationError) -> BackendError {
    BackendError::Stored(Box::new(err))
}

/// What a backend may know about the rotation, and its only way to read another secret
/// (such as the privileged one named by `masterarn`).
pub struct BackendContext<'a> {
    pub secret_arn: &'a str,
    pub mode: Mode,
    store: &'a dyn SecretStore,
    telemetry: Option<&'a Telemetry>,
}

impl<'a> BackendContext<'a> {
    pub fn new(secret_arn: &'a str, mode: Mode, store: &'a dyn SecretStore) -> Self {
        Self {
            secret_arn,
            mode,
            store,
            telemetry: None,
        }
    }

    /// Where audit events of the backend's own (a break-glass reset) go.
    pub fn with_telemetry(mut self, telemetry: &'a Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Records that the admin reset `user` without proof of possession, as the admin side allows:
    /// an audit event of its own, and a warning.
    pub fn record_break_glass(&self, engine: &str, user: &str, allowed_by: &str) {
        tracing::warn!(
            engine,
            secret = self.secret_arn,
            user,
            allowed_by,
            "break-glass: the admin resets a user whose current credential does not authenticate"
        );
        if let Some(telemetry) = self.telemetry {
            telemetry.record_break_glass(engine, self.secret_arn, user, allowed_by);
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
    /// The application secret asked for something only the admin side may allow.
    #[error("refused by the trust boundary: field `{field}`: {rule}")]
    Refused { field: String, rule: String },
    /// Reading another version of the secret failed; the engine reports the original error.
    #[error(transparent)]
    Stored(Box<RotationError>),
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
            BackendError::Refused { .. } => "Refused",
            BackendError::Stored(inner) => inner.kind(),
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
        versions: &Versions<'_>,
    ) -> Result<(), BackendError>;

    /// testSecret: prove the pending credential works. Read-only.
    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingSource {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl VersionSource for CountingSource {
        async fn current(&self) -> Result<SecretValue, RotationError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(SecretValue::parse(r#"{"password":"current"}"#).unwrap())
        }
        async fn previous(&self) -> Result<Option<SecretValue>, RotationError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
    }

    fn pending() -> SecretValue {
        SecretValue::parse(r#"{"password":"pending"}"#).unwrap()
    }

    #[tokio::test]
    async fn versions_are_read_only_when_asked_and_only_once() {
        let source = CountingSource::default();
        let versions = Versions::new(pending(), &source);
        assert_eq!(source.reads.load(Ordering::SeqCst), 0);
        for _ in 0..3 {
            let current = versions.current().await.unwrap();
            assert_eq!(current.required_str("password").unwrap(), "current");
            assert!(versions.previous().await.unwrap().is_none());
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn loaded_versions_need_no_source() {
        let current = SecretValue::parse(r#"{"password":"current"}"#).unwrap();
        let versions = Versions::loaded(current, pending(), None);
        assert!(versions.current().await.is_ok());
        assert!(versions.previous().await.unwrap().is_none());
    }
}
