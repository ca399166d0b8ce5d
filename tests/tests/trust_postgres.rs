//! The trust boundary of the PostgreSQL function, attacked through its real binary (under a local
//! Lambda Runtime API) against a real PostgreSQL 15. Every field of an application secret is written
//! by someone weaker than the admin, so each attack here writes the application secret and must be
//! refused (error kind "Refused" unless noted) leaving the victim's password, attributes and
//! memberships, the admin's password and the version stages as they were, with no secret in the
//! error or anywhere in the function's output.

use rotation::protocol::MODE_TAG;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::{SecretStore, SecretValue, Step};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use testkit::emulator::stage_value;
use testkit::lambda::{workspace_binary, InvocationError};
use testkit::postgres::{FakePostgres, Relay, RoleSnapshot, SUPERUSER};
use testkit::tls::TestCa;
use testkit::{Emulator, FunctionProcess, PostgresServer};

const ADMIN: &str = "trust_admin";

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        PostgresServer::start_with(&[("log_connections", "on")]).expect("PostgreSQL starts")
    })
}

fn random_password() -> String {
    rotation::password::generate_password(24)
        .expose_secret()
        .to_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn ident(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

async fn superuser(sql: &str) {
    server()
        .superuser_client()
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("superuser statement failed: {e}"));
}

/// The admin, like RDS's master user: CREATEROLE and pg_signal_backend, not a superuser.
async fn admin_password() -> &'static str {
    static PASSWORD: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    PASSWORD
        .get_or_init(|| async {
            let password = random_password();
            superuser(&format!(
                "CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{password}'; \
                 GRANT pg_signal_backend TO {ADMIN};"
            ))
            .await;
            password
        })
        .await
}

/// Adds `extra`'s fields to `value` (a null removes the field).
fn merged(mut value: Value, extra: Value) -> Value {
    if let (Some(fields), Value::Object(extra)) = (value.as_object_mut(), extra) {
        for (key, field) in extra {
            if field.is_null() {
                fields.remove(&key);
            } else {
                fields.insert(key, field);
            }
        }
    }
    value
}

/// A new admin secret for the admin role on the test server (plaintext, said by the admin secret
/// itself), with `extra` fields such as `break_glass_users` or `endpoints`.
async fn admin_secret(extra: Value) -> String {
    let secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
                        "username": ADMIN, "password": admin_password().await, "ssl": false});
    Emulator::shared()
        .create_secret("trust-admin", &merged(secret, extra).to_string())
        .await
}

/// Creates a LOGIN role with `attributes` and returns its password.
async fn create_role(name: &str, attributes: &str) -> String {
    let password = random_password();
    superuser(&format!(
        "CREATE ROLE {} LOGIN {attributes} PASSWORD '{password}'",
        ident(name)
    ))
    .await;
    password
}

/// An application secret for `user` on the test server; alternating users when `admin` is given.
async fn app_secret(user: &str, password: &str, admin: Option<&str>, extra: Value) -> String {
    let mut secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
                            "username": user, "password": password, "dbname": "postgres", "ssl": false});
    if let Some(admin) = admin {
        secret["masterarn"] = json!(admin);
    }
    Emulator::shared()
        .create_secret("trust-app", &merged(secret, extra).to_string())
        .await
}

/// A new LOGIN role named after `prefix` and its application secret (alternating users under
/// `admin`): the user, its password and the secret's id.
async fn app_user(prefix: &str, admin: &str) -> (String, String, String) {
    let user = unique(prefix);
    let password = create_role(&user, "").await;
    let id = app_secret(&user, &password, Some(admin), json!({})).await;
    (user, password, id)
}

/// What the secret's writer does: PutSecretValue, which makes the new value AWSCURRENT.
async fn put_current(id: &str, value: &Value) {
    Emulator::shared()
        .client()
        .put_secret_value()
        .secret_id(id)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("PutSecretValue");
}

/// What the secret's writer does to change some fields of AWSCURRENT (`changes` as [`merged`]
/// takes them).
async fn rewrite_current(id: &str, changes: Value) {
    put_current(id, &merged(stage_value(id, AWSCURRENT).await, changes)).await;
}

/// Puts `value` on the empty AWSPENDING version `token` that RotateSecret made.
async fn plant_pending(id: &str, token: &str, value: &Value) {
    Emulator::shared()
        .put_value(id, Some(token), &value.to_string(), AWSPENDING)
        .await;
}

