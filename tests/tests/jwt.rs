//! The JWT signing-key backend against the Secrets Manager emulator (moto), with consumers written
//! the way each convention's applications read the secret. No assertion message prints a key.

use apps::{jwks_sign, App, JwksApp, ACCESS, REFRESH};
use base64::Engine as _;
use rotation::audit::Telemetry;
use rotation::jwt::probe::{Consumer, Kind, Rejection};
use rotation::jwt::{Convention, JwtBackend, KeyAlg, SetName};
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use rotation::store::AwsSecretStore;
use rotation::{Engine, RotationError, SecretStore, SecretValue, Step};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::capture::string_leaves;
use testkit::emulator::{run_step, run_step_ok};
use testkit::lambda::workspace_binary;
use testkit::{Emulator, FunctionProcess, LogCapture};

type JwtEngine = Engine<AwsSecretStore, JwtBackend>;

/// A clock the test moves by hand: grace periods of minutes pass without sleeping.
#[derive(Clone)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn start() -> Self {
        Self(Arc::new(AtomicU64::new(real_now())))
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn advance(&self, seconds: u64) -> u64 {
        self.0.fetch_add(seconds, Ordering::SeqCst) + seconds
    }
    fn engine(&self) -> JwtEngine {
        let shared = Arc::clone(&self.0);
        let backend = JwtBackend::with_clock(Arc::new(move || {
            UNIX_EPOCH + Duration::from_secs(shared.load(Ordering::SeqCst))
        }));
        engine_with(backend)
    }
}

fn engine_with(backend: JwtBackend) -> JwtEngine {
    let telemetry: Telemetry = LogCapture::global().telemetry();
    Engine::new(Emulator::shared().store(), backend, telemetry)
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn value_at(id: &str, stage: &str) -> Value {
    let raw = Emulator::shared()
        .value_at(id, stage)
        .await
        .expect("a value at the stage");
    serde_json::from_str(&raw).unwrap()
}

async fn create(prefix: &str, value: Value) -> String {
    Emulator::shared()
        .create_secret(prefix, &value.to_string())
        .await
}

/// What `openssl rand -base64 32` gives hand-run procedures: 44 characters with `+`, `/` and `=`.
fn openssl_style_key() -> String {
    let bytes = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ]
    .concat();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every string in the value that is key material: HMAC secrets, private keys (and their base64
/// bodies), and the flat fields that hold them.
fn key_material(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sets) = value["keySets"].as_object() {
        for key in sets.values().flat_map(|k| k.as_array().unwrap()) {
            if let Some(secret) = key["secret"].as_str() {
                out.push(secret.to_owned());
            }
            if let Some(pem) = key["privateKey"].as_str() {
                out.push(pem.to_owned());
                out.push(pem.lines().filter(|l| !l.starts_with("-----")).collect());
            }
        }
    }
    for (field, v) in value.as_object().into_iter().flatten() {
        let flat = Convention::ALL.iter().any(|c| {
            [SetName::Access, SetName::Refresh]
                .iter()
                .any(|s| c.fields(*s).contains(&field.as_str()))
        });
        if flat {
            string_leaves(v, &mut out);
        }
    }
    out.retain(|s| s.len() >= 16);
    out
}

/// The flat fields say exactly what the key list says, convention by convention.
fn assert_flat_fields_agree(secret: &Value) {
    for (set, names) in [
        (
            ACCESS,
            [
                "SECRET_KEY",
                "SECRET_KEY_PREVIOUS",
                "JWT_SIGNING_SECRET",
                "JWT_VERIFICATION_SECRETS",
                "JWT_SECRETS",
            ],
        ),
        (
            REFRESH,
            [
                "REFRESH_SECRET_KEY",
                "REFRESH_SECRET_KEY_PREVIOUS",
                "JWT_REFRESH_SIGNING_SECRET",
                "JWT_REFRESH_VERIFICATION_SECRETS",
                "JWT_REFRESH_SECRETS",
            ],
        ),
    ] {
        let Some(keys) = secret["keySets"][set].as_array() else {
            continue;
        };
        if keys.iter().any(|k| k.get("privateKey").is_some()) {
            assert!(
                names.iter().all(|n| secret.get(n).is_none()),
                "{set}: no flat HMAC fields for an asymmetric set"
            );
            continue;
        }
        let of = |state: &str| {
            keys.iter()
                .filter(|k| k["state"] == state)
                .collect::<Vec<_>>()
        };
        let (active, next, previous) = (of("active"), of("next"), of("previous"));
        assert!(
            active.len() == 1 && next.len() == 1,
            "{set}: one active and one next key"
        );
        let ordered: Vec<&Value> = active
            .iter()
            .chain(&next)
            .chain(&previous)
            .copied()
            .collect();
        assert!(
            keys.iter().collect::<Vec<_>>() == ordered,
            "{set}: keys listed active, next, previous"
        );
        let secret_of = |k: &Value| k["secret"].as_str().unwrap().to_owned();
        assert!(
            secret[names[0]] == json!(secret_of(active[0])),
            "{set}: {} is the active key",
            names[0]
        );
        let newest_previous = previous.first().map(|k| secret_of(k)).unwrap_or_default();
        assert!(
            secret[names[1]] == json!(newest_previous),
            "{set}: {} is the newest previous key",
            names[1]
        );
        assert!(
            secret[names[2]] == json!(secret_of(active[0])),
            "{set}: {} is the active key",
            names[2]
        );
        let list: Vec<String> = ordered.iter().map(|k| secret_of(k)).collect();
        assert!(
            secret[names[3]] == json!(list.join(",")),
            "{set}: {} lists every verifying key",
            names[3]
        );
        let array: Vec<Value> = match &secret[names[4]] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.as_array().expect("a kid array").clone(),
        };
        assert_eq!(array.len(), ordered.len(), "{set}: one kid entry per key");
        for (entry, key) in array.iter().zip(&ordered) {
            assert_eq!(entry["kid"], key["kid"], "{set}: kid entry order");
            assert!(
                entry["secret"] == key["secret"],
                "{set}: kid entry secret is the key's"
            );
            assert_eq!(entry["isActive"], json!(key["state"] == "active"));
            assert_eq!(entry["canVerify"], json!(true));
            assert_eq!(
                entry.get("expiresAt"),
                key.get("verifyUntil"),
                "{set}: expiresAt is verifyUntil"
            );
        }
    }
}

