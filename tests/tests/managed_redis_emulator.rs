//! The emulated ElastiCache and MemoryDB user control planes (`managed_redis_emulator.py`), driven
//! through the real AWS SDK for Rust and checked on real redis-servers: a password change is the
//! user's whole password set, lands on every node only when the user turns from `modifying` to
//! `active`, is refused while a change is under way, and the services' error codes (including
//! throttling) reach the SDK as its error variants. ElastiCache AUTH tokens of replication groups
//! (ModifyReplicationGroup ROTATE / SET) become the passwords of the nodes' `default` user by the
//! rules AWS documents, checked by logging in with each token. The scope counts every call.

use aws_sdk_elasticache::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_elasticache::operation::modify_user::ModifyUserError;
use aws_sdk_memorydb::operation::update_user::UpdateUserError;
use aws_sdk_memorydb::types::{AuthenticationMode, InputAuthenticationType};
use rotation::password::generate_password;
use rotation::redis::acl::PasswordHash;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::emulator::REGION;
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

/// The scope's events for the user (`kind` "user") or replication group (`kind`
/// "replication_group") `name`: (action, result, nodes).
async fn events_of(
    managed: &ManagedRedis<'_>,
    kind: &str,
    name: &str,
) -> Vec<(String, String, Vec<String>)> {
    let settings = managed.settings().await;
    settings["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event[kind] == name)
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
    let events = events_of(&managed, "user", &id).await;
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
    let events = events_of(&managed, "user", &name).await;
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

/// Whether a connection without AUTH may run commands (as the `default` user) on `server`.
fn open_to_anyone(server: &RedisServer) -> bool {
    server.raw_command("PING").expect("PING without AUTH") == "+PONG"
}

mod groups {
    use super::*;
    use aws_sdk_elasticache::error::SdkError;
    pub use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupError;
    pub use aws_sdk_elasticache::types::AuthTokenUpdateStatus as TokenStatus;
    pub use aws_sdk_elasticache::types::AuthTokenUpdateStrategyType as Strategy;
    use aws_sdk_elasticache::types::ReplicationGroup;
    use aws_sdk_elasticache::Client;

    pub type Refusal = SdkError<ModifyReplicationGroupError>;

    /// ModifyReplicationGroup of `token` by `strategy`, applied immediately.
    pub async fn modify(
        client: &Client,
        id: &str,
        token: &str,
        strategy: Strategy,
    ) -> Result<ReplicationGroup, Refusal> {
        let out = client
            .modify_replication_group()
            .replication_group_id(id)
            .auth_token(token)
            .auth_token_update_strategy(strategy)
            .apply_immediately(true)
            .send()
            .await?;
        Ok(out
            .replication_group()
            .cloned()
            .expect("ModifyReplicationGroup answers the group"))
    }

    /// [`modify`], which must be accepted (the panic names no token).
    pub async fn change(
        client: &Client,
        id: &str,
        token: &str,
        strategy: Strategy,
    ) -> ReplicationGroup {
        let label = format!("ModifyReplicationGroup {id} {strategy}");
        modify(client, id, token, strategy)
            .await
            .unwrap_or_else(|e| panic!("{label}: {}", DisplayErrorContext(e)))
    }

    /// [`modify`], which must be refused; `what` names the case (and no token).
    pub async fn refusal(
        client: &Client,
        id: &str,
        token: &str,
        strategy: Strategy,
        what: &str,
    ) -> Refusal {
        match modify(client, id, token, strategy).await {
            Ok(_) => panic!("{what} was accepted"),
            Err(e) => e,
        }
    }

    pub fn http_status(refusal: &Refusal) -> Option<u16> {
        refusal.raw_response().map(|r| r.status().as_u16())
    }

    /// The group's ROTATE or SET answer: `modifying`, with the pending token status.
    pub fn assert_pending(group: &ReplicationGroup, status: TokenStatus) {
        assert_eq!(group.status(), Some("modifying"));
        assert_eq!(
            group
                .pending_modified_values()
                .and_then(|pending| pending.auth_token_status()),
            Some(&status)
        );
    }
}

use groups::{ModifyReplicationGroupError, Strategy, TokenStatus};

#[tokio::test]
async fn elasticache_auth_token_rotate_keeps_the_previous_token_and_a_second_rotate_drops_the_oldest(
) {
    let (a, b) = (server(), server());
    let servers = [&a, &b];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.elasticache();
    let id = unique("rg");
    let (t0, t1, t2) = (password(), password(), password());

    // Created with t0: only t0 logs in as `default`, and AUTH is required.
    let arn = managed.create_replication_group(&id, &t0).await;
    assert_eq!(
        arn,
        format!("arn:aws:elasticache:{REGION}:123456789012:replicationgroup:{id}")
    );
    let group = managed.replication_group(&id).await;
    assert_eq!(group.status(), Some("available"));
    assert_eq!(group.arn(), Some(arn.as_str()));
    assert_eq!(group.auth_token_enabled(), Some(true));
    assert_eq!(group.transit_encryption_enabled(), Some(true));
    assert_eq!(managed.auth_token_status(&id).await, None);
    let created_at = group
        .auth_token_last_modified_date()
        .expect("AuthTokenLastModifiedDate")
        .as_nanos();
    assert!(
        logs_in_everywhere(&servers, "default", &t0).await,
        "t0 logs in"
    );
    assert!(
        !servers.iter().any(|server| open_to_anyone(server)),
        "AUTH is required"
    );

    // ROTATE t1: `modifying` with ROTATING, and nothing on the nodes yet.
    let started = Instant::now();
    let rotating = groups::change(&client, &id, &t1, Strategy::Rotate).await;
    groups::assert_pending(&rotating, TokenStatus::Rotating);
    assert_eq!(
        managed.auth_token_status(&id).await,
        Some(TokenStatus::Rotating)
    );
    assert_eq!(
        managed.replication_group(&id).await.status(),
        Some("modifying")
    );
    // Any other ModifyReplicationGroup meanwhile: InvalidReplicationGroupState, HTTP 400.
    for strategy in [Strategy::Rotate, Strategy::Set] {
        let refused = groups::refusal(
            &client,
            &id,
            &t2,
            strategy.clone(),
            "a change while modifying",
        )
        .await;
        assert_eq!(refused.code(), Some("InvalidReplicationGroupState"));
        assert!(matches!(
            refused.as_service_error(),
            Some(ModifyReplicationGroupError::InvalidReplicationGroupStateFault(_))
        ));
        assert_eq!(groups::http_status(&refused), Some(400));
    }
    let t1_early = logs_in_anywhere(&servers, "default", &t1).await;
    assert!(started.elapsed() < MODIFYING, "the test ran too slowly");
    assert!(!t1_early, "t1 reached a node before the change completed");

    let seen = managed.wait_until_available(&id).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("modifying"),
        "{seen:?}"
    );
    let group = managed.replication_group(&id).await;
    assert_eq!(managed.auth_token_status(&id).await, None);
    assert_eq!(group.auth_token_enabled(), Some(true));
    assert!(
        group
            .auth_token_last_modified_date()
            .expect("AuthTokenLastModifiedDate")
            .as_nanos()
            > created_at,
        "AuthTokenLastModifiedDate moved with the rotation"
    );
    assert!(
        logs_in_everywhere(&servers, "default", &t0).await,
        "t0 still logs in"
    );
    assert!(
        logs_in_everywhere(&servers, "default", &t1).await,
        "t1 logs in"
    );
    holds_exactly(&servers, "default", &[&t0, &t1]).await;
    assert!(
        !servers.iter().any(|server| open_to_anyone(server)),
        "AUTH is still required"
    );

    // A second ROTATE: t2 joins, the oldest (t0) goes.
    let rotating = groups::change(&client, &id, &t2, Strategy::Rotate).await;
    groups::assert_pending(&rotating, TokenStatus::Rotating);
    managed.wait_until_available(&id).await;
    assert!(
        logs_in_everywhere(&servers, "default", &t1).await,
        "t1 still logs in"
    );
    assert!(
        logs_in_everywhere(&servers, "default", &t2).await,
        "t2 logs in"
    );
    assert!(
        !logs_in_anywhere(&servers, "default", &t0).await,
        "the oldest token t0 no longer logs in"
    );
    holds_exactly(&servers, "default", &[&t1, &t2]).await;

    let applied = |action: &str| (action.to_owned(), "applied".to_owned(), addresses(&servers));
    assert_eq!(
        events_of(&managed, "replication_group", &id).await,
        vec![applied("create"), applied("rotate"), applied("rotate")]
    );
    nothing_leaked(&managed, &[&t0, &t1, &t2]).await;
}

#[tokio::test]
async fn elasticache_auth_token_set_leaves_only_the_last_token_and_refuses_any_other_value() {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.elasticache();
    let id = unique("rg-set");
    let (t0, t1) = (password(), password());
    managed.create_replication_group(&id, &t0).await;

    // SET on a group holding one token it was created with: no ROTATE to finish.
    let refused = groups::refusal(&client, &id, &t0, Strategy::Set, "SET without a ROTATE").await;
    assert_eq!(refused.code(), Some("InvalidParameterCombination"));
    assert!(matches!(
        refused.as_service_error(),
        Some(ModifyReplicationGroupError::InvalidParameterCombinationException(_))
    ));

    groups::change(&client, &id, &t1, Strategy::Rotate).await;
    managed.wait_until_available(&id).await;
    holds_exactly(&servers, "default", &[&t0, &t1]).await;

    // SET with the older token, not the last one rotated in: refused, both still log in.
    let refused = groups::refusal(&client, &id, &t0, Strategy::Set, "SET of the older token").await;
    assert_eq!(refused.code(), Some("InvalidParameterValue"));
    assert!(matches!(
        refused.as_service_error(),
        Some(ModifyReplicationGroupError::InvalidParameterValueException(
            _
        ))
    ));
    assert_eq!(
        managed.replication_group(&id).await.status(),
        Some("available")
    );
    assert!(node.can_login("default", &t0).await, "t0 still logs in");
    assert!(node.can_login("default", &t1).await, "t1 still logs in");

    // SET with the last token: `modifying` with SETTING, then only t1 logs in.
    let setting = groups::change(&client, &id, &t1, Strategy::Set).await;
    groups::assert_pending(&setting, TokenStatus::Setting);
    assert_eq!(
        managed.auth_token_status(&id).await,
        Some(TokenStatus::Setting)
    );
    let seen = managed.wait_until_available(&id).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("modifying"),
        "{seen:?}"
    );
    assert!(node.can_login("default", &t1).await, "t1 logs in");
    assert!(
        !node.can_login("default", &t0).await,
        "t0 no longer logs in after SET"
    );
    holds_exactly(&servers, "default", &[&t1]).await;
    assert!(!open_to_anyone(&node), "AUTH is required");

    // A second SET: one token, not from a ROTATE of a group without one.
    let refused = groups::refusal(&client, &id, &t1, Strategy::Set, "SET after SET").await;
    assert_eq!(refused.code(), Some("InvalidParameterCombination"));
    holds_exactly(&servers, "default", &[&t1]).await;
    nothing_leaked(&managed, &[&t0, &t1]).await;
}

