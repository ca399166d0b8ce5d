//! Service processes tied to the life of the test process.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Kills the service with `$1` and removes `$2` when its stdin closes, i.e. when the test process
/// ends in any way, including a panic or a kill.
const WATCHDOG: &str = r#"sig=$1; dir=$2; shift 2
exec 3<&0
"$@" </dev/null &
pid=$!
( read -r _ <&3; kill -s "$sig" "$pid" 2>/dev/null ) &
wait "$pid"
status=$?
[ -n "$dir" ] && rm -rf "$dir"
exit $status"#;

/// A running service. Dropping it stops the service and removes its directory.
pub struct ServiceProcess {
    name: String,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

pub struct ServiceSpec<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    /// The signal that stops the service cleanly and quickly.
    pub stop_signal: &'a str,
    /// Removed after the service stops; `None` for a directory that outlives restarts.
    pub remove_on_exit: Option<&'a Path>,
    pub log: &'a Path,
    /// Run as this unprivileged user (PostgreSQL refuses root).
    pub run_as: Option<&'a str>,
}

impl ServiceProcess {
    pub fn spawn(spec: ServiceSpec<'_>) -> io::Result<Self> {
        let log = std::fs::File::create(spec.log)?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(spec.stop_signal)
            .arg(spec.remove_on_exit.unwrap_or(Path::new("")));
        if let Some(user) = spec.run_as {
            command.args([
                "setpriv",
                "--reuid",
                user,
                "--regid",
                user,
                "--init-groups",
                "--",
            ]);
        }
        command
            .arg(spec.program)
            .args(&spec.args)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut watchdog = command.spawn()?;
        let stdin = watchdog.stdin.take();
        Ok(Self {
            name: spec.name.to_owned(),
            watchdog,
            stdin,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the service is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// Stops the service and waits until it has exited.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, within: Duration, service: &mut ServiceProcess) -> io::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if !service.is_running() {
            return Err(io::Error::other(format!(
                "{} exited before listening on {port}",
                service.name()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{} did not listen on {port} within {within:?}",
                service.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A new empty directory under the system temp dir.
pub fn fresh_dir(prefix: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "secret-rotation-{prefix}-{}-{n}",
        std::process::id()
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A program from `$ENV_VAR`, else the first of `names` found on PATH or in `extra_dirs`.
/// Fails loudly: a missing service is an error, never a skipped test.
pub fn find_program(env_var: &str, names: &[&str], extra_dirs: &[PathBuf]) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(path));
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in extra_dirs.iter().chain(&path_dirs) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{} not found on PATH (set {env_var}, or run `make deps`)",
            names.join(" or ")
        ),
    ))
}

/// Whether this process runs as root; services that refuse root then run as another user.
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Removes a directory when dropped or when the test process exits, whichever comes first, for
/// services that restart (their own watchdog must not remove it) and for ones in statics (which
/// are never dropped).
pub struct Janitor {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Janitor {
    pub fn remove_on_exit(dir: &Path) -> io::Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"read -r _; rm -rf "$1""#)
            .arg("janitor")
            .arg(dir)
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
