//! Secrets Manager access: the one module that calls the SDK.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::time::SystemTime;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// What DescribeSecret (or a ListSecrets entry) tells about a secret. Holds no secret value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretMetadata {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    /// Version id → the stages attached to it.
    pub versions: BTreeMap<String, Vec<String>>,
    pub tags: BTreeMap<String, String>,
    /// The function that rotates the secret, when one is configured.
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRules>,
    /// When the secret itself was created.
    pub created: Option<SystemTime>,
    /// The last change of any kind (value, stages, configuration).
    pub last_changed: Option<SystemTime>,
    /// The last rotation, as Secrets Manager records it (`LastRotatedDate`).
    pub last_rotated: Option<SystemTime>,
    /// The date by which Secrets Manager will have rotated the secret.
    pub next_rotation: Option<SystemTime>,
    /// Set on a secret scheduled for deletion.
    pub deleted: Option<SystemTime>,
}

/// A secret's rotation schedule, as Secrets Manager returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationRules {
    pub automatically_after_days: Option<i64>,
    /// `rate(...)` or `cron(...)`.
    pub schedule_expression: Option<String>,
    /// The rotation window, e.g. `3h`.
    pub duration: Option<String>,
}

/// One version of a secret, as ListSecretVersionIds returns it (no value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<SystemTime>,
    pub last_accessed: Option<SystemTime>,
}

/// Which secrets ListSecrets returns. Both are also checked here, on what the service returns:
/// the name prefix exactly (case included, as IAM resource patterns are), and a tag value on the
/// tag of that key, because the service matches tag keys and tag values independently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub name_prefix: Option<String>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
}

impl SecretMetadata {
    pub fn version_with_stage(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.stages_of(version)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// Which version a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum VersionRef<'a> {
    Id(&'a str),
    Stage(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// A version with this token already holds a different value (a concurrent or earlier createSecret).
    AlreadyExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    NotFound,
    InvalidRequest,
    AccessDenied,
    Throttled,
    Unavailable,
    Other,
}

/// A failed Secrets Manager call. The message comes from the service and never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secrets Manager {operation} on {secret_id} failed ({code}): {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub secret_id: String,
    pub kind: StoreErrorKind,
    pub code: String,
    pub message: String,
}

impl StoreError {
    pub fn new(
        operation: &'static str,
        secret_id: &str,
        kind: StoreErrorKind,
        message: &str,
    ) -> Self {
        Self {
            operation,
            secret_id: secret_id.to_owned(),
            kind,
            code: format!("{kind:?}"),
            message: message.to_owned(),
        }
    }
}

/// The Secrets Manager calls the engine makes; implemented over the SDK, wrapped by tests.
#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError>;

    /// `None` when the version has no value yet: the empty AWSPENDING the service creates before createSecret.
    async fn value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError>;

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError>;

    /// UpdateSecretVersionStage: attach `stage` to `to` and/or detach it from `from`.
    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError>;

    async fn remove_tag(&self, secret_id: &str, key: &str) -> Result<(), StoreError>;
}

/// The SDK-backed store. `AWS_ENDPOINT_URL` points it at an emulator.
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: Client,
}

impl AwsSecretStore {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Builds the client once from the environment (region, credentials, endpoint).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// ListSecrets' page size: the service's maximum.
const LIST_PAGE_SIZE: i32 = 100;

fn system_time(date: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    date.and_then(|d| SystemTime::try_from(*d).ok())
}

fn rotation_rules(
    rules: Option<&aws_sdk_secretsmanager::types::RotationRulesType>,
) -> Option<RotationRules> {
    rules.map(|r| RotationRules {
        automatically_after_days: r.automatically_after_days(),
        schedule_expression: r.schedule_expression().map(str::to_owned),
        duration: r.duration().map(str::to_owned),
    })
}

fn stage_map(
    map: Option<&std::collections::HashMap<String, Vec<String>>>,
) -> BTreeMap<String, Vec<String>> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn tag_map(tags: &[aws_sdk_secretsmanager::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn entry_metadata(entry: &aws_sdk_secretsmanager::types::SecretListEntry) -> SecretMetadata {
    SecretMetadata {
        arn: entry.arn().unwrap_or_default().to_owned(),
        name: entry.name().unwrap_or_default().to_owned(),
        rotation_enabled: entry.rotation_enabled().unwrap_or(false),
        versions: stage_map(entry.secret_versions_to_stages()),
        tags: tag_map(entry.tags()),
        rotation_lambda_arn: entry.rotation_lambda_arn().map(str::to_owned),
        rotation_rules: rotation_rules(entry.rotation_rules()),
        created: system_time(entry.created_date()),
        last_changed: system_time(entry.last_changed_date()),
        last_rotated: system_time(entry.last_rotated_date()),
        next_rotation: system_time(entry.next_rotation_date()),
        deleted: system_time(entry.deleted_date()),
    }
}

impl ListFilter {
    fn keeps(&self, secret: &SecretMetadata) -> bool {
        let name = self
            .name_prefix
            .as_deref()
            .is_none_or(|prefix| secret.name.starts_with(prefix));
        let tag = match (&self.tag_key, &self.tag_value) {
            (Some(key), Some(value)) => secret.tags.get(key) == Some(value),
            (Some(key), None) => secret.tags.contains_key(key),
            _ => true,
        };
        name && tag
    }
}

/// Calls beyond the engine's: listing and operator actions. Inherent methods, so that the
/// [`SecretStore`] trait (and the test stores that wrap it) stay as they are.
impl AwsSecretStore {
    /// Every secret ListSecrets returns for `filter`, all pages, without those scheduled for
    /// deletion. Metadata only: ListSecrets returns no value.
    pub async fn list_secrets(
        &self,
        filter: &ListFilter,
    ) -> Result<Vec<SecretMetadata>, StoreError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let mut filters = Vec::new();
        if let Some(prefix) = filter.name_prefix.as_deref().filter(|p| !p.is_empty()) {
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            );
        }
        if let Some(key) = filter.tag_key.as_deref().filter(|k| !k.is_empty()) {
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values(key)
                    .build(),
            );
        }
        let mut secrets = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(LIST_PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| store_error("ListSecrets", "*", &e))?;
            secrets.extend(
                out.secret_list()
                    .iter()
                    .map(entry_metadata)
                    .filter(|s| s.deleted.is_none() && filter.keeps(s)),
            );
            match out.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(secrets)
    }