/// The function binary, with the emulator's environment and `env`.
async fn function(env: &[(&'static str, String)]) -> FunctionProcess {
    let mut all = Emulator::shared().env();
    all.extend(env.iter().cloned());
    FunctionProcess::start(&workspace_binary("secret-rotation-postgres"), &all)
        .await
        .expect("the function starts")
}

async fn step(
    function: &FunctionProcess,
    id: &str,
    token: &str,
    step: Step,
) -> Result<Value, InvocationError> {
    function
        .invoke(&json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token}))
        .await
}

/// Runs `steps` of the rotation `token` in order, stopping at the first failure.
async fn run_steps(
    function: &FunctionProcess,
    id: &str,
    token: &str,
    steps: &[Step],
) -> Result<(), (Step, InvocationError)> {
    for s in steps {
        step(function, id, token, *s).await.map_err(|e| (*s, e))?;
    }
    Ok(())
}

/// Stages a rotation as the service does and runs its four steps through the binary.
async fn rotate(function: &FunctionProcess, id: &str) -> Result<String, (Step, InvocationError)> {
    let token = Emulator::shared().stage_rotation(id).await;
    run_steps(function, id, &token, &Step::ALL).await?;
    Ok(token)
}

/// As [`rotate`]; a failure panics naming `label` and the step. Returns the token.
async fn rotated(function: &FunctionProcess, id: &str, label: &str) -> String {
    rotate(function, id)
        .await
        .unwrap_or_else(|(s, e)| panic!("{label}: {s}: {e:?}"))
}

/// Tags the secret for an emergency, stages a rotation and runs it up to (not including)
/// finishSecret; a failure panics naming `label` and the step. Returns the token.
async fn emergency_up_to_finish(function: &FunctionProcess, id: &str, label: &str) -> String {
    Emulator::shared().tag_emergency(id).await;
    let token = Emulator::shared().stage_rotation(id).await;
    run_steps(
        function,
        id,
        &token,
        &[Step::CreateSecret, Step::SetSecret, Step::TestSecret],
    )
    .await
    .unwrap_or_else(|(s, e)| panic!("{label}: {s}: {e:?}"));
    token
}

/// What an attack must leave as it was: the watched roles (the admin always among them) and the
/// version AWSCURRENT is on.
struct Untouched {
    id: String,
    current: Option<String>,
    roles: Vec<(String, Option<RoleSnapshot>)>,
}

impl Untouched {
    async fn watch(id: &str, roles: &[&str]) -> Self {
        let mut watched = vec![(ADMIN.to_owned(), server().role_snapshot(ADMIN).await)];
        for role in roles {
            watched.push(((*role).to_owned(), server().role_snapshot(role).await));
        }
        Self {
            id: id.to_owned(),
            current: Emulator::shared().version_with(id, AWSCURRENT).await,
            roles: watched,
        }
    }

    async fn check(&self, label: &str) {
        for (role, before) in &self.roles {
            let after = server().role_snapshot(role).await;
            match (before, &after) {
                (Some(before), Some(after)) => {
                    assert!(
                        before.same_password_as(after),
                        "{label}: the password of {role} changed"
                    );
                    assert_eq!(before, after, "{label}: {role} changed");
                }
                (before, after) => assert_eq!(
                    before.is_some(),
                    after.is_some(),
                    "{label}: {role} was created or dropped"
                ),
            }
        }
        assert_eq!(
            Emulator::shared().version_with(&self.id, AWSCURRENT).await,
            self.current,
            "{label}: AWSCURRENT moved"
        );
    }
}

/// Rotates `id` through the function, expects the failure `(step, kind)` naming `mentions`, and
/// checks that `roles` (and the secret's stages) did not change.
async fn refused_untouched(
    function: &FunctionProcess,
    id: &str,
    roles: &[&str],
    (at, kind): (Step, &str),
    mentions: &[&str],
    label: &str,
) -> InvocationError {
    let untouched = Untouched::watch(id, roles).await;
    let err = assert_failed(rotate(function, id).await, at, kind, mentions, label);
    untouched.check(label).await;
    err
}

/// As [`refused_untouched`] for the refusal most attacks meet: "Refused" at setSecret.
async fn refused(
    function: &FunctionProcess,
    id: &str,
    roles: &[&str],
    mentions: &[&str],
    label: &str,
) -> InvocationError {
    let refusal = (Step::SetSecret, "Refused");
    refused_untouched(function, id, roles, refusal, mentions, label).await
}

/// The attack failed at `at` with `kind`, and its message names each of `mentions`.
fn assert_failed(
    outcome: Result<String, (Step, InvocationError)>,
    at: Step,
    kind: &str,
    mentions: &[&str],
    label: &str,
) -> InvocationError {
    let (failed_at, err) = match outcome {
        Ok(_) => panic!("{label}: the rotation succeeded"),
        Err(failure) => failure,
    };
    assert_eq!(
        (failed_at, err.error_type.as_str()),
        (at, kind),
        "{label}: {}",
        err.error_message
    );
    for mention in mentions {
        assert!(
            err.error_message.contains(mention),
            "{label}: the message names {mention}: {}",
            err.error_message
        );
    }
    err
}

