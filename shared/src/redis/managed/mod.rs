//! Redis whose passwords only a control plane may set: ElastiCache RBAC users (ModifyUser),
//! MemoryDB users (UpdateUser) and ElastiCache AUTH tokens (ModifyReplicationGroup).
//!
//! The user's passwords become `[pending, current]` at setSecret (the services hold two), so the
//! next rotation drops the oldest; an AUTH token is rotated (the service keeps the previous one).
//! The function's IAM role authorises the change, and its environment, set by Terraform, names
//! every ARN it may change and every endpoint it may log in to: a secret naming anything else is
//! refused before any call. See docs/redis.md.

pub mod arn;
pub mod control;
pub mod wait;

use super::config::{check_username, invalid, Endpoint, Login, ServerSettings, Strategy};
use super::conn::Connector;
use crate::backend::{BackendContext, BackendError, Versions};
use crate::password::{generate_password, DEFAULT_PASSWORD_LENGTH};
use crate::secret::SecretValue;
use crate::trust::{self, refused};
use arn::{ManagedArn, ManagedKind};
use control::{control_plane, ControlPlane, Observed};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;
use wait::{longest_wait, retrying, until_ready, Budget, WAIT_ENV};

/// Environment variable (comma-separated): the ARNs of the users and replication groups this
/// function may change. Set by Terraform with the IAM grants on the same ARNs.
pub const ARNS_ENV: &str = "ROTATION_MANAGED_REDIS_ARNS";
/// Environment variable (comma-separated `host` or `host:port`): where the function may log in to
/// test a managed credential.
pub const ENDPOINTS_ENV: &str = "ROTATION_MANAGED_REDIS_ENDPOINTS";
/// Secret field naming the provider explicitly: `self-managed`, `elasticache`, `memorydb` or
/// `elasticache-auth-token`. Without it, `user_arn` or `replication_group_arn` decides.
pub const PROVIDER_FIELD: &str = "provider";
/// The field of AWS's ElastiCache rotation format that names the user.
pub const USER_ARN_FIELD: &str = "user_arn";
/// Our field naming the replication group whose AUTH token the secret holds.
pub const GROUP_ARN_FIELD: &str = "replication_group_arn";
/// The user an AUTH token logs in as.
const AUTH_TOKEN_USER: &str = "default";

/// Who sets the passwords of a secret's Redis user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// The function, with `ACL SETUSER` on every node.
    SelfManaged,
    /// A control plane, for the credential this ARN names.
    Managed(ManagedArn),
}

/// The provider a secret value names: explicitly by `provider`, or by its ARN field.
pub fn provider_of(value: &SecretValue) -> Result<Provider, BackendError> {
    let user = value.optional_str(USER_ARN_FIELD)?;
    let group = value.optional_str(GROUP_ARN_FIELD)?;
    let arn = match (user, group) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                GROUP_ARN_FIELD,
                "a secret names either `user_arn` or `replication_group_arn`, not both",
            ))
        }
        (Some(arn), None) => {
            let arn = ManagedArn::parse(USER_ARN_FIELD, arn)?;
            if arn.kind == ManagedKind::AuthToken {
                return Err(invalid(
                    USER_ARN_FIELD,
                    "names a replication group; use `replication_group_arn` for an AUTH token",
                ));
            }
            Some(arn)
        }
        (None, Some(arn)) => {
            let arn = ManagedArn::parse(GROUP_ARN_FIELD, arn)?;
            if arn.kind != ManagedKind::AuthToken {
                return Err(invalid(
                    GROUP_ARN_FIELD,
                    "names a user; use `user_arn` for an ElastiCache or MemoryDB user",
                ));
            }
            Some(arn)
        }
        (None, None) => None,
    };
    let explicit = match value.optional_str(PROVIDER_FIELD)? {
        None => return Ok(arn.map_or(Provider::SelfManaged, Provider::Managed)),
        Some("self-managed") => None,
        Some("elasticache") => Some(ManagedKind::ElastiCacheUser),
        Some("memorydb") => Some(ManagedKind::MemoryDbUser),
        Some("elasticache-auth-token") => Some(ManagedKind::AuthToken),
        Some(_) => {
            return Err(invalid(
                PROVIDER_FIELD,
                "must be self-managed, elasticache, memorydb or elasticache-auth-token",
            ))
        }
    };
    match (explicit, arn) {
        (None, None) => Ok(Provider::SelfManaged),
        (Some(kind), Some(arn)) if arn.kind == kind => Ok(Provider::Managed(arn)),
        _ => Err(invalid(
            PROVIDER_FIELD,
            "does not agree with the secret's ARN field (elasticache and memorydb need the \
             user's `user_arn`, elasticache-auth-token a `replication_group_arn`, self-managed \
             neither)",
        )),
    }
}

