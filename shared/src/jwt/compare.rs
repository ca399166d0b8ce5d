//! What the current and pending versions verify, compared: a routine rotation must keep every key
//! until its grace ends; an emergency one must keep none. Read-only.

use super::doc::{JwtSecret, KeySet, Read, KEY_SETS};
use super::model::{Key, KeyAlg, SetName};
use super::policy::Convention;
use super::probe::{sign_hmac, sign_with, Consumer, Kind};
use super::time;
use crate::backend::BackendError;
use crate::secret::SecretValue;
use secrecy::{ExposeSecret, SecretString};

/// A key the current version verifies with that the pending one would not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub set: SetName,
    /// The field the key was read from in the current version.
    pub field: String,
    pub kid: Option<String>,
    /// The end of its grace, when the key list says.
    pub until: Option<u64>,
}

impl Dropped {
    pub fn describe(&self) -> String {
        match &self.kid {
            Some(kid) => format!("key `{kid}` (read from {})", self.field),
            None => format!("a key read from {}", self.field),
        }
    }

    pub fn until_text(&self) -> String {
        self.until
            .map(|t| format!(" (at {})", time::format(t)))
            .unwrap_or_default()
    }
}

/// The consumers a set serves: its flat conventions, or its JWK Set when asymmetric.
pub fn kinds(set: &KeySet) -> Vec<Kind> {
    if set.policy.algorithm.is_hmac() {
        set.policy
            .conventions
            .iter()
            .map(|c| Kind::Flat(*c))
            .collect()
    } else {
        vec![Kind::Jwks]
    }
}

fn field_of(set: SetName, kind: Kind, signs: bool) -> String {
    match kind {
        Kind::Flat(c @ (Convention::SecretKey | Convention::SigningSecret)) if !signs => {
            c.fields(set)[1].to_owned()
        }
        _ => kind.field(set).to_owned(),
    }
}

fn key_with<'a>(set: Option<&'a KeySet>, secret: &str) -> Option<&'a Key> {
    set?.keys
        .iter()
        .find(|k| k.material.hmac_secret() == Some(secret))
}

/// Routine rotations: every key a consumer of the current version signs or verifies with, that has
/// not reached its `verifyUntil`, must still verify through the same convention in `pending`.
pub fn dropped_keys(
    current: &SecretValue,
    pending: &SecretValue,
    now: u64,
) -> Result<Vec<Dropped>, BackendError> {
    let old = JwtSecret::read(current, Read::Keys, now)?;
    let new = JwtSecret::read(pending, Read::Keys, now)?;
    let mut dropped = Vec::new();
    for set in &new.sets {
        let old_set = old.set(set.name);
        let old_alg = old_set.map_or(set.policy.algorithm, |s| s.policy.algorithm);
        for kind in kinds(set) {
            let Some(before) = Consumer::read(current, set.name, kind, old_alg)? else {
                continue;
            };
            let after = Consumer::read(pending, set.name, kind, set.policy.algorithm)?;
            let mut lost = |field: String, kid: Option<String>, until: Option<u64>| {
                dropped.push(Dropped {
                    set: set.name,
                    field,
                    kid,
                    until,
                });
            };
            if kind == Kind::Jwks {
                for key in old_set
                    .iter()
                    .flat_map(|s| &s.keys)
                    .filter(|k| k.verifies_at(now))
                {
                    let token = sign_with(key.alg, &key.material, Some(&key.kid))?;
                    if after
                        .as_ref()
                        .is_none_or(|a| a.verify(&token, now).is_err())
                    {
                        lost(
                            kind.field(set.name).into(),
                            Some(key.kid.clone()),
                            key.verify_until,
                        );
                    }
                }
                continue;
            }
            let mut seen: Vec<&str> = Vec::new();
            for key in before
                .keys
                .iter()
                .filter(|k| k.signs || (k.verifies && k.expires_at.is_none_or(|until| now < until)))
            {
                let Some(secret) = key.secret.as_ref().map(|s| s.expose_secret()) else {
                    continue;
                };
                let listed = key_with(old_set, secret);
                if listed.is_some_and(|k| !k.verifies_at(now)) || seen.contains(&secret) {
                    continue;
                }
                seen.push(secret);
                let kid = key.kid.as_deref();
                let token = sign_hmac(old_alg, secret, kid)?;
                if after
                    .as_ref()
                    .is_none_or(|a| a.verify(&token, now).is_err())
                {
                    lost(
                        field_of(set.name, kind, key.signs),
                        kid.map(str::to_owned)
                            .or_else(|| listed.map(|k| k.kid.clone())),
                        listed.and_then(|k| k.verify_until),
                    );
                }
            }
        }
        // The key list itself keeps every key that still verifies (with its kid, once it has one).
        let kept_kids = current
            .get(KEY_SETS)
            .and_then(|sets| sets.get(set.name.as_str()))
            .is_some();
        for key in old_set
            .iter()
            .flat_map(|s| &s.keys)
            .filter(|k| k.verifies_at(now))
        {
            let kept = set
                .keys
                .iter()
                .any(|k| k.material.same_as(&key.material) && (!kept_kids || k.kid == key.kid));
            if !kept {
                dropped.push(Dropped {
                    set: set.name,
                    field: format!("{KEY_SETS}.{}", set.name.as_str()),
                    kid: Some(key.kid.clone()),
                    until: key.verify_until,
                });
            }
        }
    }
    Ok(dropped)
}

/// A key that signs in the current version and so keeps signing until the pending one is promoted,
/// but that the pending version stops verifying before a token it signs now ends its grace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortGrace {
    pub set: SetName,
    pub kid: String,
    /// Its `verifyUntil` in the pending version.
    pub until: u64,
    /// When the pending version retired it: when createSecret built that version.
    pub retired_at: Option<u64>,
    pub grace_seconds: u64,
    pub max_rotation_seconds: u64,
}

