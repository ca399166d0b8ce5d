//! Redis ACL users, rotated on every node without a hard cut.
//!
//! Single user (default): the user holds the current and the pending password at once; every
//! other password goes. Alternating users: `<user>` and `<user>_clone` take turns, the clone
//! re-copied from the user's `ACL GETUSER` on each rotation that makes it current. Passwords reach
//! the server as `#<sha256>` only; changes are persisted (`ACL SAVE` or `CONFIG REWRITE`) on each
//! node; `ACL LOAD` and `resetpass` are never sent.
//!
//! ElastiCache and MemoryDB users and ElastiCache AUTH tokens, whose passwords no client may set,
//! go through their control planes instead ([`managed`]), chosen by the secret's ARN field. See
//! docs/redis.md.

pub mod acl;
pub mod admin;
pub mod config;
pub mod conn;
pub mod guard;
pub mod managed;
pub mod nodes;
pub mod users;

use crate::backend::{Backend, BackendContext, BackendError, EngineSpec, Mode, Needs, Versions};
use crate::password::{generate_password, DEFAULT_PASSWORD_LENGTH};
use crate::secret::SecretValue;
use crate::trust;
use acl::PasswordHash;
use admin::AdminSecret;
use async_trait::async_trait;
use config::{invalid, other_user, Endpoint, Login, RedisSecret, Strategy};
use conn::Connector;
use nodes::{discover, persist, Operator};
use secrecy::ExposeSecret;
use serde_json::Value;

/// The Redis engine's registry entry.
pub const SPEC: EngineSpec = EngineSpec {
    name: "redis",
    aliases: &[],
    function_package: "secret-rotation-redis",
    needs: Needs {
        rds_lookups: false,
        vpc: true,
    },
    build: |config| {
        Box::new(RedisBackend::with_control_planes(
            managed::ControlPlanes::new(config, managed::Settings::from_env()),
        ))
    },
};

/// The Redis backend.
#[derive(Debug, Default, Clone)]
pub struct RedisBackend {
    /// How managed users' control planes are reached, and what the function may change there.
    managed: Option<managed::ControlPlanes>,
}

impl RedisBackend {
    /// A backend for self-managed Redis only (each step connects to the servers its secret names).
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend that also rotates ElastiCache and MemoryDB credentials through their control
    /// planes.
    pub fn with_control_planes(planes: managed::ControlPlanes) -> Self {
        Self {
            managed: Some(planes),
        }
    }

    /// The control planes for `value`, when one sets its passwords.
    fn control_planes(
        &self,
        value: &SecretValue,
    ) -> Result<Option<&managed::ControlPlanes>, BackendError> {
        match managed::provider_of(value)? {
            managed::Provider::SelfManaged => Ok(None),
            managed::Provider::Managed(_) => self.managed.as_ref().map(Some).ok_or_else(|| {
                invalid(
                    managed::USER_ARN_FIELD,
                    "names a managed Redis credential, which this backend was built without AWS \
                     clients to change",
                )
            }),
        }
    }
}

/// The servers of one secret and who may change them.
struct Target {
    connector: Connector,
    operator: Operator,
    /// Where discovery starts, and the explicit node list that replaces it.
    seed: Endpoint,
    explicit: Option<Vec<Endpoint>>,
    /// With `masterarn`: the admin secret, whose rules bind every step.
    admin: Option<AdminSecret>,
}

impl Target {
    /// With `masterarn`, the admin's login and the admin secret's server settings, once the
    /// secret's endpoint and nodes are shown to be the admin's (before any connection). Without,
    /// the secret's own settings, logging in as the user with each of `own_logins` in turn.
    async fn open(
        ctx: &BackendContext<'_>,
        secret: &RedisSecret,
        own_logins: Vec<Login>,
    ) -> Result<Self, BackendError> {
        let Some(arn) = &secret.masterarn else {
            return Ok(Self {
                connector: Connector::new(&secret.server, None)?,
                operator: Operator::new(own_logins),
                seed: secret.server.endpoint.clone(),
                explicit: secret.server.nodes.clone(),
                admin: None,
            });
        };
        let admin = AdminSecret::read(ctx, arn).await?;
        admin.check_application(secret)?;
        Ok(Self {
            connector: admin.connector(secret.server.connect_timeout)?,
            operator: Operator::new(vec![admin.login.clone()]),
            seed: admin.server.endpoint.clone(),
            explicit: admin.server.nodes.clone(),
            admin: Some(admin),
        })
    }

