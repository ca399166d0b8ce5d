//! JWT signing keys: one secret holds the key sets (`access`, optional `refresh`), each key
//! `next` → `active` → `previous` → pruned, plus flat fields for every consumer convention, all
//! derived from the key list. The secret format is documented in `docs/jwt.md`.
//!
//! There is no external target: the secret is the target. createSecret builds the rotated key sets
//! (`rotate::build`); setSecret only re-validates them; testSecret signs probe tokens and verifies
//! them the way each convention's consumer does, and checks that the pending version still verifies
//! every key the current one does until its grace ends (or, in an emergency, none of them).

mod compare;
mod doc;
mod flat;
mod grace;
mod keygen;
mod model;
mod onboard;
mod policy;
pub mod probe;
mod rotate;
pub mod time;
mod verify;

pub use compare::Dropped;
pub use model::{HmacKeyError, KeyAlg, KeyState, SetName, MIN_HMAC_BYTES};
pub use policy::{Convention, SetPolicy};

use crate::backend::{Backend, BackendContext, BackendError, Versions};
use crate::secret::SecretValue;
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the backend reads the time: the system clock, or a test's.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The JWT engine's registry entry: no target to reach, the secret is the target.
pub const SPEC: crate::backend::EngineSpec = crate::backend::EngineSpec {
    name: doc::ENGINE,
    aliases: &[],
    function_package: "secret-rotation-jwt",
    needs: crate::backend::Needs {
        rds_lookups: false,
        vpc: false,
    },
    build: |_| Box::new(JwtBackend::new()),
};

/// The JWT signing-key backend.
#[derive(Clone)]
pub struct JwtBackend {
    clock: Clock,
}

impl Default for JwtBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for JwtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBackend").finish_non_exhaustive()
    }
}

impl JwtBackend {
    /// A backend on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemTime::now))
    }

    /// A backend that takes `now` from `clock`: grace periods begin and end by it.
    pub fn with_clock(clock: Clock) -> Self {
        // jsonwebtoken picks aws-lc-rs from its features; installing it explicitly keeps a second
        // enabled provider elsewhere in the build from turning every signature into a panic.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        Self { clock }
    }

    fn now(&self) -> u64 {
        (self.clock)()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

#[async_trait]
impl Backend for JwtBackend {
    fn engine(&self) -> &'static str {
        SPEC.name
    }

    /// The rotated key sets (see `rotate::build`); new keys come from the OS random source.
    /// Touches nothing but the value it returns.
    async fn build_pending(
        &self,
        ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        rotate::build(current, ctx.mode, self.now())
    }

    /// Only checks that the pending value is a well-formed key set: there is no external target,
    /// and consumers see the new keys only when finishSecret promotes the version.
    async fn accept_pending(
        &self,
        _ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        doc::JwtSecret::read(&versions.pending, doc::Read::Keys, self.now()).map(|_| ())
    }

    /// Verifies probe tokens signed with the pending keys the way each consumer would, refuses
    /// forged ones, and checks that no key loses its grace (routine) or that no old key verifies
    /// (emergency); see `verify::verify_pending`. Read-only.
    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        verify::verify_pending(
            versions.current().await?,
            &versions.pending,
            ctx.mode,
            self.now(),
            ctx.secret_arn,
        )
    }

    fn metadata_tags(&self, promoted: &SecretValue) -> Vec<(&'static str, Option<String>)> {
        grace::verify_until_tag(promoted, self.now())
    }
}

/// The keys a consumer of the current value would lose under `pending` before their grace ends
/// (empty when the rotation is safe), as testSecret checks in a routine rotation.
pub fn dropped_keys(
    current: &SecretValue,
    pending: &SecretValue,
    now: u64,
) -> Result<Vec<Dropped>, BackendError> {
    compare::dropped_keys(current, pending, now)
}

#[cfg(test)]
mod single_key_tests;
#[cfg(test)]
mod tests;
