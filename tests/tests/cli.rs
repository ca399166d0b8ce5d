//! The operator CLI, `rotationctl`, run as a subprocess against the Secrets Manager emulator and a
//! real PostgreSQL 15. Build it first: `cargo build -p rotationctl`.

use rotation::postgres::PostgresBackend;
use rotation::protocol::MODE_TAG;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::Step;
use rotation::{Engine, SecretStore};
use serde_json::{json, Value};
use std::time::SystemTime;
use testkit::emulator::{run_step_ok, run_steps, stage_value};
use testkit::fake::FakeBackend;
use testkit::{Emulator, LogCapture};

#[path = "cli/kit.rs"]
mod kit;

use kit::*;

#[tokio::test]
async fn status_flags_an_overdue_secret_and_a_stuck_pending_version() {
    let emulator = Emulator::shared();
    let prefix = unique("cli-status");
    let engine = Engine::new(
        emulator.store(),
        FakeBackend::default(),
        LogCapture::global().telemetry(),
    );
    let fake = |n: &str| json!({"engine": "fake", "username": n, "password": random_password()});
    // Rotated just now on a one-day schedule: overdue three days from now.
    let late = emulator
        .create_secret(&prefix, &fake("late").to_string())
        .await;
    let token = emulator.stage_rotation_every(&late, 1).await;
    run_steps(&engine, &late, &token).await.unwrap();
    emulator
        .tag(&late, rotation::health::ENGINE_TAG, "postgres")
        .await;
    // A rotation started and never finished: stuck two days from now.
    let stuck = emulator
        .create_secret(&prefix, &fake("stuck").to_string())
        .await;
    let stuck_version = emulator.stage_rotation(&stuck).await;
    // Rotated just now on a 90-day schedule: healthy.
    let fine = emulator
        .create_secret(&prefix, &fake("fine").to_string())
        .await;
    emulator.rotate(&engine, &fine).await.unwrap();
    // No rotation at all: listed only with --all.
    let plain = emulator
        .create_secret(&prefix, &fake("plain").to_string())
        .await;

    let at = rotation::health::format_time(SystemTime::now() + 3 * DAY);
    let run = rotationctl(&["status", "--json", "--name-prefix", &prefix, "--at", &at]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    let secrets = report["secrets"].as_array().unwrap();
    let of = |arn: &str| {
        secrets
            .iter()
            .find(|s| s["arn"] == arn)
            .unwrap_or_else(|| panic!("{arn} missing from {report:#}"))
    };
    assert_eq!(
        secrets.len(),
        3,
        "rotation-enabled secrets only: {report:#}"
    );
    assert_eq!(of(&late)["overdue"], true);
    assert_eq!(of(&late)["problems"], json!(["overdue"]));
    assert_eq!(of(&late)["engine"], "postgres");
    assert_eq!(of(&stuck)["pending_stuck"], true);
    assert_eq!(of(&stuck)["pending_version"], stuck_version.as_str());
    assert_eq!(of(&stuck)["problems"], json!(["pending_stuck"]));
    assert_eq!(of(&fine)["healthy"], true);
    assert_eq!(report["summary"]["overdue"], 1);
    assert_eq!(report["summary"]["pending_stuck"], 1);
    assert!(secrets.iter().all(|s| s["arn"] != plain.as_str()));

    // The table, and --check's exit code for scripts.
    let run = rotationctl(&["status", "--name-prefix", &prefix, "--at", &at, "--check"]).await;
    assert_eq!(run.code, 3, "{}", run.all());
    let row = |name_part: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(name_part))
            .unwrap_or_else(|| panic!("no row for {name_part}:\n{}", run.stdout))
            .to_owned()
    };
    let store = emulator.store();
    let name = |arn: &str| {
        let store = store.clone();
        let arn = arn.to_owned();
        async move { store.describe(&arn).await.unwrap().name }
    };
    assert!(
        row(&name(&late).await).contains("OVERDUE by"),
        "{}",
        run.stdout
    );
    assert!(
        row(&name(&stuck).await).contains("STUCK AWSPENDING"),
        "{}",
        run.stdout
    );
    assert!(row(&name(&fine).await).ends_with("ok"), "{}", run.stdout);
    assert!(run
        .stderr
        .contains("2 secret(s) overdue or with a stuck AWSPENDING"));

    // Today nothing is wrong yet; --all adds the secret without rotation.
    let run = rotationctl(&["status", "--name-prefix", &prefix, "--check", "--all"]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(row_of(&run.stdout, &name(&stuck).await).ends_with("rotating"));
    assert!(row_of(&run.stdout, &name(&plain).await).ends_with("rotation off"));
}

