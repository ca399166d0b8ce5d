//! The emulated ElastiCache and MemoryDB user control planes (`managed_redis_emulator.py`), driven
//! through the real AWS SDK for Rust and checked on real redis-servers: a password change is the
//! user's whole password set, lands on every node only when the user turns from `modifying` to
//! `active`, is refused while a change is under way, and the services' error codes (including
//! throttling) reach the SDK as its error variants.

use aws_sdk_elasticache::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_elasticache::operation::modify_user::ModifyUserError;
use aws_sdk_memorydb::operation::update_user::UpdateUserError;
use aws_sdk_memorydb::types::{AuthenticationMode, InputAuthenticationType};
use rotation::password::generate_password;
use rotation::redis::acl::PasswordHash;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::managed_redis::{ManagedRedis, RetryConfig};
use testkit::redis::{admin_password, RedisOptions, ADMIN};
use testkit::{Emulator, RedisServer};

/// How long a change stays `modifying`: long enough to observe the state, short for the suite.
const MODIFYING: Duration = Duration::from_millis(1500);

fn password() -> String {
    generate_password(32).expose_secret().to_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn server() -> RedisServer {
    RedisServer::start_opts(RedisOptions::default()).expect("redis-server starts")
}

/// Waits until `status` answers `active`; returns the statuses seen on the way, in order.
async fn statuses_until_active<F, Fut>(what: &str, mut status: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let now = status().await;
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == "active" {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never became active: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `user` logs in with `password` on every one of `servers`.
async fn logs_in_everywhere(servers: &[&RedisServer], user: &str, password: &str) -> bool {
    for server in servers {
        if !server.can_login(user, password).await {
            return false;
        }
    }
    true
}

/// Whether `user` logs in with `password` on any of `servers`.
async fn logs_in_anywhere(servers: &[&RedisServer], user: &str, password: &str) -> bool {
    for server in servers {
        if server.can_login(user, password).await {
            return true;
        }
    }
    false
}

/// The user holds exactly `passwords` on every server, and kept the rules it was created with.
async fn holds_exactly(servers: &[&RedisServer], user: &str, passwords: &[&str]) {
    for server in servers {
        let acl = server
            .acl_user(user)
            .await
            .unwrap_or_else(|| panic!("{user} exists on port {}", server.port));
        assert_eq!(
            acl.passwords.len(),
            passwords.len(),
            "{user} holds {} password(s) on port {}",
            acl.passwords.len(),
            server.port
        );
        for (index, password) in passwords.iter().enumerate() {
            let hash = PasswordHash::of(&SecretString::from(password.to_string()));
            assert!(
                acl.has_password(&hash),
                "{user} lacks password #{index} on port {}",
                server.port
            );
        }
        assert!(acl.has_flag("on"), "{user} is still enabled");
        assert!(
            acl.root.commands.contains("+@all") && acl.root.keys.contains("~*"),
            "{user} kept its rules: {:?}",
            acl.root
        );
    }
}

/// Neither the emulator's log nor the scope's settings hold any of `secrets` or the admin password.
async fn nothing_leaked(managed: &ManagedRedis<'_>, secrets: &[&str]) {
    let log = Emulator::shared().log();
    let settings = managed.settings().await.to_string();
    let admin = admin_password().expose_secret().to_owned();
    for (index, secret) in secrets.iter().copied().chain([admin.as_str()]).enumerate() {
        assert!(
            !log.contains(secret),
            "secret #{index} is in the emulator's log"
        );
        assert!(
            !settings.contains(secret),
            "secret #{index} is in the emulator's settings"
        );
    }
}

/// The scope's events for `user`: (action, result, nodes).
async fn events_of(managed: &ManagedRedis<'_>, user: &str) -> Vec<(String, String, Vec<String>)> {
    let settings = managed.settings().await;
    settings["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["user"] == user)
        .map(|event| {
            let text = |field: &str| event[field].as_str().unwrap_or_default().to_owned();
            let nodes = event["nodes"]
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (text("action"), text("result"), nodes)
        })
        .collect()
}

fn addresses(servers: &[&RedisServer]) -> Vec<String> {
    servers
        .iter()
        .map(|server| format!("127.0.0.1:{}", server.port))
        .collect()
}

mod elasticache {
    use super::*;
    use aws_sdk_elasticache::types::{AuthenticationType, User};
    use aws_sdk_elasticache::Client;

    pub async fn user(client: &Client, id: &str) -> User {
        let out = client
            .describe_users()
            .user_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeUsers {id}: {}", DisplayErrorContext(e)));
        assert_eq!(out.users().len(), 1, "DescribeUsers {id} answers one user");
        out.users()[0].clone()
    }

    pub async fn status(client: &Client, id: &str) -> String {
        user(client, id)
            .await
            .status()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn password_count(user: &User) -> Option<i32> {
        let auth = user.authentication().expect("Authentication");
        assert_eq!(auth.r#type(), Some(&AuthenticationType::Password));
        auth.password_count()
    }
}

#[tokio::test]
async fn elasticache_modify_user_replaces_the_password_set_on_every_node_once_active() {
    let (a, b) = (server(), server());
    let servers = [&a, &b];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.elasticache();
    let id = unique("ec");
    let login = format!("{id}-app");
    let (p0, p1, p2, p3) = (password(), password(), password(), password());

    // CreateUser with [p1, p0]: `creating`, then on both servers.
    let started = Instant::now();
    let created = client
        .create_user()
        .user_id(&id)
        .user_name(&login)
        .engine("redis")
        .access_string("on ~* +@all")
        .passwords(&p1)
        .passwords(&p0)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser: {}", DisplayErrorContext(e)));
    assert_eq!(created.status(), Some("creating"));
    assert_eq!(created.user_name(), Some(login.as_str()));
    let early = logs_in_anywhere(&servers, &login, &p1).await;
    assert!(started.elapsed() < MODIFYING, "the test ran too slowly");
    assert!(
        !early,
        "the user reached a server before its creation completed"
    );
    let seen = statuses_until_active("the new user", || elasticache::status(&client, &id)).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("creating"),
        "{seen:?}"
    );
    holds_exactly(&servers, &login, &[&p1, &p0]).await;

    // ModifyUser with [p2, p1]: the answer and DescribeUsers say `modifying`, nothing changed yet.
    let started = Instant::now();
    let modified = client
        .modify_user()
        .user_id(&id)
        .passwords(&p2)
        .passwords(&p1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ModifyUser: {}", DisplayErrorContext(e)));
    assert_eq!(modified.status(), Some("modifying"));
    assert_eq!(
        modified.authentication().and_then(|a| a.password_count()),
        Some(2)
    );
    assert_eq!(elasticache::status(&client, &id).await, "modifying");

    // A change while `modifying` is refused with InvalidUserState.
    let refused = client
        .modify_user()
        .user_id(&id)
        .passwords(&p3)
        .send()
        .await
        .expect_err("ModifyUser while modifying");
    assert_eq!(refused.code(), Some("InvalidUserState"), "{refused:?}");
    assert!(
        matches!(
            refused.as_service_error(),
            Some(ModifyUserError::InvalidUserStateFault(_))
        ),
        "{refused:?}"
    );
    let p2_early = logs_in_anywhere(&servers, &login, &p2).await;
    assert!(started.elapsed() < MODIFYING, "the test ran too slowly");
    assert!(!p2_early, "p2 reached a server before the change completed");

    let seen =
        statuses_until_active("the modified user", || elasticache::status(&client, &id)).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("modifying"),
        "{seen:?}"
    );
    let user = elasticache::user(&client, &id).await;
    assert_eq!(elasticache::password_count(&user), Some(2));
    assert!(
        logs_in_everywhere(&servers, &login, &p2).await,
        "p2 logs in everywhere"
    );
    assert!(
        logs_in_everywhere(&servers, &login, &p1).await,
        "p1 logs in everywhere"
    );
    assert!(
        !logs_in_anywhere(&servers, &login, &p0).await,
        "the oldest password p0 no longer logs in"
    );
    holds_exactly(&servers, &login, &[&p2, &p1]).await;
    let events = events_of(&managed, &id).await;
    assert_eq!(
        events,
        vec![
            (
                "create".to_owned(),
                "applied".to_owned(),
                addresses(&servers)
            ),
            (
                "modify".to_owned(),
                "applied".to_owned(),
                addresses(&servers)
            ),
        ]
    );

    // A third password is refused, and nothing changes.
    let refused = client
        .modify_user()
        .user_id(&id)
        .passwords(&p3)
        .passwords(&p2)
        .passwords(&p1)
        .send()
        .await
        .expect_err("ModifyUser with three passwords");
    assert_eq!(refused.code(), Some("InvalidParameterValue"), "{refused:?}");
    assert!(
        matches!(
            refused.as_service_error(),
            Some(ModifyUserError::InvalidParameterValueException(_))
        ),
        "{refused:?}"
    );
    // So are a short password, a forbidden character, and both ways of passing passwords at once.
    for (label, list) in [
        ("a 15-character password", vec!["a".repeat(15)]),
        ("a password with @", vec![format!("{}@", &p3[..20])]),
    ] {
        let refused = client
            .modify_user()
            .user_id(&id)
            .set_passwords(Some(list))
            .send()
            .await
            .expect_err(label);
        assert_eq!(refused.code(), Some("InvalidParameterValue"), "{label}");
    }
    let refused = client
        .modify_user()
        .user_id(&id)
        .passwords(&p3)
        .authentication_mode(
            aws_sdk_elasticache::types::AuthenticationMode::builder()
                .r#type(aws_sdk_elasticache::types::InputAuthenticationType::Password)
                .passwords(&p2)
                .build(),
        )
        .send()
        .await
        .expect_err("Passwords and AuthenticationMode.Passwords");
    assert_eq!(refused.code(), Some("InvalidParameterCombination"));
    assert_eq!(elasticache::status(&client, &id).await, "active");
    holds_exactly(&servers, &login, &[&p2, &p1]).await;

    // An unknown user: UserNotFound, HTTP 404 as the model says.
    let missing = client
        .modify_user()
        .user_id(unique("ec-missing"))
        .passwords(&p3)
        .send()
        .await
        .expect_err("ModifyUser of an unknown user");
    assert_eq!(missing.code(), Some("UserNotFound"));
    assert!(matches!(
        missing.as_service_error(),
        Some(ModifyUserError::UserNotFoundFault(_))
    ));
    assert_eq!(
        missing.raw_response().map(|r| r.status().as_u16()),
        Some(404)
    );

    // DeleteUser: `deleting`, then gone from the API and from both servers.
    let deleted = client
        .delete_user()
        .user_id(&id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteUser: {}", DisplayErrorContext(e)));
    assert_eq!(deleted.status(), Some("deleting"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.describe_users().user_id(&id).send().await {
            Err(e) if e.code() == Some("UserNotFound") => break,
            Err(e) => panic!("DescribeUsers: {}", DisplayErrorContext(e)),
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "the user was never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for server in servers {
        assert!(
            server.acl_user(&login).await.is_none(),
            "deleted on {}",
            server.port
        );
    }
    nothing_leaked(&managed, &[&p0, &p1, &p2, &p3]).await;
}

mod memorydb {
    use super::*;
    use aws_sdk_memorydb::types::{AuthenticationType, User};
    use aws_sdk_memorydb::Client;

    pub fn mode<S: AsRef<str>>(passwords: &[S]) -> AuthenticationMode {
        passwords
            .iter()
            .fold(
                AuthenticationMode::builder().r#type(InputAuthenticationType::Password),
                |mode, password| mode.passwords(password.as_ref()),
            )
            .build()
    }

    pub async fn user(client: &Client, name: &str) -> User {
        let out = client
            .describe_users()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeUsers {name}: {}", DisplayErrorContext(e)));
        assert_eq!(
            out.users().len(),
            1,
            "DescribeUsers {name} answers one user"
        );
        out.users()[0].clone()
    }

    pub async fn status(client: &Client, name: &str) -> String {
        user(client, name)
            .await
            .status()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn password_count(user: &User) -> Option<i32> {
        let auth = user.authentication().expect("Authentication");
        assert_eq!(auth.r#type(), Some(&AuthenticationType::Password));
        auth.password_count()
    }
}

#[tokio::test]
async fn memorydb_update_user_replaces_the_password_set_on_the_node_once_active() {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.memorydb();
    let name = unique("mdb");
    let (p0, p1, p2, p3) = (password(), password(), password(), password());

    let created = client
        .create_user()
        .user_name(&name)
        .access_string("on ~* +@all")
        .authentication_mode(memorydb::mode(&[&p1, &p0]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser: {}", DisplayErrorContext(e)));
    assert_eq!(created.user().and_then(|u| u.status()), Some("creating"));
    let seen = statuses_until_active("the new user", || memorydb::status(&client, &name)).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("creating"),
        "{seen:?}"
    );
    holds_exactly(&servers, &name, &[&p1, &p0]).await;

    let started = Instant::now();
    let updated = client
        .update_user()
        .user_name(&name)
        .authentication_mode(memorydb::mode(&[&p2, &p1]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateUser: {}", DisplayErrorContext(e)));
    let user = updated.user().expect("UpdateUser answers the user");
    assert_eq!(user.status(), Some("modifying"));
    assert_eq!(memorydb::password_count(user), Some(2));
    assert_eq!(memorydb::status(&client, &name).await, "modifying");

    let refused = client
        .update_user()
        .user_name(&name)
        .authentication_mode(memorydb::mode(&[&p3]))
        .send()
        .await
        .expect_err("UpdateUser while modifying");
    assert_eq!(refused.code(), Some("InvalidUserStateFault"), "{refused:?}");
    assert!(
        matches!(
            refused.as_service_error(),
            Some(UpdateUserError::InvalidUserStateFault(_))
        ),
        "{refused:?}"
    );
    let p2_early = node.can_login(&name, &p2).await;
    assert!(started.elapsed() < MODIFYING, "the test ran too slowly");
    assert!(
        !p2_early,
        "p2 reached the server before the change completed"
    );

    let seen = statuses_until_active("the updated user", || memorydb::status(&client, &name)).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("modifying"),
        "{seen:?}"
    );
    assert_eq!(
        memorydb::password_count(&memorydb::user(&client, &name).await),
        Some(2)
    );
    assert!(node.can_login(&name, &p2).await, "p2 logs in");
    assert!(node.can_login(&name, &p1).await, "p1 logs in");
    assert!(
        !node.can_login(&name, &p0).await,
        "the oldest password p0 no longer logs in"
    );
    holds_exactly(&servers, &name, &[&p2, &p1]).await;

    let refused = client
        .update_user()
        .user_name(&name)
        .authentication_mode(memorydb::mode(&[&p3, &p2, &p1]))
        .send()
        .await
        .expect_err("UpdateUser with three passwords");
    assert_eq!(
        refused.code(),
        Some("InvalidParameterValueException"),
        "{refused:?}"
    );
    assert!(
        matches!(
            refused.as_service_error(),
            Some(UpdateUserError::InvalidParameterValueException(_))
        ),
        "{refused:?}"
    );
    assert_eq!(memorydb::status(&client, &name).await, "active");
    holds_exactly(&servers, &name, &[&p2, &p1]).await;

    let missing = client
        .update_user()
        .user_name(unique("mdb-missing"))
        .authentication_mode(memorydb::mode(&[&p3]))
        .send()
        .await
        .expect_err("UpdateUser of an unknown user");
    assert_eq!(missing.code(), Some("UserNotFoundFault"));
    assert!(matches!(
        missing.as_service_error(),
        Some(UpdateUserError::UserNotFoundFault(_))
    ));

    let deleted = client
        .delete_user()
        .user_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteUser: {}", DisplayErrorContext(e)));
    assert_eq!(deleted.user().and_then(|u| u.status()), Some("deleting"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.describe_users().user_name(&name).send().await {
            Err(e) if e.code() == Some("UserNotFoundFault") => break,
            Err(e) => panic!("DescribeUsers: {}", DisplayErrorContext(e)),
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "the user was never deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        node.acl_user(&name).await.is_none(),
        "deleted on the server"
    );
    nothing_leaked(&managed, &[&p0, &p1, &p2, &p3]).await;
}

#[tokio::test]
async fn injected_throttling_reaches_the_sdk_as_each_services_throttling_code() {
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&[], Duration::ZERO).await;

    // ElastiCache: Throttling, HTTP 400.
    let once = managed.elasticache_with(RetryConfig::disabled());
    managed.throttle_next(1).await;
    let throttled = once
        .describe_users()
        .send()
        .await
        .expect_err("a throttled DescribeUsers");
    assert_eq!(throttled.code(), Some("Throttling"), "{throttled:?}");
    assert_eq!(
        throttled.raw_response().map(|r| r.status().as_u16()),
        Some(400)
    );
    once.describe_users()
        .send()
        .await
        .expect("the call after the throttled one passes");
    // The SDK classifies it as throttling: with standard retries two throttled answers pass unseen.
    managed.throttle_next(2).await;
    managed
        .elasticache()
        .describe_users()
        .send()
        .await
        .unwrap_or_else(|e| panic!("retried past Throttling: {}", DisplayErrorContext(e)));
    assert_eq!(managed.settings().await["throttle_next"], json!(0));

    // MemoryDB: ThrottlingException, HTTP 400.
    let once = managed.memorydb_with(RetryConfig::disabled());
    managed.throttle_next(1).await;
    let throttled = once
        .describe_users()
        .send()
        .await
        .expect_err("a throttled DescribeUsers");
    assert_eq!(
        throttled.code(),
        Some("ThrottlingException"),
        "{throttled:?}"
    );
    assert_eq!(
        throttled.raw_response().map(|r| r.status().as_u16()),
        Some(400)
    );
    once.describe_users()
        .send()
        .await
        .expect("the call after the throttled one passes");
    managed.throttle_next(2).await;
    managed
        .memorydb()
        .describe_users()
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "retried past ThrottlingException: {}",
                DisplayErrorContext(e)
            )
        });
    assert_eq!(managed.settings().await["throttle_next"], json!(0));
}

#[tokio::test]
async fn a_change_the_servers_refuse_stays_pending_and_lands_once_they_take_it() {
    let node = server();
    let managed = ManagedRedis::new(Emulator::shared());
    let wrong_admin = password();
    managed
        .configure(json!({
            "nodes": [{"host": "127.0.0.1", "port": node.port, "username": ADMIN,
                       "password": wrong_admin}],
            "modifying_seconds": 0.1,
        }))
        .await;
    let client = managed.memorydb();
    let name = unique("mdb-pending");
    let p1 = password();
    client
        .create_user()
        .user_name(&name)
        .access_string("on ~* +@all")
        .authentication_mode(memorydb::mode(&[&p1]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser: {}", DisplayErrorContext(e)));

    // Past the change's time and a retry: still `creating`, nothing on the server.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(memorydb::status(&client, &name).await, "creating");
    assert!(
        node.acl_user(&name).await.is_none(),
        "nothing reached the server"
    );
    let events = events_of(&managed, &name).await;
    assert!(
        events
            .iter()
            .any(|(action, result, _)| action == "create" && result == "failed"),
        "the refused apply is recorded: {events:?}"
    );

    // The right admin credential: the change lands and the user turns active.
    managed.attach(&[&node], Duration::from_millis(100)).await;
    statuses_until_active("the pending user", || memorydb::status(&client, &name)).await;
    assert!(node.can_login(&name, &p1).await, "p1 logs in");
    holds_exactly(&[&node], &name, &[&p1]).await;
    nothing_leaked(&managed, &[&p1, &wrong_admin]).await;
}
