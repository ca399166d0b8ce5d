//! The Lambda Runtime API on 127.0.0.1: events wait in a queue until the function polls `/next`
//! (so one can be queued before the process exists), and every answer is stamped with the moment
//! it reached the API, as is the first poll.

use crate::http::{read_body, serve, status, HttpResponse};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How an invocation ended: the handler's response or its reported error.
pub type InvocationResult = Result<Value, InvocationError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationError {
    pub error_type: String,
    pub error_message: String,
}

/// `errorType: errorMessage`, as the functions report it (their messages hold no secret).
impl fmt::Display for InvocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// The function's answer to one event, and when it reached the Runtime API.
pub struct Answer {
    pub result: InvocationResult,
    pub at: Instant,
}

/// An event in the queue; its answer comes later.
pub struct Pending(oneshot::Receiver<Answer>);

impl Pending {
    /// Waits for the answer for at most two minutes.
    pub async fn answer(self) -> Answer {
        let failed = |message: &str| Answer {
            result: Err(local_error(message)),
            at: Instant::now(),
        };
        match tokio::time::timeout(Duration::from_secs(120), self.0).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => failed("the invocation was dropped"),
            Err(_) => failed("no answer within 120 s"),
        }
    }
}

fn local_error(message: &str) -> InvocationError {
    InvocationError {
        error_type: "LocalHarness".into(),
        error_message: message.into(),
    }
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: Mutex<Option<Instant>>,
    /// Set when the function is named, before its process starts.
    function_arn: OnceLock<String>,
    /// The function's timeout: each invocation's deadline is this far from its hand-out.
    timeout: OnceLock<Duration>,
}

/// Lambda's timeout when the function sets none of its own here (the longest Lambda allows is 900 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>;

/// Stopped when dropped.
pub(super) struct RuntimeApi {
    address: String,
    queue: mpsc::UnboundedSender<(String, Value)>,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    pub(super) async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver: Queue = Arc::new(tokio::sync::Mutex::new(receiver));
        let shared = Arc::new(Shared::default());
        let state = Arc::clone(&shared);
        let server = serve(listener, move |req| {
            route(req, Arc::clone(&receiver), Arc::clone(&state))
        });
        Ok(Self {
            address,
            queue,
            shared,
            server,
        })
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// The function ARN `/next` hands out: the one of the function named `name`.
    pub(super) fn name_function(&self, name: &str) {
        let _ = self.shared.function_arn.set(format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{name}"
        ));
    }

    /// The function's timeout, from which each invocation's deadline follows.
    pub(super) fn set_timeout(&self, timeout: Duration) {
        let _ = self.shared.timeout.set(timeout);
    }

    pub(super) fn submit(&self, event: &Value) -> Pending {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&self.shared.waiting).insert(request_id.clone(), sender);
        // The receiver lives as long as the server task, which lives as long as `self`.
        let _ = self.queue.send((request_id, event.clone()));
        Pending(receiver)
    }

    /// When the function first asked for `/next`.
    pub(super) fn first_poll(&self) -> Option<Instant> {
        *lock(&self.shared.first_poll)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn route(req: Request<Incoming>, receiver: Queue, shared: Arc<Shared>) -> HttpResponse {
    let arrived = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = read_body(req.into_body()).await;
    let segments: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/")
        .split('/')
        .collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => {
            lock(&shared.first_poll).get_or_insert(arrived);
            let next = receiver.lock().await.recv().await;
            let arn = shared.function_arn.get().map_or("", String::as_str);
            let timeout = shared.timeout.get().copied().unwrap_or(DEFAULT_TIMEOUT);
            match next {
                Some((request_id, event)) => next_invocation(&request_id, &event, arn, timeout),
                None => status(StatusCode::GONE),
            }
        }
        (Method::POST, ["invocation", id, outcome @ ("response" | "error")]) => {
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let result = if *outcome == "response" {
                Ok(parsed)
            } else {
                Err(InvocationError {
                    error_type: parsed["errorType"].as_str().unwrap_or_default().to_owned(),
                    error_message: parsed["errorMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                })
            };
            if let Some(sender) = lock(&shared.waiting).remove(*id) {
                let _ = sender.send(Answer {
                    result,
                    at: arrived,
                });
            }
            status(StatusCode::ACCEPTED)
        }
        (Method::POST, ["init", "error"]) => status(StatusCode::ACCEPTED),
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn next_invocation(
    request_id: &str,
    event: &Value,
    function_arn: &str,
    timeout: Duration,
) -> HttpResponse {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + timeout;
    Response::builder()
        .status(StatusCode::OK)
        .header("lambda-runtime-aws-request-id", request_id)
        .header(
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        )
        .header("lambda-runtime-invoked-function-arn", function_arn)
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(event.to_string())))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}