#[tokio::test]
async fn five_rotations_keep_each_token_valid_until_its_grace_ends_and_not_after() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let grace = [(ACCESS, 300u64), (REFRESH, 600u64)];
    // Each rotation runs its four steps at one instant here; a key it demotes verifies for
    // maxRotationSeconds more than the grace, the longest it may go on signing before promotion.
    let max_rotation = 100u64;
    let id = create(
        "jwt-five",
        json!({"policy": {"access": {"graceSeconds": 300, "maxRotationSeconds": max_rotation},
                          "refresh": {"graceSeconds": 600, "maxRotationSeconds": max_rotation}}}),
    )
    .await;
    emulator.rotate(&engine, &id).await.unwrap();
    // Tokens signed before the previous rotation: their key's grace has ended by the next one.
    let mut older: Vec<(&str, Convention, String)> = Vec::new();
    for round in 1..=5 {
        let before = value_at(&id, AWSCURRENT).await;
        let signed_before: Vec<(&str, Convention, String)> = grace
            .iter()
            .flat_map(|(set, _)| {
                Convention::DEFAULT.map(|c| (*set, c, App::load(&before, set, c).sign()))
            })
            .collect();
        let rotated_at = clock.advance(1000);
        emulator.rotate(&engine, &id).await.unwrap();
        let after = value_at(&id, AWSCURRENT).await;
        assert_flat_fields_agree(&after);
        for (set, convention, token) in &signed_before {
            let (old_app, new_app) = (
                App::load(&before, set, *convention),
                App::load(&after, set, *convention),
            );
            let grace = grace.iter().find(|(s, _)| s == set).unwrap().1;
            let case = format!("round {round} {set} {convention:?}");
            assert!(
                new_app.verifies(token, rotated_at),
                "{case}: a token signed before the rotation verifies after it"
            );
            assert!(
                new_app.verifies(token, rotated_at + grace - 1),
                "{case}: ... until its grace ends"
            );
            let verify_until = rotated_at + max_rotation + grace;
            assert!(
                new_app.verifies(token, verify_until - 1),
                "{case}: ... and until its verifyUntil"
            );
            let expected_after_grace = *convention != Convention::KidArray;
            assert_eq!(
                new_app.verifies(token, verify_until + 1),
                expected_after_grace,
                "{case}: the kid array stops at expiresAt, keyless ones at the next rotation"
            );
            let fresh = new_app.sign();
            assert!(
                new_app.verifies(&fresh, rotated_at),
                "{case}: a new token verifies at once"
            );
            if *convention != Convention::SecretKey {
                assert!(
                    old_app.verifies(&fresh, rotated_at),
                    "{case}: consumers still on the old version pre-loaded the new key"
                );
            }
        }
        for (set, convention, token) in &older {
            assert!(
                !App::load(&after, set, *convention).verifies(token, rotated_at),
                "round {round} {set} {convention:?}: a key past its grace is pruned"
            );
        }
        older = signed_before;
    }
    let keys = value_at(&id, AWSCURRENT).await["keySets"][ACCESS]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        keys, 3,
        "active, next and one previous key: older ones were pruned"
    );
}

#[tokio::test]
async fn asymmetric_sets_publish_public_jwks_that_verify_across_rotations() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let policy = json!({
        "access": {"algorithm": "EdDSA", "graceSeconds": 60, "maxRotationSeconds": 60},
        "refresh": {"algorithm": "ES256", "graceSeconds": 120, "maxRotationSeconds": 60},
    });
    let id = create("jwt-asym", json!({ "policy": policy })).await;
    emulator.rotate(&engine, &id).await.unwrap();
    for round in 0..2 {
        let before = value_at(&id, AWSCURRENT).await;
        let tokens: Vec<(&str, String)> = [ACCESS, REFRESH]
            .map(|set| (set, jwks_sign(&before, set)))
            .to_vec();
        let now = clock.advance(1000);
        emulator.rotate(&engine, &id).await.unwrap();
        let after = value_at(&id, AWSCURRENT).await;
        for (set, token) in &tokens {
            let jwks = JwksApp::load(&after, set);
            assert!(
                jwks.verifies(token),
                "round {round} {set}: the previous key verifies through the JWKS"
            );
            assert!(
                jwks.verifies(&jwks_sign(&after, set)),
                "round {round} {set}: the new key verifies at once"
            );
            assert!(
                JwksApp::load(&before, set).verifies(&jwks_sign(&after, set)),
                "round {round} {set}: the old JWKS pre-loaded the new key"
            );
        }
        assert!(
            after.get("SECRET_KEY").is_none() && after.get("JWT_SECRETS").is_none(),
            "no HMAC conventions for asymmetric sets"
        );
        let published = format!("{}{}", after["jwks"], after["refreshJwks"]);
        for field in ["\"d\"", "PRIVATE"] {
            assert!(
                !published.contains(field),
                "a JWK Set holds private material"
            );
        }
        for material in key_material(&after) {
            assert!(
                !published.contains(&material),
                "a JWK Set holds private material"
            );
        }
        assert_eq!(
            after["jwks"]["keys"].as_array().unwrap().len(),
            3,
            "active, next, previous"
        );
        assert!(
            after["keySets"][ACCESS][2]["verifyUntil"]
                == json!(rotation::jwt::time::format(now + 60 + 60))
        );
    }
}

