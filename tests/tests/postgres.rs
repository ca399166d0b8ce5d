//! PostgreSQL rotation against a real PostgreSQL 15 started by the suite (log_statement=all), with
//! moto's server as Secrets Manager.

use rotation::postgres::PostgresBackend;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::store::AwsSecretStore;
use rotation::{Engine, RotationError, Step};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::OnceLock;
use testkit::emulator::{run_step, run_step_ok, stage_value};
use testkit::lambda::workspace_binary;
use testkit::tls::TestCa;
use testkit::{Emulator, FunctionProcess, LogCapture, PostgresServer};

const ADMIN: &str = "rotation_admin";

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        PostgresServer::start_with(&[("log_statement", "all"), ("log_connections", "on")])
            .expect("PostgreSQL starts")
    })
}

type PgEngine = Engine<AwsSecretStore, PostgresBackend>;

fn engine() -> PgEngine {
    Engine::new(
        Emulator::shared().store(),
        PostgresBackend::new(),
        LogCapture::global().telemetry(),
    )
}

fn random_password() -> String {
    rotation::password::generate_password(24)
        .expose_secret()
        .to_owned()
}

/// A non-superuser admin like RDS's master user (CREATEROLE, pg_signal_backend), stored as a
/// privileged secret. Created once.
async fn admin_secret() -> String {
    static ADMIN_ARN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    ADMIN_ARN
        .get_or_init(|| async {
            let password = random_password();
            server().superuser_execute(&format!(
                "CREATE ROLE {ADMIN} LOGIN CREATEROLE CREATEDB PASSWORD '{password}'; GRANT pg_signal_backend TO {ADMIN};"
            ))
            .await;
            // The server speaks plaintext: the admin secret says so itself (the application
            // secret's `ssl` never applies to the admin).
            let secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port, "username": ADMIN,
                                "password": password, "ssl": false});
            Emulator::shared().create_secret("pg-admin", &secret.to_string()).await
        })
        .await
        .clone()
}

/// Creates `user` (owned by the admin so it may manage it) and its secret.
async fn user_secret(user: &str, alternating: bool) -> String {
    let password = random_password();
    let ident = postgres_protocol::escape::escape_identifier(user);
    server()
        .superuser_execute(&format!("CREATE ROLE {ident} LOGIN PASSWORD '{password}'"))
        .await;
    let mut secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": server().port, "username": user,
                            "password": password, "dbname": "postgres", "ssl": false});
    if alternating {
        secret["masterarn"] = json!(admin_secret().await);
    }
    Emulator::shared()
        .create_secret("pg", &secret.to_string())
        .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn login_at(
    secret_id: &str,
    stage: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    server()
        .connect_as(&stage_value(secret_id, stage).await)
        .await
}

/// Rotates `id` as the service would; a failure panics naming `label`.
async fn rotate(engine: &PgEngine, id: &str, label: &str) {
    Emulator::shared()
        .rotate(engine, id)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
}

#[tokio::test]
async fn alternating_users_three_rotations_keep_current_and_previous_working() {
    let engine = engine();
    let base = unique("alt");
    let id = user_secret(&base, true).await;
    let mut two_back: Option<Value> = None;
    for round in 0..3 {
        let before = stage_value(&id, AWSCURRENT).await;
        rotate(&engine, &id, &format!("rotation {round}")).await;
        let current = stage_value(&id, AWSCURRENT).await;
        let expected_user = if round % 2 == 0 {
            format!("{base}_clone")
        } else {
            base.clone()
        };
        assert_eq!(
            current["username"],
            expected_user.as_str(),
            "users alternate"
        );
        assert!(
            login_at(&id, AWSCURRENT).await.is_ok(),
            "AWSCURRENT logs in after rotation {round}"
        );
        assert!(
            login_at(&id, AWSPREVIOUS).await.is_ok(),
            "AWSPREVIOUS still logs in after rotation {round}"
        );
        if let Some(old) = two_back.take() {
            let refused = server().connect_as(&old).await;
            assert!(
                refused.is_err(),
                "the credential from two rotations back is replaced"
            );
        }
        two_back = Some(before);
    }
}

