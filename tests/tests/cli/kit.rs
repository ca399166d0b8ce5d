//! What the `rotationctl` suites share: running the binary against the emulator, a PostgreSQL
//! server with an admin, and secrets that are due for rotation.

#![allow(dead_code)]

use rotation::protocol::AWSPENDING;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use testkit::lambda::workspace_binary;
use testkit::{Emulator, PostgresServer};

pub const DAY: Duration = Duration::from_secs(86_400);
pub const ADMIN: &str = "cli_admin";

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the built `rotationctl` with the emulator's environment and no standard input.
pub async fn rotationctl(args: &[&str]) -> Run {
    let binary = workspace_binary("rotationctl");
    let mut command = tokio::process::Command::new(&binary);
    command
        .args(args)
        .env(
            "AWS_SESSION_TOKEN",
            testkit::iam::principal_token(&binary, "operator"),
        )
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::null());
    for (key, value) in Emulator::shared().env() {
        command.env(key, value);
    }
    let output = command.output().await.expect("rotationctl runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().expect("PostgreSQL starts"))
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

pub fn random_password() -> String {
    secrecy::ExposeSecret::expose_secret(&rotation::password::generate_password(24)).to_owned()
}

/// A non-superuser admin (CREATEROLE, pg_signal_backend) and its secret, created once.
pub async fn admin_secret() -> String {
    static ADMIN_ARN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    ADMIN_ARN
        .get_or_init(|| async {
            let password = random_password();
            server()
                .superuser_execute(&format!(
                    "CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{password}'; \
                     GRANT pg_signal_backend TO {ADMIN};"
                ))
                .await;
            pg_admin_secret("cli-pg-admin", ADMIN, &password).await
        })
        .await
        .clone()
}

/// A new admin secret for `username` with `password` on the test server (plaintext); its ARN.
pub async fn pg_admin_secret(prefix: &str, username: &str, password: &str) -> String {
    let secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
                        "username": username, "password": password, "ssl": false});
    Emulator::shared()
        .create_secret(prefix, &secret.to_string())
        .await
}

/// Enables rotation on a secret the way the emulator allows (RotateSecret with a function it does
/// not know), then takes AWSPENDING off the empty version that leaves: the state a secret is in
/// between two rotations.
pub async fn enable_rotation(id: &str, days: i64) {
    let token = Emulator::shared().stage_rotation_every(id, days).await;
    Emulator::shared()
        .client()
        .update_secret_version_stage()
        .secret_id(id)
        .version_stage(AWSPENDING)
        .remove_from_version_id(&token)
        .send()
        .await
        .expect("AWSPENDING removed");
}

/// A PostgreSQL login role and its secret (plaintext connection, as the local server has no TLS).
pub async fn postgres_secret(user: &str, alternating: bool) -> (String, String) {
    let masterarn = if alternating {
        Some(admin_secret().await)
    } else {
        None
    };
    postgres_secret_with_admin(user, masterarn).await
}

/// As [`postgres_secret`]; with `masterarn`, alternating users changed by that admin.
pub async fn postgres_secret_with_admin(user: &str, masterarn: Option<String>) -> (String, String) {
    let password = random_password();
    server()
        .superuser_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"))
        .await;
    let mut secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
                            "username": user, "password": password, "dbname": "postgres",
                            "ssl": false});
    if let Some(masterarn) = masterarn {
        secret["masterarn"] = json!(masterarn);
    }
    let id = Emulator::shared()
        .create_secret("cli-pg", &secret.to_string())
        .await;
    enable_rotation(&id, 30).await;
    (id, password)
}

pub async fn logs_in(value: &Value) -> bool {
    server().connect_as(value).await.is_ok()
}

/// Whether `text` contains every one of `parts`.
pub fn contains_all(text: &str, parts: &[&str]) -> bool {
    parts.iter().all(|part| text.contains(part))
}

pub fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.all().contains(secret),
            "a secret value reached rotationctl's output"
        );
    }
}
