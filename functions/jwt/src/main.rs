//! JWT signing-key rotation Lambda (`bootstrap`): the key sets and their consumer conventions live
//! in the secret itself (see docs/jwt.md); this binary serves the JWT engine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::serve(&rotation::engines::JWT).await
}