#[tokio::test]
async fn single_user_three_rotations_each_new_password_logs_in() {
    let engine = engine();
    let user = unique("single");
    let id = user_secret(&user, false).await;
    for round in 0..3 {
        let before = stage_value(&id, AWSCURRENT).await;
        rotate(&engine, &id, &format!("rotation {round}")).await;
        let current = stage_value(&id, AWSCURRENT).await;
        assert_eq!(current["username"], user.as_str());
        assert_ne!(current["password"], before["password"]);
        assert!(
            login_at(&id, AWSCURRENT).await.is_ok(),
            "AWSCURRENT logs in after rotation {round}"
        );
        assert!(
            login_at(&id, AWSPREVIOUS).await.is_err(),
            "single user: one password at a time"
        );
    }
}

#[tokio::test]
async fn single_user_falls_back_to_the_previous_password_when_current_no_longer_logs_in() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let user = unique("fallback");
    let id = user_secret(&user, false).await;
    emulator.rotate(&engine, &id).await.unwrap();
    // Someone puts the previous password back on the server by hand.
    let previous = stage_value(&id, AWSPREVIOUS).await;
    server()
        .superuser_execute(&format!(
            "ALTER ROLE {user} PASSWORD '{}'",
            previous["password"].as_str().unwrap()
        ))
        .await;
    emulator.rotate(&engine, &id).await.unwrap();
    assert!(login_at(&id, AWSCURRENT).await.is_ok());
}

#[tokio::test]
async fn objects_grants_and_settings_follow_the_base_role() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let base = unique("owner");
    let id = user_secret(&base, true).await;
    server()
        .superuser_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS sales; CREATE SCHEMA IF NOT EXISTS \"Mixed Case\"; \
         GRANT USAGE, CREATE ON SCHEMA sales TO {base}; GRANT CREATE ON SCHEMA public TO {base}; \
         ALTER ROLE {base} SET search_path TO sales, \"Mixed Case\", public; \
         ALTER ROLE {base} SET statement_timeout = '1234ms'; \
         ALTER ROLE {base} IN DATABASE postgres SET work_mem = '5MB';"
        ))
        .await;

    emulator.rotate(&engine, &id).await.unwrap(); // the clone is now current
    let clone = login_at(&id, AWSCURRENT).await.unwrap();
    let show = |name: &'static str| {
        let clone = &clone;
        async move {
            clone
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    assert_eq!(show("search_path").await, "sales, \"Mixed Case\", public");
    assert_eq!(show("statement_timeout").await, "1234ms");
    assert_eq!(show("work_mem").await, "5MB");
    clone
        .batch_execute("CREATE TABLE sales.made_by_clone (id int)")
        .await
        .unwrap();

    // A grant to the base role after the clone exists reaches the clone.
    let table = unique("granted");
    server()
        .superuser_execute(&format!(
            "CREATE TABLE public.{table} (id int); GRANT SELECT ON public.{table} TO {base}"
        ))
        .await;
    clone
        .query(&format!("SELECT * FROM public.{table}"), &[])
        .await
        .expect("the clone inherits the new grant");

    emulator.rotate(&engine, &id).await.unwrap(); // the base user is current again
    let base_session = login_at(&id, AWSCURRENT).await.unwrap();
    base_session
        .batch_execute("ALTER TABLE sales.made_by_clone ADD COLUMN note text")
        .await
        .expect("base alters the clone's table");
    base_session
        .batch_execute("DROP TABLE sales.made_by_clone")
        .await
        .expect("base drops the clone's table");
}