    /// Every version of a secret with its stages and dates, deprecated ones included, all pages.
    pub async fn list_versions(&self, secret_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let mut versions = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_secret_version_ids()
                .secret_id(secret_id)
                .include_deprecated(true)
                .max_results(LIST_PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| store_error("ListSecretVersionIds", secret_id, &e))?;
            versions.extend(out.versions().iter().map(|v| VersionInfo {
                id: v.version_id().unwrap_or_default().to_owned(),
                stages: v.version_stages().to_vec(),
                created: system_time(v.created_date()),
                last_accessed: system_time(v.last_accessed_date()),
            }));
            match out.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        Ok(versions)
    }

    /// RotateSecret with the secret's configured function and schedule: Secrets Manager creates
    /// the AWSPENDING version and invokes the function. Returns the new version's id.
    pub async fn start_rotation(&self, secret_id: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .rotate_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| store_error("RotateSecret", secret_id, &e))?;
        out.version_id().map(str::to_owned).ok_or_else(|| {
            StoreError::new(
                "RotateSecret",
                secret_id,
                StoreErrorKind::Other,
                "the answer named no version",
            )
        })
    }

    /// TagResource with one tag.
    pub async fn add_tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| store_error("TagResource", secret_id, &e))?;
        Ok(())
    }
}

fn store_error<E>(operation: &'static str, secret_id: &str, err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, code, message) = match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown").to_owned();
            let kind = match code.as_str() {
                "ResourceNotFoundException" => StoreErrorKind::NotFound,
                "InvalidRequestException"
                | "InvalidParameterException"
                | "ResourceExistsException" => StoreErrorKind::InvalidRequest,
                "AccessDeniedException" | "AccessDenied" => StoreErrorKind::AccessDenied,
                "ThrottlingException" | "TooManyRequestsException" => StoreErrorKind::Throttled,
                "InternalServiceError" | "ServiceUnavailable" => StoreErrorKind::Unavailable,
                _ if service.raw().status().is_server_error() => StoreErrorKind::Unavailable,
                _ => StoreErrorKind::Other,
            };
            (
                kind,
                code,
                inner.message().unwrap_or("no message").to_owned(),
            )
        }
        SdkError::TimeoutError(_) => (
            StoreErrorKind::Unavailable,
            "Timeout".into(),
            "the call timed out".into(),
        ),
        SdkError::DispatchFailure(failure) => (
            StoreErrorKind::Unavailable,
            "DispatchFailure".into(),
            if failure.is_timeout() {
                "connect timeout".into()
            } else {
                match failure.as_connector_error().and_then(|e| io_error_kind(e)) {
                    Some(kind) => format!("could not reach the endpoint ({kind})"),
                    None => "could not reach the endpoint".into(),
                }
            },
        ),
        _ => (
            StoreErrorKind::Other,
            "Unknown".into(),
            aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
        ),
    };
    StoreError {
        operation,
        secret_id: secret_id.to_owned(),
        kind,
        code,
        message,
    }
}

