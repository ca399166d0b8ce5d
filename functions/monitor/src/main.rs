//! Rotation health monitor Lambda: on each scheduled event, lists the rotation-enabled secrets and
//! writes their health as EMF metrics (see docs/operations.md). Reads no secret value.

use secret_rotation_monitor::{Config, Monitor};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotation::runtime::init_process();
    let config = Config::from_env(|key| std::env::var(key).ok())?;
    let aws = rotation::runtime::load_aws_config().await;
    Monitor::new(&aws, config).serve().await
}