/// No secret of these secrets (every stage), nor any of `passwords`, in the function's output or
/// in `messages`.
async fn assert_no_secret(
    function: &FunctionProcess,
    ids: &[&str],
    passwords: &[&str],
    messages: &[&str],
) {
    let emulator = Emulator::shared();
    let mut secrets: Vec<String> = passwords.iter().map(|p| (*p).to_owned()).collect();
    secrets.push(admin_password().await.to_owned());
    for id in ids {
        for stage in [AWSCURRENT, AWSPENDING, AWSPREVIOUS] {
            if let Some(raw) = emulator.value_at(id, stage).await {
                secrets.extend(testkit::secrecy::secret_strings(&raw));
            }
        }
    }
    let output = function.output();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !output.contains(secret.as_str()),
            "a secret reached the function's output"
        );
        for message in messages {
            assert!(
                !message.contains(secret.as_str()),
                "a secret reached an error message"
            );
        }
    }
}

/// The break-glass audit lines the function printed for `user`.
fn break_glass_lines(function: &FunctionProcess, user: &str) -> Vec<Value> {
    function
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["event"] == "credential.break_glass" && l["user"] == user)
        .collect()
}

async fn logs_in(user: &str, password: &str) -> bool {
    server().connect(user, password, "postgres").await.is_ok()
}

async fn sessions_of(user: &str) -> i64 {
    server()
        .superuser_client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn awscurrent_naming_another_role_is_refused_without_proof_of_possession() {
    let attacker = unique("tenant");
    let attacker_password = create_role(&attacker, "").await;
    let victim = unique("victim");
    create_role(&victim, "").await;
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    for target in [victim.as_str(), SUPERUSER, ADMIN] {
        let id = app_secret(&attacker, &attacker_password, Some(&admin), json!({})).await;
        let chosen = random_password();
        rewrite_current(&id, json!({"username": target, "password": chosen})).await;
        let clone = format!("{target}_clone");
        let err = refused(
            &function,
            &id,
            &[target, &clone, &attacker],
            &[target, "break_glass_users", "ROTATION_BREAK_GLASS_USERS"],
            target,
        )
        .await;
        assert!(
            !logs_in(target, &chosen).await,
            "{target}: the chosen password does not log in"
        );
        assert_no_secret(
            &function,
            &[&id],
            &[&chosen, &attacker_password],
            &[&err.error_message],
        )
        .await;
    }
}

#[tokio::test]
async fn awscurrent_naming_a_victims_alternate_is_refused() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;

    // The clone name of an existing victim: the pending user would be the victim itself.
    let (_, _, id) = app_user("tenant", &admin).await;
    let victim = unique("victim");
    let victim_password = create_role(&victim, "").await;
    let chosen = random_password();
    let victim_clone = format!("{victim}_clone");
    rewrite_current(&id, json!({"username": victim_clone, "password": chosen})).await;
    let roles = [victim.as_str(), victim_clone.as_str()];
    let err = refused(
        &function,
        &id,
        &roles,
        &["break_glass_users"],
        "victim_clone",
    )
    .await;
    assert!(
        logs_in(&victim, &victim_password).await,
        "the victim still logs in"
    );
    assert_no_secret(
        &function,
        &[&id],
        &[&chosen, &victim_password],
        &[&err.error_message],
    )
    .await;

    // A victim whose name is the attacker's alternate, but which is not a member of the attacker's
    // role: neither function made it, so the admin leaves it alone (and its objects with it).
    let (attacker, _, id) = app_user("tenant", &admin).await;
    let victim = format!("{attacker}_clone");
    let victim_password = create_role(&victim, "").await;
    superuser(&format!("CREATE TABLE public.{victim}_data (id int); ALTER TABLE public.{victim}_data OWNER TO {victim}")).await;
    let mentions = [victim.as_str(), "not a member"];
    let err = refused(
        &function,
        &id,
        &[&victim, &attacker],
        &mentions,
        "x_clone of x",
    )
    .await;
    let owner: String = server()
        .superuser_client()
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
            &[&format!("{victim}_data")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, victim, "the victim's objects stay the victim's");
    assert_no_secret(
        &function,
        &[&id],
        &[&victim_password],
        &[&err.error_message],
    )
    .await;
}