#[tokio::test]
async fn onboarding_from_each_convention_keeps_existing_tokens_valid() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let (k1, k0, r1, r0) = (
        openssl_style_key(),
        openssl_style_key(),
        openssl_style_key(),
        openssl_style_key(),
    );
    let kid_array = |active: &str, old: &str, prefix: &str| {
        json!([
        {"kid": format!("{prefix}v2"), "secret": active, "isActive": true,
         "expiresAt": "2026-04-17T00:00:00Z"},
        {"kid": format!("{prefix}v1"), "secret": old, "isActive": false, "canVerify": true}])
    };
    let cases = [
        (
            Convention::SecretKey,
            json!({"SECRET_KEY": k1, "SECRET_KEY_PREVIOUS": k0,
                   "DATABASE_URL": "postgres://app@db/app"}),
        ),
        (Convention::SecretKey, json!({"SECRET_KEY": k1})),
        (
            Convention::SigningSecret,
            json!({"JWT_SIGNING_SECRET": k1, "JWT_VERIFICATION_SECRETS": format!("{k1},{k0}")}),
        ),
        (
            Convention::KidArray,
            json!({
                "JWT_SECRETS": kid_array(&k1, &k0, "").to_string(),
                "JWT_REFRESH_SECRETS": kid_array(&r1, &r0, "refresh-").to_string(),
            }),
        ),
        (
            Convention::KidArray,
            json!({"JWT_SECRETS": kid_array(&k1, &k0, "")}),
        ),
    ];
    for (case, (convention, legacy)) in cases.into_iter().enumerate() {
        let id = create("jwt-onboard", legacy.clone()).await;
        let sets: Vec<&str> = if legacy.get("JWT_REFRESH_SECRETS").is_some() {
            vec![ACCESS, REFRESH]
        } else {
            vec![ACCESS]
        };
        let apps: Vec<(&str, App)> = sets
            .iter()
            .map(|s| (*s, App::load(&legacy, s, convention)))
            .collect();
        let mut tokens: Vec<(&str, String)> =
            apps.iter().map(|(s, app)| (*s, app.sign())).collect();
        for (set, app) in &apps {
            tokens.extend(app.sign_with_every_key().into_iter().map(|t| (*set, t)));
        }
        let now = clock.advance(10);
        emulator.rotate(&engine, &id).await.unwrap();
        let onboarded = value_at(&id, AWSCURRENT).await;
        assert_flat_fields_agree(&onboarded);
        for (set, token) in &tokens {
            // Through its own convention, and through every keyless one (a kid-less token cannot
            // be looked up in a kid array).
            for c in Convention::DEFAULT
                .iter()
                .filter(|c| **c == convention || **c != Convention::KidArray)
            {
                assert!(
                    App::load(&onboarded, set, *c).verifies(token, now),
                    "case {case} {set}: a pre-onboarding token verifies through {c:?}"
                );
            }
        }
        assert!(
            onboarded[Convention::SecretKey.fields(SetName::Access)[0]] == json!(k1),
            "case {case}: the signing key did not change on onboarding"
        );
        assert_eq!(
            onboarded.get("DATABASE_URL"),
            legacy.get("DATABASE_URL"),
            "case {case}: other fields are kept"
        );
        // The next rotation, after the verifyUntil of the adopted previous keys (the default grace,
        // a day and an hour for access and 30 days and an hour for refresh, plus the default
        // maxRotationSeconds, an hour), promotes the pre-loaded next key; tokens signed with the
        // adopted signing key still verify.
        let later = clock.advance(31 * 86_400);
        emulator.rotate(&engine, &id).await.unwrap();
        let rotated = value_at(&id, AWSCURRENT).await;
        assert!(
            rotated["SECRET_KEY"] != json!(k1) && rotated["SECRET_KEY_PREVIOUS"] == json!(k1),
            "case {case}: the adopted key retired"
        );
        let signed_with_k1 = &tokens[0].1;
        assert!(
            App::load(&rotated, ACCESS, convention).verifies(signed_with_k1, later),
            "case {case}: the adopted key verifies in its grace"
        );
    }
}

/// The single-key convention (issue 19): a secret holding only `JWT_ACCESS_SECRET` (then only
/// `JWT_SECRET`, then only `JWT_REFRESH_SECRET`) is onboarded and rotated three times, with an
/// application that reads nothing but that field. Onboarding keeps its key; every rotation after
/// it is a hard cut for that application, while the other conventions keep the previous key.
#[tokio::test]
async fn single_key_fields_onboard_then_three_rotations_each_cut_the_previous_key() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    // Rotations further apart than the default graces (access 25 h, refresh 30 days and an hour,
    // each plus an hour of maxRotationSeconds), so SECRET_KEY_PREVIOUS never blocks one.
    let period = 31 * 86_400;
    for (field, set) in [
        ("JWT_ACCESS_SECRET", ACCESS),
        ("JWT_SECRET", ACCESS),
        ("JWT_REFRESH_SECRET", REFRESH),
    ] {
        let original = openssl_style_key();
        let legacy = json!({ field: original, "APP_ENV": "production" });
        let id = create("jwt-single", legacy.clone()).await;
        let signed_before_onboarding = App::single(&legacy, field).sign();

        // Onboarding, step by step: the pending value already holds the original key, and a token
        // the application signed with it verifies for the application reading the pending value.
        let token = emulator.stage_rotation(&id).await;
        run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
        let pending = value_at(&id, AWSPENDING).await;
        assert!(
            pending[field] == json!(original),
            "{field}: onboarding keeps the field's key"
        );
        assert!(
            App::single(&pending, field).verifies(&signed_before_onboarding, clock.now()),
            "{field}: a token signed before onboarding verifies with the pending value"
        );
        for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
            run_step_ok(&engine, step, &id, &token).await;
        }
        let onboarded = value_at(&id, AWSCURRENT).await;
        assert_flat_fields_agree(&onboarded);
        let active_of = |value: &Value| {
            value["keySets"][set]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["state"] == "active")
                .unwrap()["secret"]
                .clone()
        };
        assert!(
            onboarded[field] == json!(original) && active_of(&onboarded) == json!(original),
            "{field}: the original key is the first active key"
        );
        assert_eq!(onboarded["APP_ENV"], "production", "{field}");
        let policy = &onboarded["policy"][set];
        assert!(
            policy["conventions"]
                .as_array()
                .unwrap()
                .contains(&json!("singleKey")),
            "{field}: {}",
            policy["conventions"]
        );
        assert_eq!(
            policy["hardCut"], true,
            "{field}: the policy states the hard cut"
        );
        let others = ["JWT_ACCESS_SECRET", "JWT_SECRET", "JWT_REFRESH_SECRET"];
        for other in others.iter().filter(|o| **o != field) {
            assert!(
                onboarded.get(*other).is_none(),
                "{field}: {other} was not asked for"
            );
        }

        let mut current = onboarded;
        let mut seen = vec![json!(original)];
        for round in 1..=3 {
            let previous_token = App::single(&current, field).sign();
            let rotated_at = clock.advance(period);
            emulator.rotate(&engine, &id).await.unwrap();
            let after = value_at(&id, AWSCURRENT).await;
            let case = format!("{field} round {round}");
            assert_flat_fields_agree(&after);
            assert!(
                after[field] == active_of(&after),
                "{case}: the field holds the active key"
            );
            assert!(!seen.contains(&after[field]), "{case}: a new key");
            assert!(
                value_at(&id, AWSPREVIOUS).await[field] == current[field],
                "{case}: AWSPREVIOUS holds the previous key"
            );
            let app = App::single(&after, field);
            assert!(
                app.verifies(&app.sign(), rotated_at),
                "{case}: the application signs and verifies with the new key"
            );
            assert!(
                !app.verifies(&previous_token, rotated_at),
                "{case}: the hard cut: a token signed with the previous key is refused"
            );
            assert!(
                !app.verifies(&signed_before_onboarding, rotated_at),
                "{case}: the original key is gone for the application"
            );
            assert!(
                App::load(&after, set, Convention::SigningSecret)
                    .verifies(&previous_token, rotated_at),
                "{case}: other conventions keep the previous key through its grace"
            );
            seen.push(after[field].clone());
            current = after;
        }
    }
}

