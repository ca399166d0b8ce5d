//! PostgreSQL rotation Lambda: clients are built once, then every event is one step.

use rotation::postgres::PostgresBackend;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = rotation::runtime::load_aws_config().await;
    rotation::runtime::serve_with_config(&config, PostgresBackend::from_config(&config)).await
}
