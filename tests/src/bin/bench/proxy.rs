//! Counters between a function and what it talks to: an HTTP proxy in front of the Secrets Manager
//! emulator that counts requests by `X-Amz-Target` operation, and a TCP relay in front of
//! PostgreSQL or Redis that records each connection (one per login): how long it stayed open and
//! how many requests the client sent on it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Requests per operation, e.g. `GetSecretValue → 3`.
pub type Calls = BTreeMap<String, u32>;

pub struct CountingProxy {
    endpoint: String,
    counts: Arc<Mutex<Calls>>,
    server: JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Mutex::new(Calls::new()));
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let state = (
            Arc::clone(&counts),
            client,
            upstream.trim_end_matches('/').to_owned(),
        );
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (counts, client, upstream) = state.clone();
                        async move { forward(req, &counts, &client, &upstream).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            endpoint,
            counts,
            server,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The counts since the last call, and a fresh start.
    pub fn take(&self) -> Calls {
        std::mem::take(&mut *lock(&self.counts))
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    req: Request<Incoming>,
    counts: &Mutex<Calls>,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or("(no X-Amz-Target)")
        .to_owned();
    *lock(counts).entry(operation).or_default() += 1;
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
    for (name, value) in parts.headers.iter().filter(|(name, _)| *name != "host") {
        upstream_req = upstream_req.header(name, value);
    }
    let Ok(upstream_req) = upstream_req.body(Full::new(body)) else {
        return Ok(bad_gateway());
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
        Err(_) => Ok(bad_gateway()),
    }
}

fn bad_gateway() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// One relayed connection: how long it stayed open and how many times the client sent data
/// (about one per round trip: tokio-postgres and redis-rs flush once per request).
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub duration: Duration,
    pub client_sends: u32,
}

#[derive(Default)]
struct Relayed {
    open: AtomicU32,
    ended: Mutex<Vec<Session>>,
}

/// Relays TCP connections to `127.0.0.1:<upstream>` and records each one.
pub struct ConnectionCounter {
    pub port: u16,
    relayed: Arc<Relayed>,
    server: JoinHandle<()>,
}

impl ConnectionCounter {
    pub async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let relayed = Arc::new(Relayed::default());
        let state = Arc::clone(&relayed);
        let server = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                state.open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let opened = Instant::now();
                    let sends = AtomicU32::new(0);
                    if let Ok(outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        // Without this, Nagle's algorithm holds small writes for the peer's
                        // delayed ACK: tens of milliseconds per round trip.
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let (client_read, client_write) = inbound.into_split();
                        let (server_read, server_write) = outbound.into_split();
                        tokio::join!(
                            pump(client_read, server_write, Some(&sends)),
                            pump(server_read, client_write, None)
                        );
                    }
                    lock(&state.ended).push(Session {
                        duration: opened.elapsed(),
                        client_sends: sends.load(Ordering::SeqCst),
                    });
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self {
            port,
            relayed,
            server,
        })
    }

    /// The sessions that ended since the last call, after waiting (up to a second) for the open
    /// ones to close.
    pub async fn take(&self) -> Vec<Session> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.relayed.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        std::mem::take(&mut *lock(&self.relayed.ended))
    }
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, sends: Option<&AtomicU32>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(sends) = sends {
            sends.fetch_add(1, Ordering::SeqCst);
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// `3 Describe · 5 Get · 1 Put` style summary with short operation names.
pub fn summary(calls: &Calls) -> String {
    if calls.is_empty() {
        return "0".into();
    }
    let total: u32 = calls.values().sum();
    let parts: Vec<String> = calls
        .iter()
        .map(|(op, n)| format!("{n} {}", short(op)))
        .collect();
    format!("{total} ({})", parts.join(" · "))
}

pub fn short(operation: &str) -> &str {
    match operation {
        "DescribeSecret" => "Describe",
        "GetSecretValue" => "Get",
        "PutSecretValue" => "Put",
        "UpdateSecretVersionStage" => "Update",
        other => other,
    }
}

pub fn total(calls: &Calls) -> u32 {
    calls.values().sum()
}
