//! What the trust-boundary tests need: a server with a superuser of the test's own (`root`, never
//! the rotation's admin), the function binary, and checks that a refused rotation changed no user,
//! no stage, and named no secret. Nothing here prints a password.

use super::scenario::{admin_secret_with, user_secret, SecretMaterial};
use super::{admin_password, RedisOptions, RedisServer, ADMIN};
use crate::lambda::{workspace_binary, InvocationError};
use crate::{Emulator, FunctionProcess};
use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::redis::acl::AclUser;
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

pub fn password() -> String {
    generate_password(32).expose_secret().to_owned()
}

/// A redis-server with the users of `lines` (`(name, rules)`, each given a fresh password) and a
/// `root` superuser; an admin secret naming it (plus `admin_fields`); the function binary.
pub struct AttackStack {
    pub server: RedisServer,
    pub admin_arn: String,
    pub function: FunctionProcess,
    pub material: SecretMaterial,
    passwords: Vec<(String, String)>,
    root: String,
}

impl AttackStack {
    pub async fn start(
        users: &[(&str, &str)],
        admin_fields: Value,
        env: &[(&str, String)],
    ) -> Self {
        let root = password();
        let passwords: Vec<(String, String)> = users
            .iter()
            .map(|(name, _)| (name.to_string(), password()))
            .collect();
        let mut lines = vec![format!("user root on >{root} ~* &* +@all")];
        for ((name, rules), (_, pw)) in users.iter().zip(&passwords) {
            lines.push(format!("user {name} on >{pw} {rules}"));
        }
        let server = RedisServer::start_opts(RedisOptions {
            users: &lines.iter().map(String::as_str).collect::<Vec<_>>(),
            ..Default::default()
        })
        .expect("redis-server starts");
        let mut fields = server.endpoint_fields();
        if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), admin_fields) {
            fields.extend(extra);
        }
        let admin_arn = admin_secret_with(fields).await;
        let mut function_env = Emulator::shared().env();
        function_env.extend(env.iter().map(|(k, v)| (*k, v.clone())));
        let function =
            FunctionProcess::start(&workspace_binary("secret-rotation-redis"), &function_env)
                .await
                .expect("the function starts");
        let mut material = SecretMaterial::with_admin();
        material.add(&root);
        for (_, pw) in &passwords {
            material.add(pw);
        }
        Self {
            server,
            admin_arn,
            function,
            material,
            passwords,
            root,
        }
    }

    /// The password a user was created with.
    pub fn password_of(&self, user: &str) -> String {
        self.passwords
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, pw)| pw.clone())
            .unwrap_or_else(|| panic!("user {user} was created by the test"))
    }

    /// An application secret on this server, naming the admin secret, with `extra` merged in.
    pub async fn secret(&mut self, username: &str, password: &str, extra: Value) -> String {
        self.material.add(password);
        let mut fields = json!({"masterarn": self.admin_arn});
        if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), extra) {
            fields.extend(extra);
        }
        user_secret(&self.server, username, password, fields).await
    }

    /// `ACL GETUSER` of each user (the admin's included), as the test's own superuser sees it.
    pub async fn users(&self, names: &[&str]) -> Vec<(String, Option<AclUser>)> {
        let mut con = self
            .server
            .connect("root", &self.root)
            .await
            .expect("the test's superuser logs in");
        let mut out = vec![];
        for name in names.iter().copied().chain([ADMIN]) {
            let reply: redis::Value = redis::cmd("ACL")
                .arg("GETUSER")
                .arg(name)
                .query_async(&mut con)
                .await
                .expect("ACL GETUSER");
            out.push((name.to_owned(), AclUser::parse(&reply).expect("a reply")));
        }
        out
    }

    /// Stages a rotation and runs its steps through the binary until one fails.
    pub async fn rotate(&mut self, id: &str) -> Result<(), (Step, InvocationError)> {
        let token = Emulator::shared().stage_rotation(id).await;
        let result = self.steps(id, &token, &Step::ALL).await;
        self.material.add_secret(id, AWSPENDING).await;
        self.material.add_secret(id, AWSCURRENT).await;
        result
    }

    /// Rotates `id` through the binary and expects a refusal at `step` naming `field`, with
    /// AWSCURRENT and AWSPREVIOUS where they were; returns the message.
    pub async fn refused(&mut self, id: &str, step: Step, field: &str) -> String {
        let stages = Stages::of(id).await;
        let message = assert_refused(self.rotate(id).await, step, field, &self.material);
        assert_eq!(Stages::of(id).await, stages, "the stages moved: {message}");
        message
    }

    /// Runs `steps` of the rotation `token` through the binary until one fails.
    pub async fn steps(
        &self,
        id: &str,
        token: &str,
        steps: &[Step],
    ) -> Result<(), (Step, InvocationError)> {
        for step in steps {
            let event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
            self.function.invoke(&event).await.map_err(|e| (*step, e))?;
        }
        Ok(())
    }

    /// The function's audit events of one kind (JSON lines of its output).
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.function
            .output()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Fails unless nothing the function printed holds a password or hash the test knows.
    pub fn assert_output_clean(&self) {
        self.material
            .assert_absent(&self.function.output(), "the function's output");
    }
}

/// The stages that matter to an application: which version is AWSCURRENT (and its value) and
/// which is AWSPREVIOUS. `Debug` shows the versions only: the value holds a password.
#[derive(PartialEq, Eq)]
pub struct Stages {
    current: Option<String>,
    current_value: Option<String>,
    previous: Option<String>,
}

impl std::fmt::Debug for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stages")
            .field("current", &self.current)
            .field("current_value", &"<redacted>")
            .field("previous", &self.previous)
            .finish()
    }
}

impl Stages {
    pub async fn of(id: &str) -> Self {
        let emulator = Emulator::shared();
        Self {
            current: emulator.version_with(id, AWSCURRENT).await,
            current_value: emulator.value_at(id, AWSCURRENT).await,
            previous: emulator.version_with(id, AWSPREVIOUS).await,
        }
    }
}

/// A refused step: the error kind, the step, the field named, and no secret in the message.
/// Returns the message for further checks.
pub fn assert_refused(
    result: Result<(), (Step, InvocationError)>,
    step: Step,
    field: &str,
    material: &SecretMaterial,
) -> String {
    let (failed, err) = match result {
        Ok(()) => panic!("the rotation was not refused"),
        Err(failure) => failure,
    };
    material.assert_absent(&err.error_message, "the error message");
    assert_eq!(err.error_type, "Refused", "{failed}: {}", err.error_message);
    assert_eq!(failed, step, "{}", err.error_message);
    assert!(
        err.error_message.contains(&format!("field `{field}`")),
        "names field {field}: {}",
        err.error_message
    );
    err.error_message
}

/// The admin password, for tests that prove it never reached somewhere.
pub fn admin_password_text() -> &'static str {
    admin_password().expose_secret()
}
