//! The local stack (moto, PostgreSQL 15, redis-server on 127.0.0.1) and the secrets each benchmark
//! rotates. Passwords are generated here and never printed.

use crate::functions::Kind;
use redis::aio::MultiplexedConnection;
use rotation::password::generate_password;
use rotation::redis::acl::PasswordHash;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::Arc;
use testkit::redis::{admin_secret_json_for, admin_secret_value, RedisOptions};
use testkit::relay::ConnectionCounter;
use testkit::{Emulator, PostgresServer, RedisServer};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
pub type BenchResult<T> = Result<T, BenchError>;

pub const PG_ADMIN: &str = "bench_admin";

pub struct Stack {
    pub emulator: Arc<Emulator>,
    pub postgres: PostgresServer,
    pub redis: RedisServer,
    superuser: tokio_postgres::Client,
    pg_admin_password: SecretString,
    redis_admin: MultiplexedConnection,
    pub redis_admin_arn: String,
}

impl Stack {
    pub async fn start() -> BenchResult<Self> {
        let emulator =
            Arc::new(Emulator::start().map_err(|e| format!("cannot start moto_server: {e}"))?);
        let postgres =
            PostgresServer::start().map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
        let redis = RedisServer::start_opts(RedisOptions::default())
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let superuser = postgres.superuser_client().await;
        let pg_admin_password = generate_password(32);
        superuser
            .batch_execute(&format!(
                "CREATE ROLE {PG_ADMIN} LOGIN CREATEROLE PASSWORD '{}'; \
                 GRANT pg_signal_backend TO {PG_ADMIN};",
                verifier(&pg_admin_password)
            ))
            .await
            .map_err(|e| format!("creating the PostgreSQL admin role: {e}"))?;
        let redis_admin = redis.admin().await;
        let redis_admin_arn = emulator
            .create_secret("bench/redis-admin", &admin_secret_json_for(&redis))
            .await;
        Ok(Self {
            emulator,
            postgres,
            redis,
            superuser,
            pg_admin_password,
            redis_admin,
            redis_admin_arn,
        })
    }

    /// The admin secret (`masterarn`) for the PostgreSQL server reached through `port`.
    pub async fn pg_admin_secret(&self, port: u16) -> String {
        let value = json!({"engine": "postgres", "host": "127.0.0.1", "port": port,
            "username": PG_ADMIN, "password": self.pg_admin_password.expose_secret(), "ssl": false});
        self.emulator
            .create_secret("bench/postgres-admin", &value.to_string())
            .await
    }

