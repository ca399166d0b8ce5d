//! A minimal Lambda Runtime API and a function binary started directly under it (no wrapper shell,
//! no `env`), so that its pid is known and an event can wait in the queue before the process
//! exists: process start → first answer is then exactly the cold start Lambda would see.

use crate::lambda_cpu::{CpuGroup, LambdaCpu};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The function's answer: its response, or `errorType: errorMessage` (messages hold no secret).
pub type Outcome = Result<Value, String>;

pub struct Answer {
    pub outcome: Outcome,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: Mutex<Option<Instant>>,
}

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>;

/// A Runtime API and, once spawned, the function process polling it. Killed when dropped.
pub struct Function {
    address: String,
    queue: mpsc::UnboundedSender<(String, Value)>,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    child: Option<tokio::process::Child>,
    spawned: Option<Instant>,
    cpu_group: Option<CpuGroup>,
}

impl Function {
    /// Starts the Runtime API only.
    pub async fn prepare() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver: Queue = Arc::new(tokio::sync::Mutex::new(receiver));
        let shared = Arc::new(Shared::default());
        let state = (receiver, Arc::clone(&shared));
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
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
            server,
            child: None,
            spawned: None,
            cpu_group: None,
        })
    }

    /// Starts `binary` with exactly this environment (plus the Lambda variables), inside `cpu`'s
    /// cgroup from its first instruction when there is one.
    pub fn spawn(
        &mut self,
        binary: &Path,
        env: &[(&str, String)],
        cpu: Option<&LambdaCpu>,
    ) -> std::io::Result<()> {
        let mut command = tokio::process::Command::new(binary);
        let memory_mb = cpu.map_or(128, |cpu| cpu.memory_mb);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench-rotation")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench-rotation")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let group = cpu
            .map(LambdaCpu::group)
            .transpose()
            .map_err(std::io::Error::other)?;
        if let Some(group) = &group {
            let procs = group.procs_fd();
            // SAFETY: between fork and exec the closure makes one pwrite(2), which is
            // async-signal-safe, and allocates nothing; `procs` stays open as long as `group`,
            // which `self` keeps until the process is reaped.
            unsafe {
                command.pre_exec(move || {
                    if libc::pwrite(procs, b"0".as_ptr().cast(), 1, 0) == 1 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let started = Instant::now();
        self.child = Some(command.spawn()?);
        self.spawned = Some(started);
        self.cpu_group = group;
        Ok(())
    }

    /// Queues an event; the answer arrives on the returned channel.
    pub fn submit(&self, event: &Value) -> oneshot::Receiver<Answer> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&self.shared.waiting).insert(request_id.clone(), sender);
        // The receiver lives as long as the server task, which lives as long as `self`.
        let _ = self.queue.send((request_id, event.clone()));
        receiver
    }

    /// Sends one event and waits for the answer; also returns the round trip.
    pub async fn invoke(&self, event: &Value) -> (Outcome, Duration) {
        let sent = Instant::now();
        let answer = wait(self.submit(event)).await;
        (answer.outcome, answer.at - sent)
    }

    /// Process start to the first poll of `/next` (Lambda's "Init Duration").
    pub async fn init_duration(&self, within: Duration) -> Option<Duration> {
        let deadline = Instant::now() + within;
        loop {
            if let (Some(poll), Some(spawned)) = (*lock(&self.shared.first_poll), self.spawned) {
                return Some(poll - spawned);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn spawned(&self) -> Option<Instant> {
        self.spawned
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
    }

    /// Peak resident set size (VmHWM) in KiB, from /proc/<pid>/status.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// User + system CPU time of the process so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.pid()?.to_string())
    }

    /// Kills the process (as Lambda does when it reclaims an environment) and reaps it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.cpu_group = None;
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// User + system CPU time of a process (`self` or a pid) from /proc/<pid>/stat, in clock ticks
/// of 10 ms.
pub fn cpu_time_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Waits for an answer for at most two minutes.
pub async fn wait(receiver: oneshot::Receiver<Answer>) -> Answer {
    let failed = |message: &str| Answer {
        outcome: Err(format!("LocalHarness: {message}")),
        at: Instant::now(),
    };
    match tokio::time::timeout(Duration::from_secs(120), receiver).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => failed("the invocation was dropped"),
        Err(_) => failed("no answer within 120 s"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn route(
    req: Request<Incoming>,
    receiver: Queue,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let arrived = Instant::now();
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
            lock(&shared.first_poll).get_or_insert(arrived);
            let next = receiver.lock().await.recv().await;
            match next {
                Some((request_id, event)) => next_invocation(&request_id, &event),
                None => status(StatusCode::GONE),
            }
        }
        (Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let outcome = if *kind == "response" {
                Ok(parsed)
            } else {
                Err(format!(
                    "{}: {}",
                    parsed["errorType"].as_str().unwrap_or("?"),
                    parsed["errorMessage"].as_str().unwrap_or("?")
                ))
            };
            if let Some(sender) = lock(&shared.waiting).remove(*id) {
                let _ = sender.send(Answer {
                    outcome,
                    at: arrived,
                });
            }
            status(StatusCode::ACCEPTED)
        }
        (Method::POST, ["init", "error"]) => status(StatusCode::ACCEPTED),
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn next_invocation(request_id: &str, event: &Value) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(300);
    Response::builder()
        .status(StatusCode::OK)
        .header("lambda-runtime-aws-request-id", request_id)
        .header(
            "lambda-runtime-deadline-ms",
            deadline.as_millis().to_string(),
        )
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench-rotation",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(event.to_string())))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
