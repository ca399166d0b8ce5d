//! How a function's `bootstrap` binary starts: a direct child of this process (no shell, no `env`
//! in between, so its pid is the function's and its start is the process's own), with the Lambda
//! variables, optionally confined to Lambda's CPU share.
//!
//! No watchdog is needed: when this process dies, the Runtime API's sockets close, the function's
//! pending `/next` fails and `lambda_runtime` returns, ending the process.

use super::cpu::{CpuGroup, LambdaCpu};
use crate::process::{fresh_dir, Janitor};
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A function binary and how to start it. `Bootstrap::new(binary).env(&vars)` is what tests use:
/// this process's environment plus `vars`, the output kept for `FunctionProcess::output`.
pub struct Bootstrap<'a> {
    binary: &'a Path,
    env: &'a [(&'a str, String)],
    inherit_env: bool,
    keep_output: bool,
    name: &'a str,
    cpu: Option<&'a LambdaCpu>,
    timeout: Option<Duration>,
}

impl<'a> Bootstrap<'a> {
    pub fn new(binary: &'a Path) -> Self {
        Self {
            binary,
            env: &[],
            inherit_env: true,
            keep_output: true,
            name: "local-rotation",
            cpu: None,
            timeout: None,
        }
    }

    /// Variables on top of the Lambda ones' defaults (the Lambda ones win).
    pub fn env(mut self, env: &'a [(&'a str, String)]) -> Self {
        self.env = env;
        self
    }

    /// Only `env` and the Lambda variables: nothing of this process's environment (e.g. a
    /// `RUST_LOG` in the shell) reaches the function.
    pub fn clean_env(mut self) -> Self {
        self.inherit_env = false;
        self
    }

    /// Stdout and stderr go to /dev/null instead of a log file.
    pub fn discard_output(mut self) -> Self {
        self.keep_output = false;
        self
    }

    /// `AWS_LAMBDA_FUNCTION_NAME`, and the function ARN and log group that follow from it
    /// (`local-rotation` unless named).
    pub fn name(mut self, name: &'a str) -> Self {
        self.name = name;
        self
    }

    /// Runs the process in a cgroup of its own with Lambda's CPU share at `cpu`'s memory size
    /// (also its `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; 128 otherwise), from its first instruction.
    pub fn cpu(mut self, cpu: Option<&'a LambdaCpu>) -> Self {
        self.cpu = cpu;
        self
    }

    /// The function's Lambda timeout: each invocation's deadline (300 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub(super) fn function_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(super) fn function_name(&self) -> &str {
        self.name
    }

    /// Starts the process against the Runtime API at `runtime_api` (`host:port`).
    pub(super) fn spawn(&self, runtime_api: &str) -> io::Result<Running> {
        let mut command = Command::new(self.binary);
        if !self.inherit_env {
            command.env_clear();
        }
        let memory_mb = self.cpu.map_or(128, |cpu| cpu.memory_mb);
        command
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            // Lambda hands every function session credentials; the token says whose calls the
            // emulator records for the IAM proof.
            .env(
                "AWS_SESSION_TOKEN",
                crate::iam::principal_token(self.binary, self.name),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .stdin(Stdio::null());
        let log = if self.keep_output {
            let log = Log::create()?;
            let file = File::create(&log.path)?;
            command.stdout(file.try_clone()?).stderr(file);
            Some(log)
        } else {
            command.stdout(Stdio::null()).stderr(Stdio::null());
            None
        };
        let cpu_group = self.cpu.map(LambdaCpu::group).transpose()?;
        if let Some(group) = &cpu_group {
            let procs = group.procs_fd();
            // SAFETY: between fork and exec the closure makes one pwrite(2), which is
            // async-signal-safe, and allocates nothing; `procs` stays open as long as `group`,
            // which `Running` keeps until the process is reaped.
            unsafe {
                command.pre_exec(move || {
                    if libc::pwrite(procs, b"0".as_ptr().cast(), 1, 0) == 1 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let started = Instant::now();
        let child = command.spawn()?;
        Ok(Running {
            child: Some(child),
            started,
            cpu_group,
            log,
        })
    }
}

/// The function's log file, in a directory removed when this is dropped or this process exits.
struct Log {
    path: PathBuf,
    dir: PathBuf,
    _janitor: Janitor,
}

impl Log {
    fn create() -> io::Result<Self> {
        let dir = fresh_dir("function")?;
        Ok(Self {
            path: dir.join("function.log"),
            _janitor: Janitor::remove_on_exit(&dir)?,
            dir,
        })
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A started function process. Killed when dropped.
pub(super) struct Running {
    child: Option<Child>,
    /// Just before the process was created.
    pub(super) started: Instant,
    cpu_group: Option<CpuGroup>,
    log: Option<Log>,
}

impl Running {
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it has exited (its output then says why).
    pub(super) fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| !matches!(child.try_wait(), Ok(None)))
    }

    pub(super) fn output(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| std::fs::read_to_string(&log.path).ok())
            .unwrap_or_default()
    }

    /// Kills the process (as Lambda does when it reclaims an environment), reaps it, then
    /// removes its CPU group. The output stays readable.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.cpu_group = None;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
