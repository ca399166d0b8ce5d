//! What can go wrong, and the exit code each failure gets. Messages name secrets, versions and
//! steps; never a value.

use rotation::store::StoreError;
use rotation::{RotationError, SecretFormatError, Step};
use std::process::ExitCode;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNHEALTHY: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is well-formed but cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{secret}: version {version} is already AWSPENDING: a rotation is in progress or stuck. \
         Wait for it, or continue it with `rotationctl rotate --local --resume {secret}`"
    )]
    AlreadyPending { secret: String, version: String },
    #[error(
        "{secret}: the pending version {version} was created by a routine rotation and cannot \
         finish as an emergency one; finish it with `rotationctl rotate --local --resume {secret}`, \
         then run the emergency rotation"
    )]
    RoutinePending { secret: String, version: String },
    #[error("{secret}: no rotation is pending, nothing to resume")]
    NothingToResume { secret: String },
    #[error("{secret}: no rotation function is configured; set one up, or use --local")]
    NoRotationFunction { secret: String },
    #[error("{secret}: the AWSCURRENT value has no `engine` field; pass --engine")]
    NoEngine { secret: String },
    #[error("{secret}: engine `{engine}` is not one rotationctl knows ({known})")]
    UnknownEngine {
        secret: String,
        engine: String,
        known: String,
    },
    #[error("{secret}: the AWSCURRENT value cannot be read: {source}")]
    MalformedSecret {
        secret: String,
        source: SecretFormatError,
    },
    #[error("{secret}: no version is AWSCURRENT")]
    NoCurrentValue { secret: String },
    #[error("{step} failed: {source}{hint}")]
    Step {
        step: Step,
        source: Box<RotationError>,
        hint: String,
    },
    #[error(
        "{secret}: the rotation to version {version} has not finished after {waited} s; \
         see the rotation function's logs, or run `rotationctl status`"
    )]
    NotFinished {
        secret: String,
        version: String,
        waited: u64,
    },
    #[error(
        "{secret}: version {version} lost AWSPENDING without becoming AWSCURRENT: the rotation \
         was abandoned; see the rotation function's logs"
    )]
    Abandoned { secret: String, version: String },
    /// An emergency rotation that did not revoke the previous credential; the tag stays so that
    /// a retried finishSecret or `emergency --local --resume` completes it. `cause` is the
    /// failure that stopped it, with a line break, or empty.
    #[error(
        "{cause}{secret}: revocation of the previous credential did not complete: {state}. \
         The rotation:mode=emergency tag was kept, so that the revocation can be finished: fix \
         the cause, then run `rotationctl emergency --local --resume {secret}`"
    )]
    RevocationIncomplete {
        secret: String,
        state: String,
        cause: String,
    },
    #[error("{0} secret(s) could not be described")]
    Unreadable(usize),
    #[error(
        "{failed} of {total} secret(s) were not rotated; fix the cause and run the same command \
         again: it continues those and skips the ones this incident rotated"
    )]
    IncidentIncomplete { failed: usize, total: usize },
    #[error("cannot tell who is asking (STS GetCallerIdentity): {0}")]
    Identity(String),
    #[error("{0} secret(s) or key(s) expire within the window")]
    Expiring(usize),
    #[error("not confirmed: nothing was changed")]
    NotConfirmed,
    #[error("{0} secret(s) overdue or with a stuck AWSPENDING")]
    Unhealthy(usize),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unhealthy(_) | CliError::Expiring(_) => EXIT_UNHEALTHY,
            _ => EXIT_FAILURE,
        })
    }
}
