//! The rotation protocol engine against the Secrets Manager emulator (moto), with a fake target.

use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::store::AwsSecretStore;
use rotation::{Engine, RotationError, RotationEvent, SecretStore, Step, StepOutcome};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use testkit::capture::string_leaves;
use testkit::emulator::{run_step, run_step_ok, run_steps, stage_value};
use testkit::fake::{FakeBackend, FaultyStore};
use testkit::{Emulator, LogCapture};

type TestEngine = Engine<FaultyStore<AwsSecretStore>, FakeBackend>;

fn engine() -> TestEngine {
    let capture = LogCapture::global();
    Engine::new(
        FaultyStore::new(Emulator::shared().store()),
        FakeBackend::default(),
        capture.telemetry(),
    )
}

/// A secret whose current password the fake target accepts.
async fn secret(engine: &TestEngine) -> String {
    let password = rotation::password::generate_password(32);
    let password = secrecy::ExposeSecret::expose_secret(&password).to_owned();
    engine.backend().target.add(&password);
    Emulator::shared()
        .create_secret(
            "engine",
            &json!({"engine": "fake", "username": "app", "password": password}).to_string(),
        )
        .await
}

/// A fake-target secret (see [`secret`]) with a rotation staged on it: its id and the token.
async fn staged(engine: &TestEngine) -> (String, String) {
    let id = secret(engine).await;
    let token = Emulator::shared().stage_rotation(&id).await;
    (id, token)
}

