//! The PostgreSQL secret: AWS's own format plus our optional fields, read strictly.

pub use crate::alternating::{
    base_user, default_connect_timeout, other_user, Strategy, CA_BUNDLE_FILE_ENV, CLONE_SUFFIX,
    DEFAULT_CONNECT_TIMEOUT,
};
use crate::backend::BackendError;
use crate::secret::SecretValue;
use secrecy::SecretString;
use std::time::Duration;

/// PostgreSQL truncates identifiers longer than this (with only a NOTICE).
pub const MAX_IDENTIFIER_BYTES: usize = 63;
/// The port when the secret sets none.
pub const DEFAULT_PORT: u16 = 5432;
/// The database to connect to when the secret sets no `dbname`.
pub const DEFAULT_DBNAME: &str = "postgres";

/// How to reach the server. `ca_bundle` is PEM; `None` with TLS on means the function's configuration.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address, trimmed.
    pub host: String,
    /// The secret's `port`, else [`DEFAULT_PORT`]; an admin without `host` takes its RDS writer's.
    pub port: u16,
    /// The database sessions connect to.
    pub dbname: String,
    /// TLS with certificate and host name checks; off only when the secret says `"ssl": false`.
    pub tls: bool,
    /// PEM CA certificates to trust, from the secret's `ca_bundle`.
    pub ca_bundle: Option<String>,
    /// The TCP connect timeout, 1 to 300 s; the whole handshake gets twice as long.
    pub connect_timeout: Duration,
}

/// A login: who and with what. The password never prints.
#[derive(Debug, Clone)]
pub struct Login {
    /// The role to log in as.
    pub username: String,
    /// Its password.
    pub password: SecretString,
}

/// An application secret of the PostgreSQL engine, as parsed from one version's value.
#[derive(Debug, Clone)]
pub struct PostgresSecret {
    /// Where the server is.
    pub endpoint: Endpoint,
    /// The user this version's credential is for.
    pub login: Login,
    /// How users take turns; alternating by default when the secret names an admin.
    pub strategy: Strategy,
    /// The ARN of the admin secret; required by the alternating-users strategy.
    pub masterarn: Option<String>,
    /// A NOLOGIN role that owns objects; both users are its members and act as it.
    pub owner_role: Option<String>,
}

impl PostgresSecret {
    /// Reads AWS's PostgreSQL secret format plus our fields; a field of the wrong type, an
    /// unusable role name or another engine is an error, never a silent default.
    pub fn parse(value: &SecretValue) -> Result<Self, BackendError> {
        super::SPEC.check_engine_field(value)?;
        let username = value.required_str("username")?.to_owned();
        check_role_name("username", &username)?;
        let masterarn = value.optional_str("masterarn")?.map(str::to_owned);
        // Without an explicit strategy, a secret with an admin alternates, as AWS's multi-user
        // function does with the same secret.
        let strategy = Strategy::from_field(value)?.unwrap_or(match masterarn {
            Some(_) => Strategy::AlternatingUsers,
            None => Strategy::SingleUser,
        });
        if strategy == Strategy::AlternatingUsers && masterarn.is_none() {
            return Err(invalid(
                "masterarn",
                "is required by the alternating-users strategy",
            ));
        }
        let owner_role = value.optional_str("owner_role")?.map(str::to_owned);
        if let Some(owner) = &owner_role {
            check_role_name("owner_role", owner)?;
        }
        Ok(Self {
            endpoint: Endpoint::parse(value)?,
            login: Login {
                username,
                password: value.required_secret("password")?,
            },
            strategy,
            masterarn,
            owner_role,
        })
    }

    /// The role both users stand for: the username without its `_clone` suffix.
    pub fn base_user(&self) -> &str {
        base_user(&self.login.username)
    }
}

