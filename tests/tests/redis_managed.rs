//! Managed Redis rotated through the shipped Redis function binary: ElastiCache RBAC users
//! (ModifyUser), MemoryDB users (UpdateUser) and ElastiCache AUTH tokens (ModifyReplicationGroup),
//! against the test kit's control-plane emulator, which applies each change to a real redis-server
//! once the user or group is `active` / `available` again. The function reaches the emulator as
//! it would reach AWS; its environment lists the ARNs and endpoints it may use, as Terraform sets
//! it.

use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::lambda::{workspace_binary, Bootstrap, InvocationError};
use testkit::managed_redis::{waits_in, ManagedRedis};
use testkit::redis::scenario::SecretMaterial;
use testkit::redis::{RedisOptions, TlsFiles};
use testkit::{Emulator, FunctionProcess, RedisServer};

const BINARY: &str = "secret-rotation-redis";
const MODIFYING: Duration = Duration::from_millis(700);

fn password() -> String {
    generate_password(32).expose_secret().to_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A redis-server with TLS (the managed services take passwords only over TLS), one emulator
/// scope whose changes land on it, and every password the test made, to scan outputs for.
struct Managed {
    scope: ManagedRedis<'static>,
    server: RedisServer,
    tls: TlsFiles,
    material: SecretMaterial,
}

impl Managed {
    async fn start(modifying: Duration) -> Self {
        let tls = TlsFiles::generate().expect("TLS files");
        let server = RedisServer::start_opts(RedisOptions {
            tls: Some(&tls),
            ..Default::default()
        })
        .expect("redis-server starts with TLS");
        let scope = ManagedRedis::new(Emulator::shared());
        scope.attach(&[&server], modifying).await;
        Self {
            scope,
            server,
            tls,
            material: SecretMaterial::with_admin(),
        }
    }

    fn new_password(&mut self) -> String {
        let password = password();
        self.material.add(&password);
        password
    }

    /// An ElastiCache user `login` holding `passwords`, active; its ARN.
    async fn elasticache_user(&self, login: &str, passwords: &[&str]) -> String {
        self.scope
            .create_elasticache_user(&unique("app"), login, "on ~* +@all", passwords)
            .await
    }

    /// A MemoryDB user holding `passwords`, active; its name (also its login) and ARN.
    async fn memorydb_user(&self, passwords: &[&str]) -> (String, String) {
        let name = unique("app");
        let arn = self
            .scope
            .create_memorydb_user(&name, "on ~* &* +@all", passwords)
            .await;
        (name, arn)
    }

    /// The secret's fields that name this server's TLS endpoint.
    fn endpoint(&self) -> Value {
        json!({"host": "localhost", "port": self.server.tls_port})
    }

    /// A secret in AWS's ElastiCache format for the user `arn` (login `username`), naming this
    /// server's TLS endpoint; its ARN.
    async fn user_secret(&self, arn: &str, username: &str, password: &str) -> String {
        let mut value = self.endpoint();
        value["user_arn"] = json!(arn);
        value["username"] = json!(username);
        value["password"] = json!(password);
        create_secret(&value).await
    }

    /// A secret holding the AUTH token of the replication group `arn`, naming this server's TLS
    /// endpoint; its ARN.
    async fn token_secret(&self, arn: &str, token: &str) -> String {
        let mut value = self.endpoint();
        value["replication_group_arn"] = json!(arn);
        value["password"] = json!(token);
        create_secret(&value).await
    }

    /// The function's environment: the emulator, signing as this scope, the CA, and the ARNs and
    /// endpoints it may use.
    fn env(&self, arns: &[&str], extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut env = self.scope.function_env(&self.tls.ca_path(), arns);
        env.extend(extra.iter().cloned());
        env
    }

    async fn function(&self, env: &[(&'static str, String)]) -> FunctionProcess {
        FunctionProcess::launch(&Bootstrap::new(&workspace_binary(BINARY)).env(env))
            .await
            .expect("the Redis function starts")
    }

    async fn can_login(&self, user: &str, password: &str) -> bool {
        self.server.can_login(user, password).await
    }

    /// Every password the secret has held, oldest first, ending with AWSCURRENT's.
    async fn check_rotated(&self, user: &str, history: &[String]) {
        let n = history.len();
        assert!(
            self.can_login(user, &history[n - 1]).await,
            "rotation {}: the new password does not log in",
            n - 1
        );
        assert!(
            self.can_login(user, &history[n - 2]).await,
            "rotation {}: the previous password no longer logs in",
            n - 1
        );
        if n > 2 {
            assert!(
                !self.can_login(user, &history[n - 3]).await,
                "rotation {}: the password before the previous one still logs in",
                n - 1
            );
        }
    }
}

async fn create_secret(value: &Value) -> String {
    Emulator::shared()
        .create_secret("managed-redis", &value.to_string())
        .await
}

async fn current_password(id: &str) -> String {
    Emulator::shared().json_at(id, AWSCURRENT).await["password"]
        .as_str()
        .expect("a password")
        .to_owned()
}

async fn step(
    function: &FunctionProcess,
    step: Step,
    id: &str,
    token: &str,
) -> Result<Value, InvocationError> {
    let event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
    function.invoke(&event).await
}

/// One whole rotation through the function; panics naming the step that failed.
async fn rotate(function: &FunctionProcess, id: &str) -> String {
    let token = Emulator::shared().stage_rotation(id).await;
    for s in Step::ALL {
        let answer = step(function, s, id, &token)
            .await
            .unwrap_or_else(|e| panic!("{s}: {}: {}", e.error_type, e.error_message));
        assert_eq!(answer["outcome"], "done", "{s}");
    }
    assert_eq!(
        Emulator::shared().version_with(id, AWSCURRENT).await,
        Some(token.clone())
    );
    token
}

/// Three rotations in a row: after each, the new password logs in, the previous one still does
/// and the one before no longer does; nothing secret reaches the function's output.
async fn three_rotations(managed: &mut Managed, id: &str, user: &str, first: &str, arn: &str) {
    let function = managed.function(&managed.env(&[arn], &[])).await;
    let mut history = vec![first.to_owned()];
    for _ in 0..3 {
        rotate(&function, id).await;
        let current = current_password(id).await;
        managed.material.add(&current);
        history.push(current);
        managed.check_rotated(user, &history).await;
    }
    let output = function.output();
    managed
        .material
        .assert_absent(&output, "the function's output");
    let sent = output
        .matches("pending password sent to the control plane")
        .count();
    assert_eq!(sent, 3, "one change per rotation");
    // setSecret waited for the change to land: after its call, more than one poll.
    let waits = waits_in(&output);
    assert_eq!(
        waits.len(),
        3 * 3,
        "setSecret waits twice, testSecret once: {waits:?}"
    );
    assert!(
        waits.iter().filter(|wait| wait.polls > 1).count() >= 3,
        "a wait for `active` after each change: {waits:?}"
    );
}

#[tokio::test]
async fn elasticache_users_rotate_three_times_keeping_two_passwords() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let login = unique("app");
    let arn = managed.elasticache_user(&login, &[&first]).await;
    let id = managed.user_secret(&arn, &login, &first).await;
    managed.scope.reset_calls().await;
    three_rotations(&mut managed, &id, &login, &first, &arn).await;
    // Each setSecret sent one ModifyUser and waited with DescribeUsers; nothing else was called.
    let calls = managed.scope.calls().await;
    assert_eq!(calls.get("elasticache.ModifyUser"), Some(&3), "{calls:?}");
    assert!(
        calls
            .get("elasticache.DescribeUsers")
            .is_some_and(|n| *n >= 3 * 4),
        "{calls:?}"
    );
    assert_eq!(
        calls.len(),
        2,
        "only ModifyUser and DescribeUsers: {calls:?}"
    );
}

#[tokio::test]
async fn memorydb_users_rotate_three_times_keeping_two_passwords() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let (name, arn) = managed.memorydb_user(&[&first]).await;
    let id = managed.user_secret(&arn, &name, &first).await;
    managed.scope.reset_calls().await;
    three_rotations(&mut managed, &id, &name, &first, &arn).await;
    let calls = managed.scope.calls().await;
    assert_eq!(calls.get("memorydb.UpdateUser"), Some(&3), "{calls:?}");
    assert_eq!(
        calls.len(),
        2,
        "only UpdateUser and DescribeUsers: {calls:?}"
    );
}

#[tokio::test]
async fn auth_tokens_rotate_three_times_keeping_two_tokens() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let group = unique("cache");
    let arn = managed.scope.create_replication_group(&group, &first).await;
    let id = managed.token_secret(&arn, &first).await;
    managed.scope.reset_calls().await;
    three_rotations(&mut managed, &id, "default", &first, &arn).await;
    let calls = managed.scope.calls().await;
    assert_eq!(
        calls.get("elasticache.ModifyReplicationGroup"),
        Some(&3),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_secret_last_rotated_by_aws_function_rotates_under_ours() {
    // AWS's function leaves the user holding [current, previous] and the secret in its format,
    // with no endpoint: ours changes the user through the control plane alone.
    let mut managed = Managed::start(MODIFYING).await;
    let (previous, current) = (managed.new_password(), managed.new_password());
    let legacy = unique("legacy");
    let arn = managed
        .elasticache_user(&legacy, &[&current, &previous])
        .await;
    let aws_format = json!({"user_arn": arn, "username": &legacy, "password": previous});
    let id = create_secret(&aws_format).await;
    let mut newer = aws_format.clone();
    newer["password"] = json!(current);
    Emulator::shared()
        .put_value(&id, None, &newer.to_string(), AWSCURRENT)
        .await;
    let function = managed.function(&managed.env(&[&arn], &[])).await;
    rotate(&function, &id).await;
    let new = current_password(&id).await;
    managed.material.add(&new);
    managed
        .check_rotated(&legacy, &[previous.clone(), current.clone(), new.clone()])
        .await;
    // The value keeps AWS's format: only the password changed, plus our seal.
    let rotated = Emulator::shared().json_at(&id, AWSCURRENT).await;
    let fields: Vec<&str> = rotated
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in ["user_arn", "username", "password"] {
        assert!(fields.contains(&field), "{fields:?}");
    }
    assert!(!fields.contains(&"host"), "{fields:?}");
    managed
        .material
        .assert_absent(&function.output(), "the function's output");
}

#[tokio::test]
async fn a_user_left_modifying_past_the_limit_fails_the_step_and_a_retry_completes() {
    // The change takes 4 s; the function may wait 1 s.
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let slow = unique("slow");
    let arn = managed.elasticache_user(&slow, &[&first]).await;
    managed
        .scope
        .configure(json!({"modifying_seconds": 4}))
        .await;
    let id = managed.user_secret(&arn, &slow, &first).await;
    let env = managed.env(&[&arn], &[("ROTATION_MANAGED_WAIT_SECONDS", "1".into())]);
    let function = managed.function(&env).await;
    let emulator = Emulator::shared();
    let token = emulator.stage_rotation(&id).await;
    step(&function, Step::CreateSecret, &id, &token)
        .await
        .unwrap();
    let started = Instant::now();
    let failed = step(&function, Step::SetSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(
        failed.error_type, "TargetNotReady",
        "{}",
        failed.error_message
    );
    assert!(
        failed.error_message.contains("still modifying"),
        "{}",
        failed.error_message
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it stopped at its limit"
    );
    // Nothing lost: the current password works, AWSPENDING still holds the pending one.
    assert!(managed.can_login(&slow, &first).await);
    assert_eq!(
        emulator.version_with(&id, AWSPENDING).await,
        Some(token.clone())
    );
    // The service retries the step: it waits for active, finds both passwords working and sends
    // nothing again.
    managed.scope.reset_calls().await;
    let retried = step(&function, Step::SetSecret, &id, &token).await;
    let retried = match retried {
        Ok(answer) => answer,
        // Still modifying at the first retry: the next one finds it done.
        Err(e) if e.error_type == "TargetNotReady" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            step(&function, Step::SetSecret, &id, &token).await.unwrap()
        }
        Err(e) => panic!("{}: {}", e.error_type, e.error_message),
    };
    assert_eq!(retried["outcome"], "done");
    let calls = managed.scope.calls().await;
    assert_eq!(calls.get("elasticache.ModifyUser"), None, "{calls:?}");
    for s in [Step::TestSecret, Step::FinishSecret] {
        step(&function, s, &id, &token).await.unwrap();
    }
    let new = current_password(&id).await;
    managed.material.add(&new);
    managed.check_rotated(&slow, &[first, new]).await;
    managed
        .material
        .assert_absent(&function.output(), "the function's output");
}

#[tokio::test]
async fn the_lambda_deadline_bounds_the_wait() {
    // No limit of the function's own: a 6 s Lambda timeout (less the 3 s margin) ends the wait
    // for a change that takes 30 s.
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let (name, arn) = managed.memorydb_user(&[&first]).await;
    managed
        .scope
        .configure(json!({"modifying_seconds": 30}))
        .await;
    let id = managed.user_secret(&arn, &name, &first).await;
    let env = managed.env(&[&arn], &[]);
    let function = FunctionProcess::launch(
        &Bootstrap::new(&workspace_binary(BINARY))
            .env(&env)
            .timeout(Duration::from_secs(6)),
    )
    .await
    .unwrap();
    let token = Emulator::shared().stage_rotation(&id).await;
    step(&function, Step::CreateSecret, &id, &token)
        .await
        .unwrap();
    let started = Instant::now();
    let failed = step(&function, Step::SetSecret, &id, &token)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        failed.error_type, "TargetNotReady",
        "{}",
        failed.error_message
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(managed.can_login(&name, &first).await);
}

#[tokio::test]
async fn throttling_and_invalid_user_state_are_retried() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let busy = unique("busy");
    let arn = managed.elasticache_user(&busy, &[&first]).await;
    let id = managed.user_secret(&arn, &busy, &first).await;
    let function = managed.function(&managed.env(&[&arn], &[])).await;
    let emulator = Emulator::shared();
    let token = emulator.stage_rotation(&id).await;
    step(&function, Step::CreateSecret, &id, &token)
        .await
        .unwrap();
    // More throttled calls than the SDK's own three attempts.
    managed.scope.throttle_next(5).await;
    managed.scope.reset_calls().await;
    step(&function, Step::SetSecret, &id, &token).await.unwrap();
    let calls = managed.scope.calls().await;
    let total: u64 = calls.values().sum();
    assert!(total >= 5 + 3, "{calls:?}");
    // InvalidUserState: another change (an access string appended by someone else) is under way
    // when our ModifyUser arrives; the step waits it out.
    for s in [Step::TestSecret, Step::FinishSecret] {
        step(&function, s, &id, &token).await.unwrap();
    }
    let token = emulator.stage_rotation(&id).await;
    step(&function, Step::CreateSecret, &id, &token)
        .await
        .unwrap();
    managed.scope.inject_invalid_state(2).await;
    managed.scope.reset_calls().await;
    step(&function, Step::SetSecret, &id, &token).await.unwrap();
    let calls = managed.scope.calls().await;
    assert_eq!(calls.get("elasticache.ModifyUser"), Some(&3), "{calls:?}");
    for s in [Step::TestSecret, Step::FinishSecret] {
        step(&function, s, &id, &token).await.unwrap();
    }
    let history = [
        first,
        emulator.json_at(&id, AWSPREVIOUS).await["password"]
            .as_str()
            .unwrap()
            .to_owned(),
        current_password(&id).await,
    ];
    managed.material.add(&history[1]);
    managed.material.add(&history[2]);
    managed.check_rotated(&busy, &history).await;
}

#[tokio::test]
async fn a_retried_set_secret_never_pushes_the_current_token_out() {
    // ROTATE with a token the group already holds drops the oldest: a blind retry would cut off
    // every application still on the current token.
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let arn = managed
        .scope
        .create_replication_group(&unique("cache"), &first)
        .await;
    let id = managed.token_secret(&arn, &first).await;
    let function = managed.function(&managed.env(&[&arn], &[])).await;
    let token = Emulator::shared().stage_rotation(&id).await;
    for s in [
        Step::CreateSecret,
        Step::SetSecret,
        Step::SetSecret,
        Step::SetSecret,
    ] {
        step(&function, s, &id, &token).await.unwrap();
    }
    let calls = managed.scope.calls().await;
    assert_eq!(
        calls.get("elasticache.ModifyReplicationGroup"),
        Some(&1),
        "{calls:?}"
    );
    assert!(managed.can_login("default", &first).await);
    let pending = Emulator::shared().json_at(&id, AWSPENDING).await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    managed.material.add(&pending);
    assert!(managed.can_login("default", &pending).await);
}

#[tokio::test]
async fn an_emergency_rotation_leaves_only_the_new_password() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let (name, arn) = managed.memorydb_user(&[&first]).await;
    let id = managed.user_secret(&arn, &name, &first).await;
    // At trace level too, nothing secret is printed: the SDK's request logging is capped.
    let env = managed.env(&[&arn], &[("RUST_LOG", "trace".into())]);
    let function = managed.function(&env).await;
    Emulator::shared().tag_emergency(&id).await;
    rotate(&function, &id).await;
    let new = current_password(&id).await;
    managed.material.add(&new);
    assert!(managed.can_login(&name, &new).await);
    assert!(
        !managed.can_login(&name, &first).await,
        "the compromised password still works"
    );
    let output = function.output();
    assert!(
        output.contains(r#""level":"TRACE""#),
        "trace logging was on"
    );
    managed
        .material
        .assert_absent(&output, "the function's output at trace level");
}

#[tokio::test]
async fn what_the_environment_does_not_list_is_refused_before_any_call() {
    let mut managed = Managed::start(MODIFYING).await;
    let first = managed.new_password();
    let (app, admin) = (unique("app"), unique("admin"));
    let listed = managed.elasticache_user(&app, &[&first]).await;
    let other_pw = managed.new_password();
    let unlisted = managed.elasticache_user(&admin, &[&other_pw]).await;
    let emulator = Emulator::shared();
    let function = managed.function(&managed.env(&[&listed], &[])).await;

    // A secret naming a user the environment does not list; one pointing a listed user's new
    // password at an endpoint it does not list; one whose username is not the user's login.
    let mut cases = Vec::new();
    let mut other_user = managed.endpoint();
    other_user["user_arn"] = json!(unlisted);
    other_user["username"] = json!(admin);
    other_user["password"] = json!(first);
    cases.push((other_user, "user_arn"));
    let mut elsewhere = json!({"host": "127.0.0.1", "port": managed.server.tls_port});
    elsewhere["user_arn"] = json!(listed);
    elsewhere["username"] = json!(app);
    elsewhere["password"] = json!(first);
    cases.push((elsewhere, "host"));
    let mut mislabelled = managed.endpoint();
    mislabelled["user_arn"] = json!(listed);
    mislabelled["username"] = json!(admin);
    mislabelled["password"] = json!(first);
    cases.push((mislabelled, "username"));

    for (value, field) in cases {
        let id = create_secret(&value).await;
        managed.scope.reset_calls().await;
        let token = emulator.stage_rotation(&id).await;
        step(&function, Step::CreateSecret, &id, &token)
            .await
            .unwrap();
        let refused = step(&function, Step::SetSecret, &id, &token)
            .await
            .unwrap_err();
        assert_eq!(
            refused.error_type, "Refused",
            "{field}: {}",
            refused.error_message
        );
        assert!(
            refused.error_message.contains(&format!("`{field}`")),
            "{}",
            refused.error_message
        );
        let calls = managed.scope.calls().await;
        assert_eq!(
            calls.keys().filter(|k| k.contains("Modify")).count(),
            0,
            "{field}: {calls:?}"
        );
    }
    assert!(managed.can_login(&app, &first).await);
    assert!(managed.can_login(&admin, &other_pw).await);
    managed
        .material
        .assert_absent(&function.output(), "the function's output");
}