#[tokio::test]
async fn elasticache_auth_token_rotated_into_a_group_without_one_keeps_unauthenticated_access_until_set(
) {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.elasticache();
    let id = unique("rg-open");
    let (token, other) = (password(), password());

    managed.create_replication_group_without_token(&id).await;
    assert_eq!(
        managed.replication_group(&id).await.auth_token_enabled(),
        Some(false)
    );
    assert!(open_to_anyone(&node), "no token: no AUTH needed");

    // ROTATE into a group without a token: the token is accepted, access stays open.
    groups::change(&client, &id, &token, Strategy::Rotate).await;
    managed.wait_until_available(&id).await;
    assert_eq!(
        managed.replication_group(&id).await.auth_token_enabled(),
        Some(true)
    );
    assert!(
        open_to_anyone(&node),
        "unauthenticated access keeps working"
    );
    assert!(node.can_login("default", &token).await, "the token logs in");

    // SET: only the token works now.
    let setting = groups::change(&client, &id, &token, Strategy::Set).await;
    groups::assert_pending(&setting, TokenStatus::Setting);
    managed.wait_until_available(&id).await;
    assert!(!open_to_anyone(&node), "AUTH is required after SET");
    assert!(node.can_login("default", &token).await, "the token logs in");
    assert!(
        !node.can_login("default", &other).await,
        "any other password is refused"
    );
    holds_exactly(&servers, "default", &[&token]).await;
    nothing_leaked(&managed, &[&token, &other]).await;
}

