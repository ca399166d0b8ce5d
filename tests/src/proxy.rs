//! HTTP proxies in front of the Secrets Manager emulator. Each request reaches the emulator as it
//! was sent (but for its Host header) after a hook of the caller's has seen its `X-Amz-Target`
//! operation: `CountingProxy` counts requests per operation; a hook may also hold a request back
//! or answer in the emulator's place.

use crate::http::{read_body, serve, HttpResponse};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a proxy does with one request, decided from its operation.
pub enum Intercept {
    /// Sends it on to the emulator.
    Forward,
    /// Sends it on after this long.
    ForwardAfter(Duration),
    /// Answers this instead; the emulator never sees the request.
    Answer(HttpResponse),
}

/// An HTTP proxy on 127.0.0.1 that asks `hook` about every request. Stopped when dropped.
pub struct HttpProxy {
    endpoint: String,
    server: JoinHandle<()>,
}

type Upstream = Client<HttpConnector, Full<Bytes>>;

impl HttpProxy {
    /// Proxies to `upstream` (`http://host:port`). `hook` gets each request's operation
    /// (`GetSecretValue` from `secretsmanager.GetSecretValue`), `None` without an `X-Amz-Target`.
    pub async fn start<H>(upstream: &str, hook: H) -> std::io::Result<Self>
    where
        H: Fn(Option<&str>) -> Intercept + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let hook = Arc::new(hook);
        let server = serve(listener, move |req| {
            let (hook, client, upstream) = (Arc::clone(&hook), client.clone(), upstream.clone());
            async move {
                match hook(operation(&req)) {
                    Intercept::Forward => {}
                    Intercept::ForwardAfter(delay) => tokio::time::sleep(delay).await,
                    Intercept::Answer(response) => return response,
                }
                forward(req, &client, &upstream).await
            }
        });
        Ok(Self { endpoint, server })
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or an SDK client's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The operation of an AWS JSON request: the part of `X-Amz-Target` after the last dot.
fn operation(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
}

async fn forward(req: Request<Incoming>, client: &Upstream, upstream: &str) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let body = read_body(body).await;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream_req = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in parts.headers.iter().filter(|(name, _)| *name != "host") {
        upstream_req = upstream_req.header(name, value);
    }
    let Ok(upstream_req) = upstream_req.body(Full::new(body)) else {
        return bad_gateway();
    };
    match client.request(upstream_req).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, Full::new(read_body(body).await))
        }
        Err(_) => bad_gateway(),
    }
}

fn bad_gateway() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// Requests per operation, e.g. `GetSecretValue → 3`.
pub type Calls = BTreeMap<String, u32>;

/// An HTTP proxy that counts the requests per operation (`(no X-Amz-Target)` for others) and
/// forwards them all.
pub struct CountingProxy {
    proxy: HttpProxy,
    counts: Arc<Mutex<Calls>>,
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let counts = Arc::new(Mutex::new(Calls::new()));
        let counter = Arc::clone(&counts);
        let proxy = HttpProxy::start(upstream, move |operation| {
            let operation = operation.unwrap_or("(no X-Amz-Target)").to_owned();
            *lock(&counter).entry(operation).or_default() += 1;
            Intercept::Forward
        })
        .await?;
        Ok(Self { proxy, counts })
    }

    pub fn endpoint(&self) -> &str {
        self.proxy.endpoint()
    }

    /// The counts since the last call, and a fresh start.
    pub fn take(&self) -> Calls {
        std::mem::take(&mut *lock(&self.counts))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
