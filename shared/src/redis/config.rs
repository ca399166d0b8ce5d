//! The Redis secret: where the server is, who rotates, how to reach it. Parsing validates every
//! name that will reach an ACL command, so no value can smuggle in an ACL rule.

pub use crate::alternating::{
    base_user, default_connect_timeout, other_user, Strategy, CA_BUNDLE_FILE_ENV, CLONE_SUFFIX,
    DEFAULT_CONNECT_TIMEOUT,
};
use crate::backend::BackendError;
use crate::secret::SecretValue;
use secrecy::SecretString;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The port when the secret sets none.
pub const DEFAULT_PORT: u16 = 6379;
/// Longest accepted user name, in bytes, clone suffix included.
pub const MAX_USERNAME_BYTES: usize = 128;

/// One Redis server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or address; an IPv6 address without its brackets.
    pub host: String,
    /// TCP port, never 0.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "redis at [{}]:{}", self.host, self.port)
        } else {
            write!(f, "redis at {}:{}", self.host, self.port)
        }
    }
}

/// TLS material from the secret. The client key is a `SecretString`: `Debug` redacts it.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM CA certificates; `None`: the file named by `$ROTATION_CA_BUNDLE_FILE`.
    pub ca_bundle: Option<String>,
    /// PEM certificate and key for servers that ask for a client certificate.
    pub client_cert: Option<String>,
    /// The client certificate's private key, PEM; present exactly when `client_cert` is.
    pub client_key: Option<SecretString>,
}

/// A user name and its password.
#[derive(Debug, Clone)]
pub struct Login {
    /// The ACL user, validated by [`check_username`] when read from a secret.
    pub username: String,
    /// Its password; never empty when read from a secret.
    pub password: SecretString,
}

/// Where a secret's server is and how to reach it: `host`, `port`, `tls`, `ca_bundle`,
/// `tls_client_cert`/`tls_client_key`, `nodes` and `connect_timeout`. Application and admin
/// secrets share these fields and their validation.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The server named by `host` and `port`.
    pub endpoint: Endpoint,
    /// `None`: plaintext, only when the secret says `"tls": false`.
    pub tls: Option<TlsSettings>,
    /// Explicit nodes; `None`: discover replicas and cluster nodes from `endpoint`.
    pub nodes: Option<Vec<Endpoint>>,
    /// `None`: `$ROTATION_CONNECT_TIMEOUT_SECONDS`, else the default.
    pub connect_timeout: Option<Duration>,
}

impl ServerSettings {
    /// Reads and validates the server fields of an application or admin secret.
    pub fn parse(value: &SecretValue) -> Result<Self, BackendError> {
        let host = value.required_str("host")?;
        let endpoint = Endpoint {
            host: check_host("host", host)?,
            port: port_field(value, "port")?.unwrap_or(DEFAULT_PORT),
        };
        // TLS unless the secret turns it off explicitly; never a silent fallback to plaintext.
        let tls = match value.optional_bool("tls")?.unwrap_or(true) {
            false => None,
            true => Some(tls_settings(value)?),
        };
        let connect_timeout = match value.optional_u64("connect_timeout")? {
            None => None,
            Some(seconds @ 1..=300) => Some(Duration::from_secs(seconds)),
            Some(_) => {
                return Err(invalid(
                    "connect_timeout",
                    "must be between 1 and 300 seconds",
                ))
            }
        };
        Ok(Self {
            endpoint,
            tls,
            nodes: nodes_field(value)?,
            connect_timeout,
        })
    }
}

/// One version of a Redis secret, parsed and validated.
#[derive(Debug, Clone)]
pub struct RedisSecret {
    /// Where the servers are and how to reach them.
    pub server: ServerSettings,
    /// The user this version's credential is for.
    pub login: Login,
    /// How users take turns; single user unless the secret says otherwise.
    pub strategy: Strategy,
    /// The ARN of the admin secret whose user runs the ACL commands; without one, the user
    /// changes its own password.
    pub masterarn: Option<String>,
    /// Whether to write ACL changes to disk (`ACL SAVE` or `CONFIG REWRITE`).
    pub persist: bool,
}