#[tokio::test]
async fn elasticache_auth_token_rotate_resent_with_a_token_already_held_drops_the_oldest() {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, MODIFYING).await;
    let client = managed.elasticache();
    let id = unique("rg-resent");
    let (t0, t1) = (password(), password());
    managed.create_replication_group(&id, &t0).await;
    groups::change(&client, &id, &t1, Strategy::Rotate).await;
    managed.wait_until_available(&id).await;
    holds_exactly(&servers, "default", &[&t0, &t1]).await;

    // The same ROTATE again (a blind retry): t1 counts as a new token, so t0 is dropped.
    groups::change(&client, &id, &t1, Strategy::Rotate).await;
    managed.wait_until_available(&id).await;
    assert!(node.can_login("default", &t1).await, "t1 logs in");
    assert!(
        !node.can_login("default", &t0).await,
        "the re-sent ROTATE dropped t0"
    );
    holds_exactly(&servers, "default", &[&t1]).await;
    nothing_leaked(&managed, &[&t0, &t1]).await;
}

#[tokio::test]
async fn elasticache_auth_token_rules_and_unemulated_changes_are_refused_without_touching_the_nodes(
) {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, Duration::from_millis(200)).await;
    let client = managed.elasticache();
    let id = unique("rg-rules");
    let (t0, t1) = (password(), password());
    managed.create_replication_group(&id, &t0).await;

    // Tokens: 16-128 printable ASCII characters, none of / " @ %.
    let mut bad: Vec<(String, String)> = ["/", "\"", "@", "%"]
        .iter()
        .map(|c| (format!("a token with {c}"), format!("{}{c}", &t1[..20])))
        .collect();
    bad.push(("a 15-character token".into(), t1[..15].to_owned()));
    bad.push((
        "a 129-character token".into(),
        t1.repeat(5)[..129].to_owned(),
    ));
    bad.push(("a token with a tab".into(), format!("{}\t", &t1[..20])));
    for (what, token) in &bad {
        let refused = groups::refusal(&client, &id, token, Strategy::Rotate, what).await;
        assert_eq!(refused.code(), Some("InvalidParameterValue"), "{what}");
        assert!(
            matches!(
                refused.as_service_error(),
                Some(ModifyReplicationGroupError::InvalidParameterValueException(
                    _
                ))
            ),
            "{what}"
        );
    }

    // DELETE is not emulated; neither is ApplyImmediately false (sent or left out).
    let refused = groups::refusal(&client, &id, &t1, Strategy::Delete, "DELETE").await;
    assert_eq!(refused.code(), Some("InvalidParameterValue"));
    for apply in [Some(false), None] {
        let refused = client
            .modify_replication_group()
            .replication_group_id(&id)
            .auth_token(&t1)
            .auth_token_update_strategy(Strategy::Rotate)
            .set_apply_immediately(apply)
            .send()
            .await
            .expect_err("ApplyImmediately false");
        assert_eq!(refused.code(), Some("InvalidParameterValue"), "{apply:?}");
    }
    // A strategy without a token.
    let refused = client
        .modify_replication_group()
        .replication_group_id(&id)
        .auth_token_update_strategy(Strategy::Rotate)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("a strategy without a token");
    assert_eq!(refused.code(), Some("InvalidParameterCombination"));

    // An unknown group: ReplicationGroupNotFoundFault, HTTP 404, from both calls.
    let missing = unique("rg-missing");
    let refused =
        groups::refusal(&client, &missing, &t1, Strategy::Rotate, "an unknown group").await;
    assert_eq!(refused.code(), Some("ReplicationGroupNotFoundFault"));
    assert!(matches!(
        refused.as_service_error(),
        Some(ModifyReplicationGroupError::ReplicationGroupNotFoundFault(
            _
        ))
    ));
    assert_eq!(groups::http_status(&refused), Some(404));
    let refused = client
        .describe_replication_groups()
        .replication_group_id(&missing)
        .send()
        .await
        .expect_err("DescribeReplicationGroups of an unknown group");
    assert_eq!(refused.code(), Some("ReplicationGroupNotFoundFault"));
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(404)
    );

    // Nothing changed: the group is available with t0 alone, and only its creation was applied.
    assert_eq!(
        managed.replication_group(&id).await.status(),
        Some("available")
    );
    assert_eq!(managed.auth_token_status(&id).await, None);
    holds_exactly(&servers, "default", &[&t0]).await;
    assert!(!node.can_login("default", &t1).await, "t1 never landed");
    assert_eq!(
        events_of(&managed, "replication_group", &id).await,
        vec![(
            "create".to_owned(),
            "applied".to_owned(),
            addresses(&servers)
        )]
    );
    let mut secrets: Vec<&str> = vec![&t0, &t1];
    secrets.extend(bad.iter().map(|(_, token)| token.as_str()));
    nothing_leaked(&managed, &secrets).await;
}