#[tokio::test]
async fn onboarding_a_weak_key_is_refused_until_an_emergency_rotation_replaces_it() {
    let emulator = Emulator::shared();
    let engine = engine_with(JwtBackend::new());
    let weak = "secret_v3";
    let id = create(
        "jwt-weak",
        json!({"JWT_SIGNING_SECRET": weak, "JWT_VERIFICATION_SECRETS": "secret_v3,secret_v2"}),
    )
    .await;
    let token = emulator.stage_rotation(&id).await;
    let err = run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "InvalidSecret");
    let message = err.to_string();
    assert!(
        message.contains("JWT_SIGNING_SECRET") && message.contains("256-bit"),
        "{message}"
    );
    assert!(
        !message.contains(weak) && !message.contains("secret_v2"),
        "the message quotes a key"
    );
    assert!(
        emulator.value_at(&id, AWSPENDING).await.is_none(),
        "nothing was written"
    );
    emulator
        .tag(&id, rotation::protocol::MODE_TAG, "emergency")
        .await;
    let token = emulator.stage_rotation(&id).await;
    testkit::emulator::run_steps(&engine, &id, &token)
        .await
        .unwrap();
    let current = value_at(&id, AWSCURRENT).await;
    assert!(
        current["JWT_VERIFICATION_SECRETS"]
            .as_str()
            .unwrap()
            .split(',')
            .all(|k| k != weak && k != "secret_v2"),
        "the weak keys are gone"
    );
}

#[tokio::test]
async fn onboarding_refuses_hs384_and_hs512_keys_shorter_than_their_hash_output() {
    let emulator = Emulator::shared();
    let engine = engine_with(JwtBackend::new());
    // (algorithm, key length, accepted)
    for (alg, len, accepted) in [
        ("HS384", 32, false),
        ("HS384", 47, false),
        ("HS384", 48, true),
        ("HS512", 63, false),
        ("HS512", 64, true),
    ] {
        let key: String = "Hk7_".repeat(len).chars().take(len).collect();
        let id = create(
            "jwt-hmac-length",
            json!({"policy": {"access": {"algorithm": alg}}, "SECRET_KEY": key}),
        )
        .await;
        let token = emulator.stage_rotation(&id).await;
        let created = run_step(&engine, Step::CreateSecret, &id, &token).await;
        if !accepted {
            let err = created.expect_err("a short key is refused");
            assert_eq!(err.kind(), "InvalidSecret", "{alg}/{len}");
            let message = err.to_string();
            let min = KeyAlg::parse(alg).unwrap().min_hmac_key_bytes();
            assert!(
                message.contains("SECRET_KEY")
                    && message.contains(&format!("{min}-byte ({}-bit) minimum for {alg}", min * 8)),
                "{alg}/{len}: {message}"
            );
            assert!(
                !message.contains(&key),
                "{alg}/{len}: the message quotes the key"
            );
            assert!(
                emulator.value_at(&id, AWSPENDING).await.is_none(),
                "{alg}/{len}: nothing was written"
            );
            continue;
        }
        created.unwrap_or_else(|e| panic!("{alg}/{len}: {e}"));
        for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
            run_step(&engine, step, &id, &token)
                .await
                .unwrap_or_else(|e| panic!("{alg}/{len} {step}: {e}"));
        }
        let current = value_at(&id, AWSCURRENT).await;
        assert!(
            current["SECRET_KEY"] == json!(key),
            "{alg}/{len}: the key was kept"
        );
        assert!(
            current["keySets"]["access"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["alg"] == alg),
            "{alg}/{len}"
        );
    }
}

