//! A throwaway PostgreSQL cluster: initdb in a temp dir, SCRAM auth on 127.0.0.1, a random superuser
//! password. Run as an unprivileged user when the tests run as root.

use crate::process::{
    find_program, free_port, fresh_dir, running_as_root, wait_for_port, Janitor, ServiceProcess,
    ServiceSpec,
};
use crate::recording::{record, RecordingServer, Sink};
use rotation::password::generate_password;
use secrecy::{ExposeSecret, SecretString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SUPERUSER: &str = "postgres";

pub struct PostgresServer {
    pub port: u16,
    superuser_password: SecretString,
    dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    run_as: Option<String>,
    process: Option<ServiceProcess>,
    _janitor: Janitor,
}

impl PostgresServer {
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a new cluster with extra `-c name=value` settings.
    pub fn start_with(settings: &[(&str, &str)]) -> io::Result<Self> {
        Self::start_inner(settings, None)
    }

    /// Starts a cluster that also accepts TLS with this certificate and key (PEM).
    pub fn start_with_tls(
        settings: &[(&str, &str)],
        cert_pem: &str,
        key_pem: &str,
    ) -> io::Result<Self> {
        Self::start_inner(settings, Some((cert_pem, key_pem)))
    }

    fn start_inner(settings: &[(&str, &str)], tls: Option<(&str, &str)>) -> io::Result<Self> {
        let bindir = postgres_bindir()?;
        let dir = fresh_dir("postgres")?;
        let data = dir.join("data");
        let password = generate_password(32);
        std::fs::write(dir.join("pwfile"), password.expose_secret())?;
        let mut tls_settings = Vec::new();
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.join("server.crt"), cert)?;
            std::fs::write(dir.join("server.key"), key)?;
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )?;
            tls_settings.push(("ssl".to_owned(), "on".to_owned()));
            tls_settings.push((
                "ssl_cert_file".to_owned(),
                dir.join("server.crt").display().to_string(),
            ));
            tls_settings.push((
                "ssl_key_file".to_owned(),
                dir.join("server.key").display().to_string(),
            ));
        }
        let run_as = if running_as_root() {
            Some(unprivileged_user())
        } else {
            None
        };
        if let Some(user) = &run_as {
            check(Command::new("chown").args(["-R", user]).arg(&dir), "chown")?;
        }
        let mut initdb = as_user(run_as.as_deref(), &bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", dir.join("pwfile").display()));
        check(&mut initdb, "initdb")?;
        std::fs::remove_file(dir.join("pwfile"))?;

        let port = free_port()?;
        let mut args: Vec<String> = vec![
            "-D".into(),
            data.display().to_string(),
            "-p".into(),
            port.to_string(),
        ];
        let defaults = [
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", dir.to_str().unwrap_or("/tmp")),
            ("fsync", "off"),
            ("full_page_writes", "off"),
            ("synchronous_commit", "off"),
            ("max_connections", "200"),
        ];
        let tls_settings: Vec<(&str, &str)> = tls_settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (name, value) in defaults.iter().chain(settings).chain(&tls_settings) {
            args.push("-c".into());
            args.push(format!("{name}={value}"));
        }
        let mut server = Self {
            port,
            superuser_password: password,
            dir: dir.clone(),
            program: bindir.join("postgres"),
            args,
            run_as,
            process: None,
            _janitor: Janitor::remove_on_exit(&dir)?,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> io::Result<()> {
        let log = self.dir.join(format!("server-{}.log", self.launches()));
        let mut process = ServiceProcess::spawn(ServiceSpec {
            name: "postgres",
            program: &self.program,
            args: self.args.clone(),
            stop_signal: "INT",
            remove_on_exit: None,
            log: &log,
            run_as: self.run_as.as_deref(),
        })?;
        wait_for_port(self.port, Duration::from_secs(60), &mut process)?;
        self.process = Some(process);
        Ok(())
    }

    fn launches(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("server-"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Stops the server (fast shutdown: sessions end); data stays for [`PostgresServer::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts the stopped server again on the same port with the same data.
    pub fn start_again(&mut self) -> io::Result<()> {
        self.stop();
        self.launch()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn superuser_password(&self) -> &SecretString {
        &self.superuser_password
    }

    /// The server's log (its stderr, over every start), e.g. to check that no statement carried a
    /// plaintext password.
    pub fn log_contents(&self) -> String {
        (0..self.launches())
            .map(|n| {
                std::fs::read_to_string(self.dir.join(format!("server-{n}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(ServiceProcess::is_running)
    }

    /// A superuser connection (retried while the server finishes starting).
    pub async fn superuser_client(&self) -> tokio_postgres::Client {
        self.connect(
            SUPERUSER,
            self.superuser_password.expose_secret(),
            "postgres",
        )
        .await
        .unwrap_or_else(|e| panic!("superuser cannot connect: {e}"))
    }

    /// Runs `sql` (one or more statements) as the superuser; panics when it fails.
    pub async fn superuser_execute(&self, sql: &str) {
        self.superuser_client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("superuser statement failed: {e}"));
    }

    /// Logs in to database `postgres` with the `username` and `password` of a secret value.
    pub async fn connect_as(
        &self,
        value: &serde_json::Value,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let field = |name: &str| {
            value[name]
                .as_str()
                .unwrap_or_else(|| panic!("the secret value has a `{name}` string"))
                .to_owned()
        };
        self.connect(&field("username"), &field("password"), "postgres")
            .await
    }

    /// Logs in as `user`; the connection task runs in the background.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        dbname: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut config = tokio_postgres::Config::new();
            config
                .host("127.0.0.1")
                .port(self.port)
                .user(user)
                .password(password)
                .dbname(dbname)
                .connect_timeout(Duration::from_secs(5));
            match config.connect(tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return Ok(client);
                }
                // 57P03: the database system is starting up.
                Err(e)
                    if e.code().map(|c| c.code()) == Some("57P03") && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What a role is and holds, read as the superuser, to prove an attack changed nothing. The
/// password verifier is compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleSnapshot {
    verifier: Option<String>,
    /// SUPERUSER, INHERIT, CREATEROLE, CREATEDB, LOGIN, REPLICATION, BYPASSRLS, connection limit,
    /// VALID UNTIL, as one row.
    pub attributes: String,
    /// Roles it is a member of, and roles that are members of it.
    pub member_of: Vec<String>,
    pub members: Vec<String>,
    /// Its per-role settings, every scope.
    pub settings: Vec<String>,
}

impl RoleSnapshot {
    pub fn same_password_as(&self, other: &RoleSnapshot) -> bool {
        self.verifier == other.verifier
    }

    pub fn is_superuser(&self) -> bool {
        self.attributes.starts_with("(t,")
    }
}

impl std::fmt::Debug for RoleSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSnapshot")
            .field("has_password", &self.verifier.is_some())
            .field("attributes", &self.attributes)
            .field("member_of", &self.member_of)
            .field("members", &self.members)
            .field("settings", &self.settings)
            .finish()
    }
}

const ROLE_SNAPSHOT: &str = "\
SELECT a.rolpassword,
  row(a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolreplication,
      a.rolbypassrls, a.rolconnlimit, a.rolvaliduntil)::text AS attributes,
  ARRAY(SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
        WHERE m.member = a.oid ORDER BY 1) AS member_of,
  ARRAY(SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE m.roleid = a.oid ORDER BY 1) AS members,
  ARRAY(SELECT coalesce(d.datname::text, '*') || ':' || c FROM pg_db_role_setting s
        LEFT JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c
        WHERE s.setrole = a.oid ORDER BY 1) AS settings
FROM pg_authid a WHERE a.rolname = $1";

impl PostgresServer {
    /// The role's state, or `None` when it does not exist.
    pub async fn role_snapshot(&self, role: &str) -> Option<RoleSnapshot> {
        let su = self.superuser_client().await;
        let row = su
            .query_opt(ROLE_SNAPSHOT, &[&role])
            .await
            .unwrap_or_else(|e| panic!("reading role {role}: {e}"))?;
        Some(RoleSnapshot {
            verifier: row.get(0),
            attributes: row.get(1),
            member_of: row.get(2),
            members: row.get(3),
            settings: row.get(4),
        })
    }
}

/// A fake PostgreSQL server: it answers an SSLRequest with `N` and a StartupMessage with
/// AuthenticationCleartextPassword, so a client would send it a password in clear, and records
/// every byte it receives.
pub struct FakePostgres;

impl FakePostgres {
    pub async fn start() -> io::Result<RecordingServer> {
        RecordingServer::start(fake_session).await
    }
}

async fn fake_session(mut stream: tokio::net::TcpStream, received: Sink) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SSL_REQUEST: u32 = 80_877_103;
    let (mut unread, mut buffer, mut started) = (Vec::new(), vec![0u8; 8192], false);
    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
        record(&received, &buffer[..n]);
        unread.extend_from_slice(&buffer[..n]);
        loop {
            // Before the startup message a message has no type byte; after it, one.
            let at = usize::from(started);
            let Some(len) = unread.get(at..at + 4) else {
                break;
            };
            let end = at + u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let needed = if started { end } else { end.max(8) };
            if unread.len() < needed {
                break;
            }
            let answer: Vec<u8> = if started {
                // Whatever the client sent (its password): refuse, as a server would.
                let mut fields = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0".to_vec();
                let mut error = b"E".to_vec();
                error.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                error.append(&mut fields);
                error
            } else if u32::from_be_bytes([unread[4], unread[5], unread[6], unread[7]])
                == SSL_REQUEST
            {
                b"N".to_vec()
            } else {
                started = true;
                // AuthenticationCleartextPassword: 'R', length 8, code 3.
                vec![b'R', 0, 0, 0, 8, 0, 0, 0, 3]
            };
            unread.drain(..end);
            if stream.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}

/// A TCP relay on its own port in front of a server: the same server under another endpoint.
pub struct Relay {
    pub port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Relay {
    pub async fn start(target_port: u16) -> io::Result<Self> {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { port, connections })
    }

    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid", user, "--regid", user, "--init-groups", "--"])
                .arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn check(command: &mut Command, what: &str) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// `$PG_TEST_USER`, else `postgres` when that account exists, else `nobody`.
fn unprivileged_user() -> String {
    if let Ok(user) = std::env::var("PG_TEST_USER") {
        return user;
    }
    let exists = Command::new("id")
        .arg("-u")
        .arg("postgres")
        .output()
        .is_ok_and(|o| o.status.success());
    if exists { "postgres" } else { "nobody" }.to_owned()
}

/// `$PG_BINDIR`, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin, else PATH.
fn postgres_bindir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = versions
        .into_iter()
        .rev()
        .find(|d| d.join("postgres").is_file())
    {
        return Ok(dir);
    }
    let postgres = find_program("PG_POSTGRES", &["postgres"], &[])?;
    Ok(postgres.parent().map(Path::to_path_buf).unwrap_or_default())
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Stopped before the janitor (a later field) removes the directory.
        self.stop();
    }
}