/// One version of a managed Redis secret.
#[derive(Debug, Clone)]
pub struct ManagedSecret {
    /// The credential's owner.
    pub arn: ManagedArn,
    /// The login name and password (`default` and the token for an AUTH token).
    pub login: Login,
    /// The endpoint to test the password on, if the secret names one.
    pub server: Option<ServerSettings>,
}

impl ManagedSecret {
    /// Reads and validates a value whose provider is `arn`'s control plane.
    pub fn parse(value: &SecretValue, arn: ManagedArn) -> Result<Self, BackendError> {
        super::SPEC.check_engine_field(value)?;
        if value.get("masterarn").is_some() {
            return Err(invalid(
                "masterarn",
                "a managed Redis credential is changed through its control plane with the \
                 function's IAM role; remove the admin secret",
            ));
        }
        if Strategy::from_field(value)? == Some(Strategy::AlternatingUsers) {
            return Err(invalid(
                "strategy",
                "a managed Redis user keeps two passwords itself; only the single-user strategy \
                 applies",
            ));
        }
        let username = match (arn.kind, value.optional_str("username")?) {
            (ManagedKind::AuthToken, None) => AUTH_TOKEN_USER,
            (ManagedKind::AuthToken, Some(user)) if user != AUTH_TOKEN_USER => {
                return Err(invalid(
                    "username",
                    "an AUTH token belongs to the default user",
                ))
            }
            (_, Some(user)) => user,
            (_, None) => value.required_str("username")?,
        };
        check_username("username", username)?;
        let password = value.required_str("password")?;
        if password.is_empty() {
            return Err(invalid("password", "must not be empty"));
        }
        let server = match value.get("host") {
            None => None,
            Some(_) => Some(ServerSettings::parse(value)?),
        };
        if let Some(server) = &server {
            if server.tls.is_none() {
                return Err(invalid(
                    "tls",
                    "managed Redis authenticates with passwords only over TLS",
                ));
            }
            if server.nodes.is_some() {
                return Err(invalid(
                    "nodes",
                    "the control plane changes every node; name one endpoint",
                ));
            }
        }
        if server.is_none() && arn.kind == ManagedKind::AuthToken {
            return Err(invalid(
                "host",
                "is required for an AUTH token: the function logs in with the new token before \
                 it would rotate again (a repeated rotation drops the token applications use)",
            ));
        }
        Ok(Self {
            arn,
            login: Login {
                username: username.to_owned(),
                password: SecretString::from(password),
            },
            server,
        })
    }

    /// Parses a value that must name a managed provider.
    pub fn parse_managed(value: &SecretValue) -> Result<Self, BackendError> {
        match provider_of(value)? {
            Provider::Managed(arn) => Self::parse(value, arn),
            Provider::SelfManaged => Err(invalid(
                USER_ARN_FIELD,
                "is missing: this version is not a managed Redis credential",
            )),
        }
    }

    fn arn_field(&self) -> &'static str {
        match self.arn.kind {
            ManagedKind::AuthToken => GROUP_ARN_FIELD,
            _ => USER_ARN_FIELD,
        }
    }
}

/// What the function's environment allows it to change and to log in to.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    arns: Vec<String>,
    endpoints: Vec<String>,
}

impl Allowed {
    /// Reads [`ARNS_ENV`] and [`ENDPOINTS_ENV`].
    pub fn from_env() -> Self {
        Self::new(
            &std::env::var(ARNS_ENV).unwrap_or_default(),
            &std::env::var(ENDPOINTS_ENV).unwrap_or_default(),
        )
    }

