//! Logging in: TLS verify-full unless the secret turns TLS off explicitly, never a silent fallback.

use super::config::{Endpoint, Login, CA_BUNDLE_FILE_ENV};
use crate::backend::BackendError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use secrecy::ExposeSecret;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// The `application_name` of every session, so that server logs and `pg_stat_activity` show the
/// rotation's logins for what they are.
pub const APPLICATION_NAME: &str = "secret-rotation";

/// Opens a session as `login`; the connection runs in a background task until the client drops.
pub async fn login(endpoint: &Endpoint, login: &Login) -> Result<Client, BackendError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .dbname(&endpoint.dbname)
        .user(&login.username)
        .password(login.password.expose_secret())
        .application_name(APPLICATION_NAME)
        .connect_timeout(endpoint.connect_timeout);
    // Bounds the whole handshake, not only the TCP connect.
    let limit = endpoint.connect_timeout * 2;
    let attempt = async {
        if endpoint.tls {
            config.ssl_mode(SslMode::Require);
            let (client, connection) = config
                .connect(tls_connector(endpoint)?)
                .await
                .map_err(|e| login_error(endpoint, login, &e))?;
            tokio::spawn(connection);
            Ok(client)
        } else {
            config.ssl_mode(SslMode::Disable);
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|e| login_error(endpoint, login, &e))?;
            tokio::spawn(connection);
            Ok(client)
        }
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| BackendError::Unreachable {
            target: target(endpoint),
            detail: format!("no session within {} s", limit.as_secs()),
        })?
}

/// Whether `login` can open a session right now; other failures (unreachable, TLS) are errors.
pub async fn can_login(endpoint: &Endpoint, login_as: &Login) -> Result<bool, BackendError> {
    match login(endpoint, login_as).await {
        Ok(_) => Ok(true),
        Err(BackendError::LoginRefused { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

fn tls_connector(
    endpoint: &Endpoint,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, BackendError> {
    let pem = match &endpoint.ca_bundle {
        Some(pem) => pem.clone(),
        None => {
            let path = std::env::var(CA_BUNDLE_FILE_ENV).map_err(|_| tls_error(endpoint, &format!(
                "TLS verify-full needs a CA bundle: set `ca_bundle` in the secret or {CA_BUNDLE_FILE_ENV} in the function, or set \"ssl\": false explicitly"
            )))?;
            std::fs::read_to_string(&path)
                .map_err(|e| tls_error(endpoint, &format!("cannot read CA bundle {path}: {e}")))?
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|_| tls_error(endpoint, "the CA bundle is not valid PEM"))?;
        roots
            .add(cert)
            .map_err(|e| tls_error(endpoint, &format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(tls_error(endpoint, "the CA bundle holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(endpoint, &e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The server as error messages name it: `PostgreSQL at host:port`.
pub fn target(endpoint: &Endpoint) -> String {
    format!("PostgreSQL at {}:{}", endpoint.host, endpoint.port)
}

fn tls_error(endpoint: &Endpoint, detail: &str) -> BackendError {
    BackendError::Unreachable {
        target: target(endpoint),
        detail: detail.to_owned(),
    }
}

fn login_error(endpoint: &Endpoint, login: &Login, err: &tokio_postgres::Error) -> BackendError {
    match err.as_db_error() {
        Some(db)
            if [
                SqlState::INVALID_PASSWORD,
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            ]
            .contains(db.code()) =>
        {
            BackendError::LoginRefused {
                target: target(endpoint),
                user: login.username.clone(),
                detail: db.message().to_owned(),
            }
        }
        Some(db) => BackendError::Rejected {
            target: target(endpoint),
            detail: format!("{} ({})", db.message(), db.code().code()),
        },
        None => BackendError::Unreachable {
            target: target(endpoint),
            detail: error_chain(err),
        },
    }
}

/// An error and its causes on one line; tokio-postgres errors carry no credentials.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