async fn password_at(secret_id: &str, stage: &str) -> String {
    stage_value(secret_id, stage).await["password"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_full_rotation_promotes_pending_and_leaves_no_awspending() {
    let emulator = Emulator::shared();
    let engine = engine();
    let id = secret(&engine).await;
    let old_version = emulator.version_with(&id, AWSCURRENT).await.unwrap();
    let old_password = password_at(&id, AWSCURRENT).await;

    let token = emulator.rotate(&engine, &id).await.unwrap();

    let stages = emulator.stages(&id).await;
    assert_eq!(stages[&token], vec![AWSCURRENT.to_owned()]);
    assert_eq!(stages[&old_version], vec![AWSPREVIOUS.to_owned()]);
    assert!(
        !stages.values().flatten().any(|s| s == AWSPENDING),
        "{stages:?}"
    );
    let new_password = password_at(&id, AWSCURRENT).await;
    assert_ne!(new_password, old_password);
    assert!(engine.backend().target.accepts(&new_password));
    assert!(
        engine.backend().target.accepts(&old_password),
        "routine rotation keeps the old one working"
    );
}

#[tokio::test]
async fn preamble_failures_are_clear_and_change_no_stage() {
    let emulator = Emulator::shared();
    let engine = engine();

    // Rotation never enabled.
    let id = secret(&engine).await;
    let before = emulator.stages(&id).await;
    let err = run_step(
        &engine,
        Step::CreateSecret,
        &id,
        "00000000-0000-0000-0000-000000000000",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RotationError::RotationNotEnabled { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("rotation is not enabled"));
    assert_eq!(emulator.stages(&id).await, before);

    // A token that is not a version of the secret.
    let token = emulator.stage_rotation(&id).await;
    let before = emulator.stages(&id).await;
    for step in Step::ALL {
        let err = run_step(&engine, step, &id, "11111111-1111-1111-1111-111111111111")
            .await
            .unwrap_err();
        assert!(
            matches!(err, RotationError::UnknownVersion { .. }),
            "{step}: {err}"
        );
        assert!(err.to_string().contains("is not a version of this secret"));
    }
    assert_eq!(emulator.stages(&id).await, before);

    // A token whose version is not AWSPENDING (here: AWSPREVIOUS after a rotation).
    run_steps(&engine, &id, &token).await.unwrap();
    let previous = emulator.version_with(&id, AWSPREVIOUS).await.unwrap();
    let before = emulator.stages(&id).await;
    for step in Step::ALL {
        let err = run_step(&engine, step, &id, &previous).await.unwrap_err();
        assert!(
            matches!(err, RotationError::NotPending { .. }),
            "{step}: {err}"
        );
        assert!(err.to_string().contains("is not AWSPENDING"), "{err}");
    }
    assert_eq!(emulator.stages(&id).await, before);
}

#[tokio::test]
async fn each_step_twice_in_a_row_is_a_no_op_the_second_time() {
    let emulator = Emulator::shared();
    let engine = engine();
    let (id, token) = staged(&engine).await;

    assert_eq!(
        run_step_ok(&engine, Step::CreateSecret, &id, &token).await,
        StepOutcome::Done
    );
    let pending = password_at(&id, AWSPENDING).await;
    assert_eq!(
        run_step_ok(&engine, Step::CreateSecret, &id, &token).await,
        StepOutcome::AlreadyDone
    );
    assert_eq!(
        password_at(&id, AWSPENDING).await,
        pending,
        "a retried createSecret keeps the value"
    );

    run_step_ok(&engine, Step::SetSecret, &id, &token).await;
    let accepted = engine.backend().target.len();
    run_step_ok(&engine, Step::SetSecret, &id, &token).await;
    assert_eq!(engine.backend().target.len(), accepted);

    run_step_ok(&engine, Step::TestSecret, &id, &token).await;
    run_step_ok(&engine, Step::TestSecret, &id, &token).await;

    assert_eq!(
        run_step_ok(&engine, Step::FinishSecret, &id, &token).await,
        StepOutcome::Done
    );
    let after_finish = emulator.stages(&id).await;
    assert_eq!(
        run_step_ok(&engine, Step::FinishSecret, &id, &token).await,
        StepOutcome::AlreadyCurrent
    );
    assert_eq!(emulator.stages(&id).await, after_finish);
    assert_eq!(password_at(&id, AWSCURRENT).await, pending);
}

#[tokio::test]
async fn a_late_retry_of_any_step_after_finish_changes_nothing() {
    let emulator = Emulator::shared();
    let engine = engine();
    let id = secret(&engine).await;
    let token = emulator.rotate(&engine, &id).await.unwrap();
    let stages = emulator.stages(&id).await;
    let current = password_at(&id, AWSCURRENT).await;
    for step in Step::ALL {
        assert_eq!(
            run_step_ok(&engine, step, &id, &token).await,
            StepOutcome::AlreadyCurrent,
            "{step}"
        );
    }
    assert_eq!(emulator.stages(&id).await, stages);
    assert_eq!(password_at(&id, AWSCURRENT).await, current);
}

#[tokio::test]
async fn steps_rerun_after_a_crash_mid_step_complete() {
    let emulator = Emulator::shared();
    let engine = engine();
    let (id, token) = staged(&engine).await;

    // createSecret: the value was stored but the step never reported success.
    engine.store_crash_after("PutSecretValue");
    run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();
    let pending = password_at(&id, AWSPENDING).await;
    assert_eq!(
        run_step_ok(&engine, Step::CreateSecret, &id, &token).await,
        StepOutcome::AlreadyDone
    );
    assert_eq!(password_at(&id, AWSPENDING).await, pending);

    // setSecret: the target accepted the password, then the function died.
    engine
        .backend()
        .crash_after_accepting
        .store(true, Ordering::SeqCst);
    run_step(&engine, Step::SetSecret, &id, &token)
        .await
        .unwrap_err();
    run_step_ok(&engine, Step::SetSecret, &id, &token).await;
    run_step_ok(&engine, Step::TestSecret, &id, &token).await;

    // finishSecret: AWSCURRENT moved, the leftover AWSPENDING not yet removed.
    engine.store_crash_after("UpdateSecretVersionStage");
    run_step(&engine, Step::FinishSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(
        emulator.stages(&id).await[&token],
        vec![AWSPENDING.to_owned(), AWSCURRENT.to_owned()]
    );
    assert_eq!(
        run_step_ok(&engine, Step::FinishSecret, &id, &token).await,
        StepOutcome::Done
    );
    assert_eq!(
        emulator.stages(&id).await[&token],
        vec![AWSCURRENT.to_owned()]
    );
    assert_eq!(password_at(&id, AWSCURRENT).await, pending);
}

#[tokio::test]
async fn a_new_rotation_replaces_a_stale_pending_version() {
    let emulator = Emulator::shared();
    let engine = engine();
    let (id, stale) = staged(&engine).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &stale).await;
    // The rotation failed here; the service starts a new one later.
    let fresh = emulator.stage_rotation(&id).await;
    run_steps(&engine, &id, &fresh).await.unwrap();

    let stages = emulator.stages(&id).await;
    assert_eq!(stages[&fresh], vec![AWSCURRENT.to_owned()]);
    assert!(
        stages.get(&stale).is_none_or(|s| s.is_empty()),
        "{stages:?}"
    );
    let err = run_step(&engine, Step::SetSecret, &id, &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, RotationError::NotPending { .. }), "{err}");
}

/// A secret writer puts a value of their own on the AWSPENDING version before createSecret runs
/// (or after AWSCURRENT changed): createSecret keeps it (Secrets Manager refuses a second value),
/// and setSecret refuses it before the backend acts, because createSecret did not seal it.
#[tokio::test]
async fn a_pending_value_createsecret_did_not_build_is_refused_at_set_secret() {
    let emulator = Emulator::shared();
    let engine = engine();
    let id = secret(&engine).await;
    let current = emulator.value_at(&id, AWSCURRENT).await.unwrap();
    let token = emulator.stage_rotation(&id).await;
    let chosen = "chosen-by-the-secret-writer-0123456789";
    let planted = json!({"engine": "fake", "username": "app", "password": chosen});
    emulator
        .put_value(&id, Some(&token), &planted.to_string(), AWSPENDING)
        .await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let err = run_step(&engine, Step::SetSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "Refused", "{err}");
    assert!(err.to_string().contains("rotation_seal"), "{err}");
    assert!(!err.to_string().contains(chosen), "{err}");
    // The service stops the rotation there; testSecret would fail too, as the target never
    // accepted the planted password.
    assert!(run_step(&engine, Step::TestSecret, &id, &token)
        .await
        .is_err());
    assert!(!engine.backend().target.accepts(chosen));
    assert_eq!(emulator.value_at(&id, AWSCURRENT).await.unwrap(), current);

    // A sealed pending value stops being valid when AWSCURRENT changes under it.
    let (id, token) = staged(&engine).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let mut rewritten = emulator.json_at(&id, AWSCURRENT).await;
    rewritten["username"] = json!("victim");
    emulator
        .put_value(&id, None, &rewritten.to_string(), AWSCURRENT)
        .await;
    let err = run_step(&engine, Step::SetSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "Refused", "{err}");
}

#[tokio::test]
async fn rotation_token_reaches_put_secret_value() {
    let engine = engine();
    let (id, token) = staged(&engine).await;
    let mut event = RotationEvent::new(Step::CreateSecret, &id, &token);
    event.rotation_token = Some(SecretString::from("rotation-token-from-the-service"));
    engine.handle(&event).await.unwrap();
    let seen = engine.store_rotation_tokens();
    assert_eq!(
        seen,
        vec![Some("rotation-token-from-the-service".to_owned())]
    );

    // Without one in the event, none is sent.
    let (id, token) = staged(&engine).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    assert_eq!(engine.store_rotation_tokens().last(), Some(&None));
}

/// The engine reads a version only when the step or the backend needs it; the fake backend never
/// asks for AWSCURRENT or AWSPREVIOUS, so only setSecret reads AWSCURRENT (the pending value's seal
/// is checked against it) and no step reads AWSPREVIOUS.
#[tokio::test]
async fn each_step_makes_only_the_calls_it_needs() {
    let emulator = Emulator::shared();
    let engine = engine();
    let id = secret(&engine).await;
    // A second rotation: AWSPREVIOUS exists and must not be read either.
    emulator.rotate(&engine, &id).await.unwrap();
    let token = emulator.stage_rotation(&id).await;
    engine.store().take_calls();
    let expected: [(Step, &[(&str, usize)]); 4] = [
        (
            Step::CreateSecret,
            &[
                ("DescribeSecret", 1),
                ("GetSecretValue", 1),
                ("PutSecretValue", 1),
                // The rotation log entry (best effort; none to drop yet).
                ("TagResource", 1),
            ],
        ),
        (
            Step::SetSecret,
            &[("DescribeSecret", 1), ("GetSecretValue", 2)],
        ),
        (
            Step::TestSecret,
            &[("DescribeSecret", 1), ("GetSecretValue", 1)],
        ),
        (
            Step::FinishSecret,
            &[
                ("DescribeSecret", 1),
                ("GetSecretValue", 1),
                ("UpdateSecretVersionStage", 2),
            ],
        ),
    ];
    for (step, calls) in expected {
        run_step_ok(&engine, step, &id, &token).await;
        let made = engine.store().take_calls();
        let expected: std::collections::BTreeMap<&str, usize> = calls.iter().copied().collect();
        assert_eq!(made, expected, "{step}");
    }
}

#[tokio::test]
async fn two_concurrent_create_secrets_store_one_value() {
    let engine = engine();
    let (id, token) = staged(&engine).await;
    let (a, b) = tokio::join!(
        run_step(&engine, Step::CreateSecret, &id, &token),
        run_step(&engine, Step::CreateSecret, &id, &token)
    );
    a.unwrap();
    b.unwrap();
    let pending = password_at(&id, AWSPENDING).await;
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        run_step_ok(&engine, step, &id, &token).await;
    }
    assert_eq!(password_at(&id, AWSCURRENT).await, pending);
    assert!(engine.backend().target.accepts(&pending));
}

#[tokio::test]
async fn emergency_rotation_revokes_the_previous_credential_and_clears_its_tag() {
    let emulator = Emulator::shared();
    let engine = engine();
    let id = secret(&engine).await;
    let old = password_at(&id, AWSCURRENT).await;
    emulator.tag_emergency(&id).await;
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let pending = emulator.json_at(&id, AWSPENDING).await;
    assert_eq!(
        pending["rotation_mode"], "emergency",
        "the mode is recorded in the pending value"
    );
    for step in [Step::SetSecret, Step::TestSecret] {
        run_step_ok(&engine, step, &id, &token).await;
    }
    assert!(
        engine.backend().target.accepts(&old),
        "revoked only after promotion"
    );
    run_step_ok(&engine, Step::FinishSecret, &id, &token).await;
    assert!(!engine.backend().target.accepts(&old));
    assert!(engine
        .backend()
        .target
        .accepts(&password_at(&id, AWSCURRENT).await));
    let tags = emulator.store().describe(&id).await.unwrap().tags;
    assert!(!tags.contains_key(rotation::protocol::MODE_TAG), "{tags:?}");

    // The next rotation is routine again: the previous password survives it.
    let routine_old = password_at(&id, AWSCURRENT).await;
    emulator.rotate(&engine, &id).await.unwrap();
    assert!(engine.backend().target.accepts(&routine_old));
    let current = emulator.json_at(&id, AWSCURRENT).await;
    assert!(current.get("rotation_mode").is_none());
}

#[tokio::test]
async fn malformed_events_and_secrets_give_clear_errors_not_panics() {
    let emulator = Emulator::shared();
    let engine = engine();
    let (id, token) = staged(&engine).await;
    let cases = [
        (
            json!({"SecretId": id, "ClientRequestToken": token}),
            "missing field Step",
        ),
        (
            json!({"Step": "rotateSecret", "SecretId": id, "ClientRequestToken": token}),
            "unknown Step",
        ),
        (
            json!({"Step": "createSecret", "SecretId": 42, "ClientRequestToken": token}),
            "SecretId must be a string",
        ),
        (
            json!({"Step": "createSecret", "SecretId": id, "ClientRequestToken": ["x"]}),
            "ClientRequestToken must be a string",
        ),
        (json!("createSecret"), "expected a JSON object"),
        (Value::Null, "expected a JSON object"),
    ];
    let before = emulator.stages(&id).await;
    for (payload, expected) in cases {
        let err = engine.handle_json(&payload).await.unwrap_err();
        assert!(
            matches!(err, RotationError::InvalidEvent(_)),
            "{payload}: {err}"
        );
        assert!(err.to_string().contains(expected), "{payload}: {err}");
    }
    assert_eq!(emulator.stages(&id).await, before);

    for (label, raw) in [
        ("not JSON", "s3cr3t-not-json"),
        ("not an object", "[\"s3cr3t\"]"),
        ("missing password", "{\"username\":\"app\"}"),
    ] {
        let id = emulator.create_secret("malformed", raw).await;
        let token = emulator.stage_rotation(&id).await;
        let before = emulator.stages(&id).await;
        let err = run_step(&engine, Step::CreateSecret, &id, &token)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("s3cr3t"), "{label}: {message}");
        assert!(
            matches!(
                err,
                RotationError::MalformedSecret { .. } | RotationError::Backend { .. }
            ),
            "{label}: {err}"
        );
        assert_eq!(emulator.stages(&id).await, before, "{label}");
    }
}

