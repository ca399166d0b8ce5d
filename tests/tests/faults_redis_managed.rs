//! Fault injection on ElastiCache user rotation through the control plane (the test kit's
//! emulator, applying each change to a real redis-server over its admin connection) with a live
//! prober logging in as the application does. Writes target/reports/faults-redis-managed.md.

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use rotation::redis::managed::{Allowed, ControlPlanes, Settings};
use rotation::redis::RedisBackend;
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::managed_redis::ManagedRedis;
use testkit::redis::{RedisOptions, RedisServer, TlsFiles};
use testkit::reliability::{credential, Suite, Target};
use testkit::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a change stays `modifying`, and how long a step may wait for it.
const MODIFYING: Duration = Duration::from_millis(300);
const LONGEST_WAIT: Duration = Duration::from_secs(3);

struct ManagedTarget {
    server: Mutex<RedisServer>,
    port: u16,
    scope: ManagedRedis<'static>,
}

/// `AUTH user password` on a fresh plaintext connection: true on `+OK`.
async fn auth(port: u16, user: &str, password: &str) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!(
            "*3\r\n$4\r\nAUTH\r\n${}\r\n{user}\r\n${}\r\n{password}\r\n",
            user.len(),
            password.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).await.ok()?;
        Some(reply[..n].starts_with(b"+OK"))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[async_trait]
impl Target for ManagedTarget {
    async fn login(&self, value: &Value) -> bool {
        match credential(value) {
            Some((user, password)) => auth(self.port, user, password).await,
            None => false,
        }
    }

    /// The node goes down: changes cannot land, the user stays `modifying`, the endpoint refuses.
    async fn take_down(&self) {
        self.server.lock().unwrap().stop();
    }

    async fn bring_up(&self) {
        self.server
            .lock()
            .unwrap()
            .restart()
            .expect("redis-server restarts");
    }

    /// The rotation's own authority is the control plane: it throttles every call.
    async fn refuse_rotation_login(&self, _step: Step, _pending: &Value) {
        self.scope.throttle_next(10_000).await;
    }

    async fn allow_rotation_login(&self, _step: Step, _pending: &Value) {
        self.scope.throttle_next(0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_at_every_step_of_an_elasticache_rotation_is_survived_with_no_failed_login() {
    let tls = TlsFiles::generate().unwrap();
    let server = RedisServer::start_opts(RedisOptions {
        tls: Some(&tls),
        ..Default::default()
    })
    .expect("redis-server starts");
    let scope = ManagedRedis::new(Emulator::shared());
    scope.attach_persisting(&[&server], MODIFYING).await;
    let first = rotation::password::generate_password(32)
        .expose_secret()
        .to_owned();
    let arn = scope
        .create_elasticache_user("faults-app", "app", "on ~* +@all", &[&first])
        .await;
    while !server.can_login("app", &first).await {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let value = json!({"user_arn": arn, "username": "app", "password": first,
                       "host": "localhost", "port": server.tls_port, "ca_bundle": tls.ca_pem,
                       "connect_timeout": 2});
    let id = Emulator::shared()
        .create_secret("faults-redis-managed", &value.to_string())
        .await;
    // The backend signs as the scope, as the function would with its role.
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(testkit::emulator::REGION))
        .endpoint_url(Emulator::shared().endpoint())
        .credentials_provider(
            aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
                aws_sdk_secretsmanager::config::Credentials::new(
                    scope.access_key(),
                    "testing",
                    None,
                    None,
                    "faults",
                ),
            ),
        )
        .build();
    let planes = ControlPlanes::new(
        &config,
        Settings::new(Allowed::new(&arn, "localhost"), LONGEST_WAIT),
    );
    let target = Arc::new(ManagedTarget {
        port: server.port,
        server: Mutex::new(server),
        scope,
    });
    let backend = RedisBackend::with_control_planes(planes);
    let suite = Suite::after_first_rotation(backend, target, &id).await;
    let report = suite.report(&id).await;
    assert!(
        suite.proxy.injected() > 0,
        "the proxy injected Secrets Manager faults"
    );
    report.assert_survived("faults-redis-managed.md", 32).await;
}