/// The I/O error under a failed dispatch (refused, reset, …): says why without quoting anything.
fn io_error_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(err);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| store_error("DescribeSecret", secret_id, &e))?;
        Ok(SecretMetadata {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            versions: stage_map(out.version_ids_to_stages()),
            tags: tag_map(out.tags()),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
            rotation_rules: rotation_rules(out.rotation_rules()),
            created: system_time(out.created_date()),
            last_changed: system_time(out.last_changed_date()),
            last_rotated: system_time(out.last_rotated_date()),
            next_rotation: system_time(out.next_rotation_date()),
            deleted: system_time(out.deleted_date()),
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        let request = self.client.get_secret_value().secret_id(secret_id);
        let request = match version {
            VersionRef::Id(id) => request.version_id(id),
            VersionRef::Stage(stage) => request.version_stage(stage),
        };
        match request.send().await {
            Ok(out) => match out.secret_string() {
                Some(s) => Ok(Some(SecretString::from(s.to_owned()))),
                None => Err(StoreError::new(
                    "GetSecretValue",
                    secret_id,
                    StoreErrorKind::InvalidRequest,
                    "the version holds a binary value; rotation needs a JSON string",
                )),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(store_error("GetSecretValue", secret_id, &e)),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError> {
        let request = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(|t| t.expose_secret().to_owned()));
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(e) => Err(store_error("PutSecretValue", secret_id, &e)),
        }
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| store_error("UpdateSecretVersionStage", secret_id, &e))?;
        Ok(())
    }

    async fn remove_tag(&self, secret_id: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .untag_resource()
            .secret_id(secret_id)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| store_error("UntagResource", secret_id, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use aws_sdk_secretsmanager::operation::put_secret_value::{
        PutSecretValueError, PutSecretValueOutput,
    };
    use aws_sdk_secretsmanager::types::error::{
        ResourceExistsException, ResourceNotFoundException,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn put_pending_forwards_the_rotation_token_and_the_pending_stage() {
        let with_token = mock!(Client::put_secret_value)
            .match_requests(|req| {
                req.rotation_token() == Some("rt-123")
                    && req.client_request_token() == Some("tok")
                    && req.version_stages() == [AWSPENDING]
            })
            .then_output(|| PutSecretValueOutput::builder().build());
        let without_token = mock!(Client::put_secret_value)
            .match_requests(|req| req.rotation_token().is_none())
            .then_output(|| PutSecretValueOutput::builder().build());
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&with_token, &without_token]
        );
        let store = AwsSecretStore::new(client);
        let value = SecretString::from("{}");
        let token = SecretString::from("rt-123");
        assert_eq!(
            store
                .put_pending("s", "tok", &value, Some(&token))
                .await
                .unwrap(),
            PutOutcome::Created
        );
        assert_eq!(
            store.put_pending("s", "tok", &value, None).await.unwrap(),
            PutOutcome::Created
        );
        assert_eq!(with_token.num_calls(), 1);
        assert_eq!(without_token.num_calls(), 1);
    }

    #[tokio::test]
    async fn resource_exists_on_put_means_another_create_won() {
        let exists = mock!(Client::put_secret_value).then_error(|| {
            PutSecretValueError::ResourceExistsException(
                ResourceExistsException::builder().message("exists").build(),
            )
        });
        let store = AwsSecretStore::new(mock_client!(aws_sdk_secretsmanager, [&exists]));
        let outcome = store
            .put_pending("s", "tok", &SecretString::from("{}"), None)
            .await
            .unwrap();
        assert_eq!(outcome, PutOutcome::AlreadyExists);
    }

    #[tokio::test]
    async fn list_secrets_follows_every_page_and_matches_tag_key_and_value_together() {
        use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
        use aws_sdk_secretsmanager::types::{SecretListEntry, Tag};
        let entry = |name: &str, team: &str| {
            SecretListEntry::builder()
                .arn(format!("arn:{name}"))
                .name(name)
                .rotation_enabled(true)
                .tags(Tag::builder().key("team").value(team).build())
                .build()
        };
        let first = mock!(Client::list_secrets)
            .match_requests(|req| req.next_token().is_none())
            .then_output(move || {
                ListSecretsOutput::builder()
                    .secret_list(entry("a", "sre"))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::list_secrets)
            .match_requests(|req| req.next_token() == Some("page-2"))
            .then_output(move || {
                ListSecretsOutput::builder()
                    .secret_list(entry("b", "web"))
                    .secret_list(entry("c", "sre"))
                    .next_token("")
                    .build()
            });
        let store = AwsSecretStore::new(mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&first, &second]
        ));
        let all = store.list_secrets(&ListFilter::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let sre = store
            .list_secrets(&ListFilter {
                tag_key: Some("team".into()),
                tag_value: Some("sre".into()),
                ..ListFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            sre.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!((first.num_calls(), second.num_calls()), (2, 2));
    }

    #[tokio::test]
    async fn an_unfilled_version_reads_as_none() {
        let missing = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder().message("no").build(),
            )
        });
        let store = AwsSecretStore::new(mock_client!(aws_sdk_secretsmanager, [&missing]));
        assert!(store
            .value("s", VersionRef::Id("tok"))
            .await
            .unwrap()
            .is_none());
    }
}
