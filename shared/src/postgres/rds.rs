//! Where an RDS-managed master secret (only `username` and `password`) lives: the instance or
//! cluster named by its tags, looked up with the RDS API.

use crate::backend::BackendError;
use std::collections::BTreeMap;

pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

/// The writer endpoint (host, port) of the database the tags name, or `None` without such tags.
pub async fn endpoint_from_tags(
    client: &aws_sdk_rds::Client,
    tags: &BTreeMap<String, String>,
) -> Result<Option<(String, u16)>, BackendError> {
    if let Some(instance) = tags.get(INSTANCE_TAG) {
        let out = client
            .describe_db_instances()
            .db_instance_identifier(instance)
            .send()
            .await
            .map_err(|e| rds_error(instance, &e))?;
        let endpoint = out.db_instances().first().and_then(|db| db.endpoint());
        let found =
            endpoint.and_then(|e| Some((e.address()?.to_owned(), u16::try_from(e.port()?).ok()?)));
        return found.map(Some).ok_or_else(|| missing(instance));
    }
    if let Some(cluster) = tags.get(CLUSTER_TAG) {
        let out = client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .map_err(|e| rds_error(cluster, &e))?;
        let found = out
            .db_clusters()
            .first()
            .and_then(|c| Some((c.endpoint()?.to_owned(), u16::try_from(c.port()?).ok()?)));
        return found.map(Some).ok_or_else(|| missing(cluster));
    }
    Ok(None)
}

fn rds_error<E: std::error::Error + 'static>(
    resource: &str,
    err: &aws_sdk_rds::error::SdkError<E>,
) -> BackendError {
    BackendError::Unreachable {
        target: format!("RDS {resource}"),
        detail: aws_sdk_rds::error::DisplayErrorContext(err).to_string(),
    }
}

fn missing(resource: &str) -> BackendError {
    BackendError::Unreachable {
        target: format!("RDS {resource}"),
        detail: "it has no endpoint yet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbInstance, Endpoint};
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn an_instance_tag_resolves_to_the_instance_endpoint() {
        let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(|req| {
                req.db_instance_identifier() == Some("arn:aws:rds:us-east-1:1:db:main")
            })
            .then_output(|| {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .endpoint(
                                Endpoint::builder()
                                    .address("main.example.internal")
                                    .port(5433)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_rds, [&describe]);
        let tags = BTreeMap::from([(
            INSTANCE_TAG.to_owned(),
            "arn:aws:rds:us-east-1:1:db:main".to_owned(),
        )]);
        let endpoint = endpoint_from_tags(&client, &tags).await.unwrap();
        assert_eq!(endpoint, Some(("main.example.internal".to_owned(), 5433)));
        assert_eq!(
            endpoint_from_tags(&client, &BTreeMap::new()).await.unwrap(),
            None
        );
    }
}