/// A base setting ALTER ROLE accepted but the admin cannot apply (a tablespace that does not exist,
/// a superuser-only setting a non-superuser admin may not set) does not block the rotation: it is
/// skipped with a warning naming it, and every other setting is copied.
#[tokio::test]
async fn a_base_setting_the_admin_cannot_apply_is_skipped_with_a_warning_and_the_rest_copied() {
    let engine = engine();
    let base = unique("unsettable");
    let id = user_secret(&base, true).await;
    let missing_tablespace = format!("nosuch_{base}");
    server()
        .superuser_execute(&format!(
            "ALTER ROLE {base} SET default_tablespace = '{missing_tablespace}'; \
         ALTER ROLE {base} SET log_min_duration_statement = '2500ms'; \
         ALTER ROLE {base} SET statement_timeout = '4321ms'; \
         ALTER ROLE {base} IN DATABASE postgres SET work_mem = '3MB';"
        ))
        .await;

    for round in 0..2 {
        rotate(&engine, &id, &format!("rotation {round}")).await;
    }
    let clone = server()
        .connect(
            &format!("{base}_clone"),
            stage_value(&id, AWSPREVIOUS).await["password"]
                .as_str()
                .unwrap(),
            "postgres",
        )
        .await
        .expect("the clone logs in");
    for (name, expected) in [("statement_timeout", "4321ms"), ("work_mem", "3MB")] {
        let shown: String = clone
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(shown, expected, "{name} is copied");
    }
    let su = server().superuser_client().await;
    let copied: Vec<String> = su
        .query_one(
            "SELECT coalesce(array_agg(c ORDER BY c), '{}') FROM pg_db_role_setting s, unnest(s.setconfig) c \
             WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1)",
            &[&format!("{base}_clone")],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !copied.iter().any(|c| c.starts_with("default_tablespace=")
            || c.starts_with("log_min_duration_statement=")),
        "the refused settings are not copied: {copied:?}"
    );
    let warnings: Vec<Value> = LogCapture::global()
        .json_lines()
        .into_iter()
        .filter(|l| l["level"] == "WARN" && l["fields"]["role"] == base.as_str())
        .collect();
    for setting in ["default_tablespace", "log_min_duration_statement"] {
        assert!(
            warnings.iter().any(|w| w["fields"]["setting"] == setting),
            "a warning names {setting}: {warnings:?}"
        );
    }
    for warning in &warnings {
        let line = warning.to_string();
        assert!(
            !line.contains(&missing_tablespace) && !line.contains("2500ms"),
            "a warning names the setting, never its value: {line}"
        );
    }
}

#[tokio::test]
async fn a_clone_made_by_aws_is_brought_up_to_date() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let base = unique("legacy");
    let id = user_secret(&base, true).await;
    let clone_password = random_password();
    // What AWS's MultiUser function leaves: membership only, and tables the clone owns.
    server().superuser_execute(&format!(
        "CREATE ROLE {base}_clone LOGIN PASSWORD '{clone_password}'; GRANT {base} TO {base}_clone; \
         GRANT CREATE ON SCHEMA public TO {base}_clone; ALTER ROLE {base} SET statement_timeout = '777ms';"
    ))
    .await;
    let legacy = server()
        .connect(&format!("{base}_clone"), &clone_password, "postgres")
        .await
        .unwrap();
    legacy
        .batch_execute(&format!("CREATE TABLE public.{base}_old (id int)"))
        .await
        .unwrap();
    drop(legacy);

    emulator.rotate(&engine, &id).await.unwrap();
    let clone = login_at(&id, AWSCURRENT).await.unwrap();
    let timeout: String = clone
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, "777ms");
    let owner: String = server()
        .superuser_client()
        .await
        .query_one(
            &format!("SELECT tableowner::text FROM pg_tables WHERE tablename = '{base}_old'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        owner, base,
        "the clone's old table now belongs to the base role"
    );
}

