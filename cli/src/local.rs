//! `rotate --local`: the four rotation steps run from the operator's terminal, by the same engine
//! and backends as the Lambda functions, with the operator's credentials.
//!
//! Staging. Before createSecret, the service's RotateSecret creates an empty version (id = the
//! token) labelled AWSPENDING, then invokes the function. Nothing but RotateSecret can create such
//! an empty version, and RotateSecret always invokes the configured function in real AWS: it
//! cannot stage without rotating. So `--local` generates the token itself and presents it to the
//! engine as that empty AWSPENDING version ([`LocalStaging`]): GetSecretValue on it finds nothing,
//! as it would on the service's empty version, and createSecret's own PutSecretValue
//! (ClientRequestToken = token, VersionStages = [AWSPENDING]) is the call that creates the
//! version. From there on every call is the real one, so a `--local` rotation is the same sequence
//! of Secrets Manager calls as the service's, minus the RotateSecret at the start. In particular
//! LastRotatedDate and NextRotationDate, which only the service's own rotations set, do not move.

use crate::error::CliError;
use async_trait::async_trait;
use rotation::audit::Telemetry;
use rotation::protocol::AWSPENDING;
use rotation::store::{
    AwsSecretStore, PutOutcome, SecretMetadata, SecretStore, StoreError, VersionRef,
};
use rotation::{Backend, Engine, RotationEvent, Step};
use secrecy::SecretString;
use std::io::Write;
use std::time::Instant;

/// The store the engine sees in a local rotation: the real one, plus the not-yet-created pending
/// version of `token` on the secret `arn`.
pub struct LocalStaging {
    pub inner: AwsSecretStore,
    pub arn: String,
    pub token: String,
}

#[async_trait]
impl SecretStore for LocalStaging {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        let mut secret = self.inner.describe(secret_id).await?;
        if secret.arn == self.arn && !secret.versions.contains_key(&self.token) {
            secret
                .versions
                .insert(self.token.clone(), vec![AWSPENDING.to_owned()]);
        }
        Ok(secret)
    }

    async fn value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.inner.value(secret_id, version).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError> {
        self.inner
            .put_pending(secret_id, token, value, rotation_token)
            .await
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.move_stage(secret_id, stage, to, from).await
    }

    async fn add_tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.add_tag(secret_id, key, value).await
    }

    async fn remove_tag(&self, secret_id: &str, key: &str) -> Result<(), StoreError> {
        self.inner.remove_tag(secret_id, key).await
    }
}

/// Runs `steps` in order (all four, or finishSecret alone to finish an emergency revocation) with
/// `backend`, printing each step on `progress` as it runs. The engine's audit lines are not
/// printed (the steps are).
pub async fn run_steps<B: Backend>(
    staging: LocalStaging,
    backend: B,
    steps: &[Step],
    progress: &mut dyn Write,
) -> Result<(), CliError> {
    let arn = staging.arn.clone();
    let token = staging.token.clone();
    let engine = Engine::new(
        staging,
        backend,
        Telemetry::to_writer(std::io::sink(), "rotationctl".into()),
    );
    for (n, &step) in steps.iter().enumerate() {
        write!(progress, "[{}/{}] {step:<12} ... ", n + 1, steps.len())?;
        progress.flush()?;
        let started = Instant::now();
        let outcome = engine.handle(&RotationEvent::new(step, &arn, &token)).await;
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(outcome) => writeln!(progress, "{} ({ms} ms)", outcome.as_str())?,
            Err(source) => {
                writeln!(progress, "failed ({ms} ms)")?;
                return Err(CliError::Step {
                    step,
                    source: Box::new(source),
                    hint: String::new(),
                });
            }
        }
    }
    Ok(())
}
