//! The trust boundary of Redis rotation, attacked through the shipped function binary against real
//! redis-server. Whoever writes an application secret (CI, operators, terraform) is weaker than the
//! admin: each attack below is refused (`Refused`), changes no user on the server (the victim's
//! and the admin's `ACL GETUSER`, read by a superuser of the test's own) and no stage, and names no
//! secret. The last tests show what the admin side may allow instead.

use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::Step;
use serde_json::json;
use testkit::recording::RecordingServer;
use testkit::redis::attack::{admin_password_text, assert_refused, password, AttackStack, Stages};
use testkit::redis::scenario::{admin_secret_with, Credential};
use testkit::redis::{FakeRedis, RedisOptions, TlsFiles, WireTap};
use testkit::{Emulator, RedisServer};
use tokio::io::AsyncWriteExt;

const APP: (&str, &str) = ("app", "~app:* -@all +get +set");
const VICTIM: (&str, &str) = ("victim", "~* -@all +@read +@write");

#[tokio::test]
async fn the_admins_own_user_is_never_rotated_even_with_its_password() {
    let mut stack = AttackStack::start(&[APP], json!({}), &[]).await;
    let before = stack.users(&["admin_clone"]).await;
    // Even the admin's real password (a writer who knows it) does not make it an application user.
    let cases = [
        ("admin", admin_password_text().to_owned(), "single-user"),
        ("admin", password(), "alternating-users"),
        ("admin_clone", password(), "alternating-users"),
    ];
    for (user, pw, strategy) in cases {
        let id = stack.secret(user, &pw, json!({"strategy": strategy})).await;
        let stages = Stages::of(&id).await;
        let result = stack.rotate(&id).await;
        let message = assert_refused(result, Step::SetSecret, "username", &stack.material);
        assert!(message.contains("the admin's own user"), "{message}");
        assert_eq!(Stages::of(&id).await, stages, "{user} {strategy}");
    }
    assert_eq!(stack.users(&["admin_clone"]).await, before);
    stack.assert_output_clean();
}

#[tokio::test]
async fn a_user_whose_current_password_the_writer_does_not_know_is_refused() {
    let mut stack = AttackStack::start(&[APP, VICTIM], json!({}), &[]).await;
    let before = stack.users(&["victim", "app"]).await;
    // Another user, and the writer's own user with a stale password: no proof of possession.
    for user in ["victim", "app"] {
        let id = stack.secret(user, &password(), json!({})).await;
        let message = stack.refused(&id, Step::SetSecret, "password").await;
        assert!(message.contains(&format!("user {user}")), "{message}");
        assert!(
            message.contains("break_glass_users") && message.contains("ROTATION_BREAK_GLASS_USERS"),
            "names the way out: {message}"
        );
    }
    assert_eq!(stack.users(&["victim", "app"]).await, before);
    stack.assert_output_clean();
}

#[tokio::test]
async fn alternating_users_cannot_reach_a_victim_through_its_pair() {
    let mut stack = AttackStack::start(&[VICTIM], json!({}), &[]).await;
    let before = stack.users(&["victim", "victim_clone"]).await;
    assert!(before[1].1.is_none(), "no clone to begin with");
    // `victim_clone` would make the rotation change `victim`; `victim` would create its clone.
    for user in ["victim_clone", "victim"] {
        let extra = json!({"strategy": "alternating-users"});
        let id = stack.secret(user, &password(), extra).await;
        let stages = Stages::of(&id).await;
        assert_refused(
            stack.rotate(&id).await,
            Step::SetSecret,
            "password",
            &stack.material,
        );
        assert_eq!(Stages::of(&id).await, stages);
    }
    assert_eq!(stack.users(&["victim", "victim_clone"]).await, before);
    stack.assert_output_clean();
}

