//! createSecret's work: the pending key sets, built from the current value alone.

use super::compare;
use super::doc::{JwtSecret, KeySet, Read};
use super::keygen::generate;
use super::model::{invalid, KeyState};
use crate::backend::{BackendError, Mode};
use crate::secret::SecretValue;

/// The pending value: each set rotated (see `routine`), or in an emergency every old key dropped
/// for a new active and next key.
///
/// Refuses a routine rotation that would stop a key verifying for some consumer before its grace
/// ends (a single-slot `SECRET_KEY_PREVIOUS` while the last previous key is before its
/// `verifyUntil`, that is, within grace + maxRotationSeconds of the last rotation).
pub fn build(current: &SecretValue, mode: Mode, now: u64) -> Result<SecretValue, BackendError> {
    let how = match mode {
        Mode::Routine => Read::Keys,
        Mode::Emergency => Read::PoliciesOnly,
    };
    let mut secret = JwtSecret::read(current, how, now)?;
    for set in &mut secret.sets {
        match mode {
            Mode::Routine => routine(set, now)?,
            Mode::Emergency => {
                set.keys.clear();
                add_key(set, KeyState::Active, now)?;
                add_key(set, KeyState::Next, now)?;
            }
        }
    }
    let pending = secret.write(current)?;
    if mode == Mode::Routine {
        if let Some(dropped) = compare::dropped_keys(current, &pending, now)?
            .into_iter()
            .next()
        {
            return Err(BackendError::Rejected {
                target: format!("key set `{}`", dropped.set.as_str()),
                detail: format!(
                    "rotating now would stop {} verifying before its grace ends{}. Rotate after \
                     that, rotate in emergency mode (tag rotation:mode=emergency) to drop old keys \
                     on purpose, or remove the convention from policy.{}.conventions",
                    dropped.describe(),
                    dropped.until_text(),
                    dropped.set.as_str(),
                ),
            });
        }
    }
    Ok(pending)
}

/// Prunes previous keys past `verifyUntil`; promotes the next key and demotes the active one; adds
/// a new next key. The demoted key keeps signing until finishSecret promotes this value, so it
/// verifies until now + maxRotationSeconds + graceSeconds: a token it signs at any moment of a
/// rotation that finishes in time gets the whole grace (testSecret refuses one that did not).
/// Without a next key (the first rotation after onboarding) the active key stays, so consumers
/// can load the new next key before it signs; a set without keys gets an active key.
fn routine(set: &mut KeySet, now: u64) -> Result<(), BackendError> {
    let policy = set.policy.clone();
    if let Some(key) = set.keys.iter().find(|k| k.alg != policy.algorithm) {
        return Err(invalid(
            &format!("policy.{}.algorithm", set.name.as_str()),
            &format!(
                "is {} but the set's keys use {}: a set changes algorithm only in an emergency \
                 rotation (tag rotation:mode=emergency), which drops every old key",
                policy.algorithm.as_str(),
                key.alg.as_str()
            ),
        ));
    }
    set.keys
        .retain(|k| k.state != KeyState::Previous || k.verifies_at(now));
    if set.keys.iter().any(|k| k.state == KeyState::Next) {
        let mut demoted = None;
        for (i, key) in set.keys.iter_mut().enumerate() {
            match key.state {
                KeyState::Active => {
                    key.state = KeyState::Previous;
                    key.retired_at = Some(now);
                    key.verify_until = Some(policy.previous_until(now));
                    demoted = Some(i);
                }
                KeyState::Next => {
                    key.state = KeyState::Active;
                    key.activated_at = Some(now);
                }
                KeyState::Previous => {}
            }
        }
        // The newest previous key comes first: it is the one SECRET_KEY_PREVIOUS carries.
        if let Some(i) = demoted {
            let key = set.keys.remove(i);
            set.keys.insert(0, key);
        }
    } else if set.active().is_none() {
        add_key(set, KeyState::Active, now)?;
    }
    add_key(set, KeyState::Next, now)
}

/// Adds a new key; its kid is checked against every kid the set holds.
fn add_key(set: &mut KeySet, state: KeyState, now: u64) -> Result<(), BackendError> {
    for _ in 0..4 {
        let key = generate(
            set.name,
            set.policy.algorithm,
            set.policy.hmac_key_bytes,
            state,
            now,
        )?;
        if !set.keys.iter().any(|k| k.kid == key.kid) {
            set.keys.push(key);
            return Ok(());
        }
    }
    Err(BackendError::Rejected {
        target: format!("key set `{}`", set.name.as_str()),
        detail: "could not draw an unused kid".into(),
    })
}
