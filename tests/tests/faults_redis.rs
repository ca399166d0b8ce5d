//! Fault injection on Redis rotation (single user, two passwords at once, admin from `masterarn`)
//! with a live prober. Writes target/reports/faults-redis.md.

use async_trait::async_trait;
use rotation::redis::RedisBackend;
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::redis::{RedisOptions, RedisServer};
use testkit::reliability::{credential, Suite, Target};
use testkit::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct RedisTarget {
    server: Mutex<RedisServer>,
    port: u16,
    root_password: String,
}

impl RedisTarget {
    /// Sends commands on one fresh connection; true when every reply is `+OK`.
    async fn commands(&self, commands: &[&[&str]]) -> bool {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()?;
            let mut request = String::new();
            for parts in commands {
                request.push_str(&format!("*{}\r\n", parts.len()));
                for part in *parts {
                    request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
                }
            }
            stream.write_all(request.as_bytes()).await.ok()?;
            let (mut reply, mut buffer) = (Vec::new(), [0u8; 256]);
            while reply.iter().filter(|b| **b == b'\n').count() < commands.len() {
                let n = stream.read(&mut buffer).await.ok()?;
                if n == 0 {
                    return None;
                }
                reply.extend_from_slice(&buffer[..n]);
            }
            Some(
                String::from_utf8_lossy(&reply)
                    .lines()
                    .all(|line| line == "+OK"),
            )
        };
        tokio::time::timeout(Duration::from_secs(2), attempt)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    async fn set_admin(&self, rule: &str) {
        let done = self
            .commands(&[
                &["AUTH", "root", &self.root_password],
                &["ACL", "SETUSER", "admin", rule],
            ])
            .await;
        assert!(done, "root switched the admin {rule}");
    }
}

#[async_trait]
impl Target for RedisTarget {
    async fn login(&self, value: &Value) -> bool {
        match credential(value) {
            Some((user, password)) => self.commands(&[&["AUTH", user, password]]).await,
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
            .restart()
            .expect("redis-server restarts");
    }

    async fn refuse_rotation_login(&self, _step: Step, _pending: &Value) {
        self.set_admin("off").await;
    }

    async fn allow_rotation_login(&self, _step: Step, _pending: &Value) {
        self.set_admin("on").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_at_every_step_is_survived_with_no_failed_login() {
    let app_password = rotation::password::generate_password(24)
        .expose_secret()
        .to_owned();
    let root_password = rotation::password::generate_password(24)
        .expose_secret()
        .to_owned();
    let app = format!("user app on >{app_password} ~* +@all -@admin");
    let root = format!("user root on >{root_password} ~* &* +@all");
    let server = RedisServer::start_opts(RedisOptions {
        users: &[&app, &root],
        ..Default::default()
    })
    .expect("redis-server starts");
    let port = server.port;
    let admin_arn = testkit::redis::scenario::admin_secret_for(&server).await;
    let target = Arc::new(RedisTarget {
        server: Mutex::new(server),
        port,
        root_password,
    });

    let emulator = Emulator::shared();
    let value = json!({"engine": "redis", "host": "127.0.0.1", "port": port, "username": "app", "password": app_password,
                       "tls": false, "masterarn": admin_arn, "connect_timeout": 2});
    let id = emulator
        .create_secret("faults-redis", &value.to_string())
        .await;
    let suite = Suite::after_first_rotation(RedisBackend::new(), target, &id).await;

    let report = suite.report(&id).await;
    assert!(
        suite.proxy.injected() > 0,
        "the proxy injected Secrets Manager faults"
    );
    report.assert_survived("faults-redis.md", 32).await;
}
