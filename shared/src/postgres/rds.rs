//! Where an RDS-managed master secret (only `username` and `password`) lives: the instance or
//! cluster named by its tags, looked up with the RDS API.

use crate::backend::BackendError;
use std::collections::BTreeMap;

/// The tag RDS puts on a master secret it manages for a DB instance: the instance's ARN. Wins over
/// [`CLUSTER_TAG`].
pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
/// The tag RDS puts on a master secret it manages for a DB cluster: the cluster's ARN.
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

/// The endpoints of one RDS database: the writer, where the admin logs in, and the others an
/// application may use for the same database (a cluster's reader and custom endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsEndpoints {
    /// The writer's host and port.
    pub writer: (String, u16),
    /// The reader and custom endpoints, on the writer's port; empty for an instance.
    pub others: Vec<(String, u16)>,
}

impl RdsEndpoints {
    /// Whether `host:port` is one of this database's endpoints (host names compare
    /// case-insensitively).
    pub fn contains(&self, host: &str, port: u16) -> bool {
        let host = host.trim();
        std::iter::once(&self.writer)
            .chain(&self.others)
            .any(|(h, p)| h.eq_ignore_ascii_case(host) && *p == port)
    }
}

/// The endpoints of the database the tags name, or `None` without such tags.
pub async fn endpoints_from_tags(
    client: &aws_sdk_rds::Client,
    tags: &BTreeMap<String, String>,
) -> Result<Option<RdsEndpoints>, BackendError> {
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
        let writer = found.ok_or_else(|| missing(instance))?;
        return Ok(Some(RdsEndpoints {
            writer,
            others: Vec::new(),
        }));
    }
    if let Some(cluster) = tags.get(CLUSTER_TAG) {
        let out = client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .map_err(|e| rds_error(cluster, &e))?;
        let db = out.db_clusters().first().ok_or_else(|| missing(cluster))?;
        let port = db
            .port()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| missing(cluster))?;
        let writer = db.endpoint().ok_or_else(|| missing(cluster))?;
        let others = db
            .reader_endpoint()
            .into_iter()
            .chain(db.custom_endpoints().iter().map(String::as_str))
            .map(|host| (host.to_owned(), port))
            .collect();
        return Ok(Some(RdsEndpoints {
            writer: (writer.to_owned(), port),
            others,
        }));
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
    use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbCluster, DbInstance, Endpoint};
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
        let endpoints = endpoints_from_tags(&client, &tags).await.unwrap().unwrap();
        assert_eq!(
            endpoints,
            RdsEndpoints {
                writer: ("main.example.internal".to_owned(), 5433),
                others: Vec::new()
            }
        );
        assert!(endpoints.contains("MAIN.example.internal", 5433));
        assert!(!endpoints.contains("main.example.internal", 5432));
        assert_eq!(
            endpoints_from_tags(&client, &BTreeMap::new())
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_cluster_tag_resolves_to_the_writer_and_every_other_endpoint() {
        let describe = mock!(aws_sdk_rds::Client::describe_db_clusters)
            .match_requests(|req| {
                req.db_cluster_identifier() == Some("arn:aws:rds:us-east-1:1:cluster:main")
            })
            .then_output(|| {
                DescribeDbClustersOutput::builder()
                    .db_clusters(
                        DbCluster::builder()
                            .endpoint("main.cluster-x.internal")
                            .reader_endpoint("main.cluster-ro-x.internal")
                            .custom_endpoints("reports.cluster-custom-x.internal")
                            .port(5432)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_rds, [&describe]);
        let tags = BTreeMap::from([(
            CLUSTER_TAG.to_owned(),
            "arn:aws:rds:us-east-1:1:cluster:main".to_owned(),
        )]);
        let endpoints = endpoints_from_tags(&client, &tags).await.unwrap().unwrap();
        assert_eq!(
            endpoints.writer,
            ("main.cluster-x.internal".to_owned(), 5432)
        );
        for host in [
            "main.cluster-x.internal",
            "main.cluster-ro-x.internal",
            "reports.cluster-custom-x.internal",
        ] {
            assert!(endpoints.contains(host, 5432), "{host}");
        }
        assert!(!endpoints.contains("elsewhere.internal", 5432));
        assert!(!endpoints.contains("main.cluster-ro-x.internal", 5433));
    }
}
