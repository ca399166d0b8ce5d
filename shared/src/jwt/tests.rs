//! The key-set logic without Secrets Manager: building, checking and refusing pending values.

use super::doc::{JwtSecret, Read};
use super::rotate::build;
use super::verify::verify_pending;
use super::*;
use crate::backend::Mode;
use serde_json::{json, Value};

const T0: u64 = 1_776_384_000;
const WEAK: &str = "secret_v3";
const LEGACY: &str = "legacy-key-legacy-key-legacy-key-0001";
const LEGACY_OLD: &str = "legacy-key-legacy-key-legacy-key-0000";

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

fn policy(grace: u64) -> SecretValue {
    value(
        json!({"policy": {"access": {"graceSeconds": grace}, "refresh": {"graceSeconds": grace}}}),
    )
}

#[test]
fn a_policy_alone_bootstraps_both_sets_with_an_active_and_a_next_key() {
    let pending = rotate(&policy(60), Mode::Routine, T0);
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
    let first = rotate(&policy(60), Mode::Routine, T0);
    let before = keys(&first, "access");
    let second = rotate(&first, Mode::Routine, T0 + 100);
    let after = keys(&second, "access");
    let active = state_of(&after, "active")[0];
    let previous = state_of(&after, "previous");
    assert_eq!(active["kid"], state_of(&before, "next")[0]["kid"]);
    assert_eq!(previous.len(), 1);
    assert_eq!(previous[0]["kid"], state_of(&before, "active")[0]["kid"]);
    assert_eq!(previous[0]["verifyUntil"], time::format(T0 + 160));
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
    let first = rotate(&policy(600), Mode::Routine, T0);
    let second = rotate(&first, Mode::Routine, T0 + 10);
    let err = build(&second, Mode::Routine, T0 + 20).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Rejected { .. }), "{text}");
    assert!(text.contains("SECRET_KEY_PREVIOUS"), "{text}");
    assert!(text.contains(&time::format(T0 + 610)), "{text}");
    // Without the single-slot convention, both previous keys are kept and it goes through.
    let mut edited = second.clone();
    edited.insert(
        "policy",
        json!({"access": {"graceSeconds": 600, "conventions": ["signingSecret", "kidArray"]},
               "refresh": {"graceSeconds": 600, "conventions": ["kidArray"]}}),
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
    let first = rotate(&policy(60), Mode::Routine, T0);
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
    assert_eq!(
        state_of(&access, "previous")[0]["verifyUntil"],
        time::format(T0 + 90_000)
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
    assert_eq!(array[2]["expiresAt"], time::format(T0 - 5 + 90_000));
}

#[test]
fn tampered_pending_values_fail_the_test_step() {
    let current = rotate(&policy(60), Mode::Routine, T0);
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
