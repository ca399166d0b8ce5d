//! The control-plane calls that change a managed credential, one implementation per service. Each
//! sends only the id it was given and the passwords: never an access string, a mode or anything
//! else it did not read.

use super::arn::{ManagedArn, ManagedKind};
use crate::backend::BackendError;
use async_trait::async_trait;
use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, AuthenticationType};
use aws_sdk_memorydb::types::{
    AuthenticationMode, AuthenticationType as MemoryDbAuthenticationType, InputAuthenticationType,
};
use secrecy::{ExposeSecret, SecretString};

/// What the control plane shows of a credential's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Its status as the service names it (`active`, `modifying`, `available`, …).
    pub status: String,
    /// Whether it takes a change now.
    pub ready: bool,
    /// The login name it holds (users), to match against the secret's `username`.
    pub login_name: Option<String>,
    /// Whether it authenticates with passwords (an `iam` or `no-password` user does not).
    pub uses_passwords: bool,
}

/// A call's failure: the target is busy (retry after a while), or anything else.
#[derive(Debug)]
pub enum CallError {
    /// Throttled, or the user or group is not in a state that takes the change.
    Busy(String),
    /// Any other failure; the step fails with it.
    Failed(BackendError),
}

impl From<BackendError> for CallError {
    fn from(e: BackendError) -> Self {
        CallError::Failed(e)
    }
}

/// One managed credential's control plane.
#[async_trait]
pub trait ControlPlane: Send + Sync {
    /// The credential's owner as the service shows it now.
    async fn observe(&self) -> Result<Observed, CallError>;
    /// Accept `pending` besides `current`: a user's password list becomes exactly
    /// `[pending, current]`; an AUTH token is rotated to `pending` (the service keeps `current`).
    async fn accept_new(
        &self,
        pending: &SecretString,
        current: &SecretString,
    ) -> Result<(), CallError>;
    /// Accept `password` alone: a user's list becomes `[password]`; an AUTH token is set to it
    /// (it must be the token last rotated in).
    async fn accept_only(&self, password: &SecretString) -> Result<(), CallError>;
}

/// The control plane for `arn`, in the ARN's region, with the function's credentials.
pub fn control_plane(config: &aws_config::SdkConfig, arn: &ManagedArn) -> Box<dyn ControlPlane> {
    let region = aws_config::Region::new(arn.region.clone());
    match arn.kind {
        ManagedKind::ElastiCacheUser | ManagedKind::AuthToken => {
            let conf = aws_sdk_elasticache::config::Builder::from(config)
                .region(region)
                .build();
            let client = aws_sdk_elasticache::Client::from_conf(conf);
            let target = arn.to_string();
            if arn.kind == ManagedKind::AuthToken {
                Box::new(AuthToken {
                    client,
                    group_id: arn.id.clone(),
                    target,
                })
            } else {
                Box::new(ElastiCacheUser {
                    client,
                    user_id: arn.id.clone(),
                    target,
                })
            }
        }
        ManagedKind::MemoryDbUser => {
            let conf = aws_sdk_memorydb::config::Builder::from(config)
                .region(region)
                .build();
            Box::new(MemoryDbUser {
                client: aws_sdk_memorydb::Client::from_conf(conf),
                user_name: arn.id.clone(),
                target: arn.to_string(),
            })
        }
    }
}

/// Error codes after which the same call succeeds later.
const BUSY_CODES: [&str; 5] = [
    "InvalidUserState",
    "InvalidUserStateFault",
    "InvalidReplicationGroupState",
    "Throttling",
    "ThrottlingException",
];

/// Sorts a failed call into busy or failed. The service's message is kept unless it quotes one of
/// `sent` (a password the call carried).
fn classify<E, R>(
    target: &str,
    action: &str,
    error: SdkError<E, R>,
    sent: &[&SecretString],
) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let Some(service) = error.as_service_error() else {
        return CallError::Failed(BackendError::Unreachable {
            target: format!("the control plane of {target}"),
            detail: format!("{action}: {}", transport_problem(&error)),
        });
    };
    let code = service.code().unwrap_or("an unnamed error").to_owned();
    let message = service.message().unwrap_or_default();
    let message = if sent.iter().any(|s| {
        let s = s.expose_secret();
        !s.is_empty() && message.contains(s)
    }) {
        "(message withheld: it quotes a value the call sent)"
    } else {
        message
    };
    if BUSY_CODES.contains(&code.as_str()) {
        return CallError::Busy(code);
    }
    CallError::Failed(BackendError::Rejected {
        target: target.to_owned(),
        detail: format!("{action}: {code}: {message}"),
    })
}

fn transport_problem<E, R>(error: &SdkError<E, R>) -> &'static str {
    match error {
        SdkError::TimeoutError(_) => "no answer in time",
        SdkError::DispatchFailure(_) => "the request could not be sent",
        SdkError::ResponseError(_) => "an answer that could not be read",
        _ => "the request failed",
    }
}

/// A user as both services describe it: ready when `active`.
fn user_observed(status: Option<&str>, login_name: Option<&str>, uses_passwords: bool) -> Observed {
    let status = status.unwrap_or_default().to_owned();
    Observed {
        ready: status == "active",
        status,
        login_name: login_name.map(str::to_owned),
        uses_passwords,
    }
}

