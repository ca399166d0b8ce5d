//! The calls beyond the engine's that the CLI and the monitor make: listing secrets and versions,
//! starting a rotation. Inherent methods of [`AwsSecretStore`], so that the [`SecretStore`]
//! trait (and the test stores that wrap it) stays the engine's.
//!
//! [`SecretStore`]: super::SecretStore

use super::aws::{secret_metadata, store_error, system_time};
use super::{AwsSecretStore, ListFilter, SecretMetadata, StoreError, StoreErrorKind, VersionInfo};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

/// ListSecrets' and ListSecretVersionIds' page size: the service's maximum.
const PAGE_SIZE: i32 = 100;

impl AwsSecretStore {
    /// Every secret ListSecrets returns for `filter`, all pages, without those scheduled for
    /// deletion. Metadata only: ListSecrets returns no value.
    pub async fn list_secrets(
        &self,
        filter: &ListFilter,
    ) -> Result<Vec<SecretMetadata>, StoreError> {
        let mut pages = self
            .client()
            .list_secrets()
            .set_filters(service_filters(filter))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut secrets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListSecrets", "*", &e))?;
            secrets.extend(
                page.secret_list()
                    .iter()
                    .map(|entry| secret_metadata!(entry, secret_versions_to_stages, ""))
                    .filter(|s| s.deleted.is_none() && filter.keeps(s)),
            );
        }
        Ok(secrets)
    }

    /// Every version of a secret with its stages and dates, deprecated ones included, all pages.
    pub async fn list_versions(&self, secret_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let mut pages = self
            .client()
            .list_secret_version_ids()
            .secret_id(secret_id)
            .include_deprecated(true)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListSecretVersionIds", secret_id, &e))?;
            versions.extend(page.versions().iter().map(|v| VersionInfo {
                id: v.version_id().unwrap_or_default().to_owned(),
                stages: v.version_stages().to_vec(),
                created: system_time(v.created_date()),
                last_accessed: system_time(v.last_accessed_date()),
            }));
        }
        Ok(versions)
    }

    /// RotateSecret with the secret's configured function and schedule: Secrets Manager creates
    /// the AWSPENDING version and invokes the function. Returns the new version's id.
    pub async fn start_rotation(&self, secret_id: &str) -> Result<String, StoreError> {
        let out = self
            .client()
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
}

/// The part of `filter` the service applies; [`ListFilter`] checks all of it again on the answer.
fn service_filters(filter: &ListFilter) -> Option<Vec<Filter>> {
    let name = filter.name_prefix.as_deref().filter(|p| !p.is_empty());
    let tag_key = filter.tag_key.as_deref().filter(|k| !k.is_empty());
    let filters: Vec<Filter> = [
        name.map(|prefix| (FilterNameStringType::Name, prefix)),
        tag_key.map(|key| (FilterNameStringType::TagKey, key)),
    ]
    .into_iter()
    .flatten()
    .map(|(key, value)| Filter::builder().key(key).values(value).build())
    .collect();
    (!filters.is_empty()).then_some(filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

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
}
