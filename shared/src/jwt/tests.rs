//! The key-set logic without Secrets Manager: building, checking and refusing pending values.

use super::doc::{JwtSecret, Read};
use super::probe::{sign_hmac, Consumer, Kind, Rejection};
use super::rotate::build;
use super::*;
use crate::backend::Mode;
use crate::store::{
    PutOutcome, SecretMetadata, SecretStore, StoreError, StoreErrorKind, VersionRef,
};
use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const T0: u64 = 1_776_384_000;
const WEAK: &str = "secret_v3";
const LEGACY: &str = "legacy-key-legacy-key-legacy-key-0001";
const LEGACY_OLD: &str = "legacy-key-legacy-key-legacy-key-0000";
const SECRET_ID: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-unit";

fn verify_pending(
    current: &SecretValue,
    pending: &SecretValue,
    mode: Mode,
    now: u64,
) -> Result<(), BackendError> {
    super::verify::verify_pending(current, pending, mode, now, SECRET_ID)
}

fn value(v: Value) -> SecretValue {
    SecretValue::parse(&v.to_string()).unwrap()
}

fn keys(v: &SecretValue, set: &str) -> Vec<Value> {
    v.get("keySets").unwrap()[set].as_array().unwrap().clone()
}

fn state_of<'a>(keys: &'a [Value], state: &str) -> Vec<&'a Value> {
    keys.iter().filter(|k| k["state"] == state).collect()
}

fn rotate(current: &SecretValue, mode: Mode, now: u64) -> SecretValue {
    let pending = build(current, mode, now).unwrap();
    verify_pending(current, &pending, mode, now).unwrap();
    pending
}

/// Both sets with `grace` and `maxRotationSeconds` = `max_rotation`.
fn policy(grace: u64, max_rotation: u64) -> SecretValue {
    let set = json!({"graceSeconds": grace, "maxRotationSeconds": max_rotation});
    value(json!({"policy": {"access": set, "refresh": set}}))
}

#[test]
fn a_policy_alone_bootstraps_both_sets_with_an_active_and_a_next_key() {
    let pending = rotate(&policy(60, 30), Mode::Routine, T0);
    for set in ["access", "refresh"] {
        let keys = keys(&pending, set);
        assert_eq!(keys.len(), 2, "{set}");
        assert_eq!(state_of(&keys, "active").len(), 1);
        assert_eq!(state_of(&keys, "next").len(), 1);
        assert_eq!(keys[0]["alg"], "HS256");
        assert_eq!(keys[0]["secret"].as_str().unwrap().len(), 43);
    }
    assert_eq!(pending.get("engine"), Some(&json!("jwt")));
    let active = keys(&pending, "access")[0]["secret"].clone();
    assert_eq!(pending.get("SECRET_KEY"), Some(&active));
    assert_eq!(pending.get("SECRET_KEY_PREVIOUS"), Some(&json!("")));
    assert_eq!(pending.get("JWT_SIGNING_SECRET"), Some(&active));
    assert!(pending.get("JWT_REFRESH_SECRETS").unwrap().is_string());
    assert!(pending.get("jwks").is_none());
}

#[test]
fn routine_rotation_promotes_next_demotes_active_with_grace_and_prunes_expired() {
    let first = rotate(&policy(60, 30), Mode::Routine, T0);
    let before = keys(&first, "access");
    let second = rotate(&first, Mode::Routine, T0 + 100);
    let after = keys(&second, "access");
    let active = state_of(&after, "active")[0];
    let previous = state_of(&after, "previous");
    assert_eq!(active["kid"], state_of(&before, "next")[0]["kid"]);
    assert_eq!(previous.len(), 1);
    assert_eq!(previous[0]["kid"], state_of(&before, "active")[0]["kid"]);
    // It signs until finishSecret, at most maxRotationSeconds after createSecret, then has its grace.
    assert_eq!(previous[0]["verifyUntil"], time::format(T0 + 100 + 30 + 60));
    assert_eq!(previous[0]["retiredAt"], time::format(T0 + 100));
    assert_eq!(
        second.get("SECRET_KEY_PREVIOUS"),
        Some(&previous[0]["secret"])
    );
    // Inside the grace the previous key stays; after it, the next rotation prunes it.
    let third = rotate(&second, Mode::Routine, T0 + 200);
    let third_keys = keys(&third, "access");
    assert!(
        third_keys.iter().all(|k| k["kid"] != previous[0]["kid"]),
        "pruned after its grace"
    );
    assert_eq!(state_of(&third_keys, "previous").len(), 1);
}

