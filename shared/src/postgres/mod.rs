//! PostgreSQL users: single user (it changes its own password) or alternating users (`<base>` and
//! `<base>_clone` take turns, an admin keeps the clone a true copy of the base role).

pub mod admin;
pub mod config;
pub mod connect;
pub mod rds;
pub mod revoke;
pub mod roles;
mod settings;
mod state;

use crate::backend::{Backend, BackendContext, BackendError, EngineSpec, Mode, Needs, Versions};
use crate::password::{generate_password, DEFAULT_PASSWORD_LENGTH};
use crate::secret::SecretValue;
use crate::trust::{self, refused};
use admin::AdminSide;
use async_trait::async_trait;
use config::{check_role_name, invalid, other_user, PostgresSecret, Strategy};
use connect::{can_login, login};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio_postgres::Client;

/// The PostgreSQL engine's registry entry.
pub const SPEC: EngineSpec = EngineSpec {
    name: "postgres",
    aliases: &["postgresql", "aurora-postgresql"],
    function_package: "secret-rotation-postgres",
    needs: Needs {
        rds_lookups: true,
        vpc: true,
    },
    build: |config| Box::new(PostgresBackend::from_config(config)),
};
const ENGINE: &str = SPEC.name;

/// The PostgreSQL backend.
#[derive(Debug, Default, Clone)]
pub struct PostgresBackend {
    /// Resolves RDS-managed master secrets, which hold no host.
    rds: Option<aws_sdk_rds::Client>,
}

impl PostgresBackend {
    /// A backend without an RDS client: admin secrets must name their host.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend that resolves RDS-managed admin secrets with a client built from `config`.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            rds: Some(aws_sdk_rds::Client::new(config)),
        }
    }

    /// The admin side for `app`: read, and `app`'s endpoint checked against it. No session yet.
    async fn admin_side(
        &self,
        ctx: &BackendContext<'_>,
        app: &PostgresSecret,
    ) -> Result<AdminSide, BackendError> {
        AdminSide::for_application(ctx, self.rds.as_ref(), app).await
    }

    /// Single user: the user changes its own password, logged in with the current password, else
    /// AWSPREVIOUS's. The admin resets it only when the admin side allows break-glass for it.
    async fn set_own_password(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
        current: &PostgresSecret,
        pending: &PostgresSecret,
    ) -> Result<(), BackendError> {
        let mut session = own_session(current, pending).await?;
        if session.is_none() {
            if let Some(previous) = versions.previous().await? {
                // AWSPREVIOUS is a fallback only: one that no longer parses is skipped.
                if let Ok(previous) = PostgresSecret::parse(previous) {
                    session = own_session(&previous, pending).await?;
                }
            }
        }
        let user = pending.login.username.as_str();
        if let Some(mut client) = session {
            let tx = roles::lock_role(&mut client, pending.base_user()).await?;
            roles::set_password(&tx, user, &pending.login.password, false).await?;
            return roles::commit(tx).await;
        }
        if pending.masterarn.is_none() {
            return Err(BackendError::LoginRefused {
                target: connect::target(&pending.endpoint),
                user: user.to_owned(),
                detail: "neither the current nor the previous password logs in".into(),
            });
        }
        let admin = self.admin_side(ctx, pending).await?;
        let allowed_by = admin.break_glass(user)?;
        let mut client = admin.connect().await?;
        let tx = roles::lock_role(&mut client, pending.base_user()).await?;
        state::check_acted_on(&tx, user, admin.allowances()).await?;
        ctx.record_break_glass(ENGINE, user, allowed_by);
        roles::set_password(&tx, user, &pending.login.password, true).await?;
        roles::commit(tx).await
    }

    /// Alternating users: the application's endpoint is checked against the admin's, possession of
    /// AWSCURRENT's credential proven (or break-glass allowed), then as the admin the clone is
    /// re-synced to the base role and the pending user's password set and the user reactivated —
    /// all in one transaction under the role's lock.
    async fn set_alternate_password(
        &self,
        ctx: &BackendContext<'_>,
        current: &PostgresSecret,
        pending: &PostgresSecret,
    ) -> Result<(), BackendError> {
        let base = pending.base_user().to_owned();
        let clone = format!("{base}{}", config::CLONE_SUFFIX);
        let admin = self.admin_side(ctx, pending).await?;
        let break_glass = prove_possession(&admin, current).await?;
        let mut client = admin.connect().await?;
        let tx = roles::lock_role(&mut client, &base).await?;
        roles::sync_clone(
            &tx,
            &base,
            &clone,
            pending.owner_role.as_deref(),
            admin.allowances(),
        )
        .await?;
        if let Some(allowed_by) = break_glass {
            ctx.record_break_glass(ENGINE, &current.login.username, allowed_by);
        }
        roles::set_password(&tx, &pending.login.username, &pending.login.password, true).await?;
        roles::commit(tx).await
    }
}

