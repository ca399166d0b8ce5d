//! The `singleKey` convention (`JWT_ACCESS_SECRET` / `JWT_SECRET` / `JWT_REFRESH_SECRET`) without
//! Secrets Manager: policy, onboarding, derived fields, and testSecret's hard cut.

use super::policy::SetPolicy;
use super::probe::{sign_hmac, Consumer, Kind, Rejection};
use super::rotate::build;
use super::*;
use crate::backend::Mode;
use serde_json::{json, Value};

const T0: u64 = 1_776_384_000;
const LEGACY: &str = "legacy-key-legacy-key-legacy-key-0001";
const LEGACY_OLD: &str = "legacy-key-legacy-key-legacy-key-0000";
const SECRET_ID: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt-single";

fn value(v: Value) -> SecretValue {
    SecretValue::parse(&v.to_string()).unwrap()
}

fn rotate(current: &SecretValue, mode: Mode, now: u64) -> SecretValue {
    let pending = build(current, mode, now).unwrap();
    verify::verify_pending(current, &pending, mode, now, SECRET_ID).unwrap();
    pending
}

fn active_secret(v: &SecretValue, set: &str) -> Value {
    let keys = v.get("keySets").unwrap()[set].as_array().unwrap().clone();
    keys.iter().find(|k| k["state"] == "active").unwrap()["secret"].clone()
}

fn invalid_field(result: Result<SecretValue, BackendError>) -> (String, String) {
    match result {
        Err(BackendError::InvalidField { field, problem }) => (field, problem),
        other => panic!("expected InvalidField, got {:?}", other.map(|_| ())),
    }
}

/// The consumer of an application reading only `field`.
fn reader(v: &SecretValue, set: SetName, field: &'static str) -> Consumer {
    Consumer::read(v, set, Kind::Single(field), KeyAlg::HS256)
        .unwrap()
        .expect("the field is there")
}