#[tokio::test]
async fn server_log_of_a_full_rotation_holds_no_plaintext_password() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let base = unique("logged");
    let id = user_secret(&base, true).await;
    let single = user_secret(&unique("logged_single"), false).await;
    let mut passwords = Vec::new();
    for secret in [&id, &single] {
        for _ in 0..2 {
            emulator.rotate(&engine, secret).await.unwrap();
            passwords.push(
                stage_value(secret, AWSCURRENT).await["password"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let log = server().log_contents();
    assert!(
        log.contains("ALTER ROLE"),
        "log_statement=all is logging statements"
    );
    assert!(
        log.contains("SCRAM-SHA-256$"),
        "passwords are sent as verifiers"
    );
    for password in &passwords {
        assert!(
            !log.contains(password.as_str()),
            "a plaintext password reached the server log"
        );
        assert!(
            !LogCapture::global().contents().contains(password.as_str()),
            "a password reached our own logs"
        );
    }
}

#[tokio::test]
async fn emergency_rotation_locks_out_the_previous_user_and_ends_its_sessions() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let base = unique("breach");
    let id = user_secret(&base, true).await;
    emulator.rotate(&engine, &id).await.unwrap();
    let old_session = login_at(&id, AWSCURRENT).await.unwrap();
    let old = stage_value(&id, AWSCURRENT).await;

    emulator.tag_emergency(&id).await;
    emulator.rotate(&engine, &id).await.unwrap();
    assert!(login_at(&id, AWSCURRENT).await.is_ok());
    let refused = server().connect_as(&old).await;
    assert!(
        refused.is_err(),
        "the previous user cannot log in after an emergency rotation"
    );
    assert!(
        old_session.query_one("SELECT 1", &[]).await.is_err(),
        "its open session was ended"
    );

    // The next routine rotation reactivates that user with a new password.
    emulator.rotate(&engine, &id).await.unwrap();
    assert_eq!(
        stage_value(&id, AWSCURRENT).await["username"],
        old["username"]
    );
    assert!(login_at(&id, AWSCURRENT).await.is_ok());
    assert!(login_at(&id, AWSPREVIOUS).await.is_ok());
}

#[tokio::test]
async fn hostile_and_edge_case_usernames_rotate_or_fail_cleanly() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let rotating = [
        format!("q\"uote{tag}"),
        format!("x'; DROP ROLE {ADMIN}; --{tag}"),
        format!("app user {tag}"),
        format!("MixedCase{tag}"),
        format!("{tag}{}", "n".repeat(57 - tag.len())), // 57 bytes: the clone has 63
    ];
    for user in &rotating {
        let id = user_secret(user, true).await;
        rotate(&engine, &id, &format!("{user:?}")).await;
        rotate(&engine, &id, &format!("{user:?} second")).await;
        assert!(login_at(&id, AWSCURRENT).await.is_ok(), "{user:?}");
    }
    let admin_still_there = server()
        .superuser_client()
        .await
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&ADMIN])
        .await
        .unwrap();
    assert!(admin_still_there.is_some(), "no injected statement ran");

    // 60 bytes: rotates alone, but its clone would be truncated: createSecret refuses, nothing changes.
    let long = format!("{tag}{}", "l".repeat(60 - tag.len()));
    let single = user_secret(&long, false).await;
    emulator.rotate(&engine, &single).await.unwrap();
    let id = user_secret(&format!("{long}x"), true).await;
    let token = emulator.stage_rotation(&id).await;
    let before = emulator.stages(&id).await;
    let err = run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("63 bytes"), "{err}");
    assert_eq!(emulator.stages(&id).await, before);
    assert!(emulator.value_at(&id, AWSPENDING).await.is_none());
}

#[tokio::test]
async fn concurrent_set_secrets_on_one_role_are_serialized() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let id = user_secret(&unique("race"), true).await;
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let (a, b, c) = tokio::join!(
        run_step(&engine, Step::SetSecret, &id, &token),
        run_step(&engine, Step::SetSecret, &id, &token),
        run_step(&engine, Step::SetSecret, &id, &token)
    );
    for result in [a, b, c] {
        result.expect("no 'tuple concurrently updated'");
    }
    run_step_ok(&engine, Step::TestSecret, &id, &token).await;
}

