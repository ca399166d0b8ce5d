//! Redis ACL rotation Lambda (`bootstrap`): the shared runtime serving the Redis engine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(&rotation::engines::REDIS).await
}
