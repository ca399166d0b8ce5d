//! Managed Redis the example does not create — a MemoryDB user and a replication group's AUTH
//! token — listed in the Redis function's `managed_redis_arns` (`redis.extra_managed_arns`) as a
//! user lists theirs, then rotated by the deployed Redis function: its MemoryDB and
//! replication-group calls are then ones the IAM proof evaluates, not only the suites make.

use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPREVIOUS};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use testkit::managed_redis::ManagedRedis;
use testkit::redis::scenario::SecretMaterial;
use testkit::{Emulator, FunctionProcess, RedisServer};

/// What the test creates before the apply, and the secrets it makes for them after it.
pub struct Extra {
    memorydb_name: String,
    pub memorydb_arn: String,
    pub group_arn: String,
    first_passwords: [String; 2],
    pub secrets: Vec<String>,
}

impl Extra {
    /// A MemoryDB user and a replication group with an AUTH token, both applied to `redis`.
    pub async fn create(
        scope: &ManagedRedis<'_>,
        prefix: &str,
        material: &mut SecretMaterial,
    ) -> Self {
        let first_passwords = [0, 1].map(|_| {
            let password = generate_password(32).expose_secret().to_owned();
            material.add(&password);
            password
        });
        let memorydb_name = format!("{prefix}-memorydb");
        let memorydb_arn = scope
            .create_memorydb_user(&memorydb_name, "on ~* &* +@all", &[&first_passwords[0]])
            .await;
        let group_arn = scope
            .create_replication_group(&format!("{prefix}-group"), &first_passwords[1])
            .await;
        Self {
            memorydb_name,
            memorydb_arn,
            group_arn,
            first_passwords,
            secrets: Vec::new(),
        }
    }

    pub fn arns(&self) -> [&str; 2] {
        [&self.memorydb_arn, &self.group_arn]
    }

    /// Their secrets (AWS's formats, under the example's key, outside the monitor's prefix),
    /// rotated by `function`, the deployed Redis function, as the service rotates them.
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate(
        &mut self,
        emulator: &Emulator,
        function: &FunctionProcess,
        function_arn: &str,
        kms_key: &str,
        prefix: &str,
        redis: &RedisServer,
        ca_bundle: &str,
        material: &mut SecretMaterial,
    ) {
        let endpoint = json!({"host": "localhost", "port": redis.tls_port, "ca_bundle": ca_bundle});
        let mut memorydb = endpoint.clone();
        memorydb["user_arn"] = json!(self.memorydb_arn);
        memorydb["username"] = json!(self.memorydb_name);
        memorydb["password"] = json!(self.first_passwords[0]);
        let mut token = endpoint;
        token["replication_group_arn"] = json!(self.group_arn);
        token["password"] = json!(self.first_passwords[1]);
        for (what, value) in [("memorydb", memorydb), ("auth-token", token)] {
            let created = emulator
                .client()
                .create_secret()
                .name(format!("{prefix}-extra/{what}"))
                .kms_key_id(kms_key)
                .secret_string(value.to_string())
                .send()
                .await
                .expect("CreateSecret");
            let secret = created.arn().expect("an ARN").to_owned();
            self.secrets.push(secret.clone());
            let token = uuid::Uuid::new_v4().to_string();
            emulator
                .client()
                .rotate_secret()
                .secret_id(&secret)
                .client_request_token(&token)
                .rotation_lambda_arn(function_arn)
                .rotation_rules(
                    aws_sdk_secretsmanager::types::RotationRulesType::builder()
                        .automatically_after_days(30)
                        .build(),
                )
                .send()
                .await
                .expect("RotateSecret with the deployed Redis function");
            println!("redis: {what} secret {secret}");
            super::drive(function, "redis", &secret, &token).await;
            let current = emulator.json_at(&secret, AWSCURRENT).await;
            let previous = emulator.json_at(&secret, AWSPREVIOUS).await;
            material.add(current["password"].as_str().expect("a password"));
            let login = |v: &Value| v["username"].as_str().unwrap_or("default").to_owned();
            for (which, value) in [("new", &current), ("previous", &previous)] {
                let password = value["password"].as_str().expect("a password");
                assert!(
                    redis.can_login(&login(value), password).await,
                    "{what}: the {which} password logs in"
                );
            }
        }
    }

    /// Deletes their secrets (Terraform does not know them).
    pub async fn delete(&self, emulator: &Emulator) {
        for secret in &self.secrets {
            emulator
                .client()
                .delete_secret()
                .secret_id(secret)
                .force_delete_without_recovery(true)
                .send()
                .await
                .expect("DeleteSecret");
        }
    }
}
