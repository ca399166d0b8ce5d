//! PostgreSQL users: single user (it changes its own password) or alternating users (`<base>` and
//! `<base>_clone` take turns, an admin keeps the clone a true copy of the base role).

pub mod config;
pub mod connect;
pub mod rds;
pub mod roles;

use crate::backend::{Backend, BackendContext, BackendError, Mode, Versions};
use crate::password::{generate_password, DEFAULT_PASSWORD_LENGTH};
use crate::secret::SecretValue;
use async_trait::async_trait;
use config::{check_role_name, invalid, other_user, Endpoint, Login, PostgresSecret, Strategy};
use connect::{can_login, login};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio_postgres::Client;

#[derive(Debug, Default, Clone)]
pub struct PostgresBackend {
    /// Resolves RDS-managed master secrets, which hold no host.
    rds: Option<aws_sdk_rds::Client>,
}

impl PostgresBackend {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            rds: Some(aws_sdk_rds::Client::new(config)),
        }
    }

    /// The privileged session named by `masterarn`. Host and port come from the privileged secret
    /// when it has them, else from the RDS database its tags name (RDS-managed master secrets),
    /// else from the user's secret (the same server).
    async fn admin(
        &self,
        ctx: &BackendContext<'_>,
        secret: &PostgresSecret,
    ) -> Result<Client, BackendError> {
        let masterarn = secret
            .masterarn
            .as_deref()
            .ok_or_else(|| invalid("masterarn", "is required here"))?;
        let master = ctx.read_secret(masterarn).await?;
        let related = |e: BackendError| BackendError::RelatedSecret {
            secret_id: masterarn.to_owned(),
            problem: e.to_string(),
        };
        let admin = Login {
            username: master.required_str("username")?.to_owned(),
            password: master.required_secret("password")?,
        };
        check_role_name("username", &admin.username).map_err(related)?;
        // The user's database and TLS settings, unless the privileged secret names its own.
        let mut endpoint = secret.endpoint.clone();
        if let Some(host) = master.optional_str("host")? {
            let own = Endpoint::parse_with_host(&master, host.to_owned(), None).map_err(related)?;
            endpoint.host = own.host;
            endpoint.port = own.port;
        } else if let Some(rds) = &self.rds {
            if let Some((host, port)) =
                rds::endpoint_from_tags(rds, &ctx.related_secret_tags(masterarn).await?).await?
            {
                endpoint.host = host;
                endpoint.port = port;
            }
        }
        if let Some(tls) = master.optional_bool("ssl")? {
            endpoint.tls = tls;
        }
        if let Some(ca_bundle) = master.optional_str("ca_bundle")? {
            endpoint.ca_bundle = Some(ca_bundle.to_owned());
        }
        login(&endpoint, &admin).await
    }

    /// Single user: log in as the user (current password, else AWSPREVIOUS's, else the admin when
    /// there is one) and set the pending password.
    async fn set_own_password(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
        pending: &PostgresSecret,
    ) -> Result<(), BackendError> {
        let current = PostgresSecret::parse(versions.current().await?)?;
        let mut session = self.own_session(&current, pending).await?;
        if session.is_none() {
            if let Some(previous) = versions.previous().await? {
                // AWSPREVIOUS is a fallback only: one that no longer parses is skipped.
                if let Ok(previous) = PostgresSecret::parse(previous) {
                    session = self.own_session(&previous, pending).await?;
                }
            }
        }
        let (mut client, is_admin) = match session {
            Some(client) => (client, false),
            None if pending.masterarn.is_some() => (self.admin(ctx, pending).await?, true),
            None => {
                return Err(BackendError::LoginRefused {
                    target: connect::target(&pending.endpoint),
                    user: pending.login.username.clone(),
                    detail: "neither the current nor the previous password logs in".into(),
                })
            }
        };
        let tx = roles::lock_role(&mut client, pending.base_user()).await?;
        roles::set_password(
            &tx,
            &pending.login.username,
            &pending.login.password,
            is_admin,
        )
        .await?;
        roles::commit(tx).await
    }

    /// A session of the pending user logged in with `candidate`'s password, if it still works.
    async fn own_session(
        &self,
        candidate: &PostgresSecret,
        pending: &PostgresSecret,
    ) -> Result<Option<Client>, BackendError> {
        if candidate.login.username != pending.login.username {
            return Ok(None);
        }
        match login(&pending.endpoint, &candidate.login).await {
            Ok(client) => Ok(Some(client)),
            Err(BackendError::LoginRefused { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Alternating users: as the admin, re-sync the clone to the base role, then set the pending
    /// user's password and reactivate it — all in one transaction under the role's lock.
    async fn set_alternate_password(
        &self,
        ctx: &BackendContext<'_>,
        pending: &PostgresSecret,
    ) -> Result<(), BackendError> {
        let base = pending.base_user().to_owned();
        let clone = format!("{base}{}", config::CLONE_SUFFIX);
        let mut admin = self.admin(ctx, pending).await?;
        let tx = roles::lock_role(&mut admin, &base).await?;
        roles::sync_clone(&tx, &base, &clone, pending.owner_role.as_deref()).await?;
        roles::set_password(&tx, &pending.login.username, &pending.login.password, true).await?;
        roles::commit(tx).await
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    /// A new password; in alternating mode the other user of the pair.
    async fn build_pending(
        &self,
        _ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        let secret = PostgresSecret::parse(current)?;
        let mut pending = current.clone();
        if secret.strategy == Strategy::AlternatingUsers {
            let next = other_user(&secret.login.username);
            check_role_name("username", &next).map_err(|_| {
                invalid(
                    "username",
                    &format!(
                        "{} + \"_clone\" is longer than PostgreSQL's 63 bytes",
                        secret.base_user()
                    ),
                )
            })?;
            pending.insert("username", Value::from(next));
        }
        pending.insert(
            "password",
            Value::from(generate_password(DEFAULT_PASSWORD_LENGTH).expose_secret()),
        );
        Ok(pending)
    }

    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        let pending = PostgresSecret::parse(&versions.pending)?;
        match pending.strategy {
            Strategy::SingleUser => {
                // One password per role: once the pending one logs in, no other password does,
                // so a retry must find out before it looks for a session.
                if can_login(&pending.endpoint, &pending.login).await? {
                    return Ok(());
                }
                self.set_own_password(ctx, versions, &pending).await?
            }
            // The admin needs no check first: re-syncing the clone and setting the same password
            // again change nothing on a retry.
            Strategy::AlternatingUsers => self.set_alternate_password(ctx, &pending).await?,
        }
        // A malformed verifier would have been taken as a plaintext password: prove the login.
        verify_login(&pending).await
    }

    async fn verify_pending(
        &self,
        _ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        verify_login(&PostgresSecret::parse(&versions.pending)?).await
    }

    /// Emergency rotation in alternating mode: the previous user can no longer log in, and its open
    /// sessions end. (In single-user mode the old password stopped working at setSecret already.)
    async fn after_promotion(
        &self,
        ctx: &BackendContext<'_>,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        let (Mode::Emergency, Some(demoted)) = (ctx.mode, demoted) else {
            return Ok(());
        };
        let promoted = PostgresSecret::parse(promoted)?;
        let demoted = PostgresSecret::parse(demoted)?;
        if promoted.strategy != Strategy::AlternatingUsers
            || demoted.login.username == promoted.login.username
        {
            return Ok(());
        }
        let mut admin = self.admin(ctx, &promoted).await?;
        let tx = roles::lock_role(&mut admin, promoted.base_user()).await?;
        roles::revoke_login(&tx, &demoted.login.username).await?;
        roles::commit(tx).await
    }
}

/// Logs in with the pending credential and checks who the session is.
async fn verify_login(pending: &PostgresSecret) -> Result<(), BackendError> {
    let client = login(&pending.endpoint, &pending.login).await?;
    let row = client
        .query_one("SELECT session_user::text", &[])
        .await
        .map_err(|e| {
            BackendError::NotVerified(format!(
                "query after login failed: {}",
                connect::error_chain(&e)
            ))
        })?;
    let session_user: String = row.get(0);
    if session_user != pending.login.username {
        return Err(BackendError::NotVerified(format!(
            "logged in as {session_user}, expected {}",
            pending.login.username
        )));
    }
    Ok(())
}
