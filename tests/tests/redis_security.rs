//! What a Redis rotation reveals and whom it trusts: no plaintext password reaches the server
//! except in `AUTH`, no password or hash reaches a log, TLS checks the CA and the host name, and
//! a server that requires client certificates gets the one the secret holds, and the shipped
//! binary rotates through the Lambda Runtime API. With `masterarn`, the connection settings are
//! the admin secret's (tests/tests/trust_redis.rs proves what an application secret cannot do).

use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPREVIOUS};
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::json;
use testkit::lambda::workspace_binary;
use testkit::redis::scenario::{
    admin_secret_with, engine, rotate_checking, rotate_times, user_secret, Credential,
    SecretMaterial,
};
use testkit::redis::{Monitor, RedisOptions, TlsFiles, WireTap};
use testkit::{Emulator, FunctionProcess, LogCapture, RedisServer};

fn password() -> String {
    generate_password(32).expose_secret().to_owned()
}

/// A server whose user `app` (password `app_pw`, every command but @admin) is reached in plaintext
/// and over TLS with `tls`'s certificate; `extra` redis.conf lines.
fn tls_server(tls: &TlsFiles, app_pw: &str, extra: &[&str]) -> RedisServer {
    RedisServer::start_opts(RedisOptions {
        users: &[&format!("user app on >{app_pw} ~* +@all -@admin")],
        tls: Some(tls),
        extra,
        ..Default::default()
    })
    .expect("redis-server starts with TLS")
}