#[tokio::test]
async fn tls_verify_full_with_the_right_ca_and_a_clear_failure_with_a_wrong_one() {
    let ca = TestCa::new("rotation test CA");
    let cert = ca.server_cert();
    let tls_server =
        PostgresServer::start_with_tls(&[("log_connections", "on")], &cert.cert_pem, &cert.key_pem)
            .expect("TLS PostgreSQL");
    let su = tls_server.superuser_client().await;
    let password = random_password();
    su.batch_execute(&format!("CREATE ROLE tls_app LOGIN PASSWORD '{password}'"))
        .await
        .unwrap();
    let emulator = Emulator::shared();
    let engine = engine();
    let secret = |ca_pem: &str| {
        json!({"engine": "postgres", "host": "127.0.0.1", "port": tls_server.port, "username": "tls_app",
               "password": password, "ca_bundle": ca_pem})
        .to_string()
    };

    let good = emulator
        .create_secret("pg-tls", &secret(&ca.cert_pem))
        .await;
    emulator
        .rotate(&engine, &good)
        .await
        .expect("verify-full with the right CA");
    let log = tls_server.log_contents();
    assert!(
        log.contains("user=tls_app") && log.contains("SSL enabled"),
        "sessions used TLS"
    );

    let wrong_ca = TestCa::new("somebody else's CA");
    let bad = emulator
        .create_secret("pg-tls-bad", &secret(&wrong_ca.cert_pem))
        .await;
    let connections_before = tls_server
        .log_contents()
        .matches("connection authorized")
        .count();
    let err = emulator.rotate(&engine, &bad).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RotationError::Backend {
                step: Step::SetSecret,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("certificate"),
        "the error says why: {err}"
    );
    assert_eq!(
        tls_server
            .log_contents()
            .matches("connection authorized")
            .count(),
        connections_before,
        "no plaintext retry reached the server"
    );
    assert!(
        emulator.value_at(&bad, AWSPENDING).await.is_some(),
        "nothing was promoted"
    );
}

#[tokio::test]
async fn the_postgres_function_binary_rotates_through_the_runtime_api() {
    let emulator = Emulator::shared();
    let id = user_secret(&unique("lambda"), true).await;
    let token = emulator.stage_rotation(&id).await;
    let function = FunctionProcess::start(
        &workspace_binary("secret-rotation-postgres"),
        &emulator.env(),
    )
    .await
    .unwrap();
    for step in Step::ALL {
        let event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
        let response = function
            .invoke(&event)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e:?}\n{}", function.output()));
        assert_eq!(response["outcome"], "done", "{step}");
    }
    assert_eq!(
        emulator.version_with(&id, AWSCURRENT).await.as_deref(),
        Some(token.as_str())
    );
    assert!(login_at(&id, AWSCURRENT).await.is_ok());
    // A bad event is a typed Lambda error, not a crash.
    let err = function
        .invoke(&json!({"Step": "dropSecret", "SecretId": id, "ClientRequestToken": token}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "InvalidEvent");
    let output = function.output();
    assert!(
        output.contains("credential.rotate"),
        "audit lines are printed"
    );
    for stage in [AWSCURRENT, AWSPREVIOUS] {
        let value = stage_value(&id, stage).await;
        assert!(
            !output.contains(value["password"].as_str().unwrap()),
            "a password reached the function's output"
        );
    }
}