#[test]
fn single_key_policy_parses_resolves_and_states_the_hard_cut() {
    let read = |v: Value, holds: bool| SetPolicy::read(SetName::Access, Some(&v), None, holds);
    let policy = read(json!({"conventions": ["singleKey"]}), false).unwrap();
    assert_eq!(policy.conventions, vec![Convention::SingleKey]);
    assert_eq!(policy.to_json()["hardCut"], json!(true));
    assert_eq!(policy.to_json()["conventions"], json!(["singleKey"]));
    assert_eq!(read(policy.to_json(), false).unwrap(), policy);
    // Default list: never singleKey unasked; with it when the secret holds one of its fields.
    let default = read(json!({}), false).unwrap();
    assert_eq!(default.conventions, Convention::DEFAULT.to_vec());
    assert!(default.to_json().get("hardCut").is_none());
    let held = read(json!({}), true).unwrap();
    assert_eq!(held.conventions.last(), Some(&Convention::SingleKey));
    assert_eq!(held.conventions.len(), 4);
    assert_eq!(held.to_json()["hardCut"], json!(true));
    // An explicit list wins over what the secret holds.
    let explicit = read(json!({"conventions": ["kidArray"]}), true).unwrap();
    assert_eq!(explicit.conventions, vec![Convention::KidArray]);
    // Asymmetric sets have no flat conventions, held field or not.
    assert!(read(json!({"algorithm": "EdDSA"}), true)
        .unwrap()
        .conventions
        .is_empty());
    // hardCut is a statement: stale `true` is dropped, `false` beside singleKey is refused.
    let stale = read(json!({"conventions": ["kidArray"], "hardCut": true}), false).unwrap();
    assert!(stale.to_json().get("hardCut").is_none());
    read(
        json!({"conventions": ["kidArray"], "hardCut": false}),
        false,
    )
    .unwrap();
    for (bad, field) in [
        (
            json!({"conventions": ["singleKey"], "hardCut": false}),
            "policy.access.hardCut",
        ),
        (json!({"hardCut": false}), "policy.access.hardCut"),
        (json!({"hardCut": "yes"}), "policy.access.hardCut"),
        (
            json!({"conventions": ["singleKey", "singleKey"]}),
            "policy.access.conventions",
        ),
        (
            json!({"conventions": ["JWT_SECRET"]}),
            "policy.access.conventions",
        ),
        (
            json!({"algorithm": "ES256", "conventions": ["singleKey"]}),
            "policy.access.conventions",
        ),
    ] {
        match read(bad.clone(), true) {
            Err(BackendError::InvalidField { field: f, problem }) => {
                assert_eq!(f, field, "{bad}: {problem}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn single_key_fields_follow_what_the_secret_holds() {
    let fields = |held: &[&str]| policy::single_key_fields(SetName::Access, |f| held.contains(&f));
    assert_eq!(fields(&[]), vec!["JWT_ACCESS_SECRET"]);
    assert_eq!(fields(&["JWT_SECRET"]), vec!["JWT_SECRET"]);
    assert_eq!(fields(&["JWT_ACCESS_SECRET"]), vec!["JWT_ACCESS_SECRET"]);
    assert_eq!(
        fields(&["JWT_SECRET", "JWT_ACCESS_SECRET"]),
        vec!["JWT_ACCESS_SECRET", "JWT_SECRET"]
    );
    assert_eq!(
        policy::single_key_fields(SetName::Refresh, |_| false),
        vec!["JWT_REFRESH_SECRET"]
    );
}

#[test]
fn onboarding_a_single_key_field_keeps_its_key_active_then_each_rotation_cuts() {
    for (field, set, other_fields) in [
        (
            "JWT_ACCESS_SECRET",
            SetName::Access,
            &["JWT_SECRET", "JWT_REFRESH_SECRET"][..],
        ),
        (
            "JWT_SECRET",
            SetName::Access,
            &["JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"][..],
        ),
        (
            "JWT_REFRESH_SECRET",
            SetName::Refresh,
            &["JWT_ACCESS_SECRET", "JWT_SECRET"][..],
        ),
    ] {
        let name = set.as_str();
        let legacy = value(json!({ field: LEGACY, "APP_NAME": "kept" }));
        let onboarded = rotate(&legacy, Mode::Routine, T0);
        assert_eq!(onboarded.get(field), Some(&json!(LEGACY)), "{field}");
        assert_eq!(active_secret(&onboarded, name), json!(LEGACY), "{field}");
        assert_eq!(onboarded.get("APP_NAME"), Some(&json!("kept")));
        let policy = &onboarded.get("policy").unwrap()[name];
        assert!(
            policy["conventions"]
                .as_array()
                .unwrap()
                .contains(&json!("singleKey")),
            "{field}: {policy}"
        );
        assert_eq!(policy["hardCut"], json!(true), "{field}");
        for other in other_fields {
            assert!(onboarded.get(other).is_none(), "{field}: {other} written");
        }
        // A token signed with the original value before onboarding still verifies for an
        // application reading only the field.
        let old_token = sign_hmac(KeyAlg::HS256, LEGACY, None).unwrap();
        assert_eq!(
            reader(&onboarded, set, field).verify(&old_token, T0),
            Ok(())
        );

        let mut current = onboarded;
        let mut seen = vec![json!(LEGACY)];
        for round in 1..=3 {
            // Past the refresh set's default grace, so REFRESH_SECRET_KEY_PREVIOUS never blocks.
            let now = T0 + round * 31 * 86_400;
            let before = current.get(field).unwrap().clone();
            let previous_token = sign_hmac(KeyAlg::HS256, before.as_str().unwrap(), None).unwrap();
            let pending = rotate(&current, Mode::Routine, now);
            let after = pending.get(field).unwrap().clone();
            assert_eq!(after, active_secret(&pending, name), "{field} {round}");
            assert!(!seen.contains(&after), "{field} {round}: a new key");
            seen.push(after);
            let app = reader(&pending, set, field);
            assert_eq!(
                app.verify(&previous_token, now),
                Err(Rejection::BadSignature),
                "{field} {round}: the hard cut"
            );
            // Every other convention keeps the previous key through its grace.
            assert!(
                dropped_keys(&current, &pending, now).unwrap().is_empty(),
                "{field} {round}"
            );
            let keyless = Consumer::read(
                &pending,
                set,
                Kind::Flat(Convention::SigningSecret),
                KeyAlg::HS256,
            )
            .unwrap()
            .unwrap();
            assert_eq!(keyless.verify(&previous_token, now), Ok(()), "{field}");
            current = pending;
        }
    }
}

#[test]
fn both_access_fields_are_written_and_must_agree_when_onboarded() {
    let both = value(json!({"JWT_SECRET": LEGACY, "JWT_ACCESS_SECRET": LEGACY}));
    let onboarded = rotate(&both, Mode::Routine, T0);
    let second = rotate(&onboarded, Mode::Routine, T0 + 100_000);
    let active = active_secret(&second, "access");
    assert_ne!(active, json!(LEGACY));
    assert_eq!(second.get("JWT_SECRET"), Some(&active));
    assert_eq!(second.get("JWT_ACCESS_SECRET"), Some(&active));

    for (v, field, named) in [
        (
            json!({"JWT_SECRET": LEGACY_OLD, "JWT_ACCESS_SECRET": LEGACY}),
            "JWT_SECRET",
            "JWT_ACCESS_SECRET",
        ),
        (
            json!({"SECRET_KEY": LEGACY, "JWT_ACCESS_SECRET": LEGACY_OLD}),
            "JWT_ACCESS_SECRET",
            "SECRET_KEY",
        ),
        (
            json!({"JWT_REFRESH_SECRETS": [{"kid": "r1", "secret": LEGACY, "isActive": true}],
                   "JWT_REFRESH_SECRET": LEGACY_OLD}),
            "JWT_REFRESH_SECRET",
            "JWT_REFRESH_SECRETS",
        ),
    ] {
        let (f, problem) = invalid_field(build(&value(v.clone()), Mode::Routine, T0));
        assert_eq!(f, field, "{problem}");
        assert!(
            problem.contains("different signing key") && problem.contains(named),
            "{problem}"
        );
        assert!(!problem.contains(LEGACY) && !problem.contains(LEGACY_OLD));
    }
}

#[test]
fn malformed_single_key_fields_are_refused_by_name_never_by_value() {
    let weak = "weak-single-key";
    for (v, field, says) in [
        (
            json!({"JWT_ACCESS_SECRET": 42}),
            "JWT_ACCESS_SECRET",
            "string",
        ),
        (json!({"JWT_SECRET": [LEGACY]}), "JWT_SECRET", "string"),
        (
            json!({"JWT_REFRESH_SECRET": {"secret": LEGACY}}),
            "JWT_REFRESH_SECRET",
            "string",
        ),
        (
            json!({"JWT_ACCESS_SECRET": ""}),
            "JWT_ACCESS_SECRET",
            "empty",
        ),
        (
            json!({"SECRET_KEY": LEGACY, "JWT_SECRET": ""}),
            "JWT_SECRET",
            "empty",
        ),
        (json!({"JWT_SECRET": weak}), "JWT_SECRET", "minimum"),
        (
            json!({"policy": {"access": {"algorithm": "HS384"}}, "JWT_ACCESS_SECRET": LEGACY}),
            "JWT_ACCESS_SECRET",
            "HS384",
        ),
    ] {
        let err = build(&value(v.clone()), Mode::Routine, T0).unwrap_err();
        let (text, debug) = (err.to_string(), format!("{err:?}"));
        match &err {
            BackendError::InvalidField { field: f, problem } => {
                assert_eq!(f, field, "{v}: {problem}");
                assert!(problem.contains(says), "{v}: {problem}");
            }
            other => panic!("{v}: {other:?}"),
        }
        for secret in [LEGACY, weak] {
            assert!(!text.contains(secret) && !debug.contains(secret), "{field}");
        }
    }
}

#[test]
fn single_key_fields_are_left_alone_unless_the_policy_has_single_key() {
    // An explicit list without singleKey: JWT_SECRET is the application's, neither read nor written.
    let current = value(json!({
        "policy": {"access": {"conventions": ["secretKey"]}},
        "SECRET_KEY": LEGACY,
        "JWT_SECRET": "an application's own value",
    }));
    let first = rotate(&current, Mode::Routine, T0);
    let second = rotate(&first, Mode::Routine, T0 + 100_000);
    assert_eq!(
        second.get("JWT_SECRET"),
        Some(&json!("an application's own value"))
    );
    assert!(second.get("policy").unwrap()["access"]
        .get("hardCut")
        .is_none());
    // Asked for with no field yet: JWT_ACCESS_SECRET, not JWT_SECRET.
    let asked = value(json!({"policy": {"access": {"conventions": ["singleKey"]}}}));
    let pending = rotate(&asked, Mode::Routine, T0);
    assert_eq!(
        pending.get("JWT_ACCESS_SECRET"),
        Some(&active_secret(&pending, "access"))
    );
    assert!(pending.get("JWT_SECRET").is_none() && pending.get("SECRET_KEY").is_none());
}

#[test]
fn test_secret_refuses_a_single_key_field_that_does_not_hold_the_active_key() {
    let onboarded = rotate(
        &value(json!({"JWT_ACCESS_SECRET": LEGACY})),
        Mode::Routine,
        T0,
    );
    let now = T0 + 100_000;
    let pending = build(&onboarded, Mode::Routine, now).unwrap();
    // The field left at the previous key (as if it kept verifying it): refused, by name.
    let mut stale = pending.clone();
    stale.insert("JWT_ACCESS_SECRET", json!(LEGACY));
    let err =
        verify::verify_pending(&onboarded, &stale, Mode::Routine, now, SECRET_ID).unwrap_err();
    assert!(matches!(err, BackendError::NotVerified(_)), "{err}");
    assert!(err.to_string().contains("`JWT_ACCESS_SECRET`"), "{err}");
    assert!(!err.to_string().contains(LEGACY));
    // The field removed: refused too.
    let mut missing = pending.clone();
    missing.insert("JWT_ACCESS_SECRET", Value::Null);
    assert!(verify::verify_pending(&onboarded, &missing, Mode::Routine, now, SECRET_ID).is_err());
    verify::verify_pending(&onboarded, &pending, Mode::Routine, now, SECRET_ID).unwrap();
}

#[test]
fn an_emergency_rotation_replaces_the_single_key_field_and_no_old_key_verifies() {
    let legacy = value(json!({"JWT_SECRET": LEGACY}));
    let pending = rotate(&legacy, Mode::Emergency, T0);
    let new = pending.get("JWT_SECRET").unwrap().clone();
    assert_ne!(new, json!(LEGACY));
    assert_eq!(new, active_secret(&pending, "access"));
    assert!(pending.get("JWT_ACCESS_SECRET").is_none());
    let old_token = sign_hmac(KeyAlg::HS256, LEGACY, None).unwrap();
    for kind in [
        Kind::Single("JWT_SECRET"),
        Kind::Flat(Convention::SingleKey),
        Kind::Flat(Convention::SigningSecret),
    ] {
        let consumer = Consumer::read(&pending, SetName::Access, kind, KeyAlg::HS256)
            .unwrap()
            .unwrap();
        assert!(consumer.verify(&old_token, T0).is_err(), "{kind:?}");
    }
}
