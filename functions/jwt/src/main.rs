//! JWT signing-key rotation Lambda: the key sets and their consumer conventions live in the secret
//! itself (see docs/jwt.md); this binary only serves rotation events with the JWT backend.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(rotation::jwt::JwtBackend::new()).await
}