#[tokio::test]
async fn the_admins_own_user_is_never_rotated_through_an_application_secret() {
    let function = function(&[]).await;
    // AWSCURRENT holds the admin's own credential: possession is proven, but the admin does not
    // act on itself through an application secret.
    let admin = admin_secret(json!({})).await;
    let id = app_secret(ADMIN, admin_password().await, Some(&admin), json!({})).await;
    let admin_clone = format!("{ADMIN}_clone");
    let mentions = ["admin's own user", "privileged_users"];
    let err = refused(
        &function,
        &id,
        &[&admin_clone],
        &mentions,
        "admin credential",
    )
    .await;
    assert_no_secret(&function, &[&id], &[], &[&err.error_message]).await;

    // A break-glass prefix broader than meant reaches the admin's own name: still refused, inside
    // the admin's transaction, and no break-glass is recorded.
    let admin = admin_secret(json!({"break_glass_users": [format!("{ADMIN}*")]})).await;
    let (_, _, id) = app_user("tenant", &admin).await;
    let chosen = random_password();
    rewrite_current(&id, json!({"username": admin_clone, "password": chosen})).await;
    let mentions = ["admin's own user"];
    let err = refused(
        &function,
        &id,
        &[&admin_clone],
        &mentions,
        "break-glass prefix",
    )
    .await;
    assert!(
        break_glass_lines(&function, &admin_clone).is_empty(),
        "no reset, no audit"
    );
    assert_no_secret(&function, &[&id], &[&chosen], &[&err.error_message]).await;
}

#[tokio::test]
async fn a_superuser_is_rotated_only_when_the_admin_side_names_it() {
    let function = function(&[]).await;
    let user = unique("su_app");
    let password = create_role(&user, "SUPERUSER").await;
    let clone = format!("{user}_clone");

    let admin = admin_secret(json!({})).await;
    let id = app_secret(&user, &password, Some(&admin), json!({})).await;
    let mentions = [user.as_str(), "superuser", "privileged_users"];
    let err = refused(&function, &id, &[&user, &clone], &mentions, "superuser").await;
    assert_no_secret(&function, &[&id], &[&password], &[&err.error_message]).await;

    // A superuser admin whose secret lists the user in privileged_users: allowed. The clone is
    // made a member of the base role, never a superuser itself.
    let su_admin = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
        "username": SUPERUSER, "password": server().superuser_password().expose_secret(), "ssl": false,
        "privileged_users": [user]});
    let su_admin = Emulator::shared()
        .create_secret("trust-su-admin", &su_admin.to_string())
        .await;
    rewrite_current(&id, json!({"masterarn": su_admin})).await;
    let before = server().role_snapshot(&user).await.unwrap();
    rotated(&function, &id, "a superuser named by the admin side").await;
    let current = stage_value(&id, AWSCURRENT).await;
    assert_eq!(current["username"], clone.as_str());
    assert!(logs_in(&clone, current["password"].as_str().unwrap()).await);
    let made = server().role_snapshot(&clone).await.unwrap();
    assert!(
        !made.is_superuser(),
        "the clone is not a superuser: {made:?}"
    );
    assert_eq!(made.member_of, vec![user.clone()]);
    let after = server().role_snapshot(&user).await.unwrap();
    assert!(
        before.same_password_as(&after),
        "the base keeps its password"
    );
    assert_eq!(before.attributes, after.attributes);
    assert_no_secret(
        &function,
        &[&id],
        &[server().superuser_password().expose_secret()],
        &[],
    )
    .await;
}

#[tokio::test]
async fn an_owner_role_the_base_does_not_hold_is_refused() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    let (user, password, id) = app_user("own_app", &admin).await;
    let clone = format!("{user}_clone");
    for owner in [ADMIN, "pg_read_server_files"] {
        rewrite_current(&id, json!({"owner_role": owner})).await;
        let roles = [user.as_str(), clone.as_str(), owner];
        let err = refused(&function, &id, &roles, &["owner_role", owner], owner).await;
        assert_no_secret(&function, &[&id], &[&password], &[&err.error_message]).await;
    }

    // An owner role the base already holds: granted to the clone only, nothing new for the base.
    let owner = format!("{user}_owner");
    superuser(&format!(
        "CREATE ROLE {owner} NOLOGIN; GRANT {owner} TO {user}"
    ))
    .await;
    rewrite_current(&id, json!({"owner_role": owner})).await;
    let before = server().role_snapshot(&user).await.unwrap();
    rotated(&function, &id, "an owner role the base holds").await;
    let after = server().role_snapshot(&user).await.unwrap();
    assert_eq!(
        before.member_of, after.member_of,
        "the base gains no membership"
    );
    let made = server().role_snapshot(&clone).await.unwrap();
    let mut expected = vec![user.clone(), owner.clone()];
    expected.sort();
    assert_eq!(made.member_of, expected);
}