impl ShortGrace {
    /// When the rotation has outlived `maxRotationSeconds` (the pending value is stale, rather than
    /// built wrong): the time createSecret built the pending value.
    pub fn stale(&self, now: u64) -> Option<u64> {
        self.retired_at
            .filter(|at| at.saturating_add(self.max_rotation_seconds) < now)
    }
}

/// Routine rotations: every key that signs in the current version (its active key, and the key
/// each flat convention's signer uses) keeps signing until `pending` is promoted, so under
/// `pending` it must verify until at least `now + graceSeconds`. createSecret gives the key it
/// demotes `maxRotationSeconds` more than that, so this holds until the rotation has taken longer.
pub fn short_graces(
    current: &SecretValue,
    pending: &SecretValue,
    now: u64,
) -> Result<Vec<ShortGrace>, BackendError> {
    let old = JwtSecret::read(current, Read::Keys, now)?;
    let new = JwtSecret::read(pending, Read::Keys, now)?;
    let mut short: Vec<ShortGrace> = Vec::new();
    for set in &new.sets {
        let old_set = old.set(set.name);
        let old_alg = old_set.map_or(set.policy.algorithm, |s| s.policy.algorithm);
        let mut signers: Vec<&Key> = Vec::new();
        let listed_signer = old_set.and_then(KeySet::active).and_then(|active| {
            set.keys
                .iter()
                .find(|k| k.material.same_as(&active.material))
        });
        signers.extend(listed_signer);
        for kind in kinds(set) {
            let Some(before) = Consumer::read(current, set.name, kind, old_alg)? else {
                continue;
            };
            let flat_signer = before
                .signer()
                .and_then(|k| k.secret.as_ref())
                .and_then(|secret| key_with(Some(set), secret.expose_secret()));
            signers.extend(flat_signer);
        }
        let must_last = now.saturating_add(set.policy.grace_seconds);
        for key in signers {
            let Some(until) = key.verify_until.filter(|until| *until < must_last) else {
                continue;
            };
            if short.iter().any(|s| s.set == set.name && s.kid == key.kid) {
                continue;
            }
            short.push(ShortGrace {
                set: set.name,
                kid: key.kid.clone(),
                until,
                retired_at: key.retired_at,
                grace_seconds: set.policy.grace_seconds,
                max_rotation_seconds: set.policy.max_rotation_seconds,
            });
        }
    }
    Ok(short)
}

/// Emergency rotations: no key of the current version (from any field) may verify anything under
/// `pending`, whatever kid a token claims.
pub fn survivors(
    current: &SecretValue,
    pending: &SecretValue,
    now: u64,
) -> Result<Vec<Dropped>, BackendError> {
    let new = JwtSecret::read(pending, Read::Keys, now)?;
    let old = JwtSecret::read(current, Read::Keys, now).ok();
    let old_keys: Vec<&Key> = old
        .iter()
        .flat_map(|o| &o.sets)
        .flat_map(|s| &s.keys)
        .collect();
    let mut old_secrets: Vec<(SecretString, Option<String>, String)> = Vec::new();
    for set in SetName::ALL {
        for convention in Convention::ALL {
            let kind = Kind::Flat(convention);
            // Read leniently: an unreadable old field holds nothing a consumer could use either.
            if let Ok(Some(consumer)) = Consumer::read(current, set, kind, KeyAlg::HS256) {
                for key in &consumer.keys {
                    if let Some(secret) = &key.secret {
                        let field = field_of(set, kind, key.signs);
                        old_secrets.push((secret.clone(), key.kid.clone(), field));
                    }
                }
            }
        }
    }
    for key in &old_keys {
        if let Some(secret) = key.material.hmac_secret() {
            old_secrets.push((
                SecretString::from(secret.to_owned()),
                Some(key.kid.clone()),
                KEY_SETS.to_owned(),
            ));
        }
    }
    let mut found = Vec::new();
    for set in &new.sets {
        let alg = set.policy.algorithm;
        let mut kids: Vec<Option<String>> = vec![None];
        kids.extend(set.keys.iter().map(|k| Some(k.kid.clone())));
        for key in set.keys.iter() {
            let reused = old_keys
                .iter()
                .any(|o| o.kid == key.kid || o.material.same_as(&key.material));
            if reused {
                found.push(Dropped {
                    set: set.name,
                    field: KEY_SETS.into(),
                    kid: Some(key.kid.clone()),
                    until: None,
                });
            }
        }
        for kind in kinds(set) {
            let Some(consumer) = Consumer::read(pending, set.name, kind, alg)? else {
                continue;
            };
            let mut tokens = Vec::new();
            if alg.is_hmac() {
                for (secret, old_kid, field) in &old_secrets {
                    for kid in kids.iter().chain(std::iter::once(old_kid)) {
                        tokens.push((
                            sign_hmac(alg, secret.expose_secret(), kid.as_deref())?,
                            old_kid.clone(),
                            field.clone(),
                        ));
                    }
                }
            }
            for key in old_keys.iter().filter(|k| k.alg == alg && !alg.is_hmac()) {
                for kid in kids.iter().flatten().chain(std::iter::once(&key.kid)) {
                    tokens.push((
                        sign_with(alg, &key.material, Some(kid))?,
                        Some(key.kid.clone()),
                        KEY_SETS.to_owned(),
                    ));
                }
            }
            for (token, kid, field) in tokens {
                if consumer.verify(&token, now).is_ok() {
                    found.push(Dropped {
                        set: set.name,
                        field,
                        kid,
                        until: None,
                    });
                }
            }
        }
    }
    Ok(found)
}