#[tokio::test]
async fn emergency_rotation_invalidates_every_earlier_token() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let id = create(
        "jwt-emergency",
        json!({"policy": {"access": {"graceSeconds": 300}, "refresh": {"graceSeconds": 300}}}),
    )
    .await;
    emulator.rotate(&engine, &id).await.unwrap();
    clock.advance(1000);
    emulator.rotate(&engine, &id).await.unwrap();
    let before = value_at(&id, AWSCURRENT).await;
    let mut tokens = Vec::new();
    for set in [ACCESS, REFRESH] {
        for convention in Convention::DEFAULT {
            let app = App::load(&before, set, convention);
            tokens.extend(app.sign_with_every_key().into_iter().map(|t| (set, t)));
        }
    }
    let now = clock.advance(10);
    for (set, token) in &tokens {
        assert!(
            App::load(&before, set, Convention::SigningSecret).verifies(token, now)
                || App::load(&before, set, Convention::KidArray).verifies(token, now),
            "{set}: every token verified before the emergency"
        );
    }
    emulator
        .tag(&id, rotation::protocol::MODE_TAG, "emergency")
        .await;
    emulator.rotate(&engine, &id).await.unwrap();
    let after = value_at(&id, AWSCURRENT).await;
    assert_flat_fields_agree(&after);
    assert_eq!(after["rotation_mode"], "emergency");
    for (set, token) in &tokens {
        for convention in Convention::DEFAULT {
            assert!(
                !App::load(&after, set, convention).verifies(token, now),
                "{set} {convention:?}: a token from before the emergency still verifies"
            );
        }
    }
    for set in [ACCESS, REFRESH] {
        assert_eq!(
            after["keySets"][set].as_array().unwrap().len(),
            2,
            "{set}: only the new active and next keys"
        );
        for convention in Convention::DEFAULT {
            let app = App::load(&after, set, convention);
            assert!(
                app.verifies(&app.sign(), now),
                "{set} {convention:?}: the new key works at once"
            );
        }
    }
    let tags = emulator.store().describe(&id).await.unwrap().tags;
    assert!(
        !tags.contains_key(rotation::protocol::MODE_TAG),
        "the emergency tag is removed"
    );
}

#[tokio::test]
async fn forged_tokens_are_refused_by_the_probe_verification() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let policy = json!({
        "access": {"graceSeconds": 60, "maxRotationSeconds": 30},
        "refresh": {"algorithm": "EdDSA", "graceSeconds": 60, "maxRotationSeconds": 30},
    });
    let id = create("jwt-forged", json!({ "policy": policy })).await;
    emulator.rotate(&engine, &id).await.unwrap();
    let first = value_at(&id, AWSCURRENT).await;
    let old_kid = first["keySets"][ACCESS][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_secret = first["keySets"][ACCESS][0]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(1000);
    emulator.rotate(&engine, &id).await.unwrap();
    let raw = value_at(&id, AWSCURRENT).await;
    let value = SecretValue::parse(&raw.to_string()).unwrap();
    let active = &raw["keySets"][ACCESS][0];
    let (kid, secret) = (
        active["kid"].as_str().unwrap(),
        active["secret"].as_str().unwrap(),
    );
    let now = clock.now();
    let kid_array = Consumer::read(
        &value,
        SetName::Access,
        Kind::Flat(Convention::KidArray),
        KeyAlg::HS256,
    )
    .unwrap()
    .unwrap();
    let keyless = Consumer::read(
        &value,
        SetName::Access,
        Kind::Flat(Convention::SecretKey),
        KeyAlg::HS256,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        kid_array.verify(
            &apps::hs(jsonwebtoken::Algorithm::HS256, secret, Some(kid)),
            now
        ),
        Ok(())
    );
    assert_eq!(
        keyless.verify(&apps::hs(jsonwebtoken::Algorithm::HS256, secret, None), now),
        Ok(())
    );
    let unsigned = rotation::jwt::probe::unsigned(Some(kid));
    for consumer in [&kid_array, &keyless] {
        assert_eq!(
            consumer.verify(&unsigned, now),
            Err(Rejection::Malformed),
            "alg none"
        );
        for swapped in [
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            assert_eq!(
                consumer.verify(&apps::hs(swapped, secret, Some(kid)), now),
                Err(Rejection::Algorithm),
                "swapped algorithm"
            );
        }
    }
    let stranger = openssl_style_key();
    assert_eq!(
        kid_array.verify(
            &apps::hs(jsonwebtoken::Algorithm::HS256, secret, Some("no-such-kid")),
            now
        ),
        Err(Rejection::UnknownKid)
    );
    assert_eq!(
        kid_array.verify(
            &apps::hs(jsonwebtoken::Algorithm::HS256, &stranger, Some(kid)),
            now
        ),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        keyless.verify(
            &apps::hs(jsonwebtoken::Algorithm::HS256, &stranger, None),
            now
        ),
        Err(Rejection::BadSignature)
    );
    // The key retired at this rotation: valid in its grace (plus maxRotationSeconds), refused by
    // kid from its expiresAt on.
    let retired = apps::hs(jsonwebtoken::Algorithm::HS256, &old_secret, Some(&old_kid));
    assert_eq!(kid_array.verify(&retired, now), Ok(()));
    assert_eq!(kid_array.verify(&retired, now + 89), Ok(()));
    assert_eq!(
        kid_array.verify(&retired, now + 90),
        Err(Rejection::KeyExpired)
    );
    // EdDSA: the JWKS refuses an HS256 token keyed with the public key, and an unknown kid.
    let jwks = Consumer::read(&value, SetName::Refresh, Kind::Jwks, KeyAlg::EdDSA)
        .unwrap()
        .unwrap();
    let refresh_kid = raw["keySets"][REFRESH][0]["kid"].as_str().unwrap();
    assert_eq!(jwks.verify(&jwks_sign(&raw, REFRESH), now), Ok(()));
    let jwk = raw["refreshJwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == refresh_kid)
        .unwrap();
    let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    let confused = jsonwebtoken::encode(
        &apps::header(jsonwebtoken::Algorithm::HS256, Some(refresh_kid)),
        &apps::claims(),
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(jwks.verify(&confused, now), Err(Rejection::Algorithm));
    assert_eq!(
        jwks.verify(&rotation::jwt::probe::unsigned(Some(refresh_kid)), now),
        Err(Rejection::Malformed)
    );
    let retired_ed = jwks_sign(&first, REFRESH);
    assert_eq!(
        jwks.verify(&retired_ed, now),
        Ok(()),
        "the previous EdDSA key is still in its grace"
    );
    let mut unknown = jwks_sign(&raw, REFRESH);
    unknown = apps::rekid(&unknown, "no-such-kid");
    assert_eq!(jwks.verify(&unknown, now), Err(Rejection::UnknownKid));
}

#[tokio::test]
async fn a_value_over_the_64_kb_limit_fails_in_create_secret() {
    let emulator = Emulator::shared();
    let engine = engine_with(JwtBackend::new());
    let key = openssl_style_key();
    let base = json!({"SECRET_KEY": key, "notes": ""}).to_string().len();
    let notes = "n".repeat(65_000 - base);
    let id = create("jwt-large", json!({"SECRET_KEY": key, "notes": notes})).await;
    let token = emulator.stage_rotation(&id).await;
    let err = run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RotationError::ValueTooLarge { limit: 65_536, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("over Secrets Manager's limit of 65536"),
        "{err}"
    );
    assert!(
        emulator.value_at(&id, AWSPENDING).await.is_none(),
        "nothing was written"
    );
    assert!(
        value_at(&id, AWSCURRENT).await["SECRET_KEY"] == json!(key),
        "the current value is untouched"
    );
}

#[tokio::test]
async fn a_routine_rotation_inside_the_grace_is_refused_with_a_clear_error() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let id = create(
        "jwt-soon",
        json!({"policy": {"access": {"graceSeconds": 3600}}}),
    )
    .await;
    emulator.rotate(&engine, &id).await.unwrap();
    clock.advance(60);
    emulator.rotate(&engine, &id).await.unwrap();
    clock.advance(60);
    let before = value_at(&id, AWSCURRENT).await;
    let token = emulator.stage_rotation(&id).await;
    let err = run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "TargetRejected");
    let message = err.to_string();
    assert!(
        message.contains("SECRET_KEY_PREVIOUS") && message.contains("emergency"),
        "{message}"
    );
    assert!(
        emulator.value_at(&id, AWSPENDING).await.is_none(),
        "nothing was written"
    );
    assert!(
        value_at(&id, AWSCURRENT).await == before,
        "the current value is untouched"
    );
    for material in key_material(&before) {
        assert!(!message.contains(&material), "the message quotes a key");
    }
}

