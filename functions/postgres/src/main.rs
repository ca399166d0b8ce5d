//! PostgreSQL rotation Lambda: the Secrets Manager client is built once, then every event is one step.

use rotation::postgres::PostgresBackend;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(PostgresBackend::new()).await
}