#[tokio::test]
async fn a_passwordless_clone_proves_nothing() {
    // `nopass` logs in with any password: naming the clone must not hand over its base user.
    let users = [VICTIM, ("victim_clone", "nopass ~* -@all +get")];
    let mut stack = AttackStack::start(&users, json!({}), &[]).await;
    let before = stack.users(&["victim", "victim_clone"]).await;
    let extra = json!({"strategy": "alternating-users"});
    let id = stack.secret("victim_clone", &password(), extra).await;
    let message = stack.refused(&id, Step::SetSecret, "password").await;
    assert!(message.contains("`nopass`"), "{message}");
    assert_eq!(stack.users(&["victim", "victim_clone"]).await, before);
    stack.assert_output_clean();
}

/// The fake recorded nothing: no connection, not the admin's password.
async fn assert_untouched(fake: &RecordingServer) {
    assert_eq!(fake.connections(), 0, "the fake server was connected to");
    assert!(
        !fake.saw(admin_password_text()),
        "the admin's password reached it"
    );
    // The fake records what it gets, so the checks above could fail.
    let mut probe = tokio::net::TcpStream::connect(("127.0.0.1", fake.port))
        .await
        .unwrap();
    probe
        .write_all(b"*1\r\n$10\r\nmarker-123\r\n")
        .await
        .unwrap();
    for _ in 0..100 {
        if fake.saw("marker-123") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the fake server does not record");
}

#[tokio::test]
async fn an_application_endpoint_or_node_the_admin_does_not_name_never_sees_the_admins_password() {
    let fake = FakeRedis::start().await.unwrap();
    let mut stack = AttackStack::start(&[APP], json!({}), &[]).await;
    let app_pw = stack.password_of("app");
    let before = stack.users(&["app"]).await;
    let fake_node = format!("127.0.0.1:{}", fake.port);
    let cases = [
        (json!({"port": fake.port}), "host"),
        (json!({"host": "localhost", "port": fake.port}), "host"),
        (json!({"nodes": [fake_node]}), "nodes"),
        (
            json!({"nodes": [fake_node], "strategy": "alternating"}),
            "nodes",
        ),
    ];
    for (extra, field) in cases {
        let id = stack.secret("app", &app_pw, extra).await;
        let message = stack.refused(&id, Step::SetSecret, field).await;
        for host in ["127.0.0.1", "localhost"] {
            let named = format!("{host}:{}", fake.port);
            assert!(!message.contains(&named), "names no value: {message}");
        }
    }
    assert_eq!(stack.users(&["app"]).await, before);
    assert_untouched(&fake).await;
    stack.assert_output_clean();
}

#[tokio::test]
async fn an_admin_secret_that_names_no_server_is_refused_naming_the_way_out() {
    let fake = FakeRedis::start().await.unwrap();
    let mut stack = AttackStack::start(&[APP], json!({}), &[]).await;
    let app_pw = stack.password_of("app");
    let credential_only = testkit::redis::admin_secret_json();
    let admin = Emulator::shared()
        .create_secret("redis-admin", &credential_only)
        .await;
    let extra = json!({"masterarn": admin, "port": fake.port});
    let id = stack.secret("app", &app_pw, extra).await;
    let message = assert_refused(
        stack.rotate(&id).await,
        Step::SetSecret,
        "host",
        &stack.material,
    );
    assert!(message.contains("add `host`, `port`"), "{message}");
    assert_untouched(&fake).await;
}

#[tokio::test]
async fn an_application_secret_cannot_turn_the_admins_tls_off() {
    let tls = TlsFiles::generate().unwrap();
    let app_pw = password();
    let server = RedisServer::start_opts(RedisOptions {
        users: &[&format!("user app on >{app_pw} ~app:* -@all +get")],
        tls: Some(&tls),
        ..Default::default()
    })
    .unwrap();
    // Every connection of the rotation goes through the recording proxy in front of the TLS port.
    let tap = WireTap::start(server.tls_port.unwrap()).unwrap();
    let endpoint = json!({"host": "localhost", "port": tap.port});
    let mut admin = endpoint.clone();
    admin["ca_bundle"] = json!(tls.ca_pem);
    let mut extra = endpoint;
    extra["masterarn"] = json!(admin_secret_with(admin).await);
    extra["tls"] = json!(false);
    let id = testkit::redis::scenario::user_secret(&server, "app", &app_pw, extra).await;
    let mut stack = AttackStack::start(&[], json!({}), &[]).await;
    stack.material.add(&app_pw);
    stack
        .rotate(&id)
        .await
        .unwrap_or_else(|(step, e)| panic!("{step}: {}: {}", e.error_type, e.error_message));
    let current = Credential::current(&id).await;
    assert!(current.works_on(&server).await, "the rotation happened");
    let raw = tap.raw();
    assert!(raw.starts_with('\u{16}'), "a TLS handshake, not RESP");
    assert!(
        tap.commands().is_empty(),
        "no plaintext command on the wire"
    );
    stack.material.add_secret(&id, AWSCURRENT).await;
    stack.material.assert_absent(&raw, "the wire");
    stack.assert_output_clean();
}

#[tokio::test]
async fn users_with_acl_or_admin_permissions_are_refused() {
    let privileged = [
        ("ops", "~* -@all +@admin"),
        ("acler", "-@all +acl"),
        ("configurer", "-@all +get +config|set"),
        // Permissions granted in a selector count too: the server itself is asked.
        ("sneaky", "~* -@all +get (~* +acl|setuser)"),
    ];
    let mut stack = AttackStack::start(&privileged, json!({}), &[]).await;
    let names: Vec<&str> = privileged.iter().map(|(n, _)| *n).collect();
    let before = stack.users(&names).await;
    for (name, _) in privileged {
        for strategy in ["single-user", "alternating-users"] {
            // The writer even knows the password: possession is not enough for these users.
            let pw = stack.password_of(name);
            let id = stack.secret(name, &pw, json!({"strategy": strategy})).await;
            let message = stack.refused(&id, Step::SetSecret, "username").await;
            assert!(
                message.contains(&format!("user {name} holds ACL or admin permissions"))
                    && message.contains("privileged_users"),
                "{message}"
            );
        }
    }
    assert_eq!(stack.users(&names).await, before);
    stack.assert_output_clean();
}

#[tokio::test]
async fn an_existing_clone_with_acl_permissions_is_refused_and_untouched() {
    let users = [APP, ("app_clone", "-@all +acl|setuser +acl|getuser")];
    let mut stack = AttackStack::start(&users, json!({}), &[]).await;
    let before = stack.users(&["app", "app_clone"]).await;
    let app_pw = stack.password_of("app");
    let id = stack
        .secret("app", &app_pw, json!({"strategy": "alternating"}))
        .await;
    let message = stack.refused(&id, Step::SetSecret, "username").await;
    assert!(message.contains("user app_clone holds ACL"), "{message}");
    assert_eq!(stack.users(&["app", "app_clone"]).await, before);
}

#[tokio::test]
async fn a_pending_value_planted_before_create_secret_is_refused_at_set_secret() {
    let mut stack = AttackStack::start(&[APP], json!({}), &[]).await;
    let app_pw = stack.password_of("app");
    let id = stack.secret("app", &app_pw, json!({})).await;
    let before = stack.users(&["app"]).await;
    let emulator = Emulator::shared();
    let token = emulator.stage_rotation(&id).await;
    // The writer fills the empty AWSPENDING version with a password of its choosing.
    let chosen = password();
    stack.material.add(&chosen);
    let mut planted: serde_json::Value =
        serde_json::from_str(&emulator.value_at(&id, AWSCURRENT).await.unwrap()).unwrap();
    planted["password"] = json!(chosen);
    planted["rotation_seal"] = json!("00".repeat(32));
    emulator
        .put_value(&id, Some(&token), &planted.to_string(), AWSPENDING)
        .await;
    let stages = Stages::of(&id).await;
    let steps = [Step::CreateSecret, Step::SetSecret];
    let result = stack.steps(&id, &token, &steps).await;
    assert_refused(result, Step::SetSecret, "rotation_seal", &stack.material);
    assert_eq!(Stages::of(&id).await, stages);
    assert_eq!(stack.users(&["app"]).await, before);
    assert!(!stack.server.can_login("app", &chosen).await);
    stack.assert_output_clean();
}

#[tokio::test]
async fn a_forged_previous_version_cannot_make_an_emergency_revoke_another_user() {
    let mut stack = AttackStack::start(&[APP, VICTIM], json!({}), &[]).await;
    let (app_pw, victim_pw) = (stack.password_of("app"), stack.password_of("victim"));
    let extra = json!({"strategy": "alternating"});
    let id = stack.secret("app", &app_pw, extra.clone()).await;
    let emulator = Emulator::shared();
    emulator.tag(&id, "rotation:mode", "emergency").await;
    stack.rotate(&id).await.expect("an emergency rotation");
    let token = emulator.version_with(&id, AWSCURRENT).await.unwrap();
    // The writer labels a value naming the victim AWSPREVIOUS, and asks for the revocation again.
    let mut forged: serde_json::Value =
        serde_json::from_str(&emulator.value_at(&id, AWSCURRENT).await.unwrap()).unwrap();
    forged["username"] = json!("victim");
    emulator
        .put_value(
            &id,
            Some(&uuid::Uuid::new_v4().to_string()),
            &forged.to_string(),
            AWSPREVIOUS,
        )
        .await;
    emulator.tag(&id, "rotation:mode", "emergency").await;
    let mut session = stack.server.connect("victim", &victim_pw).await.unwrap();
    let before = stack.users(&["victim"]).await;
    let stages = Stages::of(&id).await;
    let result = stack.steps(&id, &token, &[Step::FinishSecret]).await;
    assert_refused(result, Step::FinishSecret, "username", &stack.material);
    assert_eq!(
        stack.users(&["victim"]).await,
        before,
        "the victim is still on"
    );
    assert_eq!(Stages::of(&id).await, stages);
    let read: redis::RedisResult<Option<String>> =
        redis::cmd("GET").arg("k").query_async(&mut session).await;
    assert!(read.is_ok(), "the victim's session was not closed");
    stack.assert_output_clean();
}

#[tokio::test]
async fn break_glass_users_let_the_admin_reset_a_lost_password_and_it_is_audited() {
    let env = [("ROTATION_BREAK_GLASS_USERS", "legacy".to_owned())];
    let users = [APP, ("legacy", "~legacy:* -@all +get")];
    let admin = json!({"break_glass_users": ["app"]});
    let mut stack = AttackStack::start(&users, admin, &env).await;
    for user in ["app", "legacy"] {
        let id = stack.secret(user, &password(), json!({})).await;
        stack.rotate(&id).await.unwrap_or_else(|(step, e)| {
            panic!("{user}, {step}: {}: {}", e.error_type, e.error_message)
        });
        assert!(Credential::current(&id).await.works_on(&stack.server).await);
    }
    let events = stack.events("credential.break_glass");
    assert_eq!(events.len(), 2, "one audit event per reset: {events:?}");
    assert_eq!(events[0]["user"], "app");
    let by_admin = events[0]["allowed_by"].as_str().unwrap_or_default();
    assert!(
        by_admin.starts_with("break_glass_users of arn:"),
        "{by_admin}"
    );
    assert_eq!(events[1]["user"], "legacy");
    assert_eq!(events[1]["allowed_by"], "ROTATION_BREAK_GLASS_USERS");
    stack.assert_output_clean();
}

#[tokio::test]
async fn privileged_users_let_the_admin_rotate_a_privileged_user() {
    let users = [("ops", "~* -@all +@admin +get")];
    let mut stack = AttackStack::start(&users, json!({"privileged_users": ["ops"]}), &[]).await;
    let ops_pw = stack.password_of("ops");
    let id = stack.secret("ops", &ops_pw, json!({})).await;
    for _ in 0..2 {
        stack
            .rotate(&id)
            .await
            .unwrap_or_else(|(step, e)| panic!("{step}: {}: {}", e.error_type, e.error_message));
    }
    for stage in [AWSCURRENT, AWSPREVIOUS] {
        let credential = Credential::at(&id, stage).await.unwrap();
        assert!(credential.works_on(&stack.server).await, "{stage}");
    }
    assert!(stack.events("credential.break_glass").is_empty());
    stack.assert_output_clean();
}