impl Endpoint {
    /// The endpoint fields of a secret that names its `host`.
    pub fn parse(value: &SecretValue) -> Result<Self, BackendError> {
        let host = value.required_str("host")?.trim().to_owned();
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("host", "must be a host name or address"));
        }
        Self::parse_with_host(value, host, None)
    }

    /// The endpoint fields other than host (and, for a privileged secret, maybe port).
    pub fn parse_with_host(
        value: &SecretValue,
        host: String,
        port: Option<u16>,
    ) -> Result<Self, BackendError> {
        let port = match port {
            Some(port) => port,
            None => match value.optional_u64("port")? {
                None => DEFAULT_PORT,
                Some(p) => u16::try_from(p)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| invalid("port", "must be between 1 and 65535"))?,
            },
        };
        let dbname = value
            .optional_str("dbname")?
            .unwrap_or(DEFAULT_DBNAME)
            .to_owned();
        // TLS unless the secret turns it off explicitly: AWS's templates fall back to plaintext
        // silently when `ssl` is absent; we never do.
        let tls = value.optional_bool("ssl")?.unwrap_or(true);
        let ca_bundle = value.optional_str("ca_bundle")?.map(str::to_owned);
        let connect_timeout = match value.optional_u64("connect_timeout")? {
            Some(seconds) if (1..=300).contains(&seconds) => Duration::from_secs(seconds),
            Some(_) => {
                return Err(invalid(
                    "connect_timeout",
                    "must be between 1 and 300 seconds",
                ))
            }
            None => default_connect_timeout(),
        };
        Ok(Self {
            host,
            port,
            dbname,
            tls,
            ca_bundle,
            connect_timeout,
        })
    }
}

/// Any name PostgreSQL keeps as given: no NUL, not empty, at most 63 bytes (longer names would be
/// silently truncated). Everything else is quoted when used, so quotes and spaces are fine.
pub fn check_role_name(field: &str, name: &str) -> Result<(), BackendError> {
    if name.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if name.contains('\0') {
        return Err(invalid(field, "contains a NUL character"));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(invalid(
            field,
            &format!(
                "is {} bytes long; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// An [`BackendError::InvalidField`] for `field`; `problem` must not quote the value.
pub(crate) fn invalid(field: &str, problem: &str) -> BackendError {
    BackendError::InvalidField {
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(json: &str) -> Result<PostgresSecret, BackendError> {
        PostgresSecret::parse(&SecretValue::parse(json).unwrap())
    }

    #[test]
    fn reads_aws_format_with_defaults() {
        let s = secret(r#"{"engine":"postgres","host":"db","username":"app","password":"pw"}"#)
            .unwrap();
        assert_eq!(
            (s.endpoint.port, s.endpoint.dbname.as_str(), s.endpoint.tls),
            (5432, "postgres", true)
        );
        assert_eq!(s.strategy, Strategy::SingleUser);
        let s = secret(r#"{"host":"db","port":"6432","username":"app","password":"pw","masterarn":"arn:m","ssl":"false"}"#).unwrap();
        assert_eq!(s.endpoint.port, 6432);
        assert!(!s.endpoint.tls);
        assert_eq!(s.strategy, Strategy::AlternatingUsers);
    }

    #[test]
    fn alternating_names() {
        assert_eq!(other_user("app"), "app_clone");
        assert_eq!(other_user("app_clone"), "app");
        assert_eq!(base_user("app_clone"), "app");
        assert_eq!(base_user("_clone"), "_clone");
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let cases = [
            (r#"{"host":"db","username":"","password":"p"}"#, "username"),
            (
                r#"{"host":"db","username":"a","password":"p","port":70000}"#,
                "port",
            ),
            (
                r#"{"host":"db","username":"a","password":"p","strategy":"alternating"}"#,
                "masterarn",
            ),
            (
                r#"{"host":"db","username":"a","password":"p","engine":"mysql"}"#,
                "engine",
            ),
            (r#"{"host":"a b","username":"a","password":"p"}"#, "host"),
            (
                r#"{"host":"db","username":"a","password":"p","connect_timeout":0}"#,
                "connect_timeout",
            ),
        ];
        for (json, field) in cases {
            let err = secret(json).unwrap_err().to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
        let long = "x".repeat(64);
        let err = secret(&format!(
            r#"{{"host":"db","username":"{long}","password":"p"}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("at most 63"));
    }
}
