//! Connections to one Redis node, with connect and response timeouts, TLS that verifies the
//! certificate and the host name, and errors of our own: a `redis` crate error is never formatted
//! (its messages and `ConnectionInfo` may carry credentials or ACL rules with password hashes).

use super::config::{
    default_connect_timeout, invalid, Endpoint, Login, ServerSettings, TlsSettings,
    CA_BUNDLE_FILE_ENV,
};
use crate::backend::BackendError;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, Cmd, ConnectionAddr, FromRedisValue,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, TlsCertificates,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Opens connections to the nodes of one secret, with its TLS settings.
pub struct Connector {
    tls: Option<TlsCertificates>,
    timeout: Duration,
}

/// An open connection and the node it reaches.
pub struct Conn {
    con: MultiplexedConnection,
    /// The node this connection reaches; its errors name it.
    pub endpoint: Endpoint,
}

impl Connector {
    /// `server`'s TLS settings and timeout; `fallback_timeout` when `server` sets none.
    pub fn new(
        server: &ServerSettings,
        fallback_timeout: Option<Duration>,
    ) -> Result<Self, BackendError> {
        let tls = server.tls.as_ref().map(certificates).transpose()?;
        if tls.is_some() {
            crate::runtime::install_crypto_provider();
        }
        Ok(Self {
            tls,
            timeout: server
                .connect_timeout
                .or(fallback_timeout)
                .unwrap_or_else(default_connect_timeout),
        })
    }

    /// Whether connections use TLS: false only when the secret says `"tls": false`.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// An unauthenticated connection.
    pub async fn connect(&self, endpoint: &Endpoint) -> Result<Conn, BackendError> {
        let addr = match &self.tls {
            None => ConnectionAddr::Tcp(endpoint.host.clone(), endpoint.port),
            Some(_) => ConnectionAddr::TcpTls {
                host: endpoint.host.clone(),
                port: endpoint.port,
                insecure: false,
                tls_params: None,
            },
        };
        let unreachable = |detail: String| BackendError::Unreachable {
            target: endpoint.to_string(),
            detail,
        };
        let info = addr
            .into_connection_info()
            .map_err(|_| unreachable("invalid address".into()))?
            .set_redis_settings(RedisConnectionInfo::default().set_skip_set_lib_name());
        let client = match &self.tls {
            None => redis::Client::open(info),
            Some(certs) => redis::Client::build_with_tls(info, certs.clone()),
        }
        .map_err(|_| unreachable("invalid connection settings".into()))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| {
                let mut problem = transport_problem(&e, self.timeout);
                if self.tls.is_some() && problem.starts_with("no answer") {
                    problem.push_str(" to the TLS handshake (is this a plaintext port?)");
                }
                unreachable(problem)
            })?;
        Ok(Conn {
            con,
            endpoint: endpoint.clone(),
        })
    }

    /// `AUTH user password` on a fresh connection: `None` when the server refuses the pair.
    pub async fn try_login(
        &self,
        endpoint: &Endpoint,
        login: &Login,
    ) -> Result<Option<Conn>, BackendError> {
        let mut conn = self.connect(endpoint).await?;
        let mut auth = redis::cmd("AUTH");
        auth.arg(&login.username)
            .arg(login.password.expose_secret());
        match auth.query_async::<()>(&mut conn.con).await {
            Ok(()) => Ok(Some(conn)),
            Err(e) if e.code() == Some("WRONGPASS") => Ok(None),
            Err(e) => Err(conn.error(&e, "AUTH")),
        }
    }

    /// Whether `login` logs in on the node.
    pub async fn accepts(&self, endpoint: &Endpoint, login: &Login) -> Result<bool, BackendError> {
        Ok(self.try_login(endpoint, login).await?.is_some())
    }
}

impl Conn {
    /// Runs one command; `what` names it in errors (never its arguments).
    pub async fn run<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        what: &str,
    ) -> Result<T, BackendError> {
        match cmd.query_async(&mut self.con).await {
            Ok(value) => Ok(value),
            Err(e) => Err(self.error(&e, what)),
        }
    }

    fn error(&self, e: &RedisError, what: &str) -> BackendError {
        let target = self.endpoint.to_string();
        match e.code() {
            Some("NOPERM") => BackendError::Rejected {
                target,
                detail: format!(
                    "{what}: the login user lacks the permission (an admin secret in \
                     `masterarn` is recommended)"
                ),
            },
            Some(code) => BackendError::Rejected {
                target,
                detail: format!("{what} failed ({})", safe_code(code)),
            },
            None if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                BackendError::Unreachable {
                    target,
                    detail: format!("{what}: {}", transport_problem(e, Duration::ZERO)),
                }
            }
            None => BackendError::Rejected {
                target,
                detail: format!("{what}: unexpected reply"),
            },
        }
    }
}

