//! What can go wrong in a rotation step, said with the secret, version and step it concerns.

use crate::backend::BackendError;
use crate::event::{InvalidEvent, Step};
use crate::secret::SecretFormatError;
use crate::store::StoreError;

/// Why a rotation step failed. Every variant names the secret by ARN and none holds a secret
/// value, so the message is safe to return to Secrets Manager and to log.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The event was not a well-formed rotation event.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The secret has rotation turned off, so no step may run on it.
    #[error("secret {secret}: rotation is not enabled")]
    RotationNotEnabled {
        /// The secret's ARN.
        secret: String,
    },
    /// The event's token names no version of the secret.
    #[error("secret {secret}: version {version} is not a version of this secret")]
    UnknownVersion {
        /// The secret's ARN.
        secret: String,
        /// The event's client request token.
        version: String,
    },
    /// The event's version exists but is neither AWSPENDING nor already AWSCURRENT.
    #[error("secret {secret}: version {version} is not AWSPENDING (its stages: {stages:?})")]
    NotPending {
        /// The secret's ARN.
        secret: String,
        /// The event's client request token.
        version: String,
        /// The staging labels the version has instead.
        stages: Vec<String>,
    },
    /// No version of the secret carries AWSCURRENT.
    #[error("secret {secret}: no version is AWSCURRENT")]
    NoCurrentVersion {
        /// The secret's ARN.
        secret: String,
    },
    /// A version a step must read has no value stored.
    #[error("secret {secret}: version {version} has no value yet; run createSecret first")]
    PendingValueMissing {
        /// The secret's ARN.
        secret: String,
        /// The version id without a value.
        version: String,
    },
    /// A stored value is not a secret this function can read.
    #[error("secret {secret}: the {stage} value is malformed: {source}")]
    MalformedSecret {
        /// The secret's ARN.
        secret: String,
        /// The staging label of the value read, e.g. `AWSCURRENT`.
        stage: &'static str,
        /// What is wrong with it; never quotes the value.
        source: SecretFormatError,
    },
    /// The rotation mode tag holds something other than `routine` or `emergency`.
    #[error("secret {secret}: tag {tag} must be `routine` or `emergency`")]
    InvalidModeTag {
        /// The secret's ARN.
        secret: String,
        /// The tag's key.
        tag: String,
    },
    /// The value createSecret built would not fit in a secret; nothing was stored.
    #[error("secret {secret}: the pending value would be {bytes} bytes, over Secrets Manager's limit of {limit}")]
    ValueTooLarge {
        /// The secret's ARN.
        secret: String,
        /// The serialized size of the value, in bytes.
        bytes: usize,
        /// Secrets Manager's limit, in bytes.
        limit: usize,
    },
    /// A Secrets Manager call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine's backend failed the step.
    #[error("{step} of {secret}: {source}")]
    Backend {
        /// The step that failed.
        step: Step,
        /// The secret's ARN.
        secret: String,
        /// The backend's reason; its kind becomes [`RotationError::kind`].
        source: BackendError,
    },
}

impl RotationError {
    /// A stable name for the Lambda error type, audit lines and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RotationError::InvalidEvent(_) => "InvalidEvent",
            RotationError::RotationNotEnabled { .. } => "RotationNotEnabled",
            RotationError::UnknownVersion { .. } => "UnknownVersion",
            RotationError::NotPending { .. } => "NotPending",
            RotationError::NoCurrentVersion { .. } => "NoCurrentVersion",
            RotationError::PendingValueMissing { .. } => "PendingValueMissing",
            RotationError::MalformedSecret { .. } => "MalformedSecret",
            RotationError::InvalidModeTag { .. } => "InvalidModeTag",
            RotationError::ValueTooLarge { .. } => "ValueTooLarge",
            RotationError::Store(_) => "SecretsManagerError",
            RotationError::Backend { source, .. } => source.kind(),
        }
    }
}

impl From<RotationError> for lambda_runtime::Diagnostic {
    fn from(err: RotationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.kind().to_owned(),
            error_message: err.to_string(),
        }
    }
}