    /// Creates PostgreSQL roles as an application has them (LOGIN, a per-role setting); returns
    /// their passwords in the same order.
    pub async fn pg_roles(&self, names: &[String]) -> BenchResult<Vec<SecretString>> {
        let mut passwords = Vec::with_capacity(names.len());
        let mut sql = String::new();
        for name in names {
            let password = generate_password(32);
            sql.push_str(&format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{}'; \
                 ALTER ROLE {name} SET search_path TO public, pg_catalog;\n",
                verifier(&password)
            ));
            passwords.push(password);
        }
        self.superuser
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("creating {} PostgreSQL roles: {e}", names.len()))?;
        Ok(passwords)
    }

    /// An alternating-users secret for `role` on the server reached through `port`.
    pub async fn pg_secret(
        &self,
        role: &str,
        password: &SecretString,
        port: u16,
        admin_arn: &str,
    ) -> String {
        let value = pg_value(role, password, port, admin_arn);
        self.emulator
            .create_secret("bench/postgres", &value.to_string())
            .await
    }

    /// Creates Redis ACL users (`on`, one password, key patterns and command categories) and
    /// persists them; returns their passwords in the same order.
    pub async fn redis_users(&self, names: &[String]) -> BenchResult<Vec<SecretString>> {
        let mut connection = self.redis_admin.clone();
        let mut passwords = Vec::with_capacity(names.len());
        for name in names {
            let password = generate_password(32);
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(name)
                .arg("on")
                .arg(PasswordHash::of(&password).add_rule().as_str())
                .arg(format!("~{name}:*"))
                .arg("+@read")
                .arg("+@write")
                .arg("+@connection")
                .exec_async(&mut connection)
                .await
                .map_err(|e| format!("ACL SETUSER for a bench user: {e}"))?;
            passwords.push(password);
        }
        redis::cmd("CONFIG")
            .arg("REWRITE")
            .exec_async(&mut connection)
            .await
            .map_err(|e| format!("CONFIG REWRITE: {e}"))?;
        Ok(passwords)
    }

    /// The admin secret (`masterarn`) for the Redis server reached through `port`: the admin's
    /// credential goes only where its own secret says.
    pub async fn redis_admin_secret(&self, port: u16) -> String {
        let value = admin_secret_value(json!({"host": "127.0.0.1", "port": port, "tls": false}));
        self.emulator
            .create_secret("bench/redis-admin", &value.to_string())
            .await
    }

    /// A single-user secret for `user` with the admin secret `admin_arn` running the ACL
    /// commands, on the server reached through `port`.
    pub async fn redis_secret(
        &self,
        user: &str,
        password: &SecretString,
        port: u16,
        admin_arn: &str,
    ) -> String {
        let value = redis_value(user, password, port, admin_arn);
        self.emulator
            .create_secret("bench/redis", &value.to_string())
            .await
    }

    /// The secret rotated through the counters, the one rotated for timing, and the connection
    /// counter in front of the target (none for JWT, which has no target).
    pub async fn function_secrets(
        &self,
        kind: Kind,
    ) -> BenchResult<(String, String, Option<ConnectionCounter>)> {
        let names = vec![
            format!("bench_{}_counted", kind.name()),
            format!("bench_{}_timed", kind.name()),
        ];
        Ok(match kind {
            Kind::Postgres => {
                let counter = ConnectionCounter::start(self.postgres.port).await?;
                let passwords = self.pg_roles(&names).await?;
                let admin_counted = self.pg_admin_secret(counter.port).await;
                let admin_timed = self.pg_admin_secret(self.postgres.port).await;
                let counted = self
                    .pg_secret(&names[0], &passwords[0], counter.port, &admin_counted)
                    .await;
                let timed = self
                    .pg_secret(&names[1], &passwords[1], self.postgres.port, &admin_timed)
                    .await;
                (counted, timed, Some(counter))
            }
            Kind::Redis => {
                let counter = ConnectionCounter::start(self.redis.port).await?;
                let passwords = self.redis_users(&names).await?;
                let admin_counted = self.redis_admin_secret(counter.port).await;
                let counted = self
                    .redis_secret(&names[0], &passwords[0], counter.port, &admin_counted)
                    .await;
                let timed = self
                    .redis_secret(
                        &names[1],
                        &passwords[1],
                        self.redis.port,
                        &self.redis_admin_arn,
                    )
                    .await;
                (counted, timed, Some(counter))
            }
            Kind::Jwt => (self.jwt_secret().await, self.jwt_secret().await, None),
        })
    }

    /// A JWT key secret: an HS256 access set and an EdDSA refresh set. A demoted key verifies
    /// for `maxRotationSeconds` + `graceSeconds` = 2 s after its rotation's createSecret, and the
    /// bench paces JWT rotations a second apart, so the value keeps a steady size: active, next
    /// and two previous keys per set. A rotation's steps run within a second (a testSecret more
    /// than `maxRotationSeconds` after createSecret would fail). `SECRET_KEY` (a single previous
    /// slot) is left out because it refuses a rotation while the last previous key verifies.
    pub async fn jwt_secret(&self) -> String {
        let value = json!({"policy": {
            "access": {"algorithm": "HS256", "graceSeconds": 1, "maxRotationSeconds": 1,
                       "conventions": ["signingSecret", "kidArray"]},
            "refresh": {"algorithm": "EdDSA", "graceSeconds": 1, "maxRotationSeconds": 1}}});
        self.emulator
            .create_secret("bench/jwt", &value.to_string())
            .await
    }
}

pub fn pg_value(role: &str, password: &SecretString, port: u16, admin_arn: &str) -> Value {
    json!({"engine": "postgres", "host": "127.0.0.1", "port": port, "username": role,
        "password": password.expose_secret(), "dbname": "postgres", "ssl": false,
        "masterarn": admin_arn})
}

pub fn redis_value(user: &str, password: &SecretString, port: u16, admin_arn: &str) -> Value {
    json!({"engine": "redis", "host": "127.0.0.1", "port": port, "username": user,
        "password": password.expose_secret(), "tls": false, "masterarn": admin_arn})
}

/// A SCRAM-SHA-256 verifier, so that no plaintext password reaches the server or its log.
fn verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes())
}

/// The user name and password at a stage of a secret (for checks; never printed).
pub async fn credential_at(
    emulator: &Emulator,
    secret_id: &str,
    stage: &str,
) -> Option<(String, SecretString)> {
    let raw = emulator.value_at(secret_id, stage).await?;
    let value: Value = serde_json::from_str(&raw).ok()?;
    Some((
        value["username"].as_str()?.to_owned(),
        SecretString::from(value["password"].as_str()?.to_owned()),
    ))
}

/// Opens and closes a session as `user`; `Ok(false)` when the server refuses the password.
pub async fn pg_login(port: u16, user: &str, password: &SecretString) -> BenchResult<bool> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .dbname("postgres")
        .user(user)
        .password(password.expose_secret())
        .application_name("bench");
    match config.connect(tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            drop(client);
            Ok(true)
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD) => Ok(false),
        Err(e) => Err(format!("PostgreSQL login of {user}: {e}").into()),
    }
}