#[tokio::test]
async fn a_pending_value_planted_before_create_secret_is_refused() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    let (attacker, _, id) = app_user("tenant", &admin).await;
    let victim = unique("victim");
    create_role(&victim, "").await;
    let token = Emulator::shared().stage_rotation(&id).await;
    let chosen = random_password();
    let planted = merged(
        stage_value(&id, AWSCURRENT).await,
        json!({"username": victim, "password": chosen}),
    );
    plant_pending(&id, &token, &planted).await;
    let untouched = Untouched::watch(&id, &[&victim, &attacker]).await;

    let created = step(&function, &id, &token, Step::CreateSecret)
        .await
        .expect("createSecret finds the version filled");
    assert_eq!(created["outcome"], "already_done");
    let outcome = run_steps(&function, &id, &token, &[Step::SetSecret])
        .await
        .map(|()| token.clone());
    let err = assert_failed(
        outcome,
        Step::SetSecret,
        "Refused",
        &["rotation_seal"],
        "planted pending",
    );
    untouched.check("planted pending").await;
    assert!(!logs_in(&victim, &chosen).await);
    assert_no_secret(&function, &[&id], &[&chosen], &[&err.error_message]).await;
}

/// A pending value sealed as createSecret would seal it (the test reads AWSCURRENT to do so): only
/// the backend's own shape check stands between it and the admin.
#[tokio::test]
async fn a_sealed_pending_value_that_changes_more_than_the_credential_is_refused() {
    let function = function(&[]).await;
    let fake = FakePostgres::start().await.unwrap();
    let admin = admin_secret(json!({})).await;
    let victim = unique("victim");
    let victim_password = create_role(&victim, "").await;
    let cases = [
        (
            "another server",
            json!({"host": "localhost", "port": fake.port}),
            "`host`: differs between AWSCURRENT and AWSPENDING",
        ),
        (
            "another admin secret",
            json!({"masterarn": admin_secret(json!({"privileged_users": ["x"]})).await}),
            "`masterarn`: differs between AWSCURRENT and AWSPENDING",
        ),
        ("another user", json!({"username": victim}), "`username`"),
    ];
    for (label, change, says) in cases {
        let (user, password, id) = app_user("sealed", &admin).await;
        let token = Emulator::shared().stage_rotation(&id).await;
        let current_raw = Emulator::shared().value_at(&id, AWSCURRENT).await.unwrap();
        let current = SecretValue::parse(&current_raw).unwrap();
        let pending = merged(
            stage_value(&id, AWSCURRENT).await,
            json!({"username": format!("{user}_clone"), "password": random_password()}),
        );
        let mut sealed = SecretValue::parse(&merged(pending, change).to_string()).unwrap();
        let seal = rotation::trust::seal(&current, &id, &token, &sealed);
        sealed.insert(rotation::trust::SEAL_FIELD, json!(seal));
        let sealed: Value =
            serde_json::from_str(sealed.to_secret_string().expose_secret()).unwrap();
        plant_pending(&id, &token, &sealed).await;
        let untouched = Untouched::watch(&id, &[&user, &format!("{user}_clone"), &victim]).await;

        let outcome = run_steps(&function, &id, &token, &Step::ALL)
            .await
            .map(|()| token.clone());
        let err = assert_failed(outcome, Step::SetSecret, "Refused", &[says], label);
        untouched.check(label).await;
        assert_eq!(
            fake.connections(),
            0,
            "{label}: nothing connected to the other server"
        );
        assert_no_secret(
            &function,
            &[&id],
            &[&password, &victim_password],
            &[&err.error_message],
        )
        .await;
    }
}

