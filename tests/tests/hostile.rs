//! A corpus of hostile and malformed input: each case gets a clear, typed error, changes no version
//! stage, and echoes no secret. Writes target/reports/hostile-inputs.md.

use rotation::postgres::PostgresBackend;
use rotation::store::AwsSecretStore;
use rotation::{Engine, RotationError, Step};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use testkit::emulator::run_step;
use testkit::{Emulator, LogCapture, PostgresServer};

const PASSWORD: &str = "Hostile-Corpus-Password-7f3a";

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().expect("PostgreSQL starts"))
}

fn engine() -> Engine<AwsSecretStore, PostgresBackend> {
    Engine::new(
        Emulator::shared().store(),
        PostgresBackend::new(),
        LogCapture::global().telemetry(),
    )
}

#[derive(Default)]
struct Tally(BTreeMap<&'static str, (usize, usize)>);

impl Tally {
    fn record(&mut self, category: &'static str, clean: bool) {
        let entry = self.0.entry(category).or_default();
        entry.0 += 1;
        entry.1 += usize::from(clean);
    }
}

/// Runs the steps until one fails; the case is clean when a step fails with an error of an expected
/// kind, the stages are as before, and no secret appears in the message.
async fn expect_clean_failure(
    engine: &Engine<AwsSecretStore, PostgresBackend>,
    id: &str,
    token: &str,
    kinds: &[&str],
    label: &str,
) -> bool {
    let emulator = Emulator::shared();
    let before = emulator.stages(id).await;
    for step in Step::ALL {
        match run_step(engine, step, id, token).await {
            Ok(_) => continue,
            Err(err) => {
                let message = err.to_string();
                let clean = kinds.contains(&err.kind())
                    && !message.is_empty()
                    && !message.contains(PASSWORD)
                    && emulator.stages(id).await == before;
                assert!(clean, "{label}: {step} failed with {} ({message}), expected one of {kinds:?}, stages unchanged", err.kind());
                return true;
            }
        }
    }
    panic!("{label}: every step succeeded, expected an error");
}

fn base_secret() -> Value {
    json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port, "username": "nobody_here",
           "password": PASSWORD, "dbname": "postgres", "ssl": false})
}

