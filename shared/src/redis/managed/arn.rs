//! The ARN that names a managed Redis credential: an ElastiCache user, a MemoryDB user, or an
//! ElastiCache replication group's AUTH token.

use crate::backend::BackendError;
use std::fmt;

/// What kind of credential an ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedKind {
    /// `arn:…:elasticache:<region>:<account>:user:<UserId>`: an RBAC user's passwords.
    ElastiCacheUser,
    /// `arn:…:memorydb:<region>:<account>:user/<UserName>`: a MemoryDB user's passwords.
    MemoryDbUser,
    /// `arn:…:elasticache:<region>:<account>:replicationgroup:<Id>`: the group's AUTH token.
    AuthToken,
}

/// A parsed ARN of a managed Redis credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedArn {
    /// The ARN as written.
    pub arn: String,
    /// The region its control plane answers in.
    pub region: String,
    /// What it names.
    pub kind: ManagedKind,
    /// The UserId (ElastiCache), UserName (MemoryDB) or ReplicationGroupId.
    pub id: String,
}

impl fmt::Display for ManagedArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ManagedKind::ElastiCacheUser => "ElastiCache user",
            ManagedKind::MemoryDbUser => "MemoryDB user",
            ManagedKind::AuthToken => "ElastiCache replication group",
        };
        write!(f, "{what} {} in {}", self.id, self.region)
    }
}

const RULE: &str =
    "must be the ARN of an ElastiCache user (arn:aws:elasticache:<region>:<account>:\
                    user:<id>), a MemoryDB user (arn:aws:memorydb:<region>:<account>:user/<name>) \
                    or an ElastiCache replication group (…:replicationgroup:<id>)";

impl ManagedArn {
    /// Parses `value`, read from `field`; the error names the field and the rule, not the value.
    pub fn parse(field: &str, value: &str) -> Result<Self, BackendError> {
        let invalid = || BackendError::InvalidField {
            field: field.to_owned(),
            problem: RULE.to_owned(),
        };
        let mut parts = value.splitn(6, ':');
        let mut next = || parts.next().ok_or_else(invalid);
        let (prefix, partition, service, region, account, resource) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        let well_formed = prefix == "arn"
            && is_word(partition)
            && is_word(region)
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(invalid());
        }
        let named = match service {
            "elasticache" => resource
                .strip_prefix("user:")
                .map(|id| (ManagedKind::ElastiCacheUser, id))
                .or_else(|| {
                    resource
                        .strip_prefix("replicationgroup:")
                        .map(|id| (ManagedKind::AuthToken, id))
                }),
            "memorydb" => resource
                .strip_prefix("user/")
                .map(|id| (ManagedKind::MemoryDbUser, id)),
            _ => None,
        };
        let (kind, id) = named.ok_or_else(invalid)?;
        if !is_resource_id(id) {
            return Err(invalid());
        }
        Ok(Self {
            arn: value.to_owned(),
            region: region.to_owned(),
            kind,
            id: id.to_owned(),
        })
    }
}

/// A partition or region: lowercase letters, digits and dashes.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The services' rule for user ids, user names and group ids: a letter, then letters, digits and
/// dashes.
fn is_resource_id(s: &str) -> bool {
    s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds_are_recognised() {
        let user = ManagedArn::parse(
            "user_arn",
            "arn:aws:elasticache:eu-west-1:123456789012:user:app-1",
        )
        .unwrap();
        assert_eq!(
            (user.kind, user.id.as_str(), user.region.as_str()),
            (ManagedKind::ElastiCacheUser, "app-1", "eu-west-1")
        );
        let user = ManagedArn::parse(
            "user_arn",
            "arn:aws-cn:memorydb:cn-north-1:123456789012:user/app",
        )
        .unwrap();
        assert_eq!(
            (user.kind, user.id.as_str()),
            (ManagedKind::MemoryDbUser, "app")
        );
        let group = ManagedArn::parse(
            "replication_group_arn",
            "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:cache",
        )
        .unwrap();
        assert_eq!(
            (group.kind, group.id.as_str()),
            (ManagedKind::AuthToken, "cache")
        );
    }

    #[test]
    fn anything_else_is_refused_without_quoting_it() {
        for bad in [
            "",
            "arn:aws:elasticache:us-east-1:123456789012:cluster:x",
            "arn:aws:elasticache:us-east-1:123456789012:user/app",
            "arn:aws:memorydb:us-east-1:123456789012:user:app",
            "arn:aws:elasticache:us-east-1:123456789012:user:*",
            "arn:aws:elasticache:us-east-1:123456789012:user:app:extra",
            "arn:aws:elasticache:us-east-1:12345:user:app",
            "arn:aws:elasticache:US-EAST-1:123456789012:user:app",
            "arn:aws:s3:::bucket",
            "arn:aws:elasticache:us-east-1:123456789012:user:1app",
            "arn:aws:elasticache:us-east-1:123456789012:user:app\nsecret",
        ] {
            let err = ManagedArn::parse("user_arn", bad).unwrap_err();
            assert!(err.to_string().contains("field `user_arn`"), "{err}");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }
}
