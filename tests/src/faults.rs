//! An HTTP proxy in front of the Secrets Manager emulator that injects 5xx errors, throttling and
//! hangs into chosen operations, so the real SDK (with its retries and timeouts) meets them.

use crate::proxy::{HttpProxy, Intercept};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use rotation::store::AwsSecretStore;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 InternalServiceError.
    ServerError,
    /// HTTP 400 ThrottlingException.
    Throttle,
    /// The answer comes after this long (past the client's attempt timeout).
    Hang(Duration),
}

#[derive(Default)]
struct Plan {
    /// (operation, fault, how many more requests get it)
    rules: Mutex<Vec<(String, Fault, usize)>>,
    injected: AtomicUsize,
}

impl Plan {
    fn take(&self, operation: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let rule = rules
            .iter_mut()
            .find(|(op, _, left)| op == operation && *left > 0)?;
        rule.2 -= 1;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(rule.1)
    }
}

pub struct FaultProxy {
    proxy: HttpProxy,
    plan: Arc<Plan>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let plan = Arc::new(Plan::default());
        let rules = Arc::clone(&plan);
        let proxy = HttpProxy::start(upstream, move |operation| {
            match rules.take(operation.unwrap_or_default()) {
                Some(Fault::ServerError) => Intercept::Answer(aws_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServiceError",
                )),
                Some(Fault::Throttle) => {
                    Intercept::Answer(aws_error(StatusCode::BAD_REQUEST, "ThrottlingException"))
                }
                Some(Fault::Hang(delay)) => Intercept::ForwardAfter(delay),
                None => Intercept::Forward,
            }
        })
        .await?;
        Ok(Self { proxy, plan })
    }

    /// The next `times` requests for `operation` (e.g. `PutSecretValue`) meet `fault`.
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.plan
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((operation.to_owned(), fault, times));
    }

    pub fn clear(&self) {
        self.plan
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn injected(&self) -> usize {
        self.plan.injected.load(Ordering::SeqCst)
    }

    /// A store whose SDK client goes through the proxy, with the production retry and timeout
    /// settings except a shorter attempt timeout.
    pub fn store(&self) -> AwsSecretStore {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_millis(800))
            .operation_timeout(Duration::from_secs(5))
            .build();
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                crate::emulator::REGION,
            ))
            .endpoint_url(self.proxy.endpoint())
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "faults",
            ))
            .timeout_config(timeouts)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(20)),
            )
            .build();
        AwsSecretStore::new(aws_sdk_secretsmanager::Client::from_conf(config))
    }
}

fn aws_error(status: StatusCode, kind: &str) -> Response<Full<Bytes>> {
    let body =
        serde_json::json!({"__type": kind, "message": "injected by the fault proxy"}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}