#[tokio::test]
async fn hostile_inputs_get_clear_errors_and_change_nothing() {
    let emulator = Emulator::shared();
    let engine = engine();
    let mut tally = Tally::default();

    // 1. Malformed events.
    let id = emulator
        .create_secret("hostile", &base_secret().to_string())
        .await;
    let token = emulator.stage_rotation(&id).await;
    let long = "x".repeat(100_000);
    let events = [
        Value::Null,
        json!(42),
        json!("createSecret"),
        json!(true),
        json!([{"Step": "createSecret"}]),
        json!({}),
        json!({"SecretId": id, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": id}),
        json!({"Step": "CreateSecret", "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": "createsecret", "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": "", "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": "deleteSecret", "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": long, "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": ["createSecret"], "SecretId": id, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": {"arn": id}, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": "", "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": long, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": 12345}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": ""}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": "tok\nen"}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": "t".repeat(65)}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": token, "RotationToken": {"a": 1}}),
        json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": token, "RotationToken": ""}),
    ];
    let before = emulator.stages(&id).await;
    for event in &events {
        let err = engine
            .handle_json(event)
            .await
            .expect_err("a malformed event fails");
        let clean = matches!(err, RotationError::InvalidEvent(_)) && err.to_string().len() < 300;
        assert!(
            clean,
            "event {}: {err}",
            &event.to_string().chars().take(80).collect::<String>()
        );
        tally.record("malformed events", clean);
    }
    assert_eq!(emulator.stages(&id).await, before);

    // 2. Tokens that are not this rotation's.
    let other = emulator
        .create_secret("hostile-other", &base_secret().to_string())
        .await;
    let other_token = emulator.stage_rotation(&other).await;
    let never_rotated = emulator
        .create_secret("hostile-plain", &base_secret().to_string())
        .await;
    let current = emulator.version_with(&id, "AWSCURRENT").await.unwrap();
    let token_cases: [(&str, &str, &[&str]); 5] = [
        (&id, &other_token, &["UnknownVersion"]),
        (
            &id,
            "00000000-0000-4000-8000-000000000000",
            &["UnknownVersion"],
        ),
        (&never_rotated, &token, &["RotationNotEnabled"]),
        (&other, &token, &["UnknownVersion"]),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf",
            &token,
            &["SecretsManagerError"],
        ),
    ];
    for (secret, tok, kinds) in token_cases {
        for step in Step::ALL {
            let err = run_step(&engine, step, secret, tok)
                .await
                .expect_err("a foreign token fails");
            let clean = kinds.contains(&err.kind());
            assert!(clean, "{secret}/{tok} {step}: {err}");
            tally.record("tokens of other secrets or versions", clean);
        }
    }
    // AWSCURRENT's own version id as a token is a late retry of nothing: no change.
    let before = emulator.stages(&id).await;
    run_step(&engine, Step::SetSecret, &id, &current)
        .await
        .expect("already current");
    assert_eq!(emulator.stages(&id).await, before);

    // 3. Secret values that are not usable.
    let huge = "y".repeat(65_500);
    let mut secrets: Vec<(String, String, &[&str])> = vec![
        (
            "not JSON".into(),
            "hunter2 Hostile-Corpus-Password-7f3a".into(),
            &["MalformedSecret"],
        ),
        (
            "JSON array".into(),
            json!([PASSWORD]).to_string(),
            &["MalformedSecret"],
        ),
        (
            "JSON string".into(),
            json!(PASSWORD).to_string(),
            &["MalformedSecret"],
        ),
        ("JSON number".into(), "12345".into(), &["MalformedSecret"]),
        (
            "truncated JSON".into(),
            format!("{{\"password\":\"{PASSWORD}\""),
            &["MalformedSecret"],
        ),
        ("empty object".into(), "{}".into(), &["InvalidSecret"]),
    ];
    let field_cases: [(&str, &str, Value); 18] = [
        ("missing username", "username", Value::Null),
        ("missing password", "password", Value::Null),
        ("missing host", "host", Value::Null),
        ("username a number", "username", json!(7)),
        ("password a number", "password", json!(12345)),
        ("port an object", "port", json!({"p": 1})),
        ("port negative", "port", json!(-1)),
        ("port too large", "port", json!(70_000)),
        ("port not numeric", "port", json!("five")),
        ("ssl neither true nor false", "ssl", json!("maybe")),
        ("unknown strategy", "strategy", json!("round-robin")),
        ("masterarn a number", "masterarn", json!(12)),
        ("another engine", "engine", json!("mysql")),
        ("connect_timeout zero", "connect_timeout", json!(0)),
        ("username with NUL", "username", json!("app\u{0}x")),
        ("username over 63 bytes", "username", json!("u".repeat(64))),
        ("host with spaces", "host", json!("db host")),
        ("owner_role empty", "owner_role", json!("")),
    ];
    for (label, field, value) in field_cases {
        let mut secret = base_secret();
        match value {
            Value::Null => {
                secret.as_object_mut().unwrap().remove(field);
            }
            other => secret[field] = other,
        }
        secrets.push((label.into(), secret.to_string(), &["InvalidSecret"]));
    }
    let unreachable: [(&str, Value); 6] = [
        (
            "host that does not resolve",
            json!({"host": "db.does-not-resolve.invalid"}),
        ),
        ("closed port", json!({"port": 1})),
        ("TLS without a CA bundle", json!({"ssl": true})),
        (
            "CA bundle that is not PEM",
            json!({"ssl": true, "ca_bundle": "not a certificate"}),
        ),
        (
            "TLS against a server without TLS",
            json!({"ssl": true, "ca_bundle": testkit::tls::TestCa::new("x").cert_pem}),
        ),
        ("wrong database", json!({"dbname": "no_such_db"})),
    ];
    for (label, overrides) in unreachable {
        let mut secret = base_secret();
        for (k, v) in overrides.as_object().unwrap() {
            secret[k] = v.clone();
        }
        secrets.push((
            label.into(),
            secret.to_string(),
            &["TargetUnreachable", "LoginRefused", "TargetRejected"],
        ));
    }
    let mut oversized = base_secret();
    oversized["padding"] = json!(huge);
    secrets.push((
        "value near 64 KB".into(),
        oversized.to_string(),
        &["ValueTooLarge"],
    ));
    let missing_master = {
        let mut s = base_secret();
        s["masterarn"] =
            json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-admin-AbCdEf");
        s
    };
    secrets.push((
        "masterarn that does not exist".into(),
        missing_master.to_string(),
        &["RelatedSecret"],
    ));
    let garbage_master = emulator
        .create_secret("hostile-admin", "not json at all")
        .await;
    let empty_master = emulator.create_secret("hostile-admin-empty", "{}").await;
    for (label, master) in [
        ("masterarn that is not JSON", garbage_master),
        ("masterarn without credentials", empty_master),
    ] {
        let mut s = base_secret();
        s["masterarn"] = json!(master);
        secrets.push((
            label.into(),
            s.to_string(),
            &["RelatedSecret", "InvalidSecret"],
        ));
    }
    // Admin secrets that would send the admin's credential elsewhere, or allow too much: refused
    // by the trust boundary before any connection.
    let admin_cases = [
        (
            "admin secret without host or RDS database",
            json!({"username": "a", "password": PASSWORD}),
        ),
        (
            "admin secret on another port than the application",
            json!({"username": "a", "password": PASSWORD, "host": "127.0.0.1", "port": 1, "ssl": false}),
        ),
        (
            "admin secret on another host than the application",
            json!({"username": "a", "password": PASSWORD, "host": "db.elsewhere.invalid", "port": server().port}),
        ),
        (
            "admin secret whose endpoints is not a list",
            json!({"username": "a", "password": PASSWORD, "host": "127.0.0.1", "port": server().port,
                   "endpoints": "127.0.0.1"}),
        ),
        (
            "admin secret allowing break-glass for every user",
            json!({"username": "a", "password": PASSWORD, "host": "127.0.0.1", "port": server().port,
                   "break_glass_users": ["*"]}),
        ),
    ];
    for (label, admin) in admin_cases {
        let master = emulator
            .create_secret("hostile-admin-trust", &admin.to_string())
            .await;
        let mut s = base_secret();
        s["masterarn"] = json!(master);
        secrets.push((label.into(), s.to_string(), &["Refused"]));
    }
    for (label, raw, kinds) in &secrets {
        let id = emulator.create_secret("hostile-value", raw).await;
        let token = emulator.stage_rotation(&id).await;
        let clean = expect_clean_failure(&engine, &id, &token, kinds, label).await;
        tally.record("unusable secret values", clean);
    }
    // Not UTF-8: a binary secret.
    let binary = emulator
        .client()
        .create_secret()
        .name(format!("hostile-binary-{}", uuid::Uuid::new_v4().simple()))
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![
            0xff, 0xfe, 0x00, 0x80,
        ]))
        .send()
        .await
        .unwrap();
    let id = binary.arn().unwrap().to_owned();
    let token = emulator.stage_rotation(&id).await;
    let clean = expect_clean_failure(
        &engine,
        &id,
        &token,
        &["SecretsManagerError"],
        "binary, not UTF-8",
    )
    .await;
    tally.record("unusable secret values", clean);

    // 4. Names built to inject SQL: quoted, so they only ever name a role that does not exist. A
    // single user's login is refused; in alternating mode the admin is never used, because
    // nothing proves possession of such a user's credential (and no break-glass allows it).
    let admin = admin_secret().await;
    let injections = [
        "'; DROP ROLE postgres; --",
        "\"; ALTER ROLE postgres PASSWORD 'x'; --",
        "x\" WITH SUPERUSER --",
        "$$; DROP TABLE pg_class; $$",
        "app\\'; SELECT pg_sleep(10); --",
        "robert'); DROP TABLE students;--",
        "a\nALTER ROLE postgres NOLOGIN",
        "%s%s%s%n",
    ];
    for name in injections {
        for alternating in [false, true] {
            let mut secret = base_secret();
            secret["username"] = json!(name);
            if alternating {
                secret["masterarn"] = json!(admin);
            }
            let id = emulator
                .create_secret("hostile-name", &secret.to_string())
                .await;
            let token = emulator.stage_rotation(&id).await;
            let kinds: &[&str] = if alternating {
                &["Refused"]
            } else {
                &["LoginRefused", "TargetRejected"]
            };
            let clean = expect_clean_failure(&engine, &id, &token, kinds, name).await;
            tally.record("usernames built to inject SQL", clean);
        }
    }
    let su = server().superuser_client().await;
    let survivors = su
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres' AND rolsuper AND rolcanlogin",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(survivors.get::<_, i64>(0), 1, "no injected statement ran");

    let total: usize = tally.0.values().map(|(tried, _)| tried).sum();
    assert!(total >= 60, "the corpus has {total} cases");
    write_report(&tally);
}

async fn admin_secret() -> String {
    let su = server().superuser_client().await;
    let password = rotation::password::generate_password(24);
    let password = secrecy::ExposeSecret::expose_secret(&password).to_owned();
    su.batch_execute(&format!(
        "CREATE ROLE hostile_admin LOGIN CREATEROLE PASSWORD '{password}'"
    ))
    .await
    .unwrap();
    let secret = json!({"host": "127.0.0.1", "port": server().port, "username": "hostile_admin", "password": password,
                        "ssl": false});
    Emulator::shared()
        .create_secret("hostile-admin-ok", &secret.to_string())
        .await
}

fn write_report(tally: &Tally) {
    let mut report = String::from("| hostile input (PostgreSQL function) | tried | handled cleanly |\n| --- | ---: | ---: |\n");
    for (category, (tried, clean)) in &tally.0 {
        report.push_str(&format!("| {category} | {tried} | {clean} |\n"));
    }
    let (tried, clean) = tally
        .0
        .values()
        .fold((0, 0), |(t, c), (a, b)| (t + a, c + b));
    report.push_str(&format!("| **total** | **{tried}** | **{clean}** |\n"));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hostile-inputs.md"), report).unwrap();
}
