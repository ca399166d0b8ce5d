//! Redis users managed through the ElastiCache and MemoryDB control planes, and the AUTH tokens of
//! ElastiCache replication groups, against the emulator: SDK clients pointed at it, and its private
//! configuration endpoint (`/_emulator/managed-redis`, see `managed_redis_emulator.py`) that says
//! which kit redis-servers receive the changes, how long a change stays `modifying`, how many calls
//! to throttle, and counts the calls received.
//!
//! Each [`ManagedRedis`] is a scope of its own: its clients sign with an access key id no other
//! scope uses, and the emulator keys nodes, timing, injected faults and call counts on it, so
//! tests running in parallel on the shared emulator never see each other's settings.

use crate::emulator::REGION;
use crate::redis::{admin_password, RedisServer, ADMIN};
use crate::Emulator;
pub use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_elasticache::error::DisplayErrorContext;
use aws_sdk_elasticache::types::{AuthTokenUpdateStatus, ReplicationGroup};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The emulator's configuration endpoint.
pub const CONFIG_PATH: &str = "/_emulator/managed-redis";

/// One scope of the emulator's managed-Redis control planes.
pub struct ManagedRedis<'a> {
    emulator: &'a Emulator,
    access_key: String,
}

impl<'a> ManagedRedis<'a> {
    /// A new scope on `emulator`, with no node yet (changes then reach no server).
    pub fn new(emulator: &'a Emulator) -> Self {
        let id = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_ascii_uppercase();
        Self {
            emulator,
            access_key: format!("AKIDMR{}", &id[..14]),
        }
    }

