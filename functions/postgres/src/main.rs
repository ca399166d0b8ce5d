//! PostgreSQL rotation Lambda (`bootstrap`): the shared runtime serving the PostgreSQL engine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(&rotation::engines::POSTGRES).await
}
