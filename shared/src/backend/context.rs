//! What a backend may know about the rotation, and how it reads other secrets.

use super::BackendError;
use crate::audit::Telemetry;
use crate::protocol::Mode;
use crate::secret::SecretValue;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Instant;

/// How a backend reads a secret other than the one it rotates (the admin secret its fields or its
/// environment name, and that secret's tags): the engine implements it over Secrets Manager.
#[async_trait]
pub trait RelatedSecrets: Send + Sync {
    /// The tags of another secret.
    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, BackendError>;
    /// The AWSCURRENT value of another secret.
    async fn current_value(&self, secret_id: &str) -> Result<SecretValue, BackendError>;
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
    deadline: Option<Instant>,
}

impl<'a> BackendContext<'a> {
    /// A context for one step of `secret_arn`, reading other secrets through `related`.
    pub fn new(secret_arn: &'a str, mode: Mode, related: &'a dyn RelatedSecrets) -> Self {
        Self {
            secret_arn,
            mode,
            related,
            telemetry: None,
            deadline: None,
        }
    }

    /// The time by which the step must end (the Lambda's deadline); `None`: no limit of its own.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// When the step runs out of time, if the invocation has a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
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