#[tokio::test]
async fn a_slow_rotation_passes_within_max_rotation_seconds_and_a_stale_one_fails_clearly() {
    let emulator = Emulator::shared();
    let clock = TestClock::start();
    let engine = clock.engine();
    let (grace, max_rotation) = (60u64, 120u64);
    let id = create(
        "jwt-slow",
        json!({"policy": {"access": {"graceSeconds": grace, "maxRotationSeconds": max_rotation}}}),
    )
    .await;
    emulator.rotate(&engine, &id).await.unwrap();

    // testSecret and finishSecret more than the grace after createSecret, within maxRotationSeconds.
    clock.advance(1000);
    let before = value_at(&id, AWSCURRENT).await;
    let token = emulator.stage_rotation(&id).await;
    let created = clock.now();
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    run_step_ok(&engine, Step::SetSecret, &id, &token).await;
    let promoted = clock.advance(grace + 1);
    run_step_ok(&engine, Step::TestSecret, &id, &token).await;
    // Applications sign with AWSCURRENT's key up to the promotion.
    let signed_late: Vec<(Convention, String)> = Convention::DEFAULT
        .map(|c| (c, App::load(&before, ACCESS, c).sign()))
        .to_vec();
    run_step_ok(&engine, Step::FinishSecret, &id, &token).await;
    let after = value_at(&id, AWSCURRENT).await;
    assert_eq!(emulator.version_with(&id, AWSCURRENT).await, Some(token));
    let verify_until = created + max_rotation + grace;
    assert!(verify_until >= promoted + grace);
    for (convention, token) in &signed_late {
        let app = App::load(&after, ACCESS, *convention);
        assert!(
            app.verifies(token, promoted + grace - 1),
            "{convention:?}: a token signed just before promotion keeps its whole grace"
        );
        if *convention == Convention::KidArray {
            assert!(
                !app.verifies(token, verify_until),
                "the kid array stops at verifyUntil"
            );
        }
    }

    // A rotation left pending for longer than maxRotationSeconds fails testSecret, every retry.
    clock.advance(1000);
    let before = value_at(&id, AWSCURRENT).await;
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let pending = emulator.value_at(&id, AWSPENDING).await.unwrap();
    clock.advance(max_rotation + 1);
    for _ in 0..2 {
        let err = run_step(&engine, Step::TestSecret, &id, &token)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "NotVerified");
        let message = err.to_string();
        for part in [
            "the pending value was built at",
            "more than maxRotationSeconds (120) ago",
            "lose part of their grace",
            "update-secret-version-stage",
            id.as_str(),
            "--version-stage AWSPENDING --remove-from-version-id",
            "then rotate again",
        ] {
            assert!(message.contains(part), "{part:?} missing: {message}");
        }
        for material in key_material(&before) {
            assert!(!message.contains(&material), "the message quotes a key");
        }
    }
    assert!(
        value_at(&id, AWSCURRENT).await == before,
        "the current value is untouched"
    );
    assert!(
        emulator.value_at(&id, AWSPENDING).await.as_deref() == Some(pending.as_str()),
        "the pending value is untouched"
    );
    assert_eq!(
        emulator.version_with(&id, AWSPENDING).await.as_deref(),
        Some(token.as_str())
    );

    // The way out the message gives: drop the stale AWSPENDING label, rotate again.
    emulator
        .client()
        .update_secret_version_stage()
        .secret_id(&id)
        .version_stage(AWSPENDING)
        .remove_from_version_id(&token)
        .send()
        .await
        .expect("UpdateSecretVersionStage");
    emulator.rotate(&engine, &id).await.unwrap();
    let rotated = value_at(&id, AWSCURRENT).await;
    assert!(
        rotated["SECRET_KEY_PREVIOUS"] == before["SECRET_KEY"],
        "the new rotation demoted the key that signed until now"
    );
}

#[tokio::test]
async fn steps_repeat_safely_and_set_secret_only_validates() {
    let emulator = Emulator::shared();
    let engine = engine_with(JwtBackend::new());
    let id = create("jwt-repeat", json!({"SECRET_KEY": openssl_style_key()})).await;
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    let pending = emulator.value_at(&id, AWSPENDING).await.unwrap();
    for step in Step::ALL {
        run_step_ok(&engine, step, &id, &token).await;
        run_step_ok(&engine, step, &id, &token).await;
    }
    assert!(
        emulator.value_at(&id, AWSCURRENT).await.unwrap() == pending,
        "the value created first is the one promoted"
    );
    assert!(emulator.version_with(&id, AWSPREVIOUS).await.is_some());
}