#[test]
fn a_rotation_inside_the_grace_is_refused_while_secret_key_previous_would_lose_a_key() {
    let first = rotate(&policy(600, 30), Mode::Routine, T0);
    let second = rotate(&first, Mode::Routine, T0 + 10);
    // The previous key verifies until grace + maxRotationSeconds after the rotation that retired it.
    let until = T0 + 10 + 600 + 30;
    for at in [T0 + 20, until - 1] {
        let err = build(&second, Mode::Routine, at).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BackendError::Rejected { .. }), "{text}");
        assert!(text.contains("SECRET_KEY_PREVIOUS"), "{text}");
        assert!(text.contains(&time::format(until)), "{text}");
    }
    rotate(&second, Mode::Routine, until);
    // Without the single-slot convention, both previous keys are kept and it goes through.
    let mut edited = second.clone();
    edited.insert(
        "policy",
        json!({"access": {"graceSeconds": 600, "maxRotationSeconds": 30,
                          "conventions": ["signingSecret", "kidArray"]},
               "refresh": {"graceSeconds": 600, "maxRotationSeconds": 30,
                           "conventions": ["kidArray"]}}),
    );
    let third = rotate(&edited, Mode::Routine, T0 + 20);
    assert_eq!(state_of(&keys(&third, "access"), "previous").len(), 2);
    assert!(third.get("SECRET_KEY").is_none());
    assert_eq!(
        third
            .get("JWT_VERIFICATION_SECRETS")
            .unwrap()
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        4
    );
}

#[test]
fn emergency_rotation_keeps_no_old_key_and_may_change_the_algorithm() {
    let first = rotate(&policy(60, 30), Mode::Routine, T0);
    let mut edited = first.clone();
    edited.insert(
        "policy",
        json!({"access": {"algorithm": "EdDSA", "graceSeconds": 60}}),
    );
    let refused = build(&edited, Mode::Routine, T0 + 1).unwrap_err();
    assert!(
        refused.to_string().contains("policy.access.algorithm"),
        "{refused}"
    );
    let pending = rotate(&edited, Mode::Emergency, T0 + 1);
    let old: Vec<Value> = keys(&first, "access")
        .into_iter()
        .chain(keys(&first, "refresh"))
        .collect();
    for set in ["access", "refresh"] {
        for key in keys(&pending, set) {
            assert!(old.iter().all(|o| o["kid"] != key["kid"]), "{set}");
            assert!(key.get("verifyUntil").is_none());
        }
    }
    assert_eq!(keys(&pending, "access")[0]["alg"], "EdDSA");
    assert!(
        pending.get("SECRET_KEY").is_none(),
        "no HMAC convention for EdDSA"
    );
    let jwks = pending.get("jwks").unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(!jwks.to_string().contains("PRIVATE"));
    assert!(pending.get("refreshJwks").is_none());
}

#[test]
fn onboarding_keeps_the_signing_key_active_and_adds_a_next_key() {
    let current = value(
        json!({"SECRET_KEY": LEGACY, "SECRET_KEY_PREVIOUS": LEGACY_OLD, "DATABASE_URL": "kept"}),
    );
    let pending = rotate(&current, Mode::Routine, T0);
    assert_eq!(pending.get("SECRET_KEY"), Some(&json!(LEGACY)));
    assert_eq!(pending.get("SECRET_KEY_PREVIOUS"), Some(&json!(LEGACY_OLD)));
    assert_eq!(pending.get("DATABASE_URL"), Some(&json!("kept")));
    let access = keys(&pending, "access");
    // Counted like a key the rotation demotes: default maxRotationSeconds (an hour) + grace.
    assert_eq!(
        state_of(&access, "previous")[0]["verifyUntil"],
        time::format(T0 + 3_600 + 90_000)
    );
    assert_eq!(state_of(&access, "next").len(), 1);
    assert!(pending.get("keySets").unwrap().get("refresh").is_none());
}

