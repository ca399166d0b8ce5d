//! testSecret's work: prove the pending value through every consumer it serves, refuse forged
//! tokens, and compare it with the current version. Read-only; safe to repeat.

use super::compare::{dropped_keys, kinds, short_graces, survivors, ShortGrace};
use super::doc::{JwtSecret, KeySet, Read, KEY_SETS};
use super::keygen::generate;
use super::model::{Key, KeyAlg, KeyState, Material, SetName};
use super::policy::Convention;
use super::probe::{sign, sign_hmac, sign_with, unsigned, Consumer, Kind};
use super::time;
use crate::backend::{BackendError, Mode};
use crate::secret::SecretValue;
use jsonwebtoken::EncodingKey;
use secrecy::ExposeSecret;
use std::collections::BTreeSet;

/// The whole of testSecret for the secret `secret_id` (named in messages only). `now` decides
/// which previous keys have reached their `verifyUntil`.
pub fn verify_pending(
    current: &SecretValue,
    pending: &SecretValue,
    mode: Mode,
    now: u64,
    secret_id: &str,
) -> Result<(), BackendError> {
    let secret = read_consistent(pending, now)?;
    for set in &secret.sets {
        prove_set(pending, set, now)?;
    }
    if mode == Mode::Routine {
        signers_keep_their_grace(current, pending, now, secret_id)?;
    }
    compare_with_current(current, pending, mode, now)
}

/// The pending key sets, once every field derived from them is checked to be what they give.
fn read_consistent(pending: &SecretValue, now: u64) -> Result<JwtSecret, BackendError> {
    if pending.get(KEY_SETS).is_none() {
        return Err(BackendError::NotVerified(
            "the pending value has no keySets".into(),
        ));
    }
    let secret = JwtSecret::read(pending, Read::Keys, now)?;
    let derived = secret.write(pending)?;
    let names: BTreeSet<&String> = pending
        .fields()
        .keys()
        .chain(derived.fields().keys())
        .collect();
    for name in names.into_iter().filter(|n| secret.owns(n)) {
        if pending.get(name) != derived.get(name) {
            return Err(BackendError::NotVerified(format!(
                "field `{name}` does not agree with the key list"
            )));
        }
    }
    Ok(secret)
}

/// Every consumer of `set` accepts the active key and (but for `secretKey` and a single-key field,
/// which have no slot for it) the next key, and refuses every forgery. A single-key consumer is
/// also shown to refuse every other key of the set: the hard cut its applications get.
fn prove_set(pending: &SecretValue, set: &KeySet, now: u64) -> Result<(), BackendError> {
    public_only(pending, set)?;
    let active = set
        .active()
        .ok_or_else(|| not_verified(set.name, "no active key".into()))?;
    let next = set
        .keys
        .iter()
        .find(|k| k.state == KeyState::Next)
        .ok_or_else(|| not_verified(set.name, "no next key for consumers to pre-load".into()))?;
    let forged = forgeries(set, active)?;
    for kind in kinds(set) {
        let consumer =
            Consumer::read(pending, set.name, kind, set.policy.algorithm)?.ok_or_else(|| {
                not_verified(set.name, format!("{} is missing", kind.field(set.name)))
            })?;
        accepts_active(&consumer, active, now)?;
        match kind {
            Kind::Single(_) => hard_cut(&consumer, set, now)?,
            Kind::Flat(Convention::SecretKey) => {}
            _ => accepts_next(&consumer, next, now)?,
        }
        refuses(&consumer, &forged, now)?;
    }
    Ok(())
}

/// A JWK Set member must never hold private or symmetric key material.
fn public_only(value: &SecretValue, set: &KeySet) -> Result<(), BackendError> {
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    let field = set.name.jwks_field();
    let keys = value
        .get(field)
        .and_then(|j| j.get("keys"))
        .and_then(|k| k.as_array());
    for jwk in keys.into_iter().flatten() {
        let private = PRIVATE.iter().any(|m| jwk.get(*m).is_some())
            || jwk.get("kty").and_then(|k| k.as_str()) == Some("oct");
        if private {
            return Err(not_verified(
                set.name,
                format!("{field} holds private key material"),
            ));
        }
    }
    Ok(())
}