#[tokio::test]
async fn no_key_reaches_a_log_line_in_process_or_from_the_function_binary() {
    let emulator = Emulator::shared();
    let capture = LogCapture::global();
    let engine = engine_with(JwtBackend::new());
    let legacy = openssl_style_key();
    let id = create(
        "jwt-logs",
        json!({"SECRET_KEY": legacy, "policy": {"refresh": {"algorithm": "ES256"}}}),
    )
    .await;
    let mut seen = vec![legacy.clone()];
    emulator.rotate(&engine, &id).await.unwrap();
    seen.extend(key_material(&value_at(&id, AWSCURRENT).await));
    // Failures log too: a refused rotation inside the grace, then an emergency one.
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    testkit::emulator::run_steps(&engine, &id, &token)
        .await
        .unwrap();
    seen.extend(key_material(&value_at(&id, AWSCURRENT).await));
    let token = emulator.stage_rotation(&id).await;
    run_step(&engine, Step::CreateSecret, &id, &token)
        .await
        .unwrap_err();

    // The shipped binary, through the Lambda Runtime API: a routine rotation that onboards a
    // `SECRET_KEY`-convention secret, then an emergency rotation of the secret above, then a late retry.
    let binary = workspace_binary("secret-rotation-jwt");
    let function = FunctionProcess::start(&binary, &emulator.env())
        .await
        .expect("the function starts");
    let rotate_through_binary = |secret: String| {
        let function = &function;
        async move {
            let token = emulator.stage_rotation(&secret).await;
            for step in Step::ALL {
                let event =
                    json!({"Step": step.as_str(), "SecretId": secret, "ClientRequestToken": token});
                let answer = function
                    .invoke(&event)
                    .await
                    .unwrap_or_else(|e| panic!("{step}: {} {}", e.error_type, e.error_message));
                assert_eq!(answer["outcome"], "done", "{step}");
            }
            token
        }
    };
    let seed_003_key = openssl_style_key();
    let seed_003 = create("jwt-logs-003", json!({"SECRET_KEY": seed_003_key})).await;
    let old_token = App::load(
        &json!({"SECRET_KEY": seed_003_key}),
        ACCESS,
        Convention::SecretKey,
    )
    .sign();
    rotate_through_binary(seed_003.clone()).await;
    let onboarded = value_at(&seed_003, AWSCURRENT).await;
    assert_flat_fields_agree(&onboarded);
    assert!(
        onboarded["SECRET_KEY"] == json!(seed_003_key),
        "onboarding kept the signing key"
    );
    for convention in [Convention::SecretKey, Convention::SigningSecret] {
        assert!(
            App::load(&onboarded, ACCESS, convention).verifies(&old_token, real_now()),
            "{convention:?}: the old token verifies"
        );
    }
    seen.push(seed_003_key);
    seen.extend(key_material(&onboarded));

    emulator
        .tag(&id, rotation::protocol::MODE_TAG, "emergency")
        .await;
    let before = value_at(&id, AWSCURRENT).await;
    let token = rotate_through_binary(id.clone()).await;
    let late = function
        .invoke(&json!({"Step": "testSecret", "SecretId": id, "ClientRequestToken": token}))
        .await
        .unwrap();
    assert_eq!(late["outcome"], "already_current");
    let after = value_at(&id, AWSCURRENT).await;
    assert_flat_fields_agree(&after);
    assert!(App::load(&after, ACCESS, Convention::SecretKey).verifies(
        &App::load(&after, ACCESS, Convention::SecretKey).sign(),
        real_now()
    ));
    assert!(
        !App::load(&after, ACCESS, Convention::SecretKey).verifies(
            &App::load(&before, ACCESS, Convention::SecretKey).sign(),
            real_now()
        ),
        "the emergency rotation through the binary dropped the old keys"
    );
    let failing = create("jwt-logs-bad", json!({"SECRET_KEY": "short-key"})).await;
    let token = emulator.stage_rotation(&failing).await;
    let refused = function
        .invoke(&json!({"Step": "createSecret", "SecretId": failing, "ClientRequestToken": token}))
        .await
        .unwrap_err();
    assert_eq!(refused.error_type, "InvalidSecret");
    seen.push("short-key".into());
    seen.extend(key_material(&after));

    let output = function.output();
    assert!(
        output.contains("credential.rotate"),
        "the binary wrote its audit lines"
    );
    let logs = capture.contents();
    assert!(seen.len() > 10, "the scan covers the keys of every version");
    for material in &seen {
        assert!(
            !output.contains(material.as_str()),
            "a key appears in the function's output"
        );
        assert!(
            !logs.contains(material.as_str()),
            "a key appears in the captured logs"
        );
        assert!(
            !refused.error_message.contains(material.as_str()),
            "a key appears in an error"
        );
    }
}

/// Applications as teams write them today, each reading only its own convention's fields.
mod apps {
    use jsonwebtoken::{
        decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
    };
    use rotation::jwt::Convention;
    use serde_json::{json, Value};

    pub const ACCESS: &str = "access";
    pub const REFRESH: &str = "refresh";

    pub fn claims() -> Value {
        json!({"sub": "user-42", "exp": super::real_now() + 600})
    }