#[tokio::test]
async fn call_counts_count_every_emulated_call_including_throttled_and_refused_ones() {
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&[], Duration::ZERO).await;
    let neighbour = ManagedRedis::new(Emulator::shared());
    neighbour.attach(&[], Duration::ZERO).await;
    assert_eq!(managed.calls().await, BTreeMap::new(), "a new scope");
    let token = password();

    // A throttled DescribeUsers the SDK retries: two calls.
    managed.throttle_next(1).await;
    managed
        .elasticache()
        .describe_users()
        .send()
        .await
        .unwrap_or_else(|e| panic!("retried past Throttling: {}", DisplayErrorContext(e)));
    // A throttled DescribeReplicationGroups without retries: one call.
    managed.throttle_next(1).await;
    let throttled = managed
        .elasticache_with(RetryConfig::disabled())
        .describe_replication_groups()
        .send()
        .await
        .expect_err("a throttled DescribeReplicationGroups");
    assert_eq!(throttled.code(), Some("Throttling"));
    // Refused calls count too.
    let refused = groups::refusal(
        &managed.elasticache(),
        &unique("rg-missing"),
        &token,
        Strategy::Rotate,
        "ModifyReplicationGroup of an unknown group",
    )
    .await;
    assert_eq!(refused.code(), Some("ReplicationGroupNotFoundFault"));
    let refused = managed
        .elasticache()
        .modify_user()
        .user_id(unique("ec-missing"))
        .passwords(&token)
        .send()
        .await
        .expect_err("ModifyUser of an unknown user");
    assert_eq!(refused.code(), Some("UserNotFound"));
    let mdb = managed.memorydb();
    for _ in 0..2 {
        mdb.describe_users()
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeUsers: {}", DisplayErrorContext(e)));
    }

    let expected: BTreeMap<String, u64> = [
        ("elasticache.DescribeReplicationGroups", 1),
        ("elasticache.DescribeUsers", 2),
        ("elasticache.ModifyReplicationGroup", 1),
        ("elasticache.ModifyUser", 1),
        ("memorydb.DescribeUsers", 2),
    ]
    .into_iter()
    .map(|(name, count)| (name.to_owned(), count))
    .collect();
    assert_eq!(managed.calls().await, expected);
    assert_eq!(
        neighbour.calls().await,
        BTreeMap::new(),
        "another scope counts nothing of them"
    );

    managed.reset_calls().await;
    assert_eq!(managed.calls().await, BTreeMap::new(), "after reset_calls");
    mdb.describe_users()
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeUsers: {}", DisplayErrorContext(e)));
    assert_eq!(
        managed.calls().await,
        BTreeMap::from([("memorydb.DescribeUsers".to_owned(), 1)])
    );
    nothing_leaked(&managed, &[&token]).await;
}