fn not_found(target: &str) -> CallError {
    CallError::Failed(BackendError::Rejected {
        target: target.to_owned(),
        detail: "the service describes no such resource".into(),
    })
}

struct ElastiCacheUser {
    client: aws_sdk_elasticache::Client,
    user_id: String,
    target: String,
}

impl ElastiCacheUser {
    async fn modify(&self, passwords: &[&SecretString]) -> Result<(), CallError> {
        let mut call = self.client.modify_user().user_id(&self.user_id);
        for password in passwords {
            call = call.passwords(password.expose_secret());
        }
        call.send()
            .await
            .map_err(|e| classify(&self.target, "ModifyUser", e, passwords))?;
        Ok(())
    }
}

#[async_trait]
impl ControlPlane for ElastiCacheUser {
    async fn observe(&self) -> Result<Observed, CallError> {
        let answer = self
            .client
            .describe_users()
            .user_id(&self.user_id)
            .send()
            .await
            .map_err(|e| classify(&self.target, "DescribeUsers", e, &[]))?;
        let user = answer
            .users()
            .iter()
            .find(|u| u.user_id() == Some(self.user_id.as_str()))
            .ok_or_else(|| not_found(&self.target))?;
        Ok(user_observed(
            user.status(),
            user.user_name(),
            user.authentication().and_then(|a| a.r#type()) == Some(&AuthenticationType::Password),
        ))
    }

    async fn accept_new(
        &self,
        pending: &SecretString,
        current: &SecretString,
    ) -> Result<(), CallError> {
        self.modify(&[pending, current]).await
    }

    async fn accept_only(&self, password: &SecretString) -> Result<(), CallError> {
        self.modify(&[password]).await
    }
}

struct MemoryDbUser {
    client: aws_sdk_memorydb::Client,
    user_name: String,
    target: String,
}

impl MemoryDbUser {
    async fn update(&self, passwords: &[&SecretString]) -> Result<(), CallError> {
        let mut mode = AuthenticationMode::builder().r#type(InputAuthenticationType::Password);
        for password in passwords {
            mode = mode.passwords(password.expose_secret());
        }
        self.client
            .update_user()
            .user_name(&self.user_name)
            .authentication_mode(mode.build())
            .send()
            .await
            .map_err(|e| classify(&self.target, "UpdateUser", e, passwords))?;
        Ok(())
    }
}

#[async_trait]
impl ControlPlane for MemoryDbUser {
    async fn observe(&self) -> Result<Observed, CallError> {
        let answer = self
            .client
            .describe_users()
            .user_name(&self.user_name)
            .send()
            .await
            .map_err(|e| classify(&self.target, "DescribeUsers", e, &[]))?;
        let user = answer
            .users()
            .iter()
            .find(|u| u.name() == Some(self.user_name.as_str()))
            .ok_or_else(|| not_found(&self.target))?;
        Ok(user_observed(
            user.status(),
            user.name(),
            user.authentication().and_then(|a| a.r#type())
                == Some(&MemoryDbAuthenticationType::Password),
        ))
    }

    async fn accept_new(
        &self,
        pending: &SecretString,
        current: &SecretString,
    ) -> Result<(), CallError> {
        self.update(&[pending, current]).await
    }

    async fn accept_only(&self, password: &SecretString) -> Result<(), CallError> {
        self.update(&[password]).await
    }
}

struct AuthToken {
    client: aws_sdk_elasticache::Client,
    group_id: String,
    target: String,
}

impl AuthToken {
    async fn modify(
        &self,
        token: &SecretString,
        strategy: AuthTokenUpdateStrategyType,
    ) -> Result<(), CallError> {
        self.client
            .modify_replication_group()
            .replication_group_id(&self.group_id)
            .auth_token(token.expose_secret())
            .auth_token_update_strategy(strategy)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| classify(&self.target, "ModifyReplicationGroup", e, &[token]))?;
        Ok(())
    }
}

#[async_trait]
impl ControlPlane for AuthToken {
    async fn observe(&self) -> Result<Observed, CallError> {
        let answer = self
            .client
            .describe_replication_groups()
            .replication_group_id(&self.group_id)
            .send()
            .await
            .map_err(|e| classify(&self.target, "DescribeReplicationGroups", e, &[]))?;
        let group = answer
            .replication_groups()
            .iter()
            .find(|g| g.replication_group_id() == Some(self.group_id.as_str()))
            .ok_or_else(|| not_found(&self.target))?;
        let status = group.status().unwrap_or_default().to_owned();
        let token_pending = group
            .pending_modified_values()
            .and_then(|p| p.auth_token_status())
            .is_some();
        Ok(Observed {
            ready: status == "available" && !token_pending,
            status: if token_pending {
                format!("{status} (AUTH token change pending)")
            } else {
                status
            },
            login_name: None,
            uses_passwords: group.auth_token_enabled() == Some(true),
        })
    }

    async fn accept_new(
        &self,
        pending: &SecretString,
        _current: &SecretString,
    ) -> Result<(), CallError> {
        self.modify(pending, AuthTokenUpdateStrategyType::Rotate)
            .await
    }

    async fn accept_only(&self, password: &SecretString) -> Result<(), CallError> {
        self.modify(password, AuthTokenUpdateStrategyType::Set)
            .await
    }
}
