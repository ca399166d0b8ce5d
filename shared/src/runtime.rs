//! Lambda glue shared by the function binaries: process set-up and the handler loop.

use crate::audit::Telemetry;
use crate::backend::{Backend, EngineSpec};
use crate::engine::Engine;
use crate::store::{AwsSecretStore, SecretStore};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Log levels no `RUST_LOG` may raise: lambda_runtime logs whole event payloads at trace level
/// (the RotationToken), and the AWS SDK's orchestrator logs each request at trace level (its
/// headers: the SigV4 signature and, in Lambda, the session token).
const LOG_CAPS: [&str; 2] = ["lambda_runtime=info", "aws_smithy_runtime=debug"];

/// The one place that installs rustls' process-wide crypto provider (aws-lc-rs, as everywhere in
/// this crate). Safe to call again: a second install fails harmlessly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Once per process: the rustls crypto provider and JSON logs on stderr (`RUST_LOG`, default info).
pub fn init_process() {
    install_crypto_provider();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for cap in LOG_CAPS {
        if let Ok(cap) = cap.parse() {
            filter = filter.add_directive(cap);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_current_span(false)
        .try_init();
}

/// The AWS configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`), loaded once.
/// Every call is bounded: a hung Secrets Manager or RDS endpoint fails the step (which the service
/// retries) instead of holding the function until the Lambda timeout.
pub async fn load_aws_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// A rotation function's whole `main`: loads the AWS configuration once, builds the Secrets Manager
/// client and `engine`'s backend from it, then serves rotation events until the runtime stops.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     rotation::runtime::serve(&rotation::engines::REDIS).await
/// }
/// ```
pub async fn serve(engine: &EngineSpec) -> Result<(), lambda_runtime::Error> {
    init_process();
    let config = load_aws_config().await;
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&config));
    let backend = (engine.build)(&config);
    serve_engine(Engine::new(store, backend, Telemetry::stdout())).await
}

/// Serves rotation events with an engine already assembled (a test's store or backend).
pub async fn serve_engine<S, B>(engine: Engine<S, B>) -> Result<(), lambda_runtime::Error>
where
    S: SecretStore + 'static,
    B: Backend + 'static,
{
    let engine = Arc::new(engine);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let engine = Arc::clone(&engine);
        async move {
            let deadline = instant_of(event.context.deadline);
            let outcome = engine
                .handle_json_until(&event.payload, Some(deadline))
                .await?;
            Ok::<Value, crate::RotationError>(json!({ "outcome": outcome.as_str() }))
        }
    }))
    .await
}

/// The Lambda's deadline (milliseconds since the epoch) as an instant of this process's clock.
fn instant_of(deadline_ms: u64) -> Instant {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}