/// A session of the pending user logged in with `candidate`'s password, if it still works.
async fn own_session(
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

/// Proof of possession: AWSCURRENT's credential logs in at the application's endpoint (already
/// checked to be the admin's server). If it does not, the admin side must allow break-glass for
/// that user: `Some(who allowed it)`, recorded once the admin's checks have passed.
async fn prove_possession(
    admin: &AdminSide,
    current: &PostgresSecret,
) -> Result<Option<&'static str>, BackendError> {
    match login(&current.endpoint, &current.login).await {
        Ok(_session) => Ok(None),
        Err(BackendError::LoginRefused { .. }) => {
            admin.break_glass(&current.login.username).map(Some)
        }
        Err(other) => Err(other),
    }
}

/// A pending value changes only the credential, and its user is the current one (single user) or
/// the other one of the pair (alternating users).
fn check_pending_shape(
    current_value: &SecretValue,
    pending_value: &SecretValue,
) -> Result<(PostgresSecret, PostgresSecret), BackendError> {
    trust::check_only_credential_changed(current_value, pending_value)?;
    let current = PostgresSecret::parse(current_value)?;
    let pending = PostgresSecret::parse(pending_value)?;
    let expected = match pending.strategy {
        Strategy::SingleUser => current.login.username.clone(),
        Strategy::AlternatingUsers => other_user(&current.login.username),
    };
    if pending.login.username != expected {
        return Err(refused(
            "username",
            "AWSPENDING's user must be AWSCURRENT's (single user) or the other user of its pair \
             (alternating users)",
        ));
    }
    Ok((current, pending))
}

#[async_trait]
impl Backend for PostgresBackend {
    fn engine(&self) -> &'static str {
        ENGINE
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
        let (current, pending) = check_pending_shape(versions.current().await?, &versions.pending)?;
        match pending.strategy {
            Strategy::SingleUser => {
                // One password per role: once the pending one logs in, no other password does,
                // so a retry must find out before it looks for a session.
                if can_login(&pending.endpoint, &pending.login).await? {
                    return Ok(());
                }
                self.set_own_password(ctx, versions, &current, &pending)
                    .await?
            }
            // The admin needs no check first: re-syncing the clone and setting the same password
            // again change nothing on a retry.
            Strategy::AlternatingUsers => {
                self.set_alternate_password(ctx, &current, &pending).await?
            }
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

    /// Emergency rotation: what the demoted credential could do ends now. Alternating users: the
    /// demoted user (the other one of the pair) can no longer log in, committed before its
    /// sessions are ended. Single user: the old password stopped working at setSecret; its
    /// sessions (and any opened with the new password since, which reconnect) are ended by a
    /// session of the user itself.
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
        if promoted.strategy == Strategy::SingleUser {
            let session = login(&promoted.endpoint, &promoted.login).await?;
            return revoke::end_sessions(&session, &promoted.login.username).await;
        }
        let demoted_user = other_user(&promoted.login.username);
        if demoted.login.username != demoted_user {
            return Err(refused(
                "username",
                "the demoted version's user is not the other user of the promoted one's pair; an \
                 emergency rotation revokes only that user",
            ));
        }
        let admin = self.admin_side(ctx, &promoted).await?;
        // The promoted credential logs in: setSecret accepted it, so this pair is the rotation's.
        drop(login(&promoted.endpoint, &promoted.login).await?);
        let mut client = admin.connect().await?;
        revoke::revoke_alternate(
            &mut client,
            promoted.base_user(),
            &demoted_user,
            admin.allowances(),
        )
        .await
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