#[test]
fn onboarding_refuses_weak_or_disagreeing_keys_without_quoting_them() {
    let weak = build(
        &value(json!({"JWT_SIGNING_SECRET": WEAK})),
        Mode::Routine,
        T0,
    )
    .unwrap_err();
    assert!(weak.to_string().contains("JWT_SIGNING_SECRET"), "{weak}");
    assert!(weak.to_string().contains("emergency"), "{weak}");
    let both = value(json!({"SECRET_KEY": LEGACY, "JWT_SIGNING_SECRET": LEGACY_OLD}));
    let disagree = build(&both, Mode::Routine, T0).unwrap_err();
    assert!(
        disagree.to_string().contains("different signing key"),
        "{disagree}"
    );
    for err in [&weak, &disagree] {
        for secret in [WEAK, LEGACY, LEGACY_OLD] {
            assert!(!err.to_string().contains(secret));
            assert!(!format!("{err:?}").contains(secret));
        }
    }
    // An emergency rotation replaces a weak key without reading it.
    let pending = rotate(
        &value(json!({"JWT_SIGNING_SECRET": WEAK})),
        Mode::Emergency,
        T0,
    );
    assert!(pending.get("JWT_SIGNING_SECRET") != Some(&json!(WEAK)));
}

/// A key of exactly `len` bytes that no message may quote.
fn key_of_len(len: usize) -> String {
    "Zq8-".repeat(len).chars().take(len).collect()
}

/// (algorithm, key length, accepted): RFC 7518's minimum is the hash output size.
const HMAC_LENGTH_CASES: [(&str, usize, bool); 8] = [
    ("HS256", 31, false),
    ("HS256", 32, true),
    ("HS384", 32, false),
    ("HS384", 47, false),
    ("HS384", 48, true),
    ("HS512", 48, false),
    ("HS512", 63, false),
    ("HS512", 64, true),
];

#[test]
fn onboarding_refuses_an_hmac_key_shorter_than_its_algorithms_hash_output() {
    for (alg, len, accepted) in HMAC_LENGTH_CASES {
        let key = key_of_len(len);
        let current = value(json!({"policy": {"access": {"algorithm": alg}}, "SECRET_KEY": key}));
        match build(&current, Mode::Routine, T0) {
            Ok(_) if accepted => {
                let pending = rotate(&current, Mode::Routine, T0);
                assert_eq!(pending.get("SECRET_KEY"), Some(&json!(key)), "{alg}/{len}");
                let access = keys(&pending, "access");
                assert!(access.iter().all(|k| k["alg"] == alg), "{alg}/{len}");
            }
            Err(BackendError::InvalidField { field, problem }) if !accepted => {
                assert_eq!(field, "SECRET_KEY", "{alg}/{len}");
                let min = KeyAlg::parse(alg).unwrap().min_hmac_key_bytes();
                assert!(
                    problem.contains(&format!("{min}-byte ({}-bit) minimum for {alg}", min * 8)),
                    "{alg}/{len}: {problem}"
                );
                assert!(
                    !problem.contains(&key),
                    "{alg}/{len}: the problem quotes the key"
                );
            }
            other => panic!(
                "{alg} with {len} bytes: accepted = {}, expected {accepted}",
                other.is_ok()
            ),
        }
    }
}

#[test]
fn a_key_set_entry_shorter_than_its_algorithms_hash_output_is_refused_by_field_and_kid() {
    for (alg, len, accepted) in HMAC_LENGTH_CASES {
        let key = key_of_len(len);
        let current = value(json!({"keySets": {"access": [{
            "kid": "k-short", "state": "active", "alg": alg,
            "createdAt": "2026-04-17T00:00:00Z", "secret": key}]}}));
        match JwtSecret::read(&current, Read::Keys, T0) {
            Ok(_) if accepted => {}
            Err(err @ BackendError::InvalidField { .. }) if !accepted => {
                let text = err.to_string();
                assert!(
                    text.contains("keySets.access[0].secret") && text.contains("k-short"),
                    "{alg}/{len}: {text}"
                );
                assert!(text.contains(&format!("minimum for {alg}")), "{text}");
                assert!(!text.contains(&key) && !format!("{err:?}").contains(&key));
            }
            other => panic!(
                "{alg} with {len} bytes: accepted = {}, expected {accepted}",
                other.is_ok()
            ),
        }
    }
}

