//! The one trait between the engine and a target system.
//!
//! A backend knows its target (a database, a cache, a key set) and nothing of version stages.

use crate::audit::Telemetry;
use crate::secret::{SecretFormatError, SecretValue};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt;
use tokio::sync::OnceCell;

pub use crate::protocol::Mode;

/// Where a step's other versions come from: the engine implements it over Secrets Manager. A read
/// that fails is [`BackendError::VersionUnavailable`]; the engine reports the failure itself.
#[async_trait]
pub trait VersionSource: Send + Sync {
    /// The AWSCURRENT value.
    async fn current(&self) -> Result<SecretValue, BackendError>;
    /// The AWSPREVIOUS value; absent before the first rotation, or when it no longer parses.
    async fn previous(&self) -> Result<Option<SecretValue>, BackendError>;
}

/// How a backend reads a secret other than the one it rotates (the admin secret its fields or its
/// environment name, and that secret's tags): the engine implements it over Secrets Manager.
#[async_trait]
pub trait RelatedSecrets: Send + Sync {
    /// The tags of another secret.
    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, BackendError>;
    /// The AWSCURRENT value of another secret.
    async fn current_value(&self, secret_id: &str) -> Result<SecretValue, BackendError>;
}

/// The versions a step works with: the pending value, and the current and previous ones, read
/// only when a backend asks for them (each read is a Secrets Manager call) and at most once.
pub struct Versions<'a> {
    /// The AWSPENDING value the step works on.
    pub pending: SecretValue,
    current: OnceCell<SecretValue>,
    previous: OnceCell<Option<SecretValue>>,
    source: Option<&'a dyn VersionSource>,
}

impl<'a> Versions<'a> {
    /// The pending value, and where to read the others from when asked.
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

    /// The AWSCURRENT value, read on the first call.
    pub async fn current(&self) -> Result<&SecretValue, BackendError> {
        self.current
            .get_or_try_init(|| async { self.source()?.current().await })
            .await
    }

    /// The AWSPREVIOUS value, read on the first call; `None` when there is none to use.
    pub async fn previous(&self) -> Result<Option<&SecretValue>, BackendError> {
        let previous = self
            .previous
            .get_or_try_init(|| async { self.source()?.previous().await })
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

/// What a backend may know about the rotation, and its only way to read another secret
/// (such as the admin secret named by `masterarn`).
pub struct BackendContext<'a> {
    /// The ARN of the secret being rotated.
    pub secret_arn: &'a str,
    /// How the rotation treats the credential it replaces.
    pub mode: Mode,
    related: &'a dyn RelatedSecrets,
    telemetry: Option<&'a Telemetry>,
}

impl<'a> BackendContext<'a> {
    /// A context for one step of `secret_arn`, reading other secrets through `related`.
    pub fn new(secret_arn: &'a str, mode: Mode, related: &'a dyn RelatedSecrets) -> Self {
        Self {
            secret_arn,
            mode,
            related,
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
        self.related.tags(secret_id).await
    }

    /// The AWSCURRENT value of another secret.
    pub async fn read_secret(&self, secret_id: &str) -> Result<SecretValue, BackendError> {
        self.related.current_value(secret_id).await
    }
}

/// A target-side failure. Messages name users, hosts and fields, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The secret value lacks a field or holds one of the wrong type.
    #[error("the secret value is not usable: {0}")]
    InvalidSecret(#[from] SecretFormatError),
    /// A field's value is not acceptable.
    #[error("field `{field}`: {problem}")]
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong with it (never its value).
        problem: String,
    },
    /// Another secret the backend needs (the admin secret) could not be read.
    #[error("cannot read related secret {secret_id}: {problem}")]
    RelatedSecret {
        /// The other secret's name or ARN.
        secret_id: String,
        /// Why it could not be read or used.
        problem: String,
    },
    /// The target did not answer.
    #[error("cannot reach {target}: {detail}")]
    Unreachable {
        /// What was reached, e.g. `PostgreSQL at host:port` (never a connection string).
        target: String,
        /// The transport's reason.
        detail: String,
    },
    /// The target refused a login.
    #[error("{target} refused the login of {user}: {detail}")]
    LoginRefused {
        /// What was reached, e.g. `PostgreSQL at host:port` (never a connection string).
        target: String,
        /// The user whose login was refused.
        user: String,
        /// The server's reason.
        detail: String,
    },
    /// The target refused a change.
    #[error("{target} rejected the change: {detail}")]
    Rejected {
        /// What was reached, e.g. `PostgreSQL at host:port` (never a connection string).
        target: String,
        /// The server's reason.
        detail: String,
    },
    /// testSecret found the pending credential not working as it must.
    #[error("the pending credential does not work: {0}")]
    NotVerified(String),
    /// The application secret asked for something only the admin side may allow.
    #[error("refused by the trust boundary: field `{field}`: {rule}")]
    Refused {
        /// The field that asked for it.
        field: String,
        /// The rule that refuses it.
        rule: String,
    },
    /// Reading another version of the secret failed; the engine reports that failure itself.
    #[error("the {stage} version could not be read")]
    VersionUnavailable {
        /// The stage the backend asked for.
        stage: &'static str,
    },
}

impl BackendError {
    /// A stable name for the Lambda error type, audit lines and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::InvalidSecret(_) | BackendError::InvalidField { .. } => "InvalidSecret",
            BackendError::RelatedSecret { .. } => "RelatedSecret",
            BackendError::Unreachable { .. } => "TargetUnreachable",
            BackendError::LoginRefused { .. } => "LoginRefused",
            BackendError::Rejected { .. } => "TargetRejected",
            BackendError::NotVerified(_) => "NotVerified",
            BackendError::Refused { .. } => "Refused",
            BackendError::VersionUnavailable { .. } => "VersionUnavailable",
        }
    }
}