    /// From the two comma-separated lists.
    pub fn new(arns: &str, endpoints: &str) -> Self {
        let list = |raw: &str| -> Vec<String> {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Self {
            arns: list(arns),
            endpoints: list(endpoints)
                .into_iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
        }
    }

    /// Refuses a secret whose ARN or endpoint the environment does not list.
    pub fn check(&self, secret: &ManagedSecret) -> Result<(), BackendError> {
        if !self.arns.contains(&secret.arn.arn) {
            return Err(refused(
                secret.arn_field(),
                "names a user or replication group that the function's environment \
                 (ROTATION_MANAGED_REDIS_ARNS, set by Terraform) does not list",
            ));
        }
        if let Some(server) = &secret.server {
            if !self.allows_endpoint(&server.endpoint) {
                return Err(refused(
                    "host",
                    "names an endpoint that the function's environment \
                     (ROTATION_MANAGED_REDIS_ENDPOINTS, set by Terraform) does not list; the \
                     new password is sent only to listed endpoints",
                ));
            }
        }
        Ok(())
    }

    fn allows_endpoint(&self, endpoint: &Endpoint) -> bool {
        let host = endpoint.host.to_ascii_lowercase();
        let with_port = format!("{host}:{}", endpoint.port);
        self.endpoints.iter().any(|e| *e == host || *e == with_port)
    }
}

/// What the function may do with managed Redis, from its environment (read once, at start).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    allowed: Allowed,
    /// The raw [`WAIT_ENV`] value, checked at each step so a bad one fails the step, not the start.
    wait: Option<String>,
}

impl Settings {
    /// From [`ARNS_ENV`], [`ENDPOINTS_ENV`] and [`WAIT_ENV`].
    pub fn from_env() -> Self {
        Self {
            allowed: Allowed::from_env(),
            wait: std::env::var(WAIT_ENV).ok(),
        }
    }

    /// Explicit settings (an in-process engine's, a test's).
    pub fn new(allowed: Allowed, longest_wait: Duration) -> Self {
        Self {
            allowed,
            wait: Some(longest_wait.as_secs().to_string()),
        }
    }
}

/// The control planes of managed Redis and what the function may do with them.
#[derive(Debug, Clone)]
pub struct ControlPlanes {
    config: aws_config::SdkConfig,
    settings: Settings,
}

impl ControlPlanes {
    /// Reached with `config` (in each ARN's region), within `settings`.
    pub fn new(config: &aws_config::SdkConfig, settings: Settings) -> Self {
        Self {
            config: config.clone(),
            settings,
        }
    }
}

/// One managed credential during one step: its control plane, the step's budget, and where to log
/// in with it.
struct Managed {
    plane: Box<dyn ControlPlane>,
    budget: Budget,
    target: String,
    login_check: Option<(Connector, Endpoint)>,
    user: String,
}

impl Managed {
    /// Checks `secret` against the environment, then opens its control plane.
    fn open(
        planes: &ControlPlanes,
        ctx: &BackendContext<'_>,
        secret: &ManagedSecret,
    ) -> Result<Self, BackendError> {
        planes.settings.allowed.check(secret)?;
        let login_check = match &secret.server {
            None => None,
            Some(server) => Some((Connector::new(server, None)?, server.endpoint.clone())),
        };
        Ok(Self {
            plane: control_plane(&planes.config, &secret.arn),
            budget: Budget::new(
                ctx.deadline(),
                longest_wait(planes.settings.wait.as_deref())?,
            ),
            target: secret.arn.to_string(),
            login_check,
            user: secret.login.username.clone(),
        })
    }

    /// Waits until the user or group takes changes, and checks it is the one the secret means.
    async fn ready(&self) -> Result<Observed, BackendError> {
        let observed = until_ready(self.plane.as_ref(), &self.budget, &self.target).await?;
        if let Some(name) = &observed.login_name {
            if *name != self.user {
                return Err(refused(
                    "username",
                    "is not the login name the service holds for the user the ARN names",
                ));
            }
        }
        if !observed.uses_passwords {
            return Err(BackendError::Rejected {
                target: self.target.clone(),
                detail: "it does not authenticate with passwords (IAM or no password); the \
                         function will not change how it authenticates"
                    .into(),
            });
        }
        Ok(observed)
    }

    /// Whether the endpoint accepts `login`; `None` when the secret names no endpoint.
    async fn accepts(&self, login: &Login) -> Result<Option<bool>, BackendError> {
        match &self.login_check {
            None => Ok(None),
            Some((connector, endpoint)) => Ok(Some(connector.accepts(endpoint, login).await?)),
        }
    }

