//! Redis ACL users, rotated on every node without a hard cut.
//!
//! Single user (default): the user holds the current and the pending password at once; every
//! other password goes. Alternating users: `<user>` and `<user>_clone` take turns, the clone
//! re-copied from the user's `ACL GETUSER` on each rotation that makes it current. Passwords reach
//! the server as `#<sha256>` only; changes are persisted (`ACL SAVE` or `CONFIG REWRITE`) on each
//! node; `ACL LOAD` and `resetpass` are never sent. See docs/redis.md.

pub mod acl;
pub mod config;
pub mod conn;
pub mod nodes;
pub mod users;

use crate::backend::{Backend, BackendContext, BackendError, Mode, Versions};
use crate::password::{generate_password, DEFAULT_PASSWORD_LENGTH};
use crate::secret::SecretValue;
use acl::PasswordHash;
use async_trait::async_trait;
use config::{admin_login, invalid, other_user, Endpoint, Login, RedisSecret, Strategy};
use conn::Connector;
use nodes::{discover, persist, Operator};
use secrecy::ExposeSecret;
use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct RedisBackend;

impl RedisBackend {
    pub fn new() -> Self {
        Self
    }
}

/// The servers of one secret and who may change them.
struct Target {
    connector: Connector,
    operator: Operator,
    nodes: Vec<Endpoint>,
}

impl Target {
    /// Logs in as the admin of `masterarn` when there is one, else as the user with each of
    /// `own_logins` in turn; then finds every node.
    async fn open(
        ctx: &BackendContext<'_>,
        secret: &RedisSecret,
        own_logins: Vec<Login>,
    ) -> Result<Self, BackendError> {
        let connector = Connector::new(secret)?;
        let operator = match &secret.masterarn {
            Some(arn) => {
                let admin = admin_login(&ctx.read_secret(arn).await?).map_err(|e| {
                    BackendError::RelatedSecret {
                        secret_id: arn.clone(),
                        problem: e.to_string(),
                    }
                })?;
                Operator::new(vec![admin])
            }
            None => Operator::new(own_logins),
        };
        let nodes = discover(
            &connector,
            &operator,
            &secret.endpoint,
            secret.nodes.as_deref(),
        )
        .await?;
        tracing::info!(nodes = nodes.len(), seed = %secret.endpoint, "redis nodes to rotate");
        Ok(Self {
            connector,
            operator,
            nodes,
        })
    }

    /// Every node accepts `login`, or `NotVerified` names the first that does not.
    async fn check_login_everywhere(&self, login: &Login) -> Result<(), BackendError> {
        for node in &self.nodes {
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

/// AWSCURRENT and AWSPENDING, checked to be one rotation of one user set.
fn check_pair(current: &RedisSecret, pending: &RedisSecret) -> Result<(), BackendError> {
    current.same_target(pending)?;
    let expected = match current.strategy {
        Strategy::SingleUser => current.login.username.clone(),
        Strategy::Alternating => other_user(&current.login.username),
    };
    if pending.login.username != expected {
        return Err(invalid(
            "username",
            "of AWSPENDING is not the user this rotation must change",
        ));
    }
    Ok(())
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
        "redis"
    }

    async fn build_pending(
        &self,
        _ctx: &BackendContext<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, BackendError> {
        let secret = RedisSecret::parse(current)?;
        Connector::new(&secret)?; // TLS material is checked before anything else happens
        let mut pending = current.clone();
        let password = generate_password(DEFAULT_PASSWORD_LENGTH);
        pending.insert("password", Value::from(password.expose_secret()));
        if secret.strategy == Strategy::Alternating {
            pending.insert("username", Value::from(other_user(&secret.login.username)));
        }
        Ok(pending)
    }

    async fn accept_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        let current = RedisSecret::parse(versions.current().await?)?;
        let pending = RedisSecret::parse(&versions.pending)?;
        check_pair(&current, &pending)?;
        let target = Target::open(ctx, &pending, own_logins(versions, &pending).await?).await?;
        let new_hash = PasswordHash::of(&pending.login.password);
        let user = pending.login.username.as_str();
        for node in &target.nodes {
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
                Strategy::Alternating if user == pending.base_user() => {
                    users::hold_passwords(&mut conn, user, &[], &new_hash, true).await?
                }
                Strategy::Alternating => {
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
        target.check_login_everywhere(&pending.login).await
    }

    async fn verify_pending(
        &self,
        ctx: &BackendContext<'_>,
        versions: &Versions<'_>,
    ) -> Result<(), BackendError> {
        // Read-only, so the pair was checked where it mattered: setSecret.
        let pending = RedisSecret::parse(&versions.pending)?;
        let target = Target::open(ctx, &pending, own_logins(versions, &pending).await?).await?;
        target.check_login_everywhere(&pending.login).await?;
        let user = pending.login.username.as_str();
        if pending.strategy == Strategy::Alternating && user != pending.base_user() {
            for node in &target.nodes {
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
        let promoted = RedisSecret::parse(promoted)?;
        let demoted_user = demoted
            .map(RedisSecret::parse)
            .transpose()?
            .map(|d| d.login.username);
        let target = Target::open(ctx, &promoted, vec![promoted.login.clone()]).await?;
        // Never revoke anything unless the new credential logs in everywhere.
        target.check_login_everywhere(&promoted.login).await?;
        let new_hash = PasswordHash::of(&promoted.login.password);
        for node in &target.nodes {
            let mut conn = target.operator.login(&target.connector, node).await?;
            let revoked = match (promoted.strategy, demoted_user.as_deref()) {
                (Strategy::SingleUser, _) => {
                    let user = promoted.login.username.as_str();
                    users::revoke_all_but(&mut conn, user, &new_hash).await?;
                    Some(user)
                }
                (Strategy::Alternating, Some(old)) if old != promoted.login.username => {
                    users::switch_off(&mut conn, old).await?;
                    Some(old)
                }
                (Strategy::Alternating, _) => None,
            };
            let Some(user) = revoked else { continue };
            let killed = users::kill_clients(&mut conn, user).await?;
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
        let parse = |raw: &str| RedisSecret::parse(&SecretValue::parse(raw).unwrap()).unwrap();
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
        assert!(!ok(
            &single,
            r#"{"host":"other","username":"app","password":"b"}"#
        ));
        let clone =
            r#"{"host":"h","username":"app_clone","password":"b","strategy":"alternating"}"#;
        assert!(ok(&alternating, clone));
        let same = r#"{"host":"h","username":"app","password":"b","strategy":"alternating"}"#;
        assert!(!ok(&alternating, same));
        assert!(!ok(&single, clone));
    }
}