#[tokio::test]
async fn an_application_endpoint_on_a_fake_server_never_receives_a_credential() {
    let function = function(&[]).await;
    let fake = FakePostgres::start().await.unwrap();
    let user = unique("faked");
    let password = create_role(&user, "").await;
    let clone = format!("{user}_clone");
    let hostless_admin = admin_secret(json!({"host": null, "port": null})).await;
    let cases = [
        (
            "same host, the fake's port",
            "127.0.0.1",
            admin_secret(json!({})).await,
            "`port`",
        ),
        (
            "another host",
            "localhost",
            admin_secret(json!({})).await,
            "`host`",
        ),
        // Without a host of its own the admin once followed the application's.
        (
            "admin secret without host",
            "127.0.0.1",
            hostless_admin,
            "`host`",
        ),
    ];
    for (label, host, admin, field) in cases {
        let id = app_secret(
            &user,
            &password,
            Some(&admin),
            json!({"host": host, "port": fake.port}),
        )
        .await;
        let err = refused(&function, &id, &[&user, &clone], &[field], label).await;
        let received = fake.received();
        let admin_password = admin_password().await.as_bytes();
        assert!(
            !received
                .windows(admin_password.len())
                .any(|w| w == admin_password),
            "{label}: the fake server received the admin's password"
        );
        assert!(
            received.is_empty() && fake.connections() == 0,
            "{label}: refused before any connection, the fake received {} bytes",
            received.len()
        );
        assert!(
            !err.error_message.contains(&fake.port.to_string()),
            "{label}: the refusal names fields, not values: {}",
            err.error_message
        );
        assert_no_secret(&function, &[&id], &[&password], &[&err.error_message]).await;
    }
    // The fake does record what reaches it: a client that follows its request sends its password
    // in clear, so the assertions above could fail.
    let probe = "probe-password-for-the-fake-server";
    let config = format!(
        "host=127.0.0.1 port={} user=probe password={probe} sslmode=disable connect_timeout=2",
        fake.port
    );
    let _ = tokio_postgres::connect(&config, tokio_postgres::NoTls).await;
    assert!(
        fake.received()
            .windows(probe.len())
            .any(|w| w == probe.as_bytes()),
        "the fake server records a password sent to it"
    );
}

#[tokio::test]
async fn the_application_secrets_tls_settings_never_reach_the_admin_connection() {
    let function = function(&[]).await;
    let tls_admin = unique("tls_admin");
    let tls_admin_password = create_role(&tls_admin, "CREATEROLE").await;
    let user = unique("tls_app");
    let password = create_role(&user, "").await;
    let app_ca = TestCa::new("the application's CA");
    let admin_ca = TestCa::new("the admin's CA");
    let cases = [
        ("admin secret without ssl", json!({}), "CA bundle"),
        (
            "admin secret with ssl true",
            json!({"ssl": true}),
            "CA bundle",
        ),
        (
            "admin secret with its own CA",
            json!({"ssl": true, "ca_bundle": admin_ca.cert_pem}),
            "TLS",
        ),
    ];
    for (label, tls, says) in cases {
        let admin = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port,
                           "username": tls_admin, "password": tls_admin_password});
        let admin = Emulator::shared()
            .create_secret("trust-tls-admin", &merged(admin, tls).to_string())
            .await;
        // The application connects in plaintext and carries a CA bundle of its own.
        let id = app_secret(
            &user,
            &password,
            Some(&admin),
            json!({"ssl": false, "ca_bundle": app_ca.cert_pem}),
        )
        .await;
        let err = refused_untouched(
            &function,
            &id,
            &[&user, &tls_admin],
            (Step::SetSecret, "TargetUnreachable"),
            &[says],
            label,
        )
        .await;
        assert!(
            !server()
                .log_contents()
                .contains(&format!("user={tls_admin} ")),
            "{label}: the admin never logged in without TLS"
        );
        assert_no_secret(
            &function,
            &[&id, &admin],
            &[&password],
            &[&err.error_message],
        )
        .await;
    }
}

#[tokio::test]
async fn another_port_of_the_same_server_is_used_only_when_the_admin_secret_lists_it() {
    let function = function(&[]).await;
    let relay = Relay::start(server().port).await.unwrap();
    let user = unique("relayed");
    let password = create_role(&user, "").await;
    let clone = format!("{user}_clone");
    let admin = admin_secret(json!({})).await;
    let id = app_secret(&user, &password, Some(&admin), json!({"port": relay.port})).await;
    let mentions = ["`port`", "endpoints"];
    let err = refused(&function, &id, &[&user, &clone], &mentions, "unlisted port").await;
    assert_eq!(
        relay.connections(),
        0,
        "nothing was sent to the unlisted port"
    );
    assert_no_secret(&function, &[&id], &[&password], &[&err.error_message]).await;

    let listed = admin_secret(json!({"endpoints": [format!("127.0.0.1:{}", relay.port)]})).await;
    rewrite_current(&id, json!({"masterarn": listed})).await;
    rotated(&function, &id, "listed port").await;
    let current = stage_value(&id, AWSCURRENT).await;
    assert!(logs_in(&clone, current["password"].as_str().unwrap()).await);
    assert!(
        relay.connections() > 0,
        "the application's sessions used its own endpoint"
    );
}

#[tokio::test]
async fn a_current_password_that_does_not_log_in_is_refused_naming_the_way_out() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    let (user, password, id) = app_user("lost", &admin).await;
    let wrong = random_password();
    rewrite_current(&id, json!({"password": wrong})).await;
    let clone = format!("{user}_clone");
    let mentions = [
        user.as_str(),
        "break_glass_users",
        "ROTATION_BREAK_GLASS_USERS",
    ];
    let err = refused(
        &function,
        &id,
        &[&user, &clone],
        &mentions,
        "wrong password",
    )
    .await;
    assert!(break_glass_lines(&function, &user).is_empty());
    assert_no_secret(
        &function,
        &[&id],
        &[&password, &wrong],
        &[&err.error_message],
    )
    .await;
}