#[tokio::test]
async fn injected_invalid_state_refuses_the_next_changes_while_describe_shows_none() {
    let node = server();
    let servers = [&node];
    let managed = ManagedRedis::new(Emulator::shared());
    managed.attach(&servers, Duration::from_millis(200)).await;
    let client = managed.elasticache();
    let (id, group) = (unique("ec-busy"), unique("rg-busy"));
    let login = format!("{id}-app");
    let (p0, p1, t0, t1) = (password(), password(), password(), password());
    client
        .create_user()
        .user_id(&id)
        .user_name(&login)
        .engine("redis")
        .access_string("on ~* +@all")
        .passwords(&p0)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser: {}", DisplayErrorContext(e)));
    statuses_until_active("the new user", || elasticache::status(&client, &id)).await;
    managed.create_replication_group(&group, &t0).await;
    managed.reset_calls().await;

    // Two injected: the next ModifyUser and ModifyReplicationGroup are refused, nothing changes.
    managed.inject_invalid_state(2).await;
    let refused = client
        .modify_user()
        .user_id(&id)
        .passwords(&p1)
        .send()
        .await
        .expect_err("ModifyUser under an injected invalid state");
    assert_eq!(refused.code(), Some("InvalidUserState"));
    assert_eq!(elasticache::status(&client, &id).await, "active");
    let refused = groups::refusal(
        &client,
        &group,
        &t1,
        Strategy::Rotate,
        "an injected busy group",
    )
    .await;
    assert_eq!(refused.code(), Some("InvalidReplicationGroupState"));
    assert_eq!(
        managed.replication_group(&group).await.status(),
        Some("available")
    );
    assert_eq!(managed.settings().await["invalid_state_next"], json!(0));

    // The next changes pass and land.
    client
        .modify_user()
        .user_id(&id)
        .passwords(&p1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ModifyUser: {}", DisplayErrorContext(e)));
    statuses_until_active("the modified user", || elasticache::status(&client, &id)).await;
    assert!(node.can_login(&login, &p1).await, "p1 logs in");
    assert!(!node.can_login(&login, &p0).await, "p0 was replaced");
    groups::change(&client, &group, &t1, Strategy::Rotate).await;
    managed.wait_until_available(&group).await;
    holds_exactly(&servers, "default", &[&t0, &t1]).await;

    let calls = managed.calls().await;
    assert_eq!(calls.get("elasticache.ModifyUser"), Some(&2), "{calls:?}");
    assert_eq!(
        calls.get("elasticache.ModifyReplicationGroup"),
        Some(&2),
        "{calls:?}"
    );
    nothing_leaked(&managed, &[&p0, &p1, &t0, &t1]).await;
}

#[tokio::test]
async fn attach_persisting_saves_each_change_so_a_restarted_node_keeps_it() {
    // One server keeps its users in redis.conf (CONFIG REWRITE), the other in an aclfile (ACL SAVE).
    let mut in_config = server();
    let mut in_aclfile = RedisServer::start_opts(RedisOptions {
        aclfile: true,
        ..Default::default()
    })
    .expect("redis-server starts");
    let managed = ManagedRedis::new(Emulator::shared());
    managed
        .attach_persisting(&[&in_config, &in_aclfile], Duration::from_millis(200))
        .await;
    let client = managed.elasticache();
    let (id, group) = (unique("ec-saved"), unique("rg-saved"));
    let login = format!("{id}-app");
    let (p0, p1, t0, t1) = (password(), password(), password(), password());
    client
        .create_user()
        .user_id(&id)
        .user_name(&login)
        .engine("redis")
        .access_string("on ~* +@all")
        .passwords(&p0)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser: {}", DisplayErrorContext(e)));
    statuses_until_active("the new user", || elasticache::status(&client, &id)).await;
    client
        .modify_user()
        .user_id(&id)
        .passwords(&p1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ModifyUser: {}", DisplayErrorContext(e)));
    statuses_until_active("the modified user", || elasticache::status(&client, &id)).await;
    managed.create_replication_group(&group, &t0).await;
    groups::change(&client, &group, &t1, Strategy::Rotate).await;
    managed.wait_until_available(&group).await;

    in_config.restart().expect("redis-server restarts");
    in_aclfile.restart().expect("redis-server restarts");
    let servers = [&in_config, &in_aclfile];
    holds_exactly(&servers, &login, &[&p1]).await;
    assert!(
        !logs_in_anywhere(&servers, &login, &p0).await,
        "the replaced password p0 stayed replaced"
    );
    holds_exactly(&servers, "default", &[&t0, &t1]).await;
    assert!(
        logs_in_everywhere(&servers, "default", &t1).await,
        "the rotated token survived the restart"
    );
    nothing_leaked(&managed, &[&p0, &p1, &t0, &t1]).await;
}
