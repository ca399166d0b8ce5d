//! Redis ACL rotation Lambda (`bootstrap`): the shared runtime serving the Redis backend.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(rotation::redis::RedisBackend::new()).await
}
