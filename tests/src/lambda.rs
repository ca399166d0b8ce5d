//! A Lambda Runtime API on 127.0.0.1 and a function's real `bootstrap` binary polling it, so tests
//! and the demo invoke the shipped binary exactly as Lambda does.

use crate::process::{fresh_dir, ServiceProcess, ServiceSpec};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex};

/// How an invocation ended: the handler's response or its reported error.
pub type InvocationResult = Result<Value, InvocationError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationError {
    pub error_type: String,
    pub error_message: String,
}

struct Pending {
    request_id: String,
    event: Value,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<InvocationResult>>>,
    first_poll: Mutex<Option<Instant>>,
}

struct RuntimeApi {
    address: String,
    queue: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let shared = Arc::new(Shared::default());
        let state = (receiver, Arc::clone(&shared));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (receiver, shared) = state.clone();
                        async move { route(req, receiver, shared).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            address,
            queue,
            shared,
        })
    }
}

type Receiver = Arc<Mutex<mpsc::UnboundedReceiver<Pending>>>;

async fn route(
    req: Request<Incoming>,
    receiver: Receiver,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let segments: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/")
        .split('/')
        .collect();
    let response = match (method, segments.as_slice()) {
        (Method::GET, ["invocation", "next"]) => {
            shared
                .first_poll
                .lock()
                .await
                .get_or_insert_with(Instant::now);
            let next = receiver.lock().await.recv().await;
            match next {
                Some(pending) => next_invocation(pending),
                None => status(StatusCode::GONE),
            }
        }
        (Method::POST, ["invocation", id, outcome @ ("response" | "error")]) => {
            let result = if *outcome == "response" {
                Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
            } else {
                let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                Err(InvocationError {
                    error_type: error["errorType"].as_str().unwrap_or_default().to_owned(),
                    error_message: error["errorMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                })
            };
            if let Some(sender) = shared.waiting.lock().await.remove(*id) {
                let _ = sender.send(result);
            }
            status(StatusCode::ACCEPTED)
        }
        (Method::POST, ["init", "error"]) => status(StatusCode::ACCEPTED),
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn next_invocation(pending: Pending) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(300);
    Response::builder()
        .status(StatusCode::OK)
        .header("lambda-runtime-aws-request-id", &pending.request_id)
        .header(
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        )
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:local",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(pending.event.to_string())))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// A function binary serving a local Runtime API. Stopped when dropped.
pub struct FunctionProcess {
    api: RuntimeApi,
    process: ServiceProcess,
    log: PathBuf,
    started: Instant,
}

impl FunctionProcess {
    /// Starts `binary` with the given environment (e.g. the emulator's) and waits for its first poll.
    pub async fn start(binary: &Path, env: &[(&str, String)]) -> std::io::Result<Self> {
        let api = RuntimeApi::start().await?;
        let dir = fresh_dir("function")?;
        let log = dir.join("function.log");
        let mut args = vec![];
        for (key, value) in env.iter().map(|(k, v)| (k.to_string(), v.clone())).chain([
            ("AWS_LAMBDA_RUNTIME_API".to_owned(), api.address.clone()),
            (
                "AWS_LAMBDA_FUNCTION_NAME".to_owned(),
                "local-rotation".to_owned(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                "128".to_owned(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
                "$LATEST".to_owned(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), "local".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".to_owned(),
                "/aws/lambda/local-rotation".to_owned(),
            ),
        ]) {
            args.push(format!("{key}={value}"));
        }
        args.push(binary.display().to_string());
        let started = Instant::now();
        let process = ServiceProcess::spawn(ServiceSpec {
            name: "function",
            program: Path::new("env"),
            args,
            stop_signal: "TERM",
            remove_on_exit: Some(&dir),
            log: &log,
            run_as: None,
        })?;
        let function = Self {
            api,
            process,
            log,
            started,
        };
        function.wait_for_first_poll().await?;
        Ok(function)
    }

    async fn wait_for_first_poll(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.api.shared.first_poll.lock().await.is_none() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "the function did not poll the Runtime API within 30 s; its output:\n{}",
                    self.output()
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// Process start to its first poll of /next: the runtime's share of a cold start.
    pub async fn time_to_first_poll(&self) -> Option<Duration> {
        self.api
            .shared
            .first_poll
            .lock()
            .await
            .map(|t| t - self.started)
    }

    /// Sends one event through the Runtime API and waits for the function's answer.
    pub async fn invoke(&self, event: &Value) -> InvocationResult {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        self.api
            .shared
            .waiting
            .lock()
            .await
            .insert(request_id.clone(), sender);
        self.api
            .queue
            .send(Pending {
                request_id,
                event: event.clone(),
            })
            .map_err(|_| local_error("the Runtime API is gone"))?;
        match tokio::time::timeout(Duration::from_secs(120), receiver).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(local_error("the invocation was dropped")),
            Err(_) => Err(local_error("no answer within 120 s")),
        }
    }

    /// Everything the function printed (stdout and stderr), for log assertions and secrecy scans.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }
}

fn local_error(message: &str) -> InvocationError {
    InvocationError {
        error_type: "LocalHarness".into(),
        error_message: message.into(),
    }
}

/// A workspace binary built by `cargo build --workspace --bins` (set SECRET_ROTATION_BIN_DIR to
/// use another build).
pub fn workspace_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("SECRET_ROTATION_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current_exe");
            let parent = exe.parent().expect("exe dir");
            if parent.ends_with("deps") {
                parent.parent().expect("target dir").to_path_buf()
            } else {
                parent.to_path_buf()
            }
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --all-targets` (as `make test` does) first",
        path.display()
    );
    path
}