#[test]
fn generated_hmac_keys_are_at_least_their_algorithms_hash_output() {
    for alg in [KeyAlg::HS256, KeyAlg::HS384, KeyAlg::HS512] {
        let min = alg.min_hmac_key_bytes();
        let refused = keygen::generate(SetName::Access, alg, min - 1, KeyState::Next, T0);
        match refused {
            Err(BackendError::InvalidField { field, problem }) => {
                assert_eq!(field, "policy.access.hmacKeyBytes");
                assert!(
                    problem.contains(&format!("{min}-byte")),
                    "{}: {problem}",
                    alg.as_str()
                );
            }
            other => panic!("{}: {:?}", alg.as_str(), other.map(|k| k.kid)),
        }
        let key = keygen::generate(SetName::Access, alg, min, KeyState::Next, T0).unwrap();
        let secret = key.material.hmac_secret().unwrap();
        assert!(secret.len() >= min, "{}", alg.as_str());
        // The generated key passes the import rule it will meet on the next read.
        assert!(model::hmac_material(secret, alg, "k", None).is_ok());
    }
    // The policy's default size for each algorithm generates keys that long.
    for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
        let pending = rotate(
            &value(json!({"policy": {"access": {"algorithm": alg}}})),
            Mode::Routine,
            T0,
        );
        for key in keys(&pending, "access") {
            assert!(key["secret"].as_str().unwrap().len() >= min, "{alg}");
        }
    }
}

#[test]
fn secrets_that_are_not_jwt_key_sets_are_refused_by_field() {
    for (v, field) in [
        (json!({"username": "app", "password": "x"}), "keySets"),
        (
            json!({"engine": "postgres", "SECRET_KEY": LEGACY}),
            "engine",
        ),
        (json!({"keySets": {"acces": []}}), "keySets.acces"),
        (
            json!({"policy": {"access": {"graceSeconds": -1}}}),
            "policy.access.graceSeconds",
        ),
        (
            json!({"JWT_SECRETS": "[{\"kid\":\"v1\"}]"}),
            "JWT_SECRETS[0].secret",
        ),
        (
            json!({"JWT_SECRETS": [{"kid": "v1", "secret": LEGACY}]}),
            "JWT_SECRETS",
        ),
    ] {
        match build(&value(v.clone()), Mode::Routine, T0) {
            Err(BackendError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{v}"),
            other => panic!("{v}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn a_kid_array_stored_as_json_stays_json_and_keeps_its_kids() {
    let current = value(json!({"JWT_SECRETS": [
        {"kid": "v2", "secret": LEGACY, "isActive": true, "expiresAt": "2026-04-17T00:00:00Z"},
        {"kid": "v1", "secret": LEGACY_OLD, "isActive": false, "canVerify": true}]}));
    let pending = rotate(&current, Mode::Routine, T0 - 5);
    let array = pending.get("JWT_SECRETS").unwrap().as_array().unwrap();
    assert_eq!(array[0]["kid"], "v2");
    assert_eq!(array[0]["isActive"], true);
    assert!(
        array[0].get("expiresAt").is_none(),
        "the active key does not expire"
    );
    assert_eq!(array[2]["kid"], "v1");
    assert_eq!(array[2]["expiresAt"], time::format(T0 - 5 + 3_600 + 90_000));
}

#[test]
fn tampered_pending_values_fail_the_test_step() {
    let current = rotate(&policy(60, 30), Mode::Routine, T0);
    let pending = build(&current, Mode::Routine, T0 + 100).unwrap();
    let mut swapped = pending.clone();
    swapped.insert("SECRET_KEY", current.get("SECRET_KEY").unwrap().clone());
    let err = verify_pending(&current, &swapped, Mode::Routine, T0 + 100).unwrap_err();
    assert!(
        err.to_string().contains("`SECRET_KEY` does not agree"),
        "{err}"
    );
    assert!(matches!(err, BackendError::NotVerified(_)));
    // A routine pending value is no emergency one: the old keys still verify.
    let err = verify_pending(&current, &pending, Mode::Emergency, T0 + 100).unwrap_err();
    assert!(
        err.to_string()
            .contains("still verifies after an emergency rotation"),
        "{err}"
    );
}

#[test]
fn debug_output_never_shows_key_material() {
    let pending = rotate(
        &value(json!({"policy": {"refresh": {"algorithm": "ES256"}}})),
        Mode::Routine,
        T0,
    );
    let secret = JwtSecret::read(&pending, Read::Keys, T0).unwrap();
    let shown = format!("{secret:?} {:?}", JwtBackend::new());
    let mut material = Vec::new();
    for set in ["access", "refresh"] {
        for key in keys(&pending, set) {
            for field in ["secret", "privateKey"] {
                if let Some(s) = key[field].as_str() {
                    material.push(s.to_owned());
                }
            }
        }
    }
    assert_eq!(material.len(), 4);
    for m in &material {
        let body: String = m.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(
            !shown.contains(m.as_str()) && !shown.contains(&body),
            "Debug leaks key material"
        );
    }
    assert!(shown.contains("<redacted>"));
}

/// The store of a backend that needs none: every call fails.
struct NoStore;

#[async_trait]
impl SecretStore for NoStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        Err(no_store("DescribeSecret", secret_id))
    }
    async fn value(
        &self,
        secret_id: &str,
        _version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        Err(no_store("GetSecretValue", secret_id))
    }
    async fn put_pending(
        &self,
        secret_id: &str,
        _token: &str,
        _value: &SecretString,
        _rotation_token: Option<&SecretString>,
    ) -> Result<PutOutcome, StoreError> {
        Err(no_store("PutSecretValue", secret_id))
    }
    async fn move_stage(
        &self,
        secret_id: &str,
        _stage: &str,
        _to: Option<&str>,
        _from: Option<&str>,
    ) -> Result<(), StoreError> {
        Err(no_store("UpdateSecretVersionStage", secret_id))
    }
    async fn add_tag(&self, secret_id: &str, _key: &str, _value: &str) -> Result<(), StoreError> {
        Err(no_store("TagResource", secret_id))
    }

    async fn remove_tag(&self, secret_id: &str, _key: &str) -> Result<(), StoreError> {
        Err(no_store("UntagResource", secret_id))
    }
}

fn no_store(operation: &'static str, secret_id: &str) -> StoreError {
    StoreError::new(operation, secret_id, StoreErrorKind::Other, "no store here")
}

/// The backend on a clock the test moves, called through `Backend` as the engine calls it.
struct Clocked {
    now: Arc<AtomicU64>,
    backend: JwtBackend,
}

impl Clocked {
    fn at(now: u64) -> Self {
        let shared = Arc::new(AtomicU64::new(now));
        let read = Arc::clone(&shared);
        let backend = JwtBackend::with_clock(Arc::new(move || {
            UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst))
        }));
        Self {
            now: shared,
            backend,
        }
    }

    fn set(&self, now: u64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// createSecret's work at the clock's time.
    async fn create(&self, current: &SecretValue) -> Result<SecretValue, BackendError> {
        let ctx = BackendContext::new(SECRET_ID, Mode::Routine, &NoStore);
        self.backend.build_pending(&ctx, current).await
    }

    /// testSecret's work at the clock's time.
    async fn test(&self, current: &SecretValue, pending: &SecretValue) -> Result<(), BackendError> {
        let ctx = BackendContext::new(SECRET_ID, Mode::Routine, &NoStore);
        let versions = Versions::loaded(current.clone(), pending.clone(), None);
        self.backend.verify_pending(&ctx, &versions).await
    }
}

fn kid_array(value: &SecretValue) -> Consumer {
    Consumer::read(
        value,
        SetName::Access,
        Kind::Flat(Convention::KidArray),
        KeyAlg::HS256,
    )
    .unwrap()
    .unwrap()
}

/// Every key string of the values, to check that no message quotes one.
fn material(values: &[&SecretValue]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        for set in ["access", "refresh"] {
            for key in keys(v, set) {
                out.extend(key["secret"].as_str().map(str::to_owned));
            }
        }
    }
    assert!(out.len() >= 4);
    out
}