#[tokio::test]
async fn no_plaintext_password_reaches_the_server_and_no_secret_reaches_a_log() {
    let (app_pw, svc_pw) = (password(), password());
    let users = [
        format!("user app on >{app_pw} ~* +@all -@admin"),
        format!("user svc on >{svc_pw} ~svc:* +@read"),
    ];
    let server = RedisServer::start_opts(RedisOptions {
        users: &users.iter().map(String::as_str).collect::<Vec<_>>(),
        extra: &["slowlog-log-slower-than 0", "slowlog-max-len 100000"],
        ..Default::default()
    })
    .unwrap();
    let tap = WireTap::start(server.port).unwrap();
    let monitor = Monitor::start(server.port).unwrap();
    let (emulator, engine) = (Emulator::shared(), engine());
    // The admin secret names the recording proxy: the admin's connections go through it too.
    let admin =
        admin_secret_with(json!({"host": "127.0.0.1", "port": tap.port, "tls": false})).await;
    let mut material = SecretMaterial::with_admin();
    material.add(&app_pw);
    material.add(&svc_pw);

    // Every secret reaches the server through the recording proxy.
    let through_tap = |extra: serde_json::Value| {
        let mut extra = extra;
        extra["port"] = json!(tap.port);
        extra
    };
    let single = user_secret(
        &server,
        "app",
        &app_pw,
        through_tap(json!({"masterarn": admin})),
    )
    .await;
    let alternating = user_secret(
        &server,
        "svc",
        &svc_pw,
        through_tap(json!({"masterarn": admin, "strategy": "alternating"})),
    )
    .await;
    for id in [&single, &alternating] {
        for round in 0..3 {
            if round == 2 {
                emulator.tag(id, "rotation:mode", "emergency").await;
            }
            emulator
                .rotate(&engine, id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            material.add_secret(id, AWSCURRENT).await;
        }
    }
    assert_eq!(
        material.len(),
        2 * (3 + 6),
        "nine distinct passwords and their hashes"
    );

    // On the wire: plaintext only inside AUTH; ACL SETUSER carries `#<sha256>` hashes.
    let commands = tap.commands();
    let mut auth_with_password = 0;
    for command in &commands {
        let name = command
            .first()
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        if material.any_password_in(&command.join(" ")) {
            assert_eq!(
                name, "AUTH",
                "a plaintext password was sent in a {name} command"
            );
            auth_with_password += 1;
        }
    }
    assert!(
        auth_with_password > 10,
        "the tap saw the logins, so it would see a leak"
    );
    let setuser_with_hash = commands.iter().filter(|c| {
        c.len() > 3
            && c[0].eq_ignore_ascii_case("ACL")
            && c[1].eq_ignore_ascii_case("SETUSER")
            && c.iter().any(|a| a.starts_with('#') && a.len() == 65)
    });
    assert!(
        setuser_with_hash.count() >= 6,
        "passwords were set as hashes"
    );
    assert!(
        !commands.iter().flatten().any(|a| ["resetpass", "reset"]
            .contains(&a.to_ascii_lowercase().as_str())
            || a.eq_ignore_ascii_case("LOAD")),
        "no resetpass, reset or ACL LOAD"
    );

    // On the server: MONITOR, SLOWLOG, ACL LOG and its log file hold no plaintext password.
    let seen = monitor.text();
    assert!(seen.contains("\"AUTH\""), "MONITOR recorded the rotation");
    assert!(
        !material.any_password_in(&seen),
        "a plaintext password appeared in MONITOR"
    );
    let mut admin_con = server.admin().await;
    let acl_log: Vec<redis::Value> = redis::cmd("ACL")
        .arg("LOG")
        .query_async(&mut admin_con)
        .await
        .unwrap();
    assert!(
        acl_log.is_empty(),
        "the rotations caused no refused login (no ACL LOG security event)"
    );
    assert!(
        !server.can_login("app", &app_pw).await,
        "a revoked password, refused and logged"
    );
    for (args, place) in [
        (vec!["SLOWLOG", "GET", "-1"], "SLOWLOG"),
        (vec!["ACL", "LOG"], "ACL LOG"),
    ] {
        let mut cmd = redis::cmd(args[0]);
        cmd.arg(&args[1..]);
        let reply: redis::Value = cmd.query_async(&mut admin_con).await.unwrap();
        let text = format!("{reply:?}");
        assert!(text.len() > 100, "{place} recorded something");
        assert!(
            !material.any_password_in(&text),
            "a plaintext password appeared in {place}"
        );
    }
    material.assert_absent(&server.log(), "the server log");

    // In our logs and telemetry: neither passwords nor their hashes.
    let logs = LogCapture::global().contents();
    assert!(
        logs.contains("pending password set"),
        "the backend's logs were captured"
    );
    assert!(logs.contains("emergency: previous credential revoked"));
    material.assert_absent(&logs, "the captured logs and telemetry");
}

#[tokio::test]
async fn wrong_credentials_are_named_never_quoted() {
    let app_pw = password();
    let server = RedisServer::start_opts(RedisOptions {
        users: &[&format!("user app on >{app_pw} ~* +@all")],
        ..Default::default()
    })
    .unwrap();
    let (emulator, engine) = (Emulator::shared(), engine());
    let wrong = password();
    let bad_admin = emulator
        .create_secret(
            "redis-admin",
            &json!({"username": "admin", "password": wrong, "host": "127.0.0.1",
                    "port": server.port, "tls": false})
            .to_string(),
        )
        .await;
    let id = user_secret(&server, "app", &app_pw, json!({"masterarn": bad_admin})).await;
    let err = emulator.rotate(&engine, &id).await.unwrap_err();
    assert_eq!(err.kind(), "LoginRefused", "{err}");
    assert!(err.to_string().contains("admin"), "names the user: {err}");
    let mut material = SecretMaterial::default();
    material.add(&wrong);
    material.add(&app_pw);
    material.assert_absent(&format!("{err} {err:?}"), "the error");
    material.assert_absent(&LogCapture::global().contents(), "the captured logs");
}

#[tokio::test]
async fn an_admin_with_only_the_documented_permissions_suffices() {
    let (first, rotator_pw) = (password(), password());
    let rotator = "-@all +acl|getuser +acl|setuser +acl|dryrun +acl|save +config|get \
                   +config|rewrite +info +cluster|shards +client|kill";
    let users = [
        format!("user app on >{first} ~app:* +get"),
        format!("user rotator on >{rotator_pw} {rotator}"),
    ];
    let server = RedisServer::start_opts(RedisOptions {
        users: &users.iter().map(String::as_str).collect::<Vec<_>>(),
        ..Default::default()
    })
    .unwrap();
    let emulator = Emulator::shared();
    let mut admin = server.endpoint_fields();
    admin["username"] = json!("rotator");
    admin["password"] = json!(rotator_pw);
    let admin = admin.to_string();
    let admin = emulator.create_secret("redis-rotator", &admin).await;
    let extra = json!({"masterarn": admin, "strategy": "alternating-users"});
    let id = user_secret(&server, "app", &first, extra).await;
    let engine = engine();
    for round in 1..=2 {
        rotate_checking(&engine, &id, &server, round).await;
    }
    emulator.tag(&id, "rotation:mode", "emergency").await;
    rotate_checking(&engine, &id, &server, 3).await;
    assert!(Credential::at(&id, "AWSPREVIOUS").await.is_some());
    assert!(
        server.acl_user("app").await.unwrap().has_flag("off"),
        "the previous user is off"
    );
}

#[tokio::test]
async fn tls_verifies_the_certificate_authority_and_the_host_name() {
    let (tls, other_ca) = (TlsFiles::generate().unwrap(), TlsFiles::generate().unwrap());
    let app_pw = password();
    let server = tls_server(&tls, &app_pw, &[]);
    let tls_port = server.tls_port.unwrap();
    let (emulator, engine) = (Emulator::shared(), engine());
    // The admin secret holds the TLS settings; the application secret names the same server.
    let tls_fields = |host: &str, port: u16, tls: serde_json::Value, ca: Option<&str>| {
        let mut fields = json!({"host": host, "port": port, "tls": tls});
        if let Some(ca) = ca {
            fields["ca_bundle"] = json!(ca);
        }
        fields
    };
    let secret = |host: &str, ca: &str| tls_fields(host, tls_port, json!(true), Some(ca));
    let before = server.acl_user("app").await.unwrap();
    let unreachable = "TargetUnreachable";
    let plaintext_port = tls_fields("127.0.0.1", server.port, json!(null), Some(&tls.ca_pem));
    let failures = [
        (
            secret("localhost", &other_ca.ca_pem),
            unreachable,
            "not signed by a trusted CA",
        ),
        (
            secret("127.0.0.1", &tls.ca_pem),
            unreachable,
            "not valid for this host name",
        ),
        // TLS is the default: a plaintext port is an error, never a silent fallback...
        (plaintext_port, unreachable, "TLS handshake"),
        // ...and TLS with nothing to verify against is refused before anything happens.
        (
            tls_fields("localhost", tls_port, json!(true), None),
            "InvalidSecret",
            "field `ca_bundle`",
        ),
    ];
    for (fields, kind, problem) in failures {
        let mut extra = fields.clone();
        extra["masterarn"] = json!(admin_secret_with(fields).await);
        extra["connect_timeout"] = json!(1);
        let id = user_secret(&server, "app", &app_pw, extra).await;
        let err = emulator.rotate(&engine, &id).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(problem), "{problem}: {err}");
    }
    assert_eq!(
        server.acl_user("app").await.unwrap(),
        before,
        "failed rotations changed nothing"
    );

    let mut extra = secret("localhost", &tls.ca_pem);
    extra["masterarn"] = json!(admin_secret_with(extra.clone()).await);
    let id = user_secret(&server, "app", &app_pw, extra).await;
    rotate_times(&engine, &id, 2).await;
    for stage in [AWSCURRENT, AWSPREVIOUS] {
        let credential = Credential::expect_at(&id, stage).await;
        assert!(credential.works_on(&server).await, "{stage}");
    }
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate_the_secret_holds() {
    let (tls, other_ca) = (TlsFiles::generate().unwrap(), TlsFiles::generate().unwrap());
    let (client_cert, client_key) = tls.client_identity().unwrap();
    let (foreign_cert, foreign_key) = other_ca.client_identity().unwrap();
    let app_pw = password();
    let server = tls_server(&tls, &app_pw, &["tls-auth-clients yes"]);
    let tls_port = server.tls_port.unwrap();
    let (emulator, engine) = (Emulator::shared(), engine());
    // The client certificate is the admin secret's, as are the other connection settings.
    let secret = |identity: Option<(&str, &str)>| {
        let mut admin = json!({"host": "localhost", "port": tls_port, "tls": true,
                               "ca_bundle": tls.ca_pem, "connect_timeout": 2});
        if let Some((cert, key)) = identity {
            admin["tls_client_cert"] = json!(cert);
            admin["tls_client_key"] = json!(key);
        }
        async move {
            let arn = admin_secret_with(admin).await;
            json!({"masterarn": arn, "host": "localhost", "port": tls_port})
        }
    };
    let before = server.acl_user("app").await.unwrap();
    for identity in [None, Some((foreign_cert.as_str(), foreign_key.as_str()))] {
        let id = user_secret(&server, "app", &app_pw, secret(identity).await).await;
        let err = emulator.rotate(&engine, &id).await.unwrap_err();
        assert_eq!(err.kind(), "TargetUnreachable", "{err}");
        assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    }
    assert_eq!(
        server.acl_user("app").await.unwrap(),
        before,
        "a server that refused the client changed nothing"
    );

    let id = user_secret(
        &server,
        "app",
        &app_pw,
        secret(Some((client_cert.as_str(), client_key.as_str()))).await,
    )
    .await;
    rotate_times(&engine, &id, 2).await;
    for stage in [AWSCURRENT, AWSPREVIOUS] {
        let credential = Credential::expect_at(&id, stage).await;
        assert!(credential.works_on(&server).await, "{stage}");
    }
    let key_body = client_key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .unwrap();
    assert!(
        !LogCapture::global().contents().contains(key_body),
        "the client key reached a log"
    );
}

#[tokio::test]
async fn the_redis_function_binary_rotates_through_the_runtime_api_over_tls() {
    let tls = TlsFiles::generate().unwrap();
    let app_pw = password();
    let server = tls_server(&tls, &app_pw, &[]);
    let emulator = Emulator::shared();
    // No `ca_bundle` in the secrets: the function's ROTATION_CA_BUNDLE_FILE names the CA file.
    let endpoint = json!({"host": "localhost", "port": server.tls_port, "tls": true});
    let mut extra = endpoint.clone();
    extra["masterarn"] = json!(admin_secret_with(endpoint).await);
    extra["strategy"] = json!("alternating");
    let id = user_secret(&server, "app", &app_pw, extra).await;
    let mut env = emulator.env();
    env.push((
        "ROTATION_CA_BUNDLE_FILE",
        tls.ca_path().display().to_string(),
    ));
    let function = FunctionProcess::start(&workspace_binary("secret-rotation-redis"), &env)
        .await
        .unwrap();
    let mut material = SecretMaterial::with_admin();
    material.add(&app_pw);
    for _ in 0..2 {
        let token = emulator.stage_rotation(&id).await;
        for step in Step::ALL {
            let event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
            let response = function
                .invoke(&event)
                .await
                .unwrap_or_else(|e| panic!("{step}: {}: {}", e.error_type, e.error_message));
            assert_eq!(response["outcome"], "done", "{step}");
        }
        assert_eq!(emulator.version_with(&id, AWSCURRENT).await, Some(token));
        material.add_secret(&id, AWSCURRENT).await;
    }
    let current = Credential::current(&id).await;
    assert_eq!(current.username, "app");
    assert!(current.works_on(&server).await);
    assert!(
        Credential::expect_at(&id, AWSPREVIOUS)
            .await
            .works_on(&server)
            .await
    );
    let output = function.output();
    assert!(
        output.contains("credential.rotate"),
        "audit lines are printed"
    );
    assert!(output.contains("pending password set"), "the backend logs");
    material.assert_absent(&output, "the function's output");
}