    /// The access key id the scope's clients sign with (the scope's name in the emulator).
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Makes `servers` (plaintext port, the kit's admin user) the nodes every change of this
    /// scope is applied to, and `modifying` the time a change takes.
    pub async fn attach(&self, servers: &[&RedisServer], modifying: Duration) {
        self.attach_nodes(servers, modifying, false).await;
    }

    /// Like [`Self::attach`], and each change is also saved on the node (ACL SAVE with an aclfile,
    /// else CONFIG REWRITE), so that a restarted server keeps the users and tokens as the
    /// service's nodes do.
    pub async fn attach_persisting(&self, servers: &[&RedisServer], modifying: Duration) {
        self.attach_nodes(servers, modifying, true).await;
    }

    async fn attach_nodes(&self, servers: &[&RedisServer], modifying: Duration, persist: bool) {
        let nodes: Vec<Value> = servers
            .iter()
            .map(|server| {
                json!({
                    "host": "127.0.0.1",
                    "port": server.port,
                    "username": ADMIN,
                    "password": admin_password().expose_secret(),
                    "persist": persist,
                })
            })
            .collect();
        self.configure(json!({"nodes": nodes, "modifying_seconds": modifying.as_secs_f64()}))
            .await;
    }

    /// Makes the scope's next `calls` calls fail with the service's throttling error.
    pub async fn throttle_next(&self, calls: u32) {
        self.configure(json!({ "throttle_next": calls })).await;
    }

    /// Makes the scope's next `changes` changes of an existing user or replication group
    /// (ModifyUser, UpdateUser, DeleteUser, ModifyReplicationGroup) fail with the service's
    /// invalid-state error, as if another change were under way, while Describe still shows the
    /// user `active` / the group `available`.
    pub async fn inject_invalid_state(&self, changes: u32) {
        self.configure(json!({ "invalid_state_next": changes }))
            .await;
    }

    /// How many calls of each emulated operation the scope received, by `"<service>.<Action>"`
    /// (`"elasticache.ModifyUser"`, `"memorydb.DescribeUsers"`, …): every attempt the SDK sends,
    /// throttled and refused ones included, since the scope began or [`Self::reset_calls`]. The
    /// helpers below count too.
    pub async fn calls(&self) -> BTreeMap<String, u64> {
        let settings = self.settings().await;
        let calls = settings["calls"]
            .as_object()
            .unwrap_or_else(|| panic!("the settings count calls: {settings}"));
        calls
            .iter()
            .map(|(name, count)| {
                let count = count
                    .as_u64()
                    .unwrap_or_else(|| panic!("a count of {name}, not {count}"));
                (name.clone(), count)
            })
            .collect()
    }

    /// Starts the scope's call counts again from zero.
    pub async fn reset_calls(&self) {
        self.configure(json!({"reset_calls": true})).await;
    }

    /// Creates a replication group `id` with in-transit encryption and the AUTH token `token`,
    /// waits until it is `available` (the token is then the only password of the attached nodes'
    /// `default` user) and returns its ARN. `token` is never printed.
    pub async fn create_replication_group(&self, id: &str, token: &str) -> String {
        self.create_group(id, Some(token)).await
    }

    /// Creates a replication group `id` with in-transit encryption and no AUTH token, waits until
    /// it is `available` (the nodes' `default` user then needs no password) and returns its ARN.
    pub async fn create_replication_group_without_token(&self, id: &str) -> String {
        self.create_group(id, None).await
    }

    async fn create_group(&self, id: &str, token: Option<&str>) -> String {
        let created = self
            .elasticache()
            .create_replication_group()
            .replication_group_id(id)
            .replication_group_description("a managed-redis test group")
            .transit_encryption_enabled(true)
            .set_auth_token(token.map(str::to_owned))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateReplicationGroup {id}: {}", DisplayErrorContext(e)));
        let arn = created
            .replication_group()
            .and_then(ReplicationGroup::arn)
            .unwrap_or_else(|| panic!("CreateReplicationGroup {id} answers the group's ARN"))
            .to_owned();
        self.wait_until_available(id).await;
        arn
    }

    /// DescribeReplicationGroups of `id` (panics when the call fails).
    pub async fn replication_group(&self, id: &str) -> ReplicationGroup {
        let out = self
            .elasticache()
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("DescribeReplicationGroups {id}: {}", DisplayErrorContext(e))
            });
        match out.replication_groups() {
            [group] => group.clone(),
            groups => panic!(
                "DescribeReplicationGroups {id} answers {} groups",
                groups.len()
            ),
        }
    }

    /// The group's `PendingModifiedValues.AuthTokenStatus`: `ROTATING` or `SETTING` while a token
    /// change is pending, `None` otherwise.
    pub async fn auth_token_status(&self, id: &str) -> Option<AuthTokenUpdateStatus> {
        self.replication_group(id)
            .await
            .pending_modified_values()
            .and_then(|pending| pending.auth_token_status())
            .cloned()
    }

    /// Waits (20 s at most) until the group is `available`; returns the statuses seen on the way,
    /// in order, ending with `available`.
    pub async fn wait_until_available(&self, id: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let group = self.replication_group(id).await;
            let status = group.status().unwrap_or_default().to_owned();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if status == "available" {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "replication group {id} never became available: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a configuration (`scope` is added) and returns the scope's settings. Panics when the
    /// emulator refuses it. `fields` may hold node passwords: it is never printed.
    pub async fn configure(&self, mut fields: Value) -> Value {
        if let Value::Object(map) = &mut fields {
            map.insert("scope".into(), Value::String(self.access_key.clone()));
        }
        let (status, body) = self.request("POST", CONFIG_PATH, &fields.to_string()).await;
        assert_eq!(
            status, 200,
            "the emulator refused the configuration: {body}"
        );
        body
    }

    /// The scope's settings (nodes without passwords, timing, throttling left), its call counts
    /// and its last events: which change was applied, or failed, on which nodes.
    pub async fn settings(&self) -> Value {
        let path = format!("{CONFIG_PATH}?scope={}", self.access_key);
        let (status, body) = self.request("GET", &path, "").await;
        assert_eq!(status, 200, "the emulator's settings: {body}");
        body
    }

    async fn request(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let address = self
            .emulator
            .endpoint()
            .trim_start_matches("http://")
            .to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the emulator at {address}: {e}"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("a request to the emulator");
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .expect("the emulator's answer");
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("an HTTP answer from the emulator, not {answer:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP status line, not {head:?}"));
        let body = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("the emulator answers JSON ({e}): {body}"));
        (status, body)
    }

    /// An ElastiCache user (engine redis) `user_id` that logs in as `login` with `access` rules and
    /// `passwords`, once the emulator made it `active`; its ARN. Panics when the emulator refuses.
    pub async fn create_elasticache_user(
        &self,
        user_id: &str,
        login: &str,
        access: &str,
        passwords: &[&str],
    ) -> String {
        let mut call = self
            .elasticache()
            .create_user()
            .user_id(user_id)
            .user_name(login)
            .engine("redis")
            .access_string(access);
        for password in passwords {
            call = call.passwords(*password);
        }
        let created = call
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateUser {user_id}: {}", DisplayErrorContext(e)));
        let arn = created
            .arn()
            .expect("CreateUser answers the ARN")
            .to_owned();
        self.until_active(user_id, || async {
            let users = self
                .elasticache()
                .describe_users()
                .user_id(user_id)
                .send()
                .await;
            users.ok()?.users().first()?.status().map(str::to_owned)
        })
        .await;
        arn
    }

    /// A MemoryDB user `name` (also its login) with `access` rules and `passwords`, once `active`;
    /// its ARN. Panics when the emulator refuses.
    pub async fn create_memorydb_user(
        &self,
        name: &str,
        access: &str,
        passwords: &[&str],
    ) -> String {
        use aws_sdk_memorydb::types::{AuthenticationMode, InputAuthenticationType};
        let mut mode = AuthenticationMode::builder().r#type(InputAuthenticationType::Password);
        for password in passwords {
            mode = mode.passwords(*password);
        }
        let created = self
            .memorydb()
            .create_user()
            .user_name(name)
            .access_string(access)
            .authentication_mode(mode.build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateUser {name}: {}", DisplayErrorContext(e)));
        let arn = created
            .user()
            .and_then(|u| u.arn())
            .expect("CreateUser answers the ARN")
            .to_owned();
        self.until_active(name, || async {
            let users = self
                .memorydb()
                .describe_users()
                .user_name(name)
                .send()
                .await;
            users.ok()?.users().first()?.status().map(str::to_owned)
        })
        .await;
        arn
    }

    async fn until_active<F, Fut>(&self, what: &str, mut status: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<String>>,
    {
        let deadline = Instant::now() + Duration::from_secs(20);
        while status().await.as_deref() != Some("active") {
            assert!(Instant::now() < deadline, "user {what} never became active");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the Redis function needs, on top of the emulator's environment, to rotate this
    /// scope's users as Terraform would set it up: it signs as this scope, trusts `ca_file`, may
    /// change `arns` and log in at `localhost`.
    pub fn function_env(
        &self,
        ca_file: &std::path::Path,
        arns: &[&str],
    ) -> Vec<(&'static str, String)> {
        let mut env = self.emulator.env();
        for (key, value) in env.iter_mut() {
            if *key == "AWS_ACCESS_KEY_ID" {
                *value = self.access_key.clone();
            }
        }
        env.push(("ROTATION_CA_BUNDLE_FILE", ca_file.display().to_string()));
        env.push(("ROTATION_MANAGED_REDIS_ARNS", arns.join(",")));
        env.push(("ROTATION_MANAGED_REDIS_ENDPOINTS", "localhost".into()));
        env
    }

    /// An ElastiCache client of this scope, with the SDK's standard retries (three attempts,
    /// backoff from 10 ms).
    pub fn elasticache(&self) -> aws_sdk_elasticache::Client {
        self.elasticache_with(quick_retries())
    }

    /// An ElastiCache client of this scope with `retry` (e.g. `RetryConfig::disabled()`).
    pub fn elasticache_with(&self, retry: RetryConfig) -> aws_sdk_elasticache::Client {
        use aws_sdk_elasticache::config::{Credentials, Region};
        let config = aws_sdk_elasticache::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.emulator.endpoint())
            .credentials_provider(Credentials::new(
                &self.access_key,
                "testing",
                None,
                None,
                "managed-redis",
            ))
            .retry_config(retry)
            .build();
        aws_sdk_elasticache::Client::from_conf(config)
    }

    /// A MemoryDB client of this scope, with the SDK's standard retries (three attempts, backoff
    /// from 10 ms).
    pub fn memorydb(&self) -> aws_sdk_memorydb::Client {
        self.memorydb_with(quick_retries())
    }

    /// A MemoryDB client of this scope with `retry` (e.g. `RetryConfig::disabled()`).
    pub fn memorydb_with(&self, retry: RetryConfig) -> aws_sdk_memorydb::Client {
        use aws_sdk_memorydb::config::{Credentials, Region};
        let config = aws_sdk_memorydb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.emulator.endpoint())
            .credentials_provider(Credentials::new(
                &self.access_key,
                "testing",
                None,
                None,
                "managed-redis",
            ))
            .retry_config(retry)
            .build();
        aws_sdk_memorydb::Client::from_conf(config)
    }
}

/// Standard retries, three attempts, with a backoff short enough for tests.
pub fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
}

/// One wait for `active` the Redis function logged (`managed target ready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Describe calls it took, the first included.
    pub polls: u64,
    /// From the first poll to the one that found the target ready.
    pub waited_ms: u64,
}

/// The waits for `active` in a function's JSON log lines, in order.
pub fn waits_in(output: &str) -> Vec<Wait> {
    output
        .lines()
        .filter(|line| line.contains("managed target ready"))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "managed target ready")
        .map(|entry| Wait {
            polls: entry["fields"]["polls"].as_u64().unwrap_or(0),
            waited_ms: entry["fields"]["waited_ms"].as_u64().unwrap_or(0),
        })
        .collect()
}