/// A target system. Each method is one protocol step's target-side work and must be safe to repeat:
/// the engine calls a step again after a crash or a retry, at any line.
///
/// A function is a backend, an [`EngineSpec`] that builds it, and [`crate::runtime::serve`]. A
/// target whose state is the set of passwords it accepts could look like this:
///
/// ```no_run
/// use async_trait::async_trait;
/// use rotation::backend::{Backend, BackendContext, BackendError, Versions};
/// use rotation::SecretValue;
/// use secrecy::ExposeSecret;
///
/// struct Accepting;
///
/// #[async_trait]
/// impl Backend for Accepting {
///     fn engine(&self) -> &'static str {
///         "example"
///     }
///
///     // createSecret: the current value with a new password; nothing is sent anywhere.
///     async fn build_pending(
///         &self,
///         _ctx: &BackendContext<'_>,
///         current: &SecretValue,
///     ) -> Result<SecretValue, BackendError> {
///         let mut pending = current.clone();
///         let password = rotation::password::generate_password(32);
///         pending.insert("password", password.expose_secret().into());
///         Ok(pending)
///     }
///
///     // setSecret: make the target accept the pending password too (if it does not already).
///     async fn accept_pending(
///         &self,
///         _ctx: &BackendContext<'_>,
///         versions: &Versions<'_>,
///     ) -> Result<(), BackendError> {
///         let _user = versions.pending.required_str("username")?;
///         Ok(())
///     }
///
///     // testSecret: log in with the pending password; change nothing.
///     async fn verify_pending(
///         &self,
///         _ctx: &BackendContext<'_>,
///         _versions: &Versions<'_>,
///     ) -> Result<(), BackendError> {
///         Ok(())
///     }
/// }
///
/// // The function's `main`: clients built once, then one rotation step per event.
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     rotation::runtime::init_process();
///     let store = rotation::AwsSecretStore::from_env().await;
///     let engine = rotation::Engine::new(store, Accepting, rotation::audit::Telemetry::stdout());
///     rotation::runtime::serve_engine(engine).await
/// }
/// ```
#[async_trait]
pub trait Backend: Send + Sync {
    /// Its engine's registry name, for logs and metrics: `postgres`, `redis`, `jwt`.
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

/// A boxed backend is a backend: the registry builds each engine's backend as one.
#[async_trait]
impl<B: Backend + ?Sized> Backend for Box<B> {
    fn engine(&self) -> &'static str {
        (**self).engine()
    }

    async fn build_pending(
        &self,
        ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        (**self).build_pending(ctx, current).await
    }

    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        (**self).accept_pending(ctx, versions).await
    }

    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        (**self).verify_pending(ctx, versions).await
    }

    async fn after_promotion(
        &self,
        ctx: &BackendContext<'_>,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        (**self).after_promotion(ctx, promoted, demoted).await
    }
}

/// An engine as the registry ([`crate::engines`]) lists it: each backend module defines its own.
#[derive(Debug)]
pub struct EngineSpec {
    /// The name in logs, metrics, tags, the CLI and Terraform's `engine` variable.
    pub name: &'static str,
    /// Other values of a secret's `engine` field this engine accepts (AWS's spellings).
    pub aliases: &'static [&'static str],
    /// The Cargo package of its rotation function, as `make build` packages it.
    pub function_package: &'static str,
    /// What its function needs besides Secrets Manager.
    pub needs: Needs,
    /// Builds its backend once per process, from the function's AWS configuration.
    pub build: fn(&aws_config::SdkConfig) -> Box<dyn Backend>,
}

impl EngineSpec {
    /// Whether a secret's `engine` field names this engine: its name or an alias, exactly.
    pub fn accepts(&self, engine: &str) -> bool {
        engine == self.name || self.aliases.contains(&engine)
    }

    /// A secret's `engine` field, when present, must name this engine: a secret meant for another
    /// function is refused before anything reads its other fields.
    pub fn check_engine_field(&self, value: &SecretValue) -> Result<(), BackendError> {
        match value.optional_str("engine")? {
            Some(engine) if !self.accepts(engine) => Err(BackendError::InvalidField {
                field: "engine".into(),
                problem: format!("must be {} for this function", self.name),
            }),
            _ => Ok(()),
        }
    }
}

/// What an engine's function needs besides Secrets Manager; Terraform grants and wires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Resolves database endpoints through RDS (`rds:DescribeDBInstances`, `rds:DescribeDBClusters`).
    pub rds_lookups: bool,
    /// Reaches a server that lives in a VPC: its function runs attached to that VPC.
    pub vpc: bool,
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
        async fn current(&self) -> Result<SecretValue, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(SecretValue::parse(r#"{"password":"current"}"#).unwrap())
        }
        async fn previous(&self) -> Result<Option<SecretValue>, BackendError> {
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
