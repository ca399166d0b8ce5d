//! The versions a step works with, read from the store only when a backend asks.

use super::BackendError;
use crate::secret::SecretValue;
use async_trait::async_trait;
use std::fmt;
use tokio::sync::OnceCell;

/// Where a step's other versions come from: the engine implements it over Secrets Manager. A read
/// that fails is [`BackendError::VersionUnavailable`]; the engine reports the failure itself.
#[async_trait]
pub trait VersionSource: Send + Sync {
    /// The AWSCURRENT value.
    async fn current(&self) -> Result<SecretValue, BackendError>;
    /// The AWSPREVIOUS value; absent before the first rotation, or when it no longer parses.
    async fn previous(&self) -> Result<Option<SecretValue>, BackendError>;
}

/// The versions a step works with: the pending value, and the current and previous ones, read
/// only when a backend asks for them (each read is a Secrets Manager call) and at most once.
pub struct Versions<'a> {
    /// The AWSPENDING value the step works on.
    pub pending: SecretValue,
    current: OnceCell<SecretValue>,
    previous: OnceCell<Option<SecretValue>>,
    source: Option<&'a dyn VersionSource>,
}

impl<'a> Versions<'a> {
    /// The pending value, and where to read the others from when asked.
    pub fn new(pending: SecretValue, source: &'a dyn VersionSource) -> Self {
        Self {
            pending,
            current: OnceCell::new(),
            previous: OnceCell::new(),
            source: Some(source),
        }
    }

    /// Versions already in hand (tests, tools): nothing more is read.
    pub fn loaded(
        current: SecretValue,
        pending: SecretValue,
        previous: Option<SecretValue>,
    ) -> Versions<'static> {
        Versions {
            pending,
            current: OnceCell::new_with(Some(current)),
            previous: OnceCell::new_with(Some(previous)),
            source: None,
        }
    }

    /// The AWSCURRENT value, read on the first call.
    pub async fn current(&self) -> Result<&SecretValue, BackendError> {
        self.current
            .get_or_try_init(|| async { self.source()?.current().await })
            .await
    }

    /// The AWSPREVIOUS value, read on the first call; `None` when there is none to use.
    pub async fn previous(&self) -> Result<Option<&SecretValue>, BackendError> {
        let previous = self
            .previous
            .get_or_try_init(|| async { self.source()?.previous().await })
            .await?;
        Ok(previous.as_ref())
    }

    fn source(&self) -> Result<&'a dyn VersionSource, BackendError> {
        self.source.ok_or_else(|| BackendError::InvalidField {
            field: "versions".into(),
            problem: "were given without a source to read the others from".into(),
        })
    }
}

impl fmt::Debug for Versions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versions")
            .field("pending", &self.pending)
            .field("current_read", &self.current.initialized())
            .field("previous_read", &self.previous.initialized())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingSource {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl VersionSource for CountingSource {
        async fn current(&self) -> Result<SecretValue, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(SecretValue::parse(r#"{"password":"current"}"#).unwrap())
        }
        async fn previous(&self) -> Result<Option<SecretValue>, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
    }

    fn pending() -> SecretValue {
        SecretValue::parse(r#"{"password":"pending"}"#).unwrap()
    }

    #[tokio::test]
    async fn versions_are_read_only_when_asked_and_only_once() {
        let source = CountingSource::default();
        let versions = Versions::new(pending(), &source);
        assert_eq!(source.reads.load(Ordering::SeqCst), 0);
        for _ in 0..3 {
            let current = versions.current().await.unwrap();
            assert_eq!(current.required_str("password").unwrap(), "current");
            assert!(versions.previous().await.unwrap().is_none());
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn loaded_versions_need_no_source() {
        let current = SecretValue::parse(r#"{"password":"current"}"#).unwrap();
        let versions = Versions::loaded(current, pending(), None);
        assert!(versions.current().await.is_ok());
        assert!(versions.previous().await.unwrap().is_none());
    }
}