    /// Every node to change: the explicit list, else discovery from the seed.
    async fn nodes(&self) -> Result<Vec<Endpoint>, BackendError> {
        let nodes = discover(
            &self.connector,
            &self.operator,
            &self.seed,
            self.explicit.as_deref(),
        )
        .await?;
        tracing::info!(nodes = nodes.len(), seed = %self.seed, "redis nodes to rotate");
        Ok(nodes)
    }

    /// With an admin, before anything changes, on every node: `required` exists (with passwords),
    /// and none of `touched` holds ACL or admin permissions unless the admin side allows it.
    async fn preflight(
        &self,
        nodes: &[Endpoint],
        required: Option<&str>,
        touched: &[&str],
    ) -> Result<(), BackendError> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        for node in nodes {
            let mut conn = self.operator.login(&self.connector, node).await?;
            if let Some(user) = required {
                users::existing_user(&mut conn, user).await?;
            }
            guard::refuse_privileged(&mut conn, admin, touched).await?;
        }
        Ok(())
    }

    /// Every node accepts `login`, or `NotVerified` names the first that does not.
    async fn check_login_everywhere(
        &self,
        nodes: &[Endpoint],
        login: &Login,
    ) -> Result<(), BackendError> {
        for node in nodes {
            if !self.connector.accepts(node, login).await? {
                return Err(BackendError::NotVerified(format!(
                    "user {} cannot log in with the pending password on {node}",
                    login.username
                )));
            }
        }
        Ok(())
    }
}

/// AWSCURRENT and AWSPENDING, checked to be one rotation of one user set: nothing but the
/// credential changed, and the pending user is the one this rotation must change.
fn check_pair(
    current: &SecretValue,
    pending: &SecretValue,
) -> Result<(RedisSecret, RedisSecret), BackendError> {
    trust::check_only_credential_changed(current, pending)?;
    let (current, pending) = (RedisSecret::parse(current)?, RedisSecret::parse(pending)?);
    let expected = match current.strategy {
        Strategy::SingleUser => current.login.username.clone(),
        Strategy::AlternatingUsers => other_user(&current.login.username),
    };
    if pending.login.username != expected {
        return Err(invalid(
            "username",
            "of AWSPENDING is not the user this rotation must change",
        ));
    }
    Ok((current, pending))
}

/// The users setSecret changes: the user; or the alternating user to become current, and the
/// user it is copied from.
fn changed_by_set(pending: &RedisSecret) -> Vec<&str> {
    let user = pending.login.username.as_str();
    match pending.strategy {
        Strategy::AlternatingUsers if user != pending.base_user() => {
            vec![pending.base_user(), user]
        }
        _ => vec![user],
    }
}

/// Who changes the servers when no `masterarn` names an admin: the user itself, with each password
/// it may still have, most likely first. With an admin, none (and nothing more is read).
async fn own_logins(
    versions: &Versions<'_>,
    pending: &RedisSecret,
) -> Result<Vec<Login>, BackendError> {
    if pending.masterarn.is_some() {
        return Ok(Vec::new());
    }
    let current = RedisSecret::parse(versions.current().await?)?;
    let previous = versions
        .previous()
        .await?
        .and_then(|v| RedisSecret::parse(v).ok());
    Ok([
        Some(&current.login),
        Some(&pending.login),
        previous.as_ref().map(|p| &p.login),
    ]
    .into_iter()
    .flatten()
    .filter(|l| l.username == current.login.username)
    .cloned()
    .collect())
}

