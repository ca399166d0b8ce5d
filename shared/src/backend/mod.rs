//! The one trait between the engine and a target system, and what crosses it.
//!
//! A backend knows its target (a database, a cache, a key set) and nothing of version stages: it
//! gets a [`BackendContext`] and the [`Versions`] of the step, and answers with a [`BackendError`]
//! when it fails. Each engine describes itself with an [`EngineSpec`].

mod context;
mod error;
mod spec;
mod versions;

pub use crate::protocol::Mode;
pub use context::{BackendContext, RelatedSecrets};
pub use error::BackendError;
pub use spec::{EngineSpec, Needs};
pub use versions::{VersionSource, Versions};

use crate::secret::SecretValue;
use async_trait::async_trait;

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

    /// createSecret: the pending value, built from the current one.
    ///
    /// Contract: no side effect on the target, and no read of the admin side (a value the admin
    /// never sees cannot be used against it). May be called again for the same version: the engine
    /// keeps the first value it stored.
    async fn build_pending(
        &self,
        ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError>;

    /// setSecret: make the target accept the pending credential, keeping the current one working.
    ///
    /// Contract: idempotent. It checks first whether the target already accepts the pending
    /// credential (a retry after a crash at any line) and then changes nothing; it never removes
    /// what the current credential needs; it acts on a user only with proof of possession of that
    /// user's current credential, or as the admin side allows.
    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError>;

    /// testSecret: prove the pending credential works as applications will use it.
    ///
    /// Contract: read-only on the target; as often as it is called, the same answer.
    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError>;

    /// finishSecret, after AWSCURRENT moved to `promoted`: optional work, such as revoking `demoted`
    /// in an emergency rotation (the engine reads `demoted` only then).
    ///
    /// Contract: idempotent; the engine calls it again when a retried finishSecret finds the
    /// promotion done but the emergency tag still set.
    async fn after_promotion(
        &self,
        _ctx: &BackendContext<'_>,
        _promoted: &SecretValue,
        _demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        Ok(())
    }

    /// Tags that tell readers of metadata alone (the monitor, `rotationctl check-expiring`) what
    /// the promoted value holds: each key with its value, or `None` to remove it. Set after the
    /// promotion, best effort. Never secret material: tags are readable with DescribeSecret.
    fn metadata_tags(&self, _promoted: &SecretValue) -> Vec<(&'static str, Option<String>)> {
        Vec::new()
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

    fn metadata_tags(&self, promoted: &SecretValue) -> Vec<(&'static str, Option<String>)> {
        (**self).metadata_tags(promoted)
    }
}
