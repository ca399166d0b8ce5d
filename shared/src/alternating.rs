//! One vocabulary for every engine with alternating users (`<base>` and `<base>_clone` take turns)
//! and for the function settings the engines share.

use crate::backend::BackendError;
use crate::secret::SecretValue;
use std::time::Duration;

/// The alternate of a base user is named `<base>` + this suffix (as AWS's multi-user functions do).
pub const CLONE_SUFFIX: &str = "_clone";
/// Function configuration: a file of PEM CA certificates, used when a secret carries none.
pub const CA_BUNDLE_FILE_ENV: &str = "ROTATION_CA_BUNDLE_FILE";
/// Function configuration: the connect timeout in seconds when a secret sets none.
pub const CONNECT_TIMEOUT_ENV: &str = "ROTATION_CONNECT_TIMEOUT_SECONDS";
/// The connect timeout when neither the secret nor [`CONNECT_TIMEOUT_ENV`] sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a secret's users take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One user; it gets the new password.
    SingleUser,
    /// `<base>` and `<base>_clone` take turns; an admin keeps the clone a copy of the base.
    AlternatingUsers,
}

impl Strategy {
    /// The secret's `strategy` field, in every spelling we accept (AWS's `multi-user` included);
    /// `None` when the secret has none, so each engine keeps its own default.
    pub fn from_field(value: &SecretValue) -> Result<Option<Self>, BackendError> {
        match value.optional_str("strategy")? {
            None => Ok(None),
            Some("single-user" | "single") => Ok(Some(Self::SingleUser)),
            Some("alternating-users" | "alternating" | "multi-user") => {
                Ok(Some(Self::AlternatingUsers))
            }
            Some(_) => Err(BackendError::InvalidField {
                field: "strategy".into(),
                problem: "must be single-user or alternating-users (also: single, alternating, \
                          multi-user)"
                    .into(),
            }),
        }
    }
}

/// The user both alternating users stand for: the name without its clone suffix.
pub fn base_user(username: &str) -> &str {
    username
        .strip_suffix(CLONE_SUFFIX)
        .filter(|b| !b.is_empty())
        .unwrap_or(username)
}

/// The other user of an alternating pair.
pub fn other_user(username: &str) -> String {
    match username
        .strip_suffix(CLONE_SUFFIX)
        .filter(|b| !b.is_empty())
    {
        Some(base) => base.to_owned(),
        None => format!("{username}{CLONE_SUFFIX}"),
    }
}

/// The connect timeout when a secret sets none: the function's setting, else 5 s.
pub fn default_connect_timeout() -> Duration {
    std::env::var(CONNECT_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| (1..=300).contains(s))
        .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_spellings() {
        assert_eq!(other_user("app"), "app_clone");
        assert_eq!(other_user("app_clone"), "app");
        assert_eq!(other_user("_clone"), "_clone_clone");
        assert_eq!(base_user("app_clone"), "app");
        assert_eq!(base_user("_clone"), "_clone");
        let strategy = |raw: &str| Strategy::from_field(&SecretValue::parse(raw).unwrap());
        assert_eq!(strategy("{}").unwrap(), None);
        for spelling in ["alternating-users", "alternating", "multi-user"] {
            let raw = format!(r#"{{"strategy":"{spelling}"}}"#);
            assert_eq!(strategy(&raw).unwrap(), Some(Strategy::AlternatingUsers));
        }
        for spelling in ["single-user", "single"] {
            let raw = format!(r#"{{"strategy":"{spelling}"}}"#);
            assert_eq!(strategy(&raw).unwrap(), Some(Strategy::SingleUser));
        }
        assert!(strategy(r#"{"strategy":"both"}"#).is_err());
    }
}
