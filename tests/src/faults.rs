//! An HTTP proxy in front of the Secrets Manager emulator that injects 5xx errors, throttling and
//! hangs into chosen operations, so the real SDK (with its retries and timeouts) meets them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rotation::store::AwsSecretStore;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

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
    endpoint: String,
    plan: Arc<Plan>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let plan = Arc::new(Plan::default());
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let state = (Arc::clone(&plan), client, upstream);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (plan, client, upstream) = state.clone();
                        async move { forward(req, &plan, &client, &upstream).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { endpoint, plan })
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
            .endpoint_url(&self.endpoint)
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

async fn forward(
    req: Request<Incoming>,
    plan: &Plan,
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: &str,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    match plan.take(&operation) {
        Some(Fault::ServerError) => {
            return Ok(aws_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceError",
            ))
        }
        Some(Fault::Throttle) => {
            return Ok(aws_error(StatusCode::BAD_REQUEST, "ThrottlingException"))
        }
        Some(Fault::Hang(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream_req = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != "host" {
            upstream_req = upstream_req.header(name, value);
        }
    }
    let Ok(upstream_req) = upstream_req.body(Full::new(body)) else {
        return Ok(aws_error(StatusCode::BAD_GATEWAY, "ProxyError"));
    };
    match client.request(upstream_req).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(_) => Ok(aws_error(StatusCode::BAD_GATEWAY, "ProxyError")),
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
