//! A throwaway redis-server whose settings live in a config file in a temp dir, so `CONFIG REWRITE`
//! and restarts behave as in production. [`RedisServer::start_opts`] adds what rotation tests need:
//! an admin user (the default user off), users in the config file or an aclfile, TLS, replication.

pub mod attack;
mod fake;
pub mod scenario;
mod tap;
mod tls;

pub use fake::FakeRedis;
pub use tap::{Monitor, WireTap};
pub use tls::TlsFiles;

use crate::process::{
    find_program, free_port, fresh_dir, wait_for_port, ServiceProcess, ServiceSpec,
};
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use rotation::password::generate_password;
use rotation::redis::acl::{AclUser, PasswordHash};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The admin user of every server started with [`RedisServer::start_opts`].
pub const ADMIN: &str = "admin";

/// The admin password, one per test process and shared by all its servers (as one admin secret
/// serves every node of a deployment). Test code must not print it.
pub fn admin_password() -> &'static SecretString {
    static PASSWORD: OnceLock<SecretString> = OnceLock::new();
    PASSWORD.get_or_init(|| generate_password(32))
}

/// The admin's credential alone. The function refuses an admin secret that names no server:
/// use [`admin_secret_json_for`] (this stays for callers that add the server fields themselves).
pub fn admin_secret_json() -> String {
    json!({"username": ADMIN, "password": admin_password().expose_secret()}).to_string()
}

/// The admin secret's value for `server` (plaintext port), as the secret named by `masterarn`
/// holds it: the admin's credential and the only server it may be sent to.
pub fn admin_secret_json_for(server: &RedisServer) -> String {
    admin_secret_value(server.endpoint_fields()).to_string()
}

/// The admin's credential with `fields` (host, port, tls, ca_bundle, nodes, endpoints, …).
pub fn admin_secret_value(fields: serde_json::Value) -> serde_json::Value {
    let mut value = json!({"username": ADMIN, "password": admin_password().expose_secret()});
    if let (Some(value), serde_json::Value::Object(fields)) = (value.as_object_mut(), fields) {
        value.extend(fields);
    }
    value
}

/// What a rotation test's server looks like.
#[derive(Default, Clone, Copy)]
pub struct RedisOptions<'a> {
    /// ACL users as `user ...` lines, e.g. `user app on >pw ~* +@all`.
    pub users: &'a [&'a str],
    /// Users in an aclfile (`ACL SAVE` persists them) instead of redis.conf (`CONFIG REWRITE`).
    pub aclfile: bool,
    /// Also listen with TLS on `tls_port` with this certificate.
    pub tls: Option<&'a TlsFiles>,
    /// Replicate from the server on this port (authenticating as the admin).
    pub replica_of: Option<u16>,
    /// More redis.conf lines.
    pub extra: &'a [&'a str],
}

pub struct RedisServer {
    pub port: u16,
    /// The TLS port, when started with [`RedisOptions::tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    program: PathBuf,
    process: Option<ServiceProcess>,
}

impl RedisServer {
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts redis-server with extra config-file lines (e.g. `user app on >pw ~* +@all`).
    pub fn start_with(config_lines: &[&str]) -> io::Result<Self> {
        let lines: Vec<String> = config_lines.iter().map(|l| l.to_string()).collect();
        Self::launch_new(fresh_dir("redis")?, lines, None)
    }

    /// Starts a server for rotation tests (see [`RedisOptions`]).
    pub fn start_opts(options: RedisOptions<'_>) -> io::Result<Self> {
        let dir = fresh_dir("redis")?;
        let admin_hash = PasswordHash::of(admin_password());
        let mut users = vec![
            "user default off".to_owned(),
            format!(
                "user {ADMIN} on {} ~* &* +@all",
                admin_hash.add_rule().as_str()
            ),
        ];
        users.extend(options.users.iter().map(|u| u.to_string()));
        let mut lines = vec![];
        if options.aclfile {
            let path = dir.join("users.acl");
            std::fs::write(&path, users.join("\n") + "\n")?;
            lines.push(format!("aclfile {}", path.display()));
        } else {
            lines.extend(users);
        }
        let mut tls_port = None;
        if let Some(tls) = options.tls {
            let port = free_port()?;
            tls_port = Some(port);
            lines.extend([
                format!("tls-port {port}"),
                format!("tls-cert-file {}", tls.cert_path().display()),
                format!("tls-key-file {}", tls.key_path().display()),
                format!("tls-ca-cert-file {}", tls.ca_path().display()),
                "tls-auth-clients no".to_owned(),
            ]);
        }
        if let Some(primary) = options.replica_of {
            lines.extend([
                format!("replicaof 127.0.0.1 {primary}"),
                format!("masteruser {ADMIN}"),
                format!("masterauth {}", admin_password().expose_secret()),
            ]);
        }
        lines.extend(options.extra.iter().map(|l| l.to_string()));
        Self::launch_new(dir, lines, tls_port)
    }