/// Tokens every consumer must refuse: unsigned, a swapped algorithm, an unknown kid, the active
/// kid with a foreign key, and (HMAC) an empty key.
fn forgeries(set: &KeySet, active: &Key) -> Result<Vec<(&'static str, String)>, BackendError> {
    let alg = set.policy.algorithm;
    let kid = Some(active.kid.as_str());
    let stranger = generate(set.name, alg, set.policy.hmac_key_bytes, KeyState::Next, 0)?;
    let mut out = vec![
        ("an unsigned token (alg none)", unsigned(kid)),
        (
            "a token signed by an unknown key with an unknown kid",
            sign_with(alg, &stranger.material, Some(&stranger.kid))?,
        ),
        (
            "a token with the active kid signed by another key",
            sign_with(alg, &stranger.material, kid)?,
        ),
    ];
    match &active.material {
        Material::Hmac(secret) => {
            let swapped = if alg == KeyAlg::HS256 {
                KeyAlg::HS512
            } else {
                KeyAlg::HS256
            };
            out.push((
                "the active key under another algorithm",
                sign_hmac(swapped, secret.expose_secret(), kid)?,
            ));
            out.push((
                "a token signed with an empty key",
                sign(alg, &EncodingKey::from_secret(b""), kid)?,
            ));
            out.push((
                "a token signed with an empty key and no kid",
                sign(alg, &EncodingKey::from_secret(b""), None)?,
            ));
        }
        Material::Private { public, .. } => {
            out.push((
                "an HS256 token keyed with the public key",
                sign(KeyAlg::HS256, &EncodingKey::from_secret(public), kid)?,
            ));
            let other = if alg == KeyAlg::EdDSA {
                KeyAlg::ES256
            } else {
                KeyAlg::EdDSA
            };
            let other_key = generate(set.name, other, 32, KeyState::Next, 0)?;
            out.push((
                "a token of another asymmetric algorithm",
                sign_with(other, &other_key.material, kid)?,
            ));
        }
    }
    Ok(out)
}

/// A probe signed the way the consumer's signer signs (its signing field, or the active private
/// key) verifies; the signing field must hold the active key.
fn accepts_active(consumer: &Consumer, active: &Key, now: u64) -> Result<(), BackendError> {
    let field = consumer.kind.field(consumer.set);
    let probe = match (consumer.kind, consumer.signer()) {
        (Kind::Jwks, _) => sign_with(active.alg, &active.material, Some(&active.kid))?,
        (Kind::Flat(_) | Kind::Single(_), Some(signer)) => {
            let secret = signer.secret.as_ref().map(|s| s.expose_secret());
            if secret != active.material.hmac_secret() {
                return Err(not_verified(
                    consumer.set,
                    format!("{field} does not sign with the active key"),
                ));
            }
            sign_with(active.alg, &active.material, signer.kid.as_deref())?
        }
        (Kind::Flat(_) | Kind::Single(_), None) => {
            return Err(not_verified(
                consumer.set,
                format!("{field} names no signing key"),
            ))
        }
    };
    consumer.verify(&probe, now).map_err(|why| {
        not_verified(
            consumer.set,
            format!("a token signed with the new active key is refused through {field}: {why}"),
        )
    })
}

/// A token signed with the next key verifies: consumers have pre-loaded it.
fn accepts_next(consumer: &Consumer, next: &Key, now: u64) -> Result<(), BackendError> {
    let field = consumer.kind.field(consumer.set);
    let kid = matches!(consumer.kind, Kind::Jwks | Kind::Flat(Convention::KidArray))
        .then_some(next.kid.as_str());
    let token = sign_with(next.alg, &next.material, kid)?;
    consumer.verify(&token, now).map_err(|why| {
        not_verified(
            consumer.set,
            format!("the next key is not pre-loaded through {field}: {why}"),
        )
    })
}