#[tokio::test]
async fn break_glass_allowed_by_the_admin_side_rotates_and_is_audited() {
    let allowed_in_env = unique("glass_env");
    let function = function(&[(
        "ROTATION_BREAK_GLASS_USERS",
        format!("other, {allowed_in_env}"),
    )])
    .await;
    let allowed_in_secret = unique("glass_secret");
    for (user, admin_extra, allowed_by) in [
        (
            &allowed_in_secret,
            json!({"break_glass_users": [allowed_in_secret]}),
            "admin secret",
        ),
        (&allowed_in_env, json!({}), "ROTATION_BREAK_GLASS_USERS"),
    ] {
        let admin = admin_secret(admin_extra).await;
        let password = create_role(user, "").await;
        let id = app_secret(user, &password, Some(&admin), json!({})).await;
        let wrong = random_password();
        rewrite_current(&id, json!({"password": wrong})).await;
        rotated(&function, &id, user).await;
        let current = stage_value(&id, AWSCURRENT).await;
        assert_eq!(current["username"], format!("{user}_clone").as_str());
        assert!(
            logs_in(
                &format!("{user}_clone"),
                current["password"].as_str().unwrap()
            )
            .await
        );
        let audit = break_glass_lines(&function, user);
        assert_eq!(
            audit.len(),
            1,
            "{user}: one break-glass audit line: {audit:?}"
        );
        assert_eq!(audit[0]["allowed_by"], allowed_by);
        assert_eq!(audit[0]["engine"], "postgres");
        assert_no_secret(&function, &[&id], &[&password, &wrong], &[]).await;
    }
}

#[tokio::test]
async fn a_single_user_whose_password_no_longer_logs_in_is_not_repaired_silently() {
    let allowed = unique("single_glass");
    let function = function(&[("ROTATION_BREAK_GLASS_USERS", allowed.clone())]).await;
    let admin = admin_secret(json!({})).await;
    let refused = unique("single_dead");
    for user in [&refused, &allowed] {
        let password = create_role(user, "").await;
        let id = app_secret(
            user,
            &password,
            Some(&admin),
            json!({"strategy": "single-user"}),
        )
        .await;
        // The password in AWSCURRENT (and AWSPREVIOUS) no longer logs in.
        let elsewhere = random_password();
        superuser(&format!(
            "ALTER ROLE {} PASSWORD '{elsewhere}'",
            ident(user)
        ))
        .await;
        if user == &refused {
            let untouched = Untouched::watch(&id, &[user]).await;
            let err = assert_failed(
                rotate(&function, &id).await,
                Step::SetSecret,
                "Refused",
                &[user, "break_glass_users", "ROTATION_BREAK_GLASS_USERS"],
                "single user, dead password",
            );
            untouched.check("single user, dead password").await;
            assert!(logs_in(user, &elsewhere).await, "not repaired");
            assert!(break_glass_lines(&function, user).is_empty());
            assert_no_secret(
                &function,
                &[&id],
                &[&password, &elsewhere],
                &[&err.error_message],
            )
            .await;
        } else {
            rotated(&function, &id, "single user, break-glass").await;
            let current = stage_value(&id, AWSCURRENT).await;
            assert!(logs_in(user, current["password"].as_str().unwrap()).await);
            let audit = break_glass_lines(&function, user);
            assert_eq!(audit.len(), 1, "{audit:?}");
            assert_eq!(audit[0]["allowed_by"], "ROTATION_BREAK_GLASS_USERS");
            assert_no_secret(&function, &[&id], &[&password, &elsewhere], &[]).await;
        }
    }
}

#[tokio::test]
async fn an_existing_clone_that_holds_more_than_its_base_is_left_untouched() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    let cases = [
        (
            "a superuser clone",
            "SUPERUSER",
            "GRANT {base} TO {clone}",
            "SUPERUSER",
        ),
        (
            "a replication clone",
            "REPLICATION",
            "GRANT {base} TO {clone}",
            "REPLICATION",
        ),
        (
            "a clone with an extra membership",
            "",
            "GRANT {base}, pg_read_server_files TO {clone}",
            "pg_read_server_files",
        ),
        (
            "a clone that is not a member of the base",
            "",
            "SELECT 1",
            "not a member",
        ),
    ];
    for (label, attributes, grant, says) in cases {
        let base = unique("held");
        let password = create_role(&base, "").await;
        let clone = format!("{base}_clone");
        let clone_password = create_role(&clone, attributes).await;
        superuser(&grant.replace("{base}", &base).replace("{clone}", &clone)).await;
        let id = app_secret(&base, &password, Some(&admin), json!({})).await;
        let err = refused(&function, &id, &[&base, &clone], &[&clone, says], label).await;
        assert!(
            logs_in(&clone, &clone_password).await,
            "{label}: the clone still logs in"
        );
        assert_no_secret(
            &function,
            &[&id],
            &[&password, &clone_password],
            &[&err.error_message],
        )
        .await;
    }
}