#[async_trait]
impl Backend for RedisBackend {
    fn engine(&self) -> &'static str {
        SPEC.name
    }

    async fn build_pending(
        &self,
        _ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        if self.control_planes(current)?.is_some() {
            return managed::build_pending(current);
        }
        let secret = RedisSecret::parse(current)?;
        // The user's own TLS material is checked before anything else happens. With an admin,
        // the admin side is checked at setSecret, before any connection: createSecret reads
        // nothing but AWSCURRENT.
        if secret.masterarn.is_none() {
            Connector::new(&secret.server, None)?;
        }
        let mut pending = current.clone();
        let password = generate_password(DEFAULT_PASSWORD_LENGTH);
        pending.insert("password", Value::from(password.expose_secret()));
        if secret.strategy == Strategy::AlternatingUsers {
            pending.insert("username", Value::from(other_user(&secret.login.username)));
        }
        Ok(pending)
    }

    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        if let Some(aws) = self.control_planes(versions.current().await?)? {
            return managed::accept_pending(aws, ctx, versions).await;
        }
        let (current, pending) = check_pair(versions.current().await?, &versions.pending)?;
        let target = Target::open(ctx, &pending, own_logins(versions, &pending).await?).await?;
        let nodes = target.nodes().await?;
        // The user that must exist everywhere: the one changed, or the one a clone is copied from.
        let required = match pending.strategy {
            Strategy::SingleUser => pending.login.username.as_str(),
            Strategy::AlternatingUsers => pending.base_user(),
        };
        target
            .preflight(&nodes, Some(required), &changed_by_set(&pending))
            .await?;
        if let Some(admin) = &target.admin {
            guard::prove_possession(ctx, &target.connector, &target.operator, admin, &current)
                .await?;
        }
        let new_hash = PasswordHash::of(&pending.login.password);
        let user = pending.login.username.as_str();
        for node in &nodes {
            let mut conn = target.operator.login(&target.connector, node).await?;
            // Already done? Log in only when the hash is there: a refused AUTH is an ACL LOG
            // security event, which a rotation should not raise.
            let has_hash = users::get_user(&mut conn, user)
                .await?
                .is_some_and(|u| u.has_password(&new_hash));
            let already = has_hash && target.connector.accepts(node, &pending.login).await?;
            let changed = match pending.strategy {
                Strategy::SingleUser => {
                    let keep = PasswordHash::of(&current.login.password);
                    users::hold_passwords(&mut conn, user, &[&keep], &new_hash, false).await?
                }
                Strategy::AlternatingUsers if user == pending.base_user() => {
                    users::hold_passwords(&mut conn, user, &[], &new_hash, true).await?
                }
                Strategy::AlternatingUsers => {
                    users::copy_user(&mut conn, pending.base_user(), user, &new_hash).await?;
                    true
                }
            };
            if pending.persist {
                persist(&mut conn).await?;
            }
            tracing::info!(
                user,
                %node,
                already_accepted = already,
                changed,
                "pending password set"
            );
        }
        target.check_login_everywhere(&nodes, &pending.login).await
    }

    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        if let Some(aws) = self.control_planes(&versions.pending)? {
            return managed::verify_pending(aws, ctx, versions).await;
        }
        // Read-only, so the pair was checked where it mattered: setSecret.
        let pending = RedisSecret::parse(&versions.pending)?;
        let target = Target::open(ctx, &pending, own_logins(versions, &pending).await?).await?;
        let nodes = target.nodes().await?;
        target
            .check_login_everywhere(&nodes, &pending.login)
            .await?;
        let user = pending.login.username.as_str();
        if pending.strategy == Strategy::AlternatingUsers && user != pending.base_user() {
            for node in &nodes {
                let mut conn = target.operator.login(&target.connector, node).await?;
                let differences =
                    users::clone_differences(&mut conn, pending.base_user(), user).await?;
                if !differences.is_empty() {
                    return Err(BackendError::NotVerified(format!(
                        "user {user} differs from {} on {node} in: {}",
                        pending.base_user(),
                        differences.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    async fn after_promotion(
        &self,
        ctx: &BackendContext<'_>,
        promoted: &SecretValue,
        demoted: Option<&SecretValue>,
    ) -> Result<(), BackendError> {
        if ctx.mode != Mode::Emergency {
            return Ok(());
        }
        if let Some(aws) = self.control_planes(promoted)? {
            return managed::revoke_demoted(aws, ctx, promoted, demoted).await;
        }
        let promoted = RedisSecret::parse(promoted)?;
        let demoted_user = demoted
            .map(RedisSecret::parse)
            .transpose()?
            .map(|d| d.login.username);
        // The user to revoke: the promoted one's passwords, or the other user of the pair, never
        // a user the demoted value merely names.
        let revoked = match (promoted.strategy, demoted_user) {
            (Strategy::SingleUser, _) => Some(promoted.login.username.clone()),
            (Strategy::AlternatingUsers, Some(old))
                if old == other_user(&promoted.login.username) =>
            {
                Some(old)
            }
            (Strategy::AlternatingUsers, Some(_)) => {
                return Err(trust::refused(
                    "username",
                    "the demoted version names a user that is not the other user of the \
                     promoted one's pair; an emergency rotation revokes only that user",
                ))
            }
            (Strategy::AlternatingUsers, None) => None,
        };
        let Some(user) = revoked else {
            return Ok(());
        };
        let target = Target::open(ctx, &promoted, vec![promoted.login.clone()]).await?;
        let nodes = target.nodes().await?;
        // Never revoke anything unless the new credential logs in everywhere.
        target
            .check_login_everywhere(&nodes, &promoted.login)
            .await?;
        target.preflight(&nodes, None, &[user.as_str()]).await?;
        let new_hash = PasswordHash::of(&promoted.login.password);
        for node in &nodes {
            let mut conn = target.operator.login(&target.connector, node).await?;
            match promoted.strategy {
                Strategy::SingleUser => users::revoke_all_but(&mut conn, &user, &new_hash).await?,
                Strategy::AlternatingUsers => users::switch_off(&mut conn, &user).await?,
            };
            let killed = users::kill_clients(&mut conn, &user).await?;
            if promoted.persist {
                persist(&mut conn).await?;
            }
            tracing::warn!(
                user,
                %node,
                sessions_closed = killed,
                "emergency: previous credential revoked"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_is_ok(current: &str, pending: &str) -> bool {
        let parse = |raw: &str| SecretValue::parse(raw).unwrap();
        check_pair(&parse(current), &parse(pending)).is_ok()
    }

    #[test]
    fn a_pending_value_must_change_the_expected_user_on_the_same_servers() {
        let base = r#"{"host":"h","username":"app","password":"a""#;
        let single = format!("{base}}}");
        let alternating = format!(r#"{base},"strategy":"alternating"}}"#);
        let ok = pair_is_ok;
        assert!(ok(
            &single,
            r#"{"host":"h","username":"app","password":"b"}"#
        ));
        assert!(!ok(
            &single,
            r#"{"host":"h","username":"admin","password":"b"}"#
        ));
        // Anything but the credential changed is a trust-boundary refusal, before any parsing.
        let parse = |raw: &str| SecretValue::parse(raw).unwrap();
        for moved in [
            r#"{"host":"other","username":"app","password":"b"}"#,
            r#"{"host":"h","port":1,"username":"app","password":"b"}"#,
            r#"{"host":"h","username":"app","password":"b","tls":false}"#,
            r#"{"host":"h","username":"app","password":"b","nodes":["evil:1"]}"#,
            r#"{"host":"h","username":"app","password":"b","masterarn":"arn:x"}"#,
        ] {
            let err = check_pair(&parse(&single), &parse(moved)).unwrap_err();
            assert_eq!(err.kind(), "Refused", "{err}");
        }
        let clone =
            r#"{"host":"h","username":"app_clone","password":"b","strategy":"alternating"}"#;
        assert!(ok(&alternating, clone));
        let same = r#"{"host":"h","username":"app","password":"b","strategy":"alternating"}"#;
        assert!(!ok(&alternating, same));
        assert!(!ok(&single, clone));
    }

    #[test]
    fn set_secret_changes_the_pending_user_and_the_user_a_clone_is_copied_from() {
        let parse = |raw: &str| RedisSecret::parse(&SecretValue::parse(raw).unwrap()).unwrap();
        let single = parse(r#"{"host":"h","username":"app","password":"p"}"#);
        assert_eq!(changed_by_set(&single), ["app"]);
        let to_clone =
            parse(r#"{"host":"h","username":"app_clone","password":"p","strategy":"alternating"}"#);
        assert_eq!(changed_by_set(&to_clone), ["app", "app_clone"]);
        let to_base =
            parse(r#"{"host":"h","username":"app","password":"p","strategy":"alternating"}"#);
        assert_eq!(changed_by_set(&to_base), ["app"]);
    }
}