#[tokio::test]
async fn audit_and_metric_lines_carry_no_secret_material() {
    let emulator = Emulator::shared();
    let capture = LogCapture::global();
    let engine = engine();
    let id = secret(&engine).await;
    emulator.rotate(&engine, &id).await.unwrap();
    emulator.tag_emergency(&id).await;
    emulator.rotate(&engine, &id).await.unwrap();
    // Failures log too: a step on a version that is not pending.
    let previous = emulator.version_with(&id, AWSPREVIOUS).await.unwrap();
    run_step(&engine, Step::SetSecret, &id, &previous)
        .await
        .unwrap_err();

    let mut secrets = Vec::new();
    for version in emulator.stages(&id).await.keys() {
        let out = emulator
            .client()
            .get_secret_value()
            .secret_id(&id)
            .version_id(version)
            .send()
            .await
            .unwrap();
        let value: Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
        secrets.push(value["password"].as_str().unwrap().to_owned());
    }
    assert_eq!(secrets.len(), 3);

    let logs = capture.contents();
    let audit: Vec<Value> = capture
        .json_lines()
        .into_iter()
        .filter(|l| l["event"] == "credential.rotate" && l["secret"] == id.as_str())
        .collect();
    assert_eq!(audit.len(), 9, "one audit line per step outcome");
    assert!(audit
        .iter()
        .any(|l| l["outcome"] == "error" && l["error"] == "NotPending"));
    let mut leaves = Vec::new();
    string_leaves(
        &Value::Array(secrets.iter().map(|s| json!(s)).collect()),
        &mut leaves,
    );
    for secret in leaves {
        assert!(
            !logs.contains(&secret),
            "a password appears in the captured logs"
        );
    }
}

/// Test-only accessors on the fault-injecting store.
trait StoreControls {
    fn store_crash_after(&self, operation: &'static str);
    fn store_rotation_tokens(&self) -> Vec<Option<String>>;
}

impl StoreControls for TestEngine {
    fn store_crash_after(&self, operation: &'static str) {
        self.store().crash_once_after(operation);
    }
    fn store_rotation_tokens(&self) -> Vec<Option<String>> {
        self.store().rotation_tokens_seen.lock().unwrap().clone()
    }
}