#[tokio::test]
async fn an_rds_managed_master_secret_is_located_through_the_rds_api() {
    let emulator = Emulator::shared();
    let config = emulator.sdk_config();
    let rds = aws_sdk_rds::Client::new(&config);
    let instance = unique("db").replace('_', "-");
    let created = rds
        .create_db_instance()
        .db_instance_identifier(&instance)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .master_username("rdsadmin")
        .manage_master_user_password(true)
        .allocated_storage(20)
        .port(6543)
        .send()
        .await
        .expect("CreateDBInstance");
    let db = created.db_instance().unwrap();
    let master_arn = db
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("RDS manages the master secret")
        .to_owned();
    let address = db.endpoint().and_then(|e| e.address()).unwrap().to_owned();
    let master: Value =
        serde_json::from_str(&emulator.value_at(&master_arn, AWSCURRENT).await.unwrap()).unwrap();
    assert!(
        master.get("host").is_none(),
        "an RDS-managed master secret holds no host"
    );

    let engine = Engine::new(
        emulator.store(),
        PostgresBackend::from_config(&config),
        LogCapture::global().telemetry(),
    );
    let user = unique("rdsuser");
    let id = user_secret(&user, false).await;
    let mut value = stage_value(&id, AWSCURRENT).await;
    value["masterarn"] = json!(master_arn);
    value["strategy"] = json!("alternating-users");
    let put = |value: Value| {
        let id = id.clone();
        async move {
            emulator
                .put_value(&id, None, &value.to_string(), AWSCURRENT)
                .await;
        }
    };

    // An application secret on another server than the RDS database: the admin's credential is
    // not sent there, and nothing is tried.
    put(value.clone()).await;
    let err = emulator.rotate(&engine, &id).await.unwrap_err();
    assert_eq!(err.kind(), "Refused", "{err}");
    assert!(err.to_string().contains("`host`"), "{err}");

    // On the RDS database's own endpoint: accepted, and the rotation goes on to that endpoint
    // (which does not exist outside the emulator).
    value["host"] = json!(address);
    value["port"] = json!(6543);
    put(value).await;
    let err = emulator.rotate(&engine, &id).await.unwrap_err();
    let message = err.to_string();
    assert_eq!(err.kind(), "TargetUnreachable", "{message}");
    assert!(
        message.contains(&format!("PostgreSQL at {address}:6543")),
        "the rotation went to the RDS endpoint: {message}"
    );
}

/// A TCP relay in front of the test server that counts, per connection, the requests the client
/// sent after its login: simple queries and extended-protocol Syncs, each answered by one
/// ReadyForQuery. The count of each closed connection is pushed to the returned list.
async fn start_request_counter() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u32>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = counts.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let outbound = tokio::net::TcpStream::connect(("127.0.0.1", server().port))
                    .await
                    .unwrap();
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let downstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                // The startup message has no type byte; every later message has one.
                let (mut requests, mut typed, mut unread, mut buffer) =
                    (0, false, Vec::new(), vec![0u8; 65536]);
                while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                    unread.extend_from_slice(&buffer[..n]);
                    loop {
                        let at = usize::from(typed);
                        let Some(len) = unread.get(at..at + 4) else {
                            break;
                        };
                        let end = at + u32::from_be_bytes(len.try_into().unwrap()) as usize;
                        if unread.len() < end {
                            break;
                        }
                        if typed && matches!(unread[0], b'Q' | b'S') {
                            requests += 1;
                        }
                        typed = true;
                        unread.drain(..end);
                    }
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = server_write.shutdown().await;
                let _ = downstream.await;
                recorded.lock().unwrap().push(requests);
            });
        }
    });
    (port, counts)
}

#[tokio::test]
async fn the_admin_transaction_is_six_requests() {
    let (emulator, engine) = (Emulator::shared(), engine());
    let base = unique("counted");
    let id = user_secret(&base, true).await;
    server()
        .superuser_execute(&format!(
            "ALTER ROLE {base} SET search_path TO public, \"Mixed Case\"; \
             ALTER ROLE {base} SET statement_timeout = '1234ms';"
        ))
        .await;
    // The same admin, reached through the counter.
    let (port, counts) = start_request_counter().await;
    let mut admin = stage_value(&admin_secret().await, AWSCURRENT).await;
    admin["port"] = json!(port);
    // The application's endpoint is the server behind the counter: the admin side says so.
    admin["endpoints"] = json!([format!("127.0.0.1:{}", server().port)]);
    let mut value = stage_value(&id, AWSCURRENT).await;
    value["masterarn"] = json!(
        emulator
            .create_secret("pg-admin-counted", &admin.to_string())
            .await
    );
    emulator
        .put_value(&id, None, &value.to_string(), AWSCURRENT)
        .await;

    // The first rotation creates the clone, the second re-syncs it.
    for round in 0..2 {
        emulator.rotate(&engine, &id).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while counts.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            std::mem::take(&mut *counts.lock().unwrap()),
            [6],
            "rotation {round}: one admin session of BEGIN, lock, read, re-sync batch, password, COMMIT"
        );
    }
}