    pub fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        header
    }

    pub fn hs(alg: Algorithm, secret: &str, kid: Option<&str>) -> String {
        encode(
            &header(alg, kid),
            &claims(),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    /// The same signed token with another kid in its header (and so an invalid signature).
    pub fn rekid(token: &str, kid: &str) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut header: Value = serde_json::from_slice(&b64.decode(&parts[0]).unwrap()).unwrap();
        header["kid"] = json!(kid);
        parts[0] = b64.encode(header.to_string());
        parts.join(".")
    }

    fn hs256_ok(token: &str, secret: &str) -> Result<(), jsonwebtoken::errors::ErrorKind> {
        decode::<Value>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::new(Algorithm::HS256),
        )
        .map(|_| ())
        .map_err(|e| e.into_kind())
    }

    pub enum App {
        /// The `SECRET_KEY`/`SECRET_KEY_PREVIOUS` convention: encode with SECRET_KEY; decode with it, then SECRET_KEY_PREVIOUS if set.
        SecretKey { current: String, previous: String },
        /// The `JWT_SIGNING_SECRET`/`JWT_VERIFICATION_SECRETS` convention: sign with JWT_SIGNING_SECRET; accept any of JWT_VERIFICATION_SECRETS.
        SigningSecret {
            signing: String,
            verification: Vec<String>,
        },
        /// The `JWT_SECRETS` kid-array convention: sign with the isActive entry (kid in the header); verify the entry with the
        /// token's kid if it may verify and its expiresAt has not passed.
        KidArray { entries: Vec<Value> },
        /// The single-secret convention: sign and verify with one field (`JWT_ACCESS_SECRET`,
        /// `JWT_SECRET` or `JWT_REFRESH_SECRET`) and nothing else.
        Single { secret: String },
    }

    impl App {
        /// An application that reads only `field`.
        pub fn single(secret: &Value, field: &str) -> App {
            App::Single {
                secret: secret[field].as_str().unwrap_or_default().to_owned(),
            }
        }

        pub fn load(secret: &Value, set: &str, convention: Convention) -> App {
            let set = if set == ACCESS {
                rotation::jwt::SetName::Access
            } else {
                rotation::jwt::SetName::Refresh
            };
            let fields = convention.fields(set);
            let text = |f: &str| secret[f].as_str().unwrap_or_default().to_owned();
            match convention {
                Convention::SecretKey => App::SecretKey {
                    current: text(fields[0]),
                    previous: text(fields[1]),
                },
                Convention::SigningSecret => App::SigningSecret {
                    signing: text(fields[0]),
                    verification: text(fields[1])
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                },
                Convention::KidArray => App::KidArray {
                    entries: match &secret[fields[0]] {
                        Value::String(s) => serde_json::from_str(s).unwrap(),
                        Value::Array(a) => a.clone(),
                        _ => Vec::new(),
                    },
                },
                Convention::SingleKey => App::Single {
                    secret: text(fields[0]),
                },
            }
        }

        pub fn sign(&self) -> String {
            match self {
                App::SecretKey { current, .. } => hs(Algorithm::HS256, current, None),
                App::SigningSecret { signing, .. } => hs(Algorithm::HS256, signing, None),
                App::Single { secret } => hs(Algorithm::HS256, secret, None),
                App::KidArray { entries } => {
                    let active = entries.iter().find(|e| e["isActive"] == true).unwrap();
                    hs(
                        Algorithm::HS256,
                        active["secret"].as_str().unwrap(),
                        active["kid"].as_str(),
                    )
                }
            }
        }

        /// A token from every key the application knows, as its signer would have made it.
        pub fn sign_with_every_key(&self) -> Vec<String> {
            match self {
                App::SecretKey { current, previous } => [current, previous]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| hs(Algorithm::HS256, s, None))
                    .collect(),
                App::SigningSecret { verification, .. } => verification
                    .iter()
                    .map(|s| hs(Algorithm::HS256, s, None))
                    .collect(),
                App::Single { secret } => vec![hs(Algorithm::HS256, secret, None)],
                App::KidArray { entries } => entries
                    .iter()
                    .map(|e| {
                        hs(
                            Algorithm::HS256,
                            e["secret"].as_str().unwrap(),
                            e["kid"].as_str(),
                        )
                    })
                    .collect(),
            }
        }

        pub fn verifies(&self, token: &str, now: u64) -> bool {
            match self {
                App::SecretKey { current, previous } => match hs256_ok(token, current) {
                    Ok(()) => true,
                    Err(jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                        !previous.is_empty() && hs256_ok(token, previous).is_ok()
                    }
                    Err(_) => false,
                },
                App::SigningSecret { verification, .. } => {
                    verification.iter().any(|s| hs256_ok(token, s).is_ok())
                }
                App::Single { secret } => !secret.is_empty() && hs256_ok(token, secret).is_ok(),
                App::KidArray { entries } => {
                    let Ok(header) = decode_header(token) else {
                        return false;
                    };
                    let Some(kid) = header.kid else { return false };
                    let Some(entry) = entries.iter().find(|e| e["kid"] == kid.as_str()) else {
                        return false;
                    };
                    if entry["canVerify"] != true && entry["isActive"] != true {
                        return false;
                    }
                    let expired = entry["expiresAt"]
                        .as_str()
                        .is_some_and(|at| rotation::jwt::time::parse(at).is_none_or(|t| t <= now));
                    !expired && hs256_ok(token, entry["secret"].as_str().unwrap()).is_ok()
                }
            }
        }
    }

    /// A verifier of an asymmetric set: looks the kid up in the published JWK Set.
    pub struct JwksApp(jsonwebtoken::jwk::JwkSet);

    impl JwksApp {
        pub fn load(secret: &Value, set: &str) -> Self {
            let field = if set == ACCESS { "jwks" } else { "refreshJwks" };
            Self(serde_json::from_value(secret[field].clone()).unwrap())
        }

        pub fn verifies(&self, token: &str) -> bool {
            let Ok(header) = decode_header(token) else {
                return false;
            };
            let Some(jwk) = header.kid.as_deref().and_then(|kid| self.0.find(kid)) else {
                return false;
            };
            let alg: Algorithm = match jwk.common.key_algorithm {
                Some(a) => a.to_string().parse().unwrap(),
                None => return false,
            };
            let key = DecodingKey::from_jwk(jwk).unwrap();
            decode::<Value>(token, &key, &Validation::new(alg)).is_ok()
        }
    }

    /// The signer of an asymmetric set: the active key's PKCS#8 PEM from the key list.
    pub fn jwks_sign(secret: &Value, set: &str) -> String {
        let keys = secret["keySets"][set].as_array().unwrap();
        let active = keys.iter().find(|k| k["state"] == "active").unwrap();
        let pem = active["privateKey"].as_str().unwrap().as_bytes();
        let (alg, key) = match active["alg"].as_str().unwrap() {
            "EdDSA" => (Algorithm::EdDSA, EncodingKey::from_ed_pem(pem).unwrap()),
            _ => (Algorithm::ES256, EncodingKey::from_ec_pem(pem).unwrap()),
        };
        encode(&header(alg, active["kid"].as_str()), &claims(), &key).unwrap()
    }
}
