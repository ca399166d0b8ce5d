//! Fault injection on PostgreSQL rotation (alternating users) with a live prober: every fault at
//! every step, the service's retries, and no failed login with AWSCURRENT. Writes
//! target/reports/faults-postgres.md.

use async_trait::async_trait;
use rotation::postgres::PostgresBackend;
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use testkit::reliability::{credential, Suite, Target};
use testkit::{Emulator, PostgresServer};

const ADMIN: &str = "fault_admin";

struct PgTarget {
    server: Mutex<PostgresServer>,
    port: u16,
    superuser_password: String,
}

impl PgTarget {
    async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect(tokio_postgres::NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Waits until the server accepts sessions (it refuses them while starting up).
    async fn wait_ready(&self) {
        for _ in 0..200 {
            if self
                .connect("postgres", &self.superuser_password)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("PostgreSQL did not accept sessions within 10 s");
    }

    async fn superuser(&self, sql: &str) {
        self.wait_ready().await;
        let client = self
            .connect("postgres", &self.superuser_password)
            .await
            .expect("superuser session");
        client
            .batch_execute(sql)
            .await
            .expect("superuser statement");
    }

    fn login_role(step: Step, pending: &Value) -> String {
        match step {
            Step::TestSecret => postgres_protocol::escape::escape_identifier(
                pending["username"].as_str().unwrap_or_default(),
            ),
            _ => ADMIN.to_owned(),
        }
    }
}

#[async_trait]
impl Target for PgTarget {
    async fn login(&self, value: &Value) -> bool {
        match credential(value) {
            Some((user, password)) => self.connect(user, password).await.is_ok(),
            None => false,
        }
    }

    async fn take_down(&self) {
        self.server.lock().unwrap().stop();
    }

    async fn bring_up(&self) {
        self.server
            .lock()
            .unwrap()
            .start_again()
            .expect("PostgreSQL restarts");
        self.wait_ready().await;
    }

    async fn refuse_rotation_login(&self, step: Step, pending: &Value) {
        self.superuser(&format!(
            "ALTER ROLE {} NOLOGIN",
            Self::login_role(step, pending)
        ))
        .await;
    }

    async fn allow_rotation_login(&self, step: Step, pending: &Value) {
        self.superuser(&format!(
            "ALTER ROLE {} LOGIN",
            Self::login_role(step, pending)
        ))
        .await;
    }
}

/// A PostgreSQL server with an admin and an application user, and the application's secret
/// (alternating users).
async fn setup() -> (Arc<PgTarget>, String) {
    let server = PostgresServer::start().expect("PostgreSQL starts");
    let target = Arc::new(PgTarget {
        port: server.port,
        superuser_password: server.superuser_password().expose_secret().to_owned(),
        server: Mutex::new(server),
    });
    let admin_password = rotation::password::generate_password(24)
        .expose_secret()
        .to_owned();
    let app_password = rotation::password::generate_password(24)
        .expose_secret()
        .to_owned();
    target
        .superuser(&format!(
            "CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{admin_password}'; GRANT pg_signal_backend TO {ADMIN}; \
             CREATE ROLE app LOGIN PASSWORD '{app_password}';"
        ))
        .await;
    let emulator = Emulator::shared();
    let admin = json!({"host": "127.0.0.1", "port": target.port, "username": ADMIN, "password": admin_password,
                       "ssl": false});
    let admin_arn = emulator
        .create_secret("faults-pg-admin", &admin.to_string())
        .await;
    let app = json!({"engine": "postgres", "host": "127.0.0.1", "port": target.port, "username": "app",
                     "password": app_password, "ssl": false, "masterarn": admin_arn, "connect_timeout": 2});
    let id = emulator.create_secret("faults-pg", &app.to_string()).await;
    (target, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_at_every_step_is_survived_with_no_failed_login() {
    let (target, id) = setup().await;
    let suite = Suite::after_first_rotation(PostgresBackend::new(), target, &id).await;

    let report = suite.report(&id).await;
    assert!(
        suite.proxy.injected() > 0,
        "the proxy injected Secrets Manager faults"
    );
    report.assert_survived("faults-postgres.md", 32).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_rotations_started_at_once_one_completes_the_other_fails_cleanly() {
    let (target, id) = setup().await;
    let emulator = Emulator::shared();
    let engine = rotation::Engine::new(
        emulator.store(),
        PostgresBackend::new(),
        testkit::LogCapture::global().telemetry(),
    );
    emulator.rotate(&engine, &id).await.expect("first rotation");
    let before = emulator.value_at(&id, "AWSCURRENT").await.unwrap();

    let first = emulator.stage_rotation(&id).await;
    let second = emulator.stage_rotation(&id).await;
    let (a, b) = tokio::join!(
        testkit::emulator::run_steps(&engine, &id, &first),
        testkit::emulator::run_steps(&engine, &id, &second)
    );
    let failed = [&a, &b].into_iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 1, "exactly one rotation fails");
    let err = a.as_ref().err().or(b.as_ref().err()).unwrap();
    assert_eq!(err.kind(), "NotPending", "it fails cleanly: {err}");
    assert_eq!(
        emulator.version_with(&id, "AWSCURRENT").await.as_deref(),
        Some(second.as_str())
    );
    let current = emulator.json_at(&id, "AWSCURRENT").await;
    let previous = emulator.json_at(&id, "AWSPREVIOUS").await;
    assert!(target.login(&current).await, "AWSCURRENT logs in");
    assert!(
        target.login(&previous).await,
        "AWSPREVIOUS logs in: no credential was lost"
    );
    assert_eq!(emulator.value_at(&id, "AWSPREVIOUS").await.unwrap(), before);
    assert!(emulator.version_with(&id, "AWSPENDING").await.is_none());
}