impl RedisSecret {
    /// Reads and validates every field, the clone's name included when users alternate; another
    /// engine, an empty password or a name unfit for `ACL SETUSER` is an error.
    pub fn parse(value: &SecretValue) -> Result<Self, BackendError> {
        super::SPEC.check_engine_field(value)?;
        let username = value.required_str("username")?.to_owned();
        check_username("username", &username)?;
        let password = value.required_str("password")?;
        if password.is_empty() {
            return Err(invalid("password", "must not be empty"));
        }
        let strategy = Strategy::from_field(value)?.unwrap_or(Strategy::SingleUser);
        if strategy == Strategy::AlternatingUsers {
            check_username("username", &other_user(&username))?;
        }
        let masterarn = value.optional_str("masterarn")?.map(str::to_owned);
        Ok(Self {
            server: ServerSettings::parse(value)?,
            login: Login {
                username,
                password: SecretString::from(password),
            },
            strategy,
            masterarn,
            persist: value.optional_bool("persist")?.unwrap_or(true),
        })
    }

    /// The user both alternating users stand for: the name without its `_clone` suffix.
    pub fn base_user(&self) -> &str {
        base_user(&self.login.username)
    }

    /// The users a rotation of this secret may touch: the user, or both users of the pair.
    pub fn pair(&self) -> Vec<String> {
        match self.strategy {
            Strategy::SingleUser => vec![self.login.username.clone()],
            Strategy::AlternatingUsers => {
                let base = self.base_user().to_owned();
                let clone = format!("{base}{CLONE_SUFFIX}");
                vec![base, clone]
            }
        }
    }
}

/// A user name safe to pass to `ACL SETUSER`: 1 to 128 bytes of ASCII letters, digits and
/// `_ - . : @`, starting with a letter, digit or `_`. The name is never quoted back: it may be
/// hostile.
pub fn check_username(field: &str, name: &str) -> Result<(), BackendError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || name.len() > MAX_USERNAME_BYTES || !name.chars().all(allowed) {
        return Err(invalid(
            field,
            "must be 1 to 128 bytes of ASCII letters, digits and `_ - . : @`, starting with a \
             letter, digit or `_` (the clone's name included); spaces and ACL rule characters \
             such as `> # ~ + ( )` are refused",
        ));
    }
    Ok(())
}

fn check_host(field: &str, host: &str) -> Result<String, BackendError> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(field, "must be a host name or address"));
    }
    Ok(host.to_owned())
}

fn port_field(value: &SecretValue, field: &str) -> Result<Option<u16>, BackendError> {
    match value.optional_u64(field)? {
        None => Ok(None),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .map(Some)
            .ok_or_else(|| invalid(field, "must be between 1 and 65535")),
    }
}

fn tls_settings(value: &SecretValue) -> Result<TlsSettings, BackendError> {
    let settings = TlsSettings {
        ca_bundle: value.optional_str("ca_bundle")?.map(str::to_owned),
        client_cert: value.optional_str("tls_client_cert")?.map(str::to_owned),
        client_key: value
            .optional_str("tls_client_key")?
            .map(SecretString::from),
    };
    if settings.client_cert.is_some() != settings.client_key.is_some() {
        return Err(invalid(
            "tls_client_cert",
            "and tls_client_key must be given together",
        ));
    }
    Ok(settings)
}