/// A single-key consumer verifies with the active key alone. Tokens signed with the previous keys
/// (the one that signed until this rotation among them) are NOT expected to verify for it, unlike
/// every other convention's consumer (`compare::dropped_keys` holds those to their grace): its
/// applications lose them at finishSecret. Proven here so the hard cut is a checked fact, not an
/// accident of the field's form.
fn hard_cut(consumer: &Consumer, set: &KeySet, now: u64) -> Result<(), BackendError> {
    let field = consumer.kind.field(consumer.set);
    for key in set.keys.iter().filter(|k| k.state != KeyState::Active) {
        let token = sign_with(key.alg, &key.material, None)?;
        if consumer.verify(&token, now).is_ok() {
            return Err(not_verified(
                consumer.set,
                format!(
                    "{field} accepts a token signed with the {} key `{}`: it must hold the \
                     active key alone",
                    key.state.as_str(),
                    key.kid
                ),
            ));
        }
    }
    Ok(())
}

/// No forged token verifies.
fn refuses(
    consumer: &Consumer,
    forged: &[(&'static str, String)],
    now: u64,
) -> Result<(), BackendError> {
    for (what, token) in forged {
        if consumer.verify(token, now).is_ok() {
            let field = consumer.kind.field(consumer.set);
            return Err(not_verified(
                consumer.set,
                format!("{field} accepts {what}"),
            ));
        }
    }
    Ok(())
}

/// Routine rotations: every key that signs until promotion verifies for a whole grace from now
/// (see `short_graces`); this fails once the rotation has outlived maxRotationSeconds.
fn signers_keep_their_grace(
    current: &SecretValue,
    pending: &SecretValue,
    now: u64,
    secret_id: &str,
) -> Result<(), BackendError> {
    match short_graces(current, pending, now)?.first() {
        Some(short) => Err(not_verified(
            short.set,
            short_grace_message(short, secret_id, now),
        )),
        None => Ok(()),
    }
}

/// Why a key that signs until promotion would verify too briefly under the pending version. When
/// the rotation has outlived maxRotationSeconds, says so and how to start over: retrying cannot
/// help, since createSecret keeps the value it wrote first.
fn short_grace_message(short: &ShortGrace, secret_id: &str, now: u64) -> String {
    let lost = format!(
        "key `{}` signs tokens until this version is promoted, but this version stops verifying it \
         at {}, so tokens it signs now would lose part of their grace (graceSeconds {})",
        short.kid,
        time::format(short.until),
        short.grace_seconds
    );
    match short.stale(now) {
        Some(built) => format!(
            "the pending value was built at {}, more than maxRotationSeconds ({}) ago: {lost}. \
             Start a new rotation: remove the stale AWSPENDING label (aws secretsmanager \
             update-secret-version-stage --secret-id {secret_id} --version-stage AWSPENDING \
             --remove-from-version-id <this rotation's ClientRequestToken>), then rotate again; \
             raise policy.{}.maxRotationSeconds if rotations need longer",
            time::format(built),
            short.max_rotation_seconds,
            short.set.as_str()
        ),
        None => lost,
    }
}

/// Routine: no key a consumer uses loses its grace. Emergency: no old key verifies at all.
fn compare_with_current(
    current: &SecretValue,
    pending: &SecretValue,
    mode: Mode,
    now: u64,
) -> Result<(), BackendError> {
    let (problems, how) = match mode {
        Mode::Routine => (
            dropped_keys(current, pending, now)?,
            "would stop verifying before its grace ends",
        ),
        Mode::Emergency => (
            survivors(current, pending, now)?,
            "still verifies after an emergency rotation",
        ),
    };
    match problems.first() {
        Some(problem) => Err(not_verified(
            problem.set,
            format!("{} {how}{}", problem.describe(), problem.until_text()),
        )),
        None => Ok(()),
    }
}

fn not_verified(set: SetName, message: String) -> BackendError {
    BackendError::NotVerified(format!("set `{}`: {message}", set.as_str()))
}
