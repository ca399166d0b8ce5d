//! A fake target system and a store wrapper that injects faults, for engine tests. The store under
//! them is still the real emulator.

use async_trait::async_trait;
use rotation::backend::{Backend, BackendContext, BackendError, Mode, Versions};
use rotation::password::generate_password;
use rotation::store::{
    PutOutcome, SecretMetadata, SecretStore, StoreError, StoreErrorKind, VersionRef,
};
use rotation::SecretValue;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A target that accepts a set of passwords.
#[derive(Clone, Default)]
pub struct FakeTarget(Arc<Mutex<HashSet<String>>>);

impl FakeTarget {
    pub fn accepts(&self, password: &str) -> bool {
        self.0.lock().unwrap().contains(password)
    }
    pub fn add(&self, password: &str) {
        self.0.lock().unwrap().insert(password.to_owned());
    }
    pub fn revoke(&self, password: &str) {
        self.0.lock().unwrap().remove(password);
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Default)]
pub struct FakeBackend {
    pub target: FakeTarget,
    /// Fail setSecret once, right after the target accepted the password.
    pub crash_after_accepting: AtomicBool,
}

fn password(value: &SecretValue) -> Result<&str, BackendError> {
    Ok(value.required_str("password")?)
}

#[async_trait]
impl Backend for FakeBackend {
    fn engine(&self) -> &'static str {
        "fake"
    }

    async fn build_pending(
        &self,
        _ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        password(current)?;
        let mut pending = current.clone();
        pending.insert("password", generate_password(32).expose_secret().into());
        Ok(pending)
    }

    async fn accept_pending(
        &self,
        _ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        let new = password(&versions.pending)?;
        if self.target.accepts(new) {
            return Ok(());
        }
        self.target.add(new);
        if self.crash_after_accepting.swap(false, Ordering::SeqCst) {
            return Err(BackendError::Unreachable {
                target: "fake".into(),
                detail: "simulated crash".into(),
            });
        }
        Ok(())
    }

    async fn verify_pending(
        &self,
        _ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        if self.target.accepts(password(&versions.pending)?) {
            Ok(())
        } else {
            Err(BackendError::NotVerified(
                "the fake target does not accept it".into(),
            ))
        }
    }

    async fn after_promotion(
        &self,
        ctx: &BackendContext<'_>,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        if let (Mode::Emergency, Some(old)) = (ctx.mode, demoted) {
            if password(old)? != password(promoted)? {
                self.target.revoke(password(old)?);
            }
        }
        Ok(())
    }
}

/// Wraps a real store: records RotationTokens and the calls made (by Secrets Manager operation),
/// and can fail one operation right after it succeeded, as a crash between a side effect and its
/// report would.
pub struct FaultyStore<S> {
    pub inner: S,
    pub crash_after: Mutex<Option<&'static str>>,
    pub rotation_tokens_seen: Mutex<Vec<Option<String>>>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            crash_after: Mutex::new(None),
            rotation_tokens_seen: Mutex::new(Vec::new()),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// The calls made since the last time this was asked, by operation.
    pub fn take_calls(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn count(&self, operation: &'static str) {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
    }

    pub fn crash_once_after(&self, operation: &'static str) {
        *self.crash_after.lock().unwrap() = Some(operation);
    }

    fn maybe_crash(&self, operation: &'static str, secret_id: &str) -> Result<(), StoreError> {
        let mut armed = self.crash_after.lock().unwrap();
        if *armed == Some(operation) {
            *armed = None;
            return Err(StoreError::new(
                operation,
                secret_id,
                StoreErrorKind::Unavailable,
                "simulated crash after the call",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for FaultyStore<S> {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        self.count("DescribeSecret");
        self.inner.describe(secret_id).await
    }

    async fn value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.count("GetSecretValue");
        self.inner.value(secret_id, version).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError> {
        self.count("PutSecretValue");
        self.rotation_tokens_seen
            .lock()
            .unwrap()
            .push(rotation_token.map(|t| t.expose_secret().to_owned()));
        let outcome = self
            .inner
            .put_pending(secret_id, token, value, rotation_token)
            .await?;
        self.maybe_crash("PutSecretValue", secret_id)?;
        Ok(outcome)
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.count("UpdateSecretVersionStage");
        self.inner.move_stage(secret_id, stage, to, from).await?;
        self.maybe_crash("UpdateSecretVersionStage", secret_id)
    }

    async fn add_tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.count("TagResource");
        self.inner.add_tag(secret_id, key, value).await?;
        self.maybe_crash("TagResource", secret_id)
    }

    async fn remove_tag(&self, secret_id: &str, key: &str) -> Result<(), StoreError> {
        self.count("UntagResource");
        self.inner.remove_tag(secret_id, key).await?;
        self.maybe_crash("UntagResource", secret_id)
    }
}

/// Wraps a real backend: after the armed step's real work succeeded, reports a failure, as a crash
/// between the side effect and its report would.
pub struct CrashingBackend<B> {
    pub inner: B,
    armed: Mutex<Option<rotation::Step>>,
}

impl<B> CrashingBackend<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            armed: Mutex::new(None),
        }
    }

    pub fn crash_once_after(&self, step: rotation::Step) {
        *self.armed.lock().unwrap() = Some(step);
    }

    fn after(&self, step: rotation::Step) -> Result<(), BackendError> {
        let mut armed = self.armed.lock().unwrap();
        if *armed == Some(step) {
            *armed = None;
            return Err(BackendError::Unreachable {
                target: "function".into(),
                detail: format!("simulated crash after {step}'s work"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> Backend for CrashingBackend<B> {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }

    async fn build_pending(
        &self,
        ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        self.inner.build_pending(ctx, current).await
    }

    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        self.inner.accept_pending(ctx, versions).await?;
        self.after(rotation::Step::SetSecret)
    }

    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        self.inner.verify_pending(ctx, versions).await?;
        self.after(rotation::Step::TestSecret)
    }

    async fn after_promotion(
        &self,
        ctx: &BackendContext<'_>,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        self.inner.after_promotion(ctx, promoted, demoted).await
    }
}