/// `nodes`: an array of `"host:port"` strings (`"[v6]:port"` for IPv6).
fn nodes_field(value: &SecretValue) -> Result<Option<Vec<Endpoint>>, BackendError> {
    let items = match value.get("nodes") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(invalid(
                "nodes",
                "must be an array of \"host:port\" strings",
            ))
        }
    };
    let mut nodes = Vec::with_capacity(items.len());
    for item in items {
        let (host, port) = item
            .as_str()
            .and_then(|s| s.rsplit_once(':'))
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok().filter(|p| *p > 0)?)))
            .ok_or_else(|| invalid("nodes", "must be an array of \"host:port\" strings"))?;
        nodes.push(Endpoint {
            host: check_host("nodes", host)?,
            port,
        });
    }
    Ok(Some(nodes))
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
    use serde_json::json;

    fn parse(v: Value) -> Result<RedisSecret, BackendError> {
        RedisSecret::parse(&SecretValue::parse(&v.to_string()).unwrap())
    }

    #[test]
    fn defaults_are_single_user_tls_port_6379_persisted() {
        let s =
            parse(json!({"engine":"redis","host":"r.internal","username":"app","password":"p"}))
                .unwrap();
        assert_eq!(s.strategy, Strategy::SingleUser);
        assert_eq!(s.server.endpoint.port, DEFAULT_PORT);
        assert!(s.server.tls.is_some() && s.persist && s.server.nodes.is_none());
        assert_eq!(s.server.connect_timeout, None);
        assert_eq!(s.pair(), ["app"]);
    }

    #[test]
    fn explicit_fields_are_read() {
        let s = parse(
            json!({"host":"h","port":"7000","username":"app_clone","password":"p",
            "strategy":"alternating-users","tls":false,"nodes":["a:1","[::1]:2"],
            "connect_timeout":2,"persist":false}),
        )
        .unwrap();
        assert_eq!(s.strategy, Strategy::AlternatingUsers);
        assert_eq!(s.base_user(), "app");
        assert!(s.server.tls.is_none() && !s.persist);
        assert_eq!(s.server.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(s.pair(), ["app", "app_clone"]);
        let nodes = s.server.nodes.unwrap();
        assert_eq!((nodes[1].host.as_str(), nodes[1].port), ("::1", 2));
    }

    #[test]
    fn hostile_names_are_refused_without_being_quoted() {
        let long = "a".repeat(200);
        for name in [
            "app on >x ~* +@all",
            "app\nx",
            ">pw",
            "#abc",
            "~*",
            "+@all",
            "(x)",
            "",
            "-@all",
            &long,
            "naïve",
        ] {
            let err = parse(json!({"host":"h","username":name,"password":"p"})).unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidField { ref field, .. } if field == "username")
            );
            if !name.is_empty() {
                assert!(!err.to_string().contains(name), "{err}");
            }
        }
        // The clone's name must fit too.
        let base = "a".repeat(MAX_USERNAME_BYTES - 2);
        assert!(parse(json!({"host":"h","username":base,"password":"p"})).is_ok());
        assert!(
            parse(json!({"host":"h","username":base,"password":"p","strategy":"alternating"}))
                .is_err()
        );
    }

    #[test]
    fn malformed_fields_name_the_field() {
        for (v, field) in [
            (
                json!({"host":"h","username":"a","password":"p","engine":"postgres"}),
                "engine",
            ),
            (
                json!({"host":"h","username":"a","password":"p","port":70000}),
                "port",
            ),
            (
                json!({"host":"h","username":"a","password":"p","strategy":"x"}),
                "strategy",
            ),
            (
                json!({"host":"h","username":"a","password":"p","nodes":["nocolon"]}),
                "nodes",
            ),
            (
                json!({"host":"h","username":"a","password":"p","tls_client_key":"k"}),
                "tls_client_cert",
            ),
            (json!({"host":"h b","username":"a","password":"p"}), "host"),
            (json!({"host":"h","username":"a","password":""}), "password"),
        ] {
            let err = parse(v).unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidField { field: ref f, .. } if f == field),
                "{err}"
            );
        }
    }

    #[test]
    fn alternating_names() {
        assert_eq!(other_user("app"), "app_clone");
        assert_eq!(other_user("app_clone"), "app");
        assert_eq!(other_user("_clone"), "_clone_clone");
        assert_eq!(base_user("_clone"), "_clone");
    }
}
