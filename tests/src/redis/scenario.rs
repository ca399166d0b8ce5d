//! Secrets, engines and checks shared by the Redis rotation tests. Nothing here prints a password.

use super::{admin_password, admin_secret_value, RedisServer};
use crate::emulator::run_step;
use crate::{Emulator, LogCapture};
use rotation::protocol::AWSCURRENT;
use rotation::redis::acl::PasswordHash;
use rotation::redis::RedisBackend;
use rotation::{AwsSecretStore, Engine, Step};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::fmt;

pub type RedisEngine = Engine<AwsSecretStore, RedisBackend>;

/// An engine over the emulator whose logs and telemetry go to [`LogCapture::global`].
pub fn engine() -> RedisEngine {
    Engine::new(
        Emulator::shared().store(),
        RedisBackend::new(),
        LogCapture::global().telemetry(),
    )
}

/// A new admin secret for `masterarn` naming `server`'s plaintext port; returns its ARN.
pub async fn admin_secret_for(server: &RedisServer) -> String {
    admin_secret_with(server.endpoint_fields()).await
}

/// A new admin secret: the admin's credential with `fields` (host, port, tls, nodes, …).
pub async fn admin_secret_with(fields: Value) -> String {
    Emulator::shared()
        .create_secret("redis-admin", &admin_secret_value(fields).to_string())
        .await
}

/// A user secret on `server` (plaintext port) with `extra` fields merged in; returns its ARN.
pub async fn user_secret(
    server: &RedisServer,
    username: &str,
    password: &str,
    extra: Value,
) -> String {
    let mut value = server.endpoint_fields();
    value["username"] = json!(username);
    value["password"] = json!(password);
    if let (Some(value), Value::Object(extra)) = (value.as_object_mut(), extra) {
        value.extend(extra);
    }
    Emulator::shared()
        .create_secret("redis", &value.to_string())
        .await
}

/// A user secret on `server` (as [`user_secret`]) whose `masterarn` is a new admin secret for
/// `server`, with `extra` fields merged in; returns its ARN.
pub async fn user_secret_with_admin(
    server: &RedisServer,
    username: &str,
    password: &str,
    mut extra: Value,
) -> String {
    extra["masterarn"] = json!(admin_secret_for(server).await);
    user_secret(server, username, password, extra).await
}

/// Rotates `id` `times` times as the service would; a failure panics naming the rotation.
pub async fn rotate_times(engine: &RedisEngine, id: &str, times: usize) {
    for round in 1..=times {
        Emulator::shared()
            .rotate(engine, id)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
    }
}

/// Runs the four steps one by one and checks after each that AWSCURRENT logs in.
pub async fn rotate_checking(engine: &RedisEngine, id: &str, server: &RedisServer, round: usize) {
    let token = Emulator::shared().stage_rotation(id).await;
    for step in Step::ALL {
        run_step(engine, step, id, &token)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}, {step}: {e}"));
        let current = Credential::current(id).await;
        assert!(
            current.works_on(server).await,
            "rotation {round}: AWSCURRENT ({}) logs in after {step}",
            current.username
        );
    }
}

/// A user name and password read from a secret. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, <password>)", self.username)
    }
}

impl Credential {
    pub async fn at(secret_id: &str, stage: &str) -> Option<Self> {
        let raw = Emulator::shared().value_at(secret_id, stage).await?;
        let value: Value = serde_json::from_str(&raw).ok()?;
        Some(Self {
            username: value["username"].as_str()?.to_owned(),
            password: value["password"].as_str()?.to_owned(),
        })
    }

    pub async fn current(secret_id: &str) -> Self {
        Self::at(secret_id, AWSCURRENT)
            .await
            .expect("the secret has an AWSCURRENT value")
    }

    /// The credential at `stage`; panics when the stage holds none.
    pub async fn expect_at(secret_id: &str, stage: &str) -> Self {
        Self::at(secret_id, stage)
            .await
            .unwrap_or_else(|| panic!("the secret has a credential at {stage}"))
    }

    pub async fn works_on(&self, server: &RedisServer) -> bool {
        server.can_login(&self.username, &self.password).await
    }

    pub fn hash(&self) -> PasswordHash {
        PasswordHash::of(&SecretString::from(self.password.clone()))
    }
}

/// Every password a test has seen and their SHA-256 hex hashes: what no log may contain.
#[derive(Default)]
pub struct SecretMaterial(Vec<String>);

impl SecretMaterial {
    pub fn with_admin() -> Self {
        let mut material = Self::default();
        material.add(admin_password().expose_secret());
        material
    }

    pub fn add(&mut self, password: &str) {
        if !self.0.iter().any(|p| p == password) {
            let hash = PasswordHash::of(&SecretString::from(password.to_owned()));
            self.0.push(password.to_owned());
            // The rule is `#<hex>`: keep the hex only.
            self.0.push(hash.add_rule().as_str()[1..].to_owned());
        }
    }

    pub async fn add_secret(&mut self, secret_id: &str, stage: &str) {
        if let Some(credential) = Credential::at(secret_id, stage).await {
            self.add(&credential.password);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fails, without quoting it, when any password or hash occurs in `text`.
    pub fn assert_absent(&self, text: &str, place: &str) {
        for (n, secret) in self.0.iter().enumerate() {
            assert!(
                !text.contains(secret.as_str()),
                "secret material #{n} ({}) appears in {place}",
                if n % 2 == 0 {
                    "a password"
                } else {
                    "a password hash"
                }
            );
        }
    }

    /// Whether any password (not hash) occurs in `text`.
    pub fn any_password_in(&self, text: &str) -> bool {
        self.0.iter().step_by(2).any(|p| text.contains(p.as_str()))
    }
}