fn row_of(table: &str, name: &str) -> String {
    table
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{table}"))
        .to_owned()
}

#[tokio::test]
async fn rotate_local_rotates_a_single_user_postgres_secret_and_history_shows_it() {
    let user = unique("cli_single");
    let (id, old_password) = postgres_secret(&user, false).await;
    let before = stage_value(&id, AWSCURRENT).await;

    let run = rotationctl(&["rotate", "--local", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    for (n, step) in ["createSecret", "setSecret", "testSecret", "finishSecret"]
        .iter()
        .enumerate()
    {
        assert!(
            run.stderr.contains(&format!("[{}/4] {step}", n + 1)),
            "progress shows {step}:\n{}",
            run.stderr
        );
    }
    let current = stage_value(&id, AWSCURRENT).await;
    assert_eq!(current["username"], user.as_str());
    assert!(
        current["password"] != before["password"],
        "the password changed"
    );
    assert!(logs_in(&current).await, "the new password logs in");
    assert!(
        !logs_in(&before).await,
        "single user: the old one no longer does"
    );
    let stages = Emulator::shared().stages(&id).await;
    assert!(
        !stages.values().flatten().any(|s| s == AWSPENDING),
        "{stages:?}"
    );
    let new_version = Emulator::shared()
        .version_with(&id, AWSCURRENT)
        .await
        .unwrap();
    assert!(run.stdout.contains(&new_version), "{}", run.stdout);
    assert_no_secret(
        &run,
        &[&old_password, current["password"].as_str().unwrap()],
    );

    let history = rotationctl(&["history", "--json", &id]).await;
    assert_eq!(history.code, 0, "{}", history.all());
    let doc: Value = serde_json::from_str(&history.stdout).unwrap();
    let versions = doc["versions"].as_array().unwrap();
    let stages_of = |id: &str| {
        versions
            .iter()
            .find(|v| v["version"] == id)
            .map(|v| v["stages"].clone())
    };
    assert_eq!(stages_of(&new_version), Some(json!([AWSCURRENT])));
    assert!(versions.iter().any(|v| v["stages"] == json!([AWSPREVIOUS])));
    assert!(versions.iter().all(|v| v["created"].is_string()));
    let table = rotationctl(&["history", &id]).await;
    assert!(row_of(&table.stdout, &new_version).contains(AWSCURRENT));
    assert_no_secret(&history, &[current["password"].as_str().unwrap()]);
}

#[tokio::test]
async fn emergency_revokes_the_previous_user_at_once() {
    let base = unique("cli_alt");
    let (id, _) = postgres_secret(&base, true).await;
    let run = rotationctl(&["rotate", "--local", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let clone = stage_value(&id, AWSCURRENT).await;
    assert_eq!(clone["username"], format!("{base}_clone").as_str());
    assert!(logs_in(&clone).await);
    assert!(logs_in(&stage_value(&id, AWSPREVIOUS).await).await);

    // Without --yes and without a terminal: refused before anything changes.
    let refused = rotationctl(&["emergency", "--reason", "cli test", "--local", &id]).await;
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let tags = Emulator::shared().store().describe(&id).await.unwrap().tags;
    assert!(!tags.contains_key(MODE_TAG), "{tags:?}");

    let run = rotationctl(&["emergency", "--reason", "cli test", "--local", "--yes", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("tagged rotation:mode=emergency"));
    let current = stage_value(&id, AWSCURRENT).await;
    assert_eq!(current["username"], base.as_str());
    assert!(logs_in(&current).await, "the new credential logs in");
    assert_eq!(
        stage_value(&id, AWSPREVIOUS).await["username"],
        clone["username"]
    );
    assert!(
        !logs_in(&clone).await,
        "the previous user can no longer log in"
    );
    let tags = Emulator::shared().store().describe(&id).await.unwrap().tags;
    assert!(!tags.contains_key(MODE_TAG), "the tag is removed: {tags:?}");
    assert_no_secret(
        &run,
        &[
            clone["password"].as_str().unwrap(),
            current["password"].as_str().unwrap(),
        ],
    );
}

async fn secret_name(id: &str) -> String {
    Emulator::shared().store().describe(id).await.unwrap().name
}

async fn mode_tag(id: &str) -> Option<String> {
    let tags = Emulator::shared().store().describe(id).await.unwrap().tags;
    tags.get(MODE_TAG).cloned()
}

/// The revocation fails for real: the admin may alter roles (setSecret works) but may not end
/// another role's sessions, and the previous user has one open. The new version is promoted, the
/// session survives, the tag stays; once the admin may, `--resume` finishes the revocation.
#[tokio::test]
async fn emergency_keeps_its_tag_when_revocation_fails_and_resume_completes_it() {
    let admin = unique("cli_nosignal");
    let admin_password = random_password();
    server()
        .superuser_execute(&format!(
            "CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{admin_password}'"
        ))
        .await;
    let admin_arn = pg_admin_secret("cli-pg-admin-nosignal", &admin, &admin_password).await;
    let base = unique("cli_revoke");
    let (id, _) = postgres_secret_with_admin(&base, Some(admin_arn)).await;
    let name = secret_name(&id).await;
    let run = rotationctl(&["rotate", "--local", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let leaked = stage_value(&id, AWSCURRENT).await;
    let leaked_session = server()
        .connect_as(&leaked)
        .await
        .expect("the previous user's session");

    let failed = rotationctl(&["emergency", "--reason", "cli test", "--local", "--yes", &id]).await;
    assert_eq!(failed.code, 1, "{}", failed.all());
    let resume = format!("`rotationctl emergency --local --resume {name}`");
    assert!(
        contains_all(
            &failed.stderr,
            &[
                "finishSecret failed",
                "revocation of the previous credential did not complete",
                "The rotation:mode=emergency tag was kept",
                &resume,
            ]
        ),
        "{}",
        failed.stderr
    );
    assert!(!failed.stdout.contains("rotated"), "{}", failed.stdout);
    assert_eq!(mode_tag(&id).await.as_deref(), Some("emergency"));
    let promoted = Emulator::shared()
        .version_with(&id, AWSCURRENT)
        .await
        .unwrap();
    assert_eq!(
        stage_value(&id, AWSCURRENT).await["username"],
        base.as_str()
    );
    assert!(
        leaked_session.simple_query("SELECT 1").await.is_ok(),
        "the previous user's session is still open"
    );

    server()
        .superuser_execute(&format!("GRANT pg_signal_backend TO {admin}"))
        .await;
    let resumed = rotationctl(&[
        "emergency",
        "--reason",
        "cli test",
        "--local",
        "--resume",
        "--yes",
        &id,
    ])
    .await;
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert!(
        resumed.stderr.contains("[1/1] finishSecret"),
        "only finishSecret runs again: {}",
        resumed.stderr
    );
    assert!(
        resumed.stdout.contains(&format!(
            "version {promoted} is AWSCURRENT and the previous credential is revoked"
        )),
        "{}",
        resumed.stdout
    );
    assert_eq!(mode_tag(&id).await, None, "the tag is removed");
    assert_eq!(
        Emulator::shared().version_with(&id, AWSCURRENT).await,
        Some(promoted),
        "the resume promotes nothing new"
    );
    assert!(!logs_in(&leaked).await, "the previous user is revoked");
    assert!(
        leaked_session.simple_query("SELECT 1").await.is_err(),
        "the previous user's session was ended"
    );
    assert!(logs_in(&stage_value(&id, AWSCURRENT).await).await);
    let again = rotationctl(&[
        "emergency",
        "--reason",
        "cli test",
        "--local",
        "--resume",
        "--yes",
        &id,
    ])
    .await;
    assert_eq!(again.code, 1, "{}", again.all());
    assert!(
        again.stderr.contains("nothing to resume"),
        "{}",
        again.stderr
    );
    let current = stage_value(&id, AWSCURRENT).await;
    for run in [&failed, &resumed] {
        assert_no_secret(
            run,
            &[
                leaked["password"].as_str().unwrap(),
                current["password"].as_str().unwrap(),
                &admin_password,
            ],
        );
    }
}

/// setSecret fails (the admin secret holds a wrong password): the version stays AWSPENDING and
/// nothing is revoked, so the tag stays; once the admin secret is fixed, `--resume` finishes the
/// rotation and the tag goes.
#[tokio::test]
async fn an_emergency_rotation_that_stops_after_staging_keeps_its_tag() {
    let admin_arn = pg_admin_secret("cli-pg-admin-wrong", ADMIN, &random_password()).await;
    let base = unique("cli_staged");
    let (id, _) = postgres_secret_with_admin(&base, Some(admin_arn.clone())).await;
    let name = secret_name(&id).await;
    let previous = stage_value(&id, AWSCURRENT).await;

    let failed = rotationctl(&["emergency", "--reason", "cli test", "--local", "--yes", &id]).await;
    assert_eq!(failed.code, 1, "{}", failed.all());
    let pending = Emulator::shared()
        .version_with(&id, AWSPENDING)
        .await
        .expect("createSecret staged a version");
    let (stays, resume) = (
        format!("version {pending} stays AWSPENDING"),
        format!("`rotationctl emergency --local --resume {name}`"),
    );
    assert!(
        contains_all(
            &failed.stderr,
            &[
                "setSecret failed",
                &stays,
                "The rotation:mode=emergency tag was kept",
                &resume,
            ]
        ),
        "{}",
        failed.stderr
    );
    assert!(!failed.stdout.contains("rotated"), "{}", failed.stdout);
    assert_eq!(mode_tag(&id).await.as_deref(), Some("emergency"));

    let admin = Emulator::shared()
        .value_at(&admin_secret().await, AWSCURRENT)
        .await
        .expect("the admin secret");
    // The admin secret is fixed.
    Emulator::shared()
        .put_value(&admin_arn, None, &admin, AWSCURRENT)
        .await;
    let resumed = rotationctl(&[
        "emergency",
        "--reason",
        "cli test",
        "--local",
        "--resume",
        "--yes",
        &id,
    ])
    .await;
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert_eq!(
        Emulator::shared().version_with(&id, AWSCURRENT).await,
        Some(pending)
    );
    assert_eq!(mode_tag(&id).await, None, "the tag is removed");
    assert!(!logs_in(&previous).await, "the previous user is revoked");
    assert!(logs_in(&stage_value(&id, AWSCURRENT).await).await);
    for run in [&failed, &resumed] {
        assert_no_secret(run, &[previous["password"].as_str().unwrap()]);
    }
}

#[tokio::test]
async fn a_pending_rotation_is_refused_and_resume_finishes_it() {
    let user = unique("cli_resume");
    let (id, _) = postgres_secret(&user, false).await;
    let token = Emulator::shared().stage_rotation(&id).await;

    let run = rotationctl(&["rotate", "--local", &id]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("version {token} is already AWSPENDING")),
        "{}",
        run.stderr
    );
    // A routine createSecret has filled the pending version (as a rotation that then stopped
    // would have): it cannot be finished as an emergency, and nothing is tagged.
    let engine = Engine::new(
        Emulator::shared().store(),
        PostgresBackend::new(),
        LogCapture::global().telemetry(),
    );
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let run = rotationctl(&[
        "emergency",
        "--reason",
        "cli test",
        "--local",
        "--resume",
        "--yes",
        &id,
    ])
    .await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("created by a routine rotation"),
        "{}",
        run.stderr
    );
    let tags = Emulator::shared().store().describe(&id).await.unwrap().tags;
    assert!(!tags.contains_key(MODE_TAG), "{tags:?}");
    let run = rotationctl(&["rotate", "--local", "--resume", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        Emulator::shared().version_with(&id, AWSCURRENT).await,
        Some(token)
    );
    assert!(logs_in(&stage_value(&id, AWSCURRENT).await).await);
    let run = rotationctl(&["rotate", "--local", "--resume", &id]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("nothing to resume"), "{}", run.stderr);
}

#[tokio::test]
async fn bad_arguments_are_usage_errors_with_exit_code_2() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["rotate"][..],
        &["history"][..],
        &["status", "--at", "yesterday"][..],
        &["status", "--tag", "=x"][..],
        &["rotate", "some-secret", "--resume"][..],
        &["rotate", "some-secret", "--local", "--no-wait"][..],
        &["rotate", "some-secret", "--local", "--engine", "mysql"][..],
        &["emergency", "some-secret", "--bogus"][..],
    ] {
        let run = rotationctl(args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(run.stderr.contains("Usage:"), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    let help = rotationctl(&["--help"]).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("emergency"), "{}", help.stdout);
}

#[tokio::test]
async fn aws_and_rotation_failures_exit_1_with_the_error() {
    let missing = format!("cli-missing-{}", uuid::Uuid::new_v4().simple());
    for args in [
        vec!["rotate", missing.as_str()],
        vec!["rotate", "--local", missing.as_str()],
        vec!["history", missing.as_str()],
        vec![
            "emergency",
            "--reason",
            "cli test",
            "--yes",
            missing.as_str(),
        ],
    ] {
        let run = rotationctl(&args).await;
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("error: Secrets Manager DescribeSecret")
                && run.stderr.contains("ResourceNotFoundException"),
            "{args:?}: {}",
            run.stderr
        );
    }

    // A secret without rotation: no function to ask.
    let plain = Emulator::shared()
        .create_secret("cli-plain", r#"{"engine":"postgres"}"#)
        .await;
    let run = rotationctl(&["rotate", &plain]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("no rotation function is configured"),
        "{}",
        run.stderr
    );

    // An emergency rotation that Secrets Manager refuses to start takes its tag off again. The
    // emulator refuses RotateSecret while AWSPENDING sits on the AWSCURRENT version (the real
    // service accepts that state; here it stands in for any refusal).
    let user = unique("cli_service");
    let (id, _) = postgres_secret(&user, false).await;
    let current = Emulator::shared()
        .version_with(&id, AWSCURRENT)
        .await
        .unwrap();
    Emulator::shared()
        .client()
        .update_secret_version_stage()
        .secret_id(&id)
        .version_stage(AWSPENDING)
        .move_to_version_id(&current)
        .send()
        .await
        .unwrap();
    let run = rotationctl(&["emergency", "--reason", "cli test", "--yes", &id]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("RotateSecret") && run.stderr.contains("InvalidRequestException"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("removed rotation:mode again"),
        "{}",
        run.stderr
    );
    let tags = Emulator::shared().store().describe(&id).await.unwrap().tags;
    assert!(!tags.contains_key(MODE_TAG), "{tags:?}");

    // A rotation step that fails: the error names the step, and nothing is left staged.
    let broken = Emulator::shared()
        .create_secret(
            "cli-broken",
            r#"{"engine":"postgres","username":"u","password":"p"}"#,
        )
        .await;
    enable_rotation(&broken, 30).await;
    let run = rotationctl(&["rotate", "--local", &broken]).await;
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("createSecret failed"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was staged"), "{}", run.stderr);
}
