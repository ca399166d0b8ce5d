//! What can go wrong in a rotation step, said with the secret, version and step it concerns.

use crate::backend::BackendError;
use crate::event::{InvalidEvent, Step};
use crate::secret::SecretFormatError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    #[error("secret {secret}: rotation is not enabled")]
    RotationNotEnabled { secret: String },
    #[error("secret {secret}: version {version} is not a version of this secret")]
    UnknownVersion { secret: String, version: String },
    #[error("secret {secret}: version {version} is not AWSPENDING (its stages: {stages:?})")]
    NotPending {
        secret: String,
        version: String,
        stages: Vec<String>,
    },
    #[error("secret {secret}: no version is AWSCURRENT")]
    NoCurrentVersion { secret: String },
    #[error("secret {secret}: version {version} has no value yet; run createSecret first")]
    PendingValueMissing { secret: String, version: String },
    #[error("secret {secret}: the {stage} value is malformed: {source}")]
    MalformedSecret {
        secret: String,
        stage: &'static str,
        source: SecretFormatError,
    },
    #[error("secret {secret}: tag {tag} must be `routine` or `emergency`")]
    InvalidModeTag { secret: String, tag: String },
    #[error("secret {secret}: the pending value would be {bytes} bytes, over Secrets Manager's limit of {limit}")]
    ValueTooLarge {
        secret: String,
        bytes: usize,
        limit: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{step} of {secret}: {source}")]
    Backend {
        step: Step,
        secret: String,
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