#[tokio::test]
async fn a_test_secret_within_max_rotation_seconds_passes_and_old_tokens_keep_their_whole_grace() {
    let (grace, max_rotation) = (60, 600);
    let current = rotate(&policy(grace, max_rotation), Mode::Routine, T0);
    let created = T0 + 100;
    let clock = Clocked::at(created);
    let pending = clock.create(&current).await.unwrap();
    // The benchmark's failure was a testSecret grace + 1 s after createSecret; anything up to
    // maxRotationSeconds after it passes now.
    for at in [
        created,
        created + grace,
        created + grace + 1,
        created + max_rotation,
    ] {
        clock.set(at);
        clock.test(&current, &pending).await.unwrap();
    }
    let old = state_of(&keys(&current, "access"), "active")[0].clone();
    let demoted = keys(&pending, "access")
        .into_iter()
        .find(|k| k["kid"] == old["kid"])
        .unwrap();
    let until = created + max_rotation + grace;
    assert_eq!(demoted["state"], "previous");
    assert_eq!(demoted["retiredAt"], time::format(created));
    assert_eq!(demoted["verifyUntil"], time::format(until));
    // finishSecret at the last moment allowed; applications still sign with AWSCURRENT's active
    // key just before it. The token verifies for the whole grace after promotion, not after.
    let promoted = created + max_rotation;
    let token = sign_hmac(
        KeyAlg::HS256,
        old["secret"].as_str().unwrap(),
        old["kid"].as_str(),
    )
    .unwrap();
    let keyless = sign_hmac(KeyAlg::HS256, old["secret"].as_str().unwrap(), None).unwrap();
    for at in [promoted, promoted + grace - 1] {
        assert_eq!(kid_array(&pending).verify(&token, at), Ok(()), "at {at}");
        for convention in [Convention::SecretKey, Convention::SigningSecret] {
            let consumer = Consumer::read(
                &pending,
                SetName::Access,
                Kind::Flat(convention),
                KeyAlg::HS256,
            )
            .unwrap()
            .unwrap();
            assert_eq!(
                consumer.verify(&keyless, at),
                Ok(()),
                "{convention:?} at {at}"
            );
        }
    }
    assert_eq!(promoted + grace, until);
    assert_eq!(
        kid_array(&pending).verify(&token, until),
        Err(Rejection::KeyExpired)
    );
}