/// Logins of the demoted user racing its revocation: whatever got in before the revocation was
/// committed is ended, and nothing gets in after. The race is run three times: a login slipping
/// through a revocation that is not committed before its sessions are ended is likely, not certain,
/// in any one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_emergency_revocation_is_not_outrun_by_logins_in_flight() {
    let function = function(&[]).await;
    let admin = admin_secret(json!({})).await;
    let (_, password, id) = app_user("raced", &admin).await;
    rotated(&function, &id, "routine rotation").await;
    for round in 0..3 {
        let demoted = stage_value(&id, AWSCURRENT).await;
        let (user, user_password) = (
            demoted["username"].as_str().unwrap().to_owned(),
            demoted["password"].as_str().unwrap().to_owned(),
        );
        let token = emergency_up_to_finish(&function, &id, &format!("round {round}")).await;

        // A crowd of clients logging in as the demoted user as fast as they can, each keeping its
        // latest sessions, while finishSecret runs.
        let stop = Arc::new(AtomicBool::new(false));
        let mut crowd = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (stop, user, user_password) = (stop.clone(), user.clone(), user_password.clone());
            crowd.spawn(async move {
                let mut kept = std::collections::VecDeque::new();
                let mut connected = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(client) = server().connect(&user, &user_password, "postgres").await {
                        connected += 1;
                        kept.push_back(client);
                        if kept.len() > 5 {
                            kept.pop_front();
                        }
                    }
                }
                (kept, connected)
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        step(&function, &id, &token, Step::FinishSecret)
            .await
            .unwrap_or_else(|e| panic!("round {round}: finishSecret: {e:?}"));
        stop.store(true, Ordering::SeqCst);
        let (mut sessions, mut connected) = (Vec::new(), 0);
        while let Some(result) = crowd.join_next().await {
            let (kept, count) = result.unwrap();
            sessions.extend(kept);
            connected += count;
        }
        assert!(
            connected > 0,
            "round {round}: the crowd logged in before the revocation"
        );
        assert_eq!(
            sessions_of(&user).await,
            0,
            "round {round}: no session of the demoted user survives"
        );
        for client in &sessions {
            assert!(
                client.query_one("SELECT 1", &[]).await.is_err(),
                "round {round}: a session of the demoted user can still run a query"
            );
        }
        assert!(
            !logs_in(&user, &user_password).await,
            "round {round}: the demoted user cannot log in"
        );
        let promoted = stage_value(&id, AWSCURRENT).await;
        assert!(
            logs_in(
                promoted["username"].as_str().unwrap(),
                promoted["password"].as_str().unwrap()
            )
            .await,
            "round {round}: the promoted user logs in"
        );
    }
    assert_no_secret(&function, &[&id], &[&password], &[]).await;
}

#[tokio::test]
async fn a_single_user_emergency_ends_the_old_passwords_sessions() {
    let function = function(&[]).await;
    let user = unique("single_breach");
    let password = create_role(&user, "").await;
    let id = app_secret(&user, &password, None, json!({})).await;
    let old_session = server()
        .connect(&user, &password, "postgres")
        .await
        .unwrap();
    let token = emergency_up_to_finish(&function, &id, "emergency").await;
    assert!(
        old_session.query_one("SELECT 1", &[]).await.is_ok(),
        "the old password's session is still open before finishSecret"
    );
    step(&function, &id, &token, Step::FinishSecret)
        .await
        .unwrap_or_else(|e| panic!("finishSecret: {e:?}"));
    assert!(
        old_session.query_one("SELECT 1", &[]).await.is_err(),
        "the old password's session was ended"
    );
    assert_eq!(sessions_of(&user).await, 0);
    assert!(!logs_in(&user, &password).await);
    let current = stage_value(&id, AWSCURRENT).await;
    assert!(logs_in(&user, current["password"].as_str().unwrap()).await);
    let tags = Emulator::shared().store().describe(&id).await.unwrap().tags;
    assert!(
        !tags.contains_key(MODE_TAG),
        "the tag is removed last: {tags:?}"
    );
    assert_no_secret(&function, &[&id], &[&password], &[]).await;
}