    fn launch_new(dir: PathBuf, lines: Vec<String>, tls_port: Option<u16>) -> io::Result<Self> {
        let program = find_program("REDIS_SERVER", &["redis-server"], &[])?;
        let port = free_port()?;
        let mut config = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\nprotected-mode yes\n",
            dir.display()
        );
        for line in lines {
            config.push_str(&line);
            config.push('\n');
        }
        std::fs::write(dir.join("redis.conf"), config)?;
        let mut server = Self {
            port,
            tls_port,
            dir,
            program,
            process: None,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut process = ServiceProcess::spawn(ServiceSpec {
            name: "redis-server",
            program: &self.program,
            args: vec![self.config_path().display().to_string()],
            stop_signal: "TERM",
            remove_on_exit: None,
            log: &self.dir.join("redis.log"),
            run_as: None,
        })?;
        wait_for_port(self.port, Duration::from_secs(30), &mut process)?;
        if let Some(tls_port) = self.tls_port {
            wait_for_port(tls_port, Duration::from_secs(30), &mut process)?;
        }
        self.process = Some(process);
        Ok(())
    }

    /// Stops and starts the server on the same port with the same files.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch()
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("redis.conf")
    }

    /// The server's own log (for secrecy scans).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// The secret fields that reach this server in plaintext.
    pub fn endpoint_fields(&self) -> serde_json::Value {
        json!({"engine": "redis", "host": "127.0.0.1", "port": self.port, "tls": false})
    }

    /// A connection logged in as `user` (test code: the caller must not print the error).
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let info = ConnectionAddr::Tcp("127.0.0.1".into(), self.port)
            .into_connection_info()?
            .set_redis_settings(
                RedisConnectionInfo::default()
                    .set_username(user)
                    .set_password(password),
            );
        redis::Client::open(info)?
            .get_multiplexed_async_connection()
            .await
    }

    pub async fn admin(&self) -> MultiplexedConnection {
        self.connect(ADMIN, admin_password().expose_secret())
            .await
            .unwrap_or_else(|_| panic!("the admin logs in on port {}", self.port))
    }

    /// Whether `AUTH user password` succeeds on a fresh connection.
    pub async fn can_login(&self, user: &str, password: &str) -> bool {
        self.connect(user, password).await.is_ok()
    }

    /// `ACL GETUSER` as the admin; `None` when the user does not exist.
    pub async fn acl_user(&self, user: &str) -> Option<AclUser> {
        let reply: redis::Value = redis::cmd("ACL")
            .arg("GETUSER")
            .arg(user)
            .query_async(&mut self.admin().await)
            .await
            .expect("ACL GETUSER");
        AclUser::parse(&reply).expect("an ACL GETUSER reply")
    }

    /// `ACL LIST` as the admin.
    pub async fn acl_list(&self) -> Vec<String> {
        redis::cmd("ACL")
            .arg("LIST")
            .query_async(&mut self.admin().await)
            .await
            .expect("ACL LIST")
    }

    /// Waits until this replica's link to its primary is up.
    pub async fn wait_for_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut self.admin().await)
                .await
                .expect("INFO replication");
            if info.contains("master_link_status:up") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica on {} never synced",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends one inline command and returns the raw first reply line (e.g. `+PONG`).
    pub fn raw_command(&self, command: &str) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut buffer = [0u8; 512];
        let n = stream.read(&mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
