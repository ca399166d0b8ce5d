//! Secrets Manager access. [`SecretStore`] is the engine's view: the calls a rotation step makes,
//! implemented over the SDK by [`AwsSecretStore`] (module `aws`, the one place that calls the
//! Secrets Manager SDK) and wrapped by tests. The listing and operator calls the CLI and the
//! monitor make are inherent methods of [`AwsSecretStore`] (module `operator`).

mod aws;
mod operator;

pub use aws::AwsSecretStore;

use async_trait::async_trait;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What DescribeSecret (or a ListSecrets entry) tells about a secret. Holds no secret value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's ARN.
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// Whether a rotation function is configured and enabled.
    pub rotation_enabled: bool,
    /// Version id → the stages attached to it.
    pub versions: BTreeMap<String, Vec<String>>,
    /// The secret's tags.
    pub tags: BTreeMap<String, String>,
    /// The function that rotates the secret, when one is configured.
    pub rotation_lambda_arn: Option<String>,
    /// The rotation schedule, when one is configured.
    pub rotation_rules: Option<RotationRules>,
    /// When the secret itself was created.
    pub created: Option<SystemTime>,
    /// The last change of any kind (value, stages, configuration).
    pub last_changed: Option<SystemTime>,
    /// The last rotation, as Secrets Manager records it (`LastRotatedDate`).
    pub last_rotated: Option<SystemTime>,
    /// The date by which Secrets Manager will have rotated the secret.
    pub next_rotation: Option<SystemTime>,
    /// Set on a secret scheduled for deletion.
    pub deleted: Option<SystemTime>,
}

/// A secret's rotation schedule, as Secrets Manager returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationRules {
    /// `AutomaticallyAfterDays`, when the schedule is given in days.
    pub automatically_after_days: Option<i64>,
    /// `rate(...)` or `cron(...)`.
    pub schedule_expression: Option<String>,
    /// The rotation window, e.g. `3h`.
    pub duration: Option<String>,
}

/// One version of a secret, as ListSecretVersionIds returns it (no value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version id (the rotation's token).
    pub id: String,
    /// The stages attached to it; none for a deprecated version.
    pub stages: Vec<String>,
    /// When the version was created.
    pub created: Option<SystemTime>,
    /// The last day it was read, as Secrets Manager records it.
    pub last_accessed: Option<SystemTime>,
}

/// Which secrets ListSecrets returns. Both are also checked here, on what the service returns:
/// the name prefix exactly (case included, as IAM resource patterns are), and a tag value on the
/// tag of that key, because the service matches tag keys and tag values independently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only secrets whose name starts with this.
    pub name_prefix: Option<String>,
    /// Only secrets with a tag of this key.
    pub tag_key: Option<String>,
    /// With `tag_key`: only secrets whose tag of that key has this value.
    pub tag_value: Option<String>,
}

impl SecretMetadata {
    /// The version holding `stage`, if any.
    pub fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// The stages of `version`; `None` when it is not a version of this secret.
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// Whether `version` holds `stage`.
    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.stages_of(version)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// Which version a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum VersionRef<'a> {
    /// The version with this id.
    Id(&'a str),
    /// The version holding this stage.
    Stage(&'a str),
}

/// What PutSecretValue did with a pending value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The version now holds the value.
    Created,
    /// A version with this token already holds a different value (a concurrent or earlier createSecret).
    AlreadyExists,
}

/// What kind of failure a Secrets Manager call met, for retry decisions and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The secret or version does not exist.
    NotFound,
    /// The service refused the request as malformed or conflicting.
    InvalidRequest,
    /// The caller's IAM policy does not allow the call.
    AccessDenied,
    /// The service throttled the call.
    Throttled,
    /// The service could not be reached or failed on its side.
    Unavailable,
    /// Anything else.
    Other,
}

/// A failed Secrets Manager call. The message comes from the service and never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secrets Manager {operation} on {secret_id} failed ({code}): {message}")]
pub struct StoreError {
    /// The API operation, e.g. `GetSecretValue`.
    pub operation: &'static str,
    /// The secret the call was about (`*` for a listing).
    pub secret_id: String,
    /// The kind of failure.
    pub kind: StoreErrorKind,
    /// The service's error code, or our name for a transport failure.
    pub code: String,
    /// The service's message.
    pub message: String,
}

impl StoreError {
    /// An error of our own making (not the service's), e.g. an answer that lacks a field.
    pub fn new(
        operation: &'static str,
        secret_id: &str,
        kind: StoreErrorKind,
        message: &str,
    ) -> Self {
        Self {
            operation,
            secret_id: secret_id.to_owned(),
            kind,
            code: format!("{kind:?}"),
            message: message.to_owned(),
        }
    }
}

/// The Secrets Manager calls the engine makes; implemented over the SDK, wrapped by tests.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// DescribeSecret: the secret's metadata and the stages of its versions.
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError>;

    /// GetSecretValue of one version. `None` when the version has no value yet: the empty AWSPENDING the service creates before createSecret.
    async fn value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError>;

    /// PutSecretValue of `value` as version `token` with the AWSPENDING stage, passing on the
    /// event's rotation token (Secrets Manager checks it when the function runs in another account).
    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError>;

    /// UpdateSecretVersionStage: attach `stage` to `to` and/or detach it from `from`.
    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError>;

    /// TagResource with one tag.
    async fn add_tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError>;

    /// UntagResource of one tag key.
    async fn remove_tag(&self, secret_id: &str, key: &str) -> Result<(), StoreError>;
}

impl ListFilter {
    fn keeps(&self, secret: &SecretMetadata) -> bool {
        let name = self
            .name_prefix
            .as_deref()
            .is_none_or(|prefix| secret.name.starts_with(prefix));
        let tag = match (&self.tag_key, &self.tag_value) {
            (Some(key), Some(value)) => secret.tags.get(key) == Some(value),
            (Some(key), None) => secret.tags.contains_key(key),
            _ => true,
        };
        name && tag
    }
}