    /// With an endpoint: `login` must log in there.
    async fn require_login(&self, login: &Login, which: &str) -> Result<(), BackendError> {
        match self.accepts(login).await? {
            Some(false) => Err(BackendError::NotVerified(format!(
                "user {} cannot log in with the {which} password at {}",
                login.username,
                self.login_check
                    .as_ref()
                    .map(|(_, e)| e.to_string())
                    .unwrap_or_default(),
            ))),
            _ => Ok(()),
        }
    }
}

/// createSecret: the current value with a new password (32 alphanumerics: within every
/// service's password rules).
pub fn build_pending(current: &SecretValue) -> Result<SecretValue, BackendError> {
    ManagedSecret::parse_managed(current)?;
    let mut pending = current.clone();
    let password = generate_password(DEFAULT_PASSWORD_LENGTH);
    pending.insert("password", Value::from(password.expose_secret()));
    Ok(pending)
}

/// setSecret: the control plane accepts the pending password besides the current one.
pub async fn accept_pending(
    planes: &ControlPlanes,
    ctx: &BackendContext<'_>,
    versions: &Versions<'_>,
) -> Result<(), BackendError> {
    let current = versions.current().await?;
    trust::check_only_credential_changed(current, &versions.pending)?;
    let (current, pending) = (
        ManagedSecret::parse_managed(current)?,
        ManagedSecret::parse_managed(&versions.pending)?,
    );
    if pending.login.username != current.login.username {
        return Err(refused(
            "username",
            "of AWSPENDING is not the user of AWSCURRENT; a managed credential keeps its user",
        ));
    }
    let managed = Managed::open(planes, ctx, &pending)?;
    managed.ready().await?;
    // A retry after the change: the endpoint already takes both. An AUTH token is checked on the
    // new token alone (rotating it again would drop the one applications use).
    let pending_works = managed.accepts(&pending.login).await?;
    let already = match (pending.arn.kind, pending_works) {
        (_, None | Some(false)) => false,
        (ManagedKind::AuthToken, Some(true)) => true,
        (_, Some(true)) => managed.accepts(&current.login).await? == Some(true),
    };
    if already {
        tracing::info!(target = %managed.target, "the pending password already works; nothing sent");
        return Ok(());
    }
    let (new, old) = (&pending.login.password, &current.login.password);
    retrying(&managed.budget, &managed.target, || {
        managed.plane.accept_new(new, old)
    })
    .await?;
    tracing::info!(target = %managed.target, "pending password sent to the control plane");
    managed.ready().await?;
    managed.require_login(&pending.login, "pending").await
}

/// testSecret: the change has landed (the user or group is ready again) and, with an endpoint,
/// the pending password logs in.
pub async fn verify_pending(
    planes: &ControlPlanes,
    ctx: &BackendContext<'_>,
    versions: &Versions<'_>,
) -> Result<(), BackendError> {
    let pending = ManagedSecret::parse_managed(&versions.pending)?;
    let managed = Managed::open(planes, ctx, &pending)?;
    managed.ready().await?;
    managed.require_login(&pending.login, "pending").await
}

/// finishSecret of an emergency rotation: only the promoted password is accepted any more.
pub async fn revoke_demoted(
    planes: &ControlPlanes,
    ctx: &BackendContext<'_>,
    promoted: &SecretValue,
    demoted: Option<&SecretValue>,
) -> Result<(), BackendError> {
    let promoted = ManagedSecret::parse_managed(promoted)?;
    let managed = Managed::open(planes, ctx, &promoted)?;
    managed.ready().await?;
    // Never revoke unless the new credential logs in.
    managed.require_login(&promoted.login, "promoted").await?;
    let demoted = demoted
        .map(ManagedSecret::parse_managed)
        .transpose()?
        .filter(|d| d.arn == promoted.arn && d.login.username == promoted.login.username);
    if let Some(demoted) = &demoted {
        if managed.accepts(&demoted.login).await? == Some(false) {
            tracing::info!(target = %managed.target, "the demoted password is already refused");
            return Ok(());
        }
    }
    let only = &promoted.login.password;
    retrying(&managed.budget, &managed.target, || {
        managed.plane.accept_only(only)
    })
    .await?;
    managed.ready().await?;
    tracing::warn!(target = %managed.target, "emergency: every password but the promoted one revoked");
    managed.require_login(&promoted.login, "promoted").await
}

#[cfg(test)]
mod tests;
