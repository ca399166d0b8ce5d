//! A target-side failure.

use crate::secret::SecretFormatError;

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
    /// A managed target stayed busy longer than the step could wait for it.
    #[error(
        "{target} is still {status} after {waited_seconds} s of waiting; the step stops here and \
         can be retried (the current credential keeps working)"
    )]
    NotReady {
        /// What was waited for, e.g. `ElastiCache user app-user`.
        target: String,
        /// Its last status.
        status: String,
        /// How long the step waited.
        waited_seconds: u64,
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
            BackendError::NotReady { .. } => "TargetNotReady",
            BackendError::VersionUnavailable { .. } => "VersionUnavailable",
        }
    }
}