/// A server error code such as `ERR` or `NOAUTH`; anything else is not repeated.
fn safe_code(code: &str) -> &str {
    if !code.is_empty() && code.len() <= 24 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        code
    } else {
        "server error"
    }
}

/// What went wrong below the Redis protocol, from the error's sources only (I/O kinds and TLS).
fn transport_problem(e: &RedisError, timeout: Duration) -> String {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut io_kind = None;
    while let Some(mut err) = source {
        // The crate keeps its causes as `Arc<dyn Error>`: look inside.
        if let Some(shared) = err.downcast_ref::<Shared>() {
            err = shared.as_ref();
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls_problem(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_problem(tls);
            }
            io_kind.get_or_insert(io.kind());
        }
        source = err.source();
    }
    match io_kind {
        Some(std::io::ErrorKind::TimedOut) if !timeout.is_zero() => {
            format!("no answer within {} s", timeout.as_secs())
        }
        Some(kind) => format!("network error ({kind})"),
        None if e.is_timeout() => "timed out".into(),
        None => "connection failed".into(),
    }
}

fn tls_problem(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "TLS: the server certificate is not signed by a trusted CA (see `ca_bundle`)".into()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "TLS: the server certificate is not valid for this host name".into(),
        other => format!("TLS handshake failed: {other}"),
    }
}

/// The CA bundle (the secret's, else `$ROTATION_CA_BUNDLE_FILE`; TLS without one is refused) and the
/// client certificate, checked here so that a malformed PEM is a clear field error.
fn certificates(tls: &TlsSettings) -> Result<TlsCertificates, BackendError> {
    let root_cert = match &tls.ca_bundle {
        Some(pem) => Some(check_certs("ca_bundle", pem.as_bytes().to_vec())?),
        None => match std::env::var_os(CA_BUNDLE_FILE_ENV) {
            Some(path) if !path.is_empty() => {
                let pem = std::fs::read(&path)
                    .map_err(|_| invalid(CA_BUNDLE_FILE_ENV, "names a file that cannot be read"))?;
                Some(check_certs(CA_BUNDLE_FILE_ENV, pem)?)
            }
            _ => {
                return Err(invalid(
                    "ca_bundle",
                    "is required with TLS: give the CA certificates here or in the file named by \
                     ROTATION_CA_BUNDLE_FILE (or set \"tls\": false for a plaintext server)",
                ))
            }
        },
    };
    let client_tls = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let client_cert = check_certs("tls_client_cert", cert.as_bytes().to_vec())?;
            let client_key = key.expose_secret().as_bytes().to_vec();
            PrivateKeyDer::from_pem_slice(&client_key)
                .map_err(|_| invalid("tls_client_key", "is not a PEM private key"))?;
            Some(ClientTlsConfig {
                client_cert,
                client_key,
            })
        }
        _ => None,
    };
    Ok(TlsCertificates {
        client_tls,
        root_cert,
    })
}

fn check_certs(field: &str, pem: Vec<u8>) -> Result<Vec<u8>, BackendError> {
    let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        _ => Err(invalid(field, "must hold one or more PEM certificates")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretValue;

    fn connector(raw: &str) -> Result<Connector, BackendError> {
        let value = SecretValue::parse(raw).unwrap();
        Connector::new(&ServerSettings::parse(&value).unwrap(), None)
    }

    #[test]
    fn malformed_pem_is_a_field_error() {
        let err = connector(r#"{"host":"h","ca_bundle":"not a certificate"}"#)
            .err()
            .unwrap();
        assert!(
            matches!(err, BackendError::InvalidField { ref field, .. } if field == "ca_bundle")
        );
    }

    #[test]
    fn tls_without_a_ca_bundle_is_refused() {
        if std::env::var_os(CA_BUNDLE_FILE_ENV).is_some() {
            return;
        }
        let err = connector(r#"{"host":"h"}"#).err().unwrap();
        assert!(
            matches!(err, BackendError::InvalidField { ref field, .. } if field == "ca_bundle")
        );
    }

    #[test]
    fn only_plain_error_codes_are_repeated() {
        assert_eq!(safe_code("ERR"), "ERR");
        assert_eq!(safe_code("#abcdef"), "server error");
        assert_eq!(safe_code("Error"), "server error");
    }
}
