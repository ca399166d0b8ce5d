//! A Lambda Runtime API on 127.0.0.1 and a function's real `bootstrap` binary polling it, so tests,
//! the demo and the bench invoke the shipped binary exactly as Lambda does.
//!
//! Tests and the demo start a function and invoke it: `FunctionProcess::start(binary, env)`, then
//! `invoke`, `output`. The bench measures it: `FunctionProcess::prepare()` starts the Runtime API
//! alone, `submit` queues an event before the process exists, `spawn` starts the process (its pid
//! known, optionally within Lambda's CPU share), and each `Answer` carries when it arrived, so that
//! process start → first answer is exactly the cold start Lambda would see.

mod bootstrap;
mod cpu;
mod runtime_api;
mod usage;

pub use bootstrap::Bootstrap;
pub use cpu::{CpuGroup, LambdaCpu, ONE_VCPU_MB};
pub use runtime_api::{Answer, InvocationError, InvocationResult, Pending};
pub use usage::{cpu_time_of, peak_rss_kib_of};

use bootstrap::Running;
use runtime_api::RuntimeApi;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A Runtime API and, once spawned, the function process polling it. Both stop when dropped.
pub struct FunctionProcess {
    api: RuntimeApi,
    process: Option<Running>,
}

impl FunctionProcess {
    /// Starts `binary` with the given environment (e.g. the emulator's) on top of this process's,
    /// and waits for its first poll.
    pub async fn start(binary: &Path, env: &[(&str, String)]) -> std::io::Result<Self> {
        Self::launch(&Bootstrap::new(binary).env(env)).await
    }

    /// Starts the Runtime API and the process, and waits (up to 30 s) for its first poll.
    pub async fn launch(bootstrap: &Bootstrap<'_>) -> std::io::Result<Self> {
        let mut function = Self::prepare().await?;
        function.spawn(bootstrap)?;
        function
            .wait_for_first_poll(Duration::from_secs(30))
            .await?;
        Ok(function)
    }

    /// Starts the Runtime API only; events submitted now wait for the process.
    pub async fn prepare() -> std::io::Result<Self> {
        Ok(Self {
            api: RuntimeApi::start().await?,
            process: None,
        })
    }

    /// Starts the function process (once) against this Runtime API.
    pub fn spawn(&mut self, bootstrap: &Bootstrap<'_>) -> std::io::Result<()> {
        if self.process.is_some() {
            return Err(std::io::Error::other(
                "the function process was already started",
            ));
        }
        self.api.name_function(bootstrap.function_name());
        if let Some(timeout) = bootstrap.function_timeout() {
            self.api.set_timeout(timeout);
        }
        self.process = Some(bootstrap.spawn(self.api.address())?);
        Ok(())
    }

    async fn wait_for_first_poll(&mut self, within: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + within;
        while self.api.first_poll().is_none() {
            let exited = self.process.as_mut().is_none_or(Running::exited);
            if exited || Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "the function {} the Runtime API within {within:?}; its output:\n{}",
                    if exited {
                        "exited without polling"
                    } else {
                        "did not poll"
                    },
                    self.output()
                )));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Queues an event; the answer comes through the returned `Pending`.
    pub fn submit(&self, event: &Value) -> Pending {
        self.api.submit(event)
    }

    /// Sends one event through the Runtime API and waits for the function's answer.
    pub async fn invoke(&self, event: &Value) -> InvocationResult {
        self.submit(event).answer().await.result
    }

    /// Process start to its first poll of /next: the runtime's share of a cold start (Lambda's
    /// "Init Duration"). `None` before the first poll.
    pub async fn time_to_first_poll(&self) -> Option<Duration> {
        Some(self.api.first_poll()? - self.spawned()?)
    }

    /// Just before the process was created.
    pub fn spawned(&self) -> Option<Instant> {
        self.process.as_ref().map(|p| p.started)
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Running::pid)
    }

    /// Peak resident set size (VmHWM) of the process so far, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib_of(&self.pid()?.to_string())
    }

    /// User + system CPU time of the process so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.pid()?.to_string())
    }

    /// Everything the function printed (stdout and stderr), for log assertions and secrecy scans;
    /// empty when its output is discarded.
    pub fn output(&self) -> String {
        self.process
            .as_ref()
            .map(Running::output)
            .unwrap_or_default()
    }

    /// Kills the process (as Lambda does when it reclaims an environment) and reaps it.
    pub fn stop(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill();
        }
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