#[tokio::test]
async fn a_test_secret_later_than_max_rotation_seconds_fails_clearly_and_changes_nothing() {
    let (grace, max_rotation) = (60, 600);
    let current = rotate(&policy(grace, max_rotation), Mode::Routine, T0);
    let created = T0 + 100;
    let clock = Clocked::at(created);
    let pending = clock.create(&current).await.unwrap();
    let (current_before, pending_before) = (current.clone(), pending.clone());
    clock.set(created + max_rotation + 1);
    let err = clock.test(&current, &pending).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::NotVerified(_)), "{text}");
    let old_kid = state_of(&keys(&current, "access"), "active")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    for part in [
        "set `access`: the pending value was built at ".to_owned(),
        time::format(created),
        "more than maxRotationSeconds (600) ago".to_owned(),
        format!("key `{old_kid}` signs tokens until this version is promoted"),
        "would lose part of their grace (graceSeconds 60)".to_owned(),
        format!(
            "Start a new rotation: remove the stale AWSPENDING label (aws secretsmanager \
             update-secret-version-stage --secret-id {SECRET_ID} --version-stage AWSPENDING \
             --remove-from-version-id <this rotation's ClientRequestToken>), then rotate again"
        ),
        "policy.access.maxRotationSeconds".to_owned(),
    ] {
        assert!(text.contains(&part), "missing {part:?} in: {text}");
    }
    for secret in material(&[&current, &pending]) {
        assert!(!text.contains(&secret) && !format!("{err:?}").contains(&secret));
    }
    assert!(current == current_before && pending == pending_before);
    // Retrying the step cannot help (createSecret keeps the value it wrote); a new rotation can.
    clock.set(created + max_rotation + 2);
    assert!(clock.test(&current, &pending).await.is_err());
    let fresh = clock.create(&current).await.unwrap();
    clock.test(&current, &fresh).await.unwrap();
}

#[tokio::test]
async fn a_demoted_key_whose_grace_starts_at_create_secret_fails_the_test_step() {
    // The pending value as createSecret used to build it: verifyUntil = createSecret + grace.
    let (grace, max_rotation) = (60, 600);
    let current = rotate(&policy(grace, max_rotation), Mode::Routine, T0);
    let created = T0 + 100;
    let clock = Clocked::at(created);
    let pending = clock.create(&current).await.unwrap();
    let old_kid = state_of(&keys(&current, "access"), "active")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut secret = JwtSecret::read(&pending, Read::Keys, created).unwrap();
    for set in &mut secret.sets {
        for key in &mut set.keys {
            if key.kid == old_kid {
                key.verify_until = Some(created + grace);
            }
        }
    }
    let short = secret.write(&pending).unwrap();
    clock.test(&current, &short).await.unwrap();
    // Ten seconds later a token signed now with the old key would get fifty seconds, not sixty.
    clock.set(created + 10);
    let text = clock.test(&current, &short).await.unwrap_err().to_string();
    assert!(
        text.contains(&format!(
            "key `{old_kid}` signs tokens until this version is promoted, but this version stops \
             verifying it at {}",
            time::format(created + grace)
        )),
        "{text}"
    );
    assert!(!text.contains("built at"), "not a stale rotation: {text}");
}
