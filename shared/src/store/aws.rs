//! [`SecretStore`] over the AWS SDK: the one place that calls the Secrets Manager SDK, with one
//! conversion of its answers and one mapping of its errors.

use super::{
    PutOutcome, RotationRules, SecretMetadata, SecretStore, StoreError, StoreErrorKind, VersionRef,
};
use crate::protocol::AWSPENDING;
use async_trait::async_trait;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The SDK-backed store. `AWS_ENDPOINT_URL` points it at an emulator.
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: Client,
}

impl AwsSecretStore {
    /// A store over a client built elsewhere (tests, tools that share one configuration).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Builds the client once from the environment (region, credentials, endpoint).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config))
    }

    /// The SDK client, for calls the store does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// DescribeSecret's answer and a ListSecrets entry carry the same fields, but for the name of the
/// stage map: one conversion serves both. `$arn` stands in when the answer names no ARN.
macro_rules! secret_metadata {
    ($out:expr, $stages:ident, $arn:expr) => {{
        let out = $out;
        $crate::store::SecretMetadata {
            arn: out.arn().unwrap_or($arn).to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            versions: $crate::store::aws::stage_map(out.$stages()),
            tags: $crate::store::aws::tag_map(out.tags()),
            rotation_lambda_arn: out.rotation_lambda_arn().map(str::to_owned),
            rotation_rules: $crate::store::aws::rotation_rules(out.rotation_rules()),
            created: $crate::store::aws::system_time(out.created_date()),
            last_changed: $crate::store::aws::system_time(out.last_changed_date()),
            last_rotated: $crate::store::aws::system_time(out.last_rotated_date()),
            next_rotation: $crate::store::aws::system_time(out.next_rotation_date()),
            deleted: $crate::store::aws::system_time(out.deleted_date()),
        }
    }};
}
pub(super) use secret_metadata;

pub(super) fn system_time(date: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    date.and_then(|d| SystemTime::try_from(*d).ok())
}

pub(super) fn rotation_rules(
    rules: Option<&aws_sdk_secretsmanager::types::RotationRulesType>,
) -> Option<RotationRules> {
    rules.map(|r| RotationRules {
        automatically_after_days: r.automatically_after_days(),
        schedule_expression: r.schedule_expression().map(str::to_owned),
        duration: r.duration().map(str::to_owned),
    })
}

pub(super) fn stage_map(
    map: Option<&std::collections::HashMap<String, Vec<String>>>,
) -> BTreeMap<String, Vec<String>> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub(super) fn tag_map(tags: &[aws_sdk_secretsmanager::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// A failed SDK call as a [`StoreError`]: its kind, the service's code and message, never a value.
pub(super) fn store_error<E>(
    operation: &'static str,
    secret_id: &str,
    err: &SdkError<E>,
) -> StoreError
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
        Ok(secret_metadata!(&out, version_ids_to_stages, secret_id))
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

    async fn add_tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.client
            .tag_resource()
            .secret_id(secret_id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| store_error("TagResource", secret_id, &e))?;
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
