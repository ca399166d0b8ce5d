//! Zero-downtime secret rotation over the AWS Secrets Manager rotation protocol.
//!
//! The [`engine`] knows version stages and nothing of databases; a [`backend::Backend`] knows its
//! target system and nothing of version stages. [`store`] is the only module that calls the SDK.

#![warn(missing_docs)]

pub mod alternating;
pub mod audit;
pub mod backend;
pub mod engine;
pub mod engines;
pub mod error;
pub mod event;
pub mod health;
pub mod jwt;
pub mod password;
pub mod postgres;
pub mod protocol;
pub mod redis;
pub mod rotation_log;
pub mod runtime;
pub mod secret;
pub mod store;
mod stored;
pub mod trust;

pub use backend::{Backend, BackendContext, BackendError, Mode, Versions};
pub use engine::{Engine, StepOutcome};
pub use error::RotationError;
pub use event::{RotationEvent, Step};
pub use secret::{SecretFormatError, SecretValue};
pub use store::{AwsSecretStore, SecretMetadata, SecretStore, StoreError};
