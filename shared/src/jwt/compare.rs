//! What the current and pending versions verify, compared: a routine rotation must keep every key
//! until its grace ends; an emergency one must keep none. Read-only.

use super::doc::{JwtSecret, KeySet, Read, KEY_SETS};
use super::model::{Key, KeyAlg, SetName};
use super::policy::Convention;
use super::probe::{sign_hmac, sign_with, Consumer, ConsumerKey, Kind};
use super::time;
use crate::backend::BackendError;
use crate::secret::SecretValue;
use secrecy::{ExposeSecret, SecretString};

/// A key the current version verifies with that the pending one would not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The set the key belongs to.
    pub set: SetName,
    /// The field the key was read from in the current version.
    pub field: String,
    /// Its kid, when a field or the key list gives one.
    pub kid: Option<String>,
    /// The end of its grace, when the key list says.
    pub until: Option<u64>,
}

impl Dropped {
    /// The key for messages: its kid and field, never its value.
    pub fn describe(&self) -> String {
        match &self.kid {
            Some(kid) => format!("key `{kid}` (read from {})", self.field),
            None => format!("a key read from {}", self.field),
        }
    }

    /// ` (at <time>)` when the end of its grace is known, else empty.
    pub fn until_text(&self) -> String {
        self.until
            .map(|t| format!(" (at {})", time::format(t)))
            .unwrap_or_default()
    }
}

/// The consumers a set serves: its flat conventions (one per single-key field it writes), or its
/// JWK Set when asymmetric.
pub fn kinds(set: &KeySet) -> Vec<Kind> {
    if !set.policy.algorithm.is_hmac() {
        return vec![Kind::Jwks];
    }
    let mut out = Vec::new();
    for convention in &set.policy.conventions {
        match convention {
            Convention::SingleKey => {
                out.extend(set.single_key_fields.iter().map(|f| Kind::Single(f)));
            }
            other => out.push(Kind::Flat(*other)),
        }
    }
    out
}

/// The field a consumer's key comes from: for a non-signing key of a two-field convention, the
/// second (`SECRET_KEY_PREVIOUS`, `JWT_VERIFICATION_SECRETS`).
fn field_of(set: SetName, kind: Kind, signs: bool) -> String {
    match kind {
        Kind::Flat(c @ (Convention::SecretKey | Convention::SigningSecret)) if !signs => {
            c.fields(set)[1].to_owned()
        }
        _ => kind.field(set).to_owned(),
    }
}

/// The listed key whose HMAC secret is `secret`.
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
        // A single-key consumer loses the previous key at promotion by design (the hard cut the
        // policy states with `hardCut`); every other consumer keeps each key through its grace.
        for kind in kinds(set).into_iter().filter(|k| !k.hard_cut()) {
            let Some(before) = Consumer::read(current, set.name, kind, old_alg)? else {
                continue;
            };
            let after = Consumer::read(pending, set.name, kind, set.policy.algorithm)?;
            dropped.extend(match kind {
                Kind::Jwks => lost_from_jwks(set.name, old_set, after.as_ref(), now)?,
                Kind::Flat(_) | Kind::Single(_) => {
                    lost_from_flat(&before, after.as_ref(), old_set, now)?
                }
            });
        }
        dropped.extend(lost_from_key_list(current, set, old_set, now));
    }
    Ok(dropped)
}

/// Keys of the current key list that still verify.
fn verifying_keys(set: Option<&KeySet>, now: u64) -> impl Iterator<Item = &Key> {
    set.into_iter()
        .flat_map(|s| &s.keys)
        .filter(move |k| k.verifies_at(now))
}

/// Whether the pending consumer (if the pending value has one) refuses `token`.
fn refused(after: Option<&Consumer>, token: &str, now: u64) -> bool {
    after.is_none_or(|a| a.verify(token, now).is_err())
}

/// Keys of the current key list that the pending JWK Set no longer verifies.
fn lost_from_jwks(
    set: SetName,
    old_set: Option<&KeySet>,
    after: Option<&Consumer>,
    now: u64,
) -> Result<Vec<Dropped>, BackendError> {
    let mut lost = Vec::new();
    for key in verifying_keys(old_set, now) {
        let token = sign_with(key.alg, &key.material, Some(&key.kid))?;
        if refused(after, &token, now) {
            lost.push(Dropped {
                set,
                field: Kind::Jwks.field(set).into(),
                kid: Some(key.kid.clone()),
                until: key.verify_until,
            });
        }
    }
    Ok(lost)
}

/// Keys a flat consumer of the current version signs or still verifies with that the pending one
/// refuses. A key the key list says is past its grace may go.
fn lost_from_flat(
    before: &Consumer,
    after: Option<&Consumer>,
    old_set: Option<&KeySet>,
    now: u64,
) -> Result<Vec<Dropped>, BackendError> {
    let in_use =
        |k: &&ConsumerKey| k.signs || (k.verifies && k.expires_at.is_none_or(|until| now < until));
    let mut seen: Vec<&str> = Vec::new();
    let mut lost = Vec::new();
    for key in before.keys.iter().filter(in_use) {
        let Some(secret) = key.secret.as_ref().map(|s| s.expose_secret()) else {
            continue;
        };
        let listed = key_with(old_set, secret);
        if listed.is_some_and(|k| !k.verifies_at(now)) || seen.contains(&secret) {
            continue;
        }
        seen.push(secret);
        let kid = key.kid.as_deref();
        let token = sign_hmac(before.alg, secret, kid)?;
        if refused(after, &token, now) {
            lost.push(Dropped {
                set: before.set,
                field: field_of(before.set, before.kind, key.signs),
                kid: kid
                    .map(str::to_owned)
                    .or_else(|| listed.map(|k| k.kid.clone())),
                until: listed.and_then(|k| k.verify_until),
            });
        }
    }
    Ok(lost)
}

/// Keys of the current key list missing from the pending one (or, once the current list gave them
/// a kid, kept under another kid) while they still verify.
fn lost_from_key_list(
    current: &SecretValue,
    set: &KeySet,
    old_set: Option<&KeySet>,
    now: u64,
) -> Vec<Dropped> {
    let kept_kids = current
        .get(KEY_SETS)
        .and_then(|sets| sets.get(set.name.as_str()))
        .is_some();
    verifying_keys(old_set, now)
        .filter(|key| {
            !set.keys
                .iter()
                .any(|k| k.material.same_as(&key.material) && (!kept_kids || k.kid == key.kid))
        })
        .map(|key| Dropped {
            set: set.name,
            field: format!("{KEY_SETS}.{}", set.name.as_str()),
            kid: Some(key.kid.clone()),
            until: key.verify_until,
        })
        .collect()
}

/// A key that signs in the current version and so keeps signing until the pending one is promoted,
/// but that the pending version stops verifying before a token it signs now ends its grace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortGrace {
    /// The set the key belongs to.
    pub set: SetName,
    /// The key's kid.
    pub kid: String,
    /// Its `verifyUntil` in the pending version.
    pub until: u64,
    /// When the pending version retired it: when createSecret built that version.
    pub retired_at: Option<u64>,
    /// The set's `graceSeconds`.
    pub grace_seconds: u64,
    /// The set's `maxRotationSeconds`.
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
    let old_secrets = old_hmac_secrets(current, &old_keys);
    let mut found = Vec::new();
    for set in &new.sets {
        found.extend(reused_keys(set, &old_keys));
        for kind in kinds(set) {
            let Some(consumer) = Consumer::read(pending, set.name, kind, set.policy.algorithm)?
            else {
                continue;
            };
            for probe in old_key_probes(set, &old_secrets, &old_keys)? {
                if consumer.verify(&probe.token, now).is_ok() {
                    found.push(Dropped {
                        set: set.name,
                        field: probe.field,
                        kid: probe.kid,
                        until: None,
                    });
                }
            }
        }
    }
    Ok(found)
}

/// An HMAC key of the current version, from a flat field or the key list. No `Debug`.
struct OldSecret {
    secret: SecretString,
    kid: Option<String>,
    field: String,
}

/// A token signed with a key of the current version, and where that key was read.
struct OldKeyProbe {
    token: String,
    kid: Option<String>,
    field: String,
}

/// Every HMAC key of the current version, from any set's flat fields and from the key list.
fn old_hmac_secrets(current: &SecretValue, old_keys: &[&Key]) -> Vec<OldSecret> {
    let mut out = Vec::new();
    for set in SetName::ALL {
        let single = Convention::SingleKey
            .fields(set)
            .iter()
            .map(|f| Kind::Single(f));
        let flat = Convention::DEFAULT.into_iter().map(Kind::Flat);
        for kind in flat.chain(single) {
            // Read leniently: an unreadable old field holds nothing a consumer could use either.
            let Ok(Some(consumer)) = Consumer::read(current, set, kind, KeyAlg::HS256) else {
                continue;
            };
            for key in &consumer.keys {
                if let Some(secret) = &key.secret {
                    out.push(OldSecret {
                        secret: secret.clone(),
                        kid: key.kid.clone(),
                        field: field_of(set, kind, key.signs),
                    });
                }
            }
        }
    }
    for key in old_keys {
        if let Some(secret) = key.material.hmac_secret() {
            out.push(OldSecret {
                secret: SecretString::from(secret.to_owned()),
                kid: Some(key.kid.clone()),
                field: KEY_SETS.to_owned(),
            });
        }
    }
    out
}

/// Keys of the pending set that reuse an old key's kid or material.
fn reused_keys(set: &KeySet, old_keys: &[&Key]) -> Vec<Dropped> {
    set.keys
        .iter()
        .filter(|key| {
            old_keys
                .iter()
                .any(|o| o.kid == key.kid || o.material.same_as(&key.material))
        })
        .map(|key| Dropped {
            set: set.name,
            field: KEY_SETS.into(),
            kid: Some(key.kid.clone()),
            until: None,
        })
        .collect()
}

/// Tokens signed with every old key of the set's algorithm, under no kid, each pending kid and the
/// old key's own kid.
fn old_key_probes(
    set: &KeySet,
    old_secrets: &[OldSecret],
    old_keys: &[&Key],
) -> Result<Vec<OldKeyProbe>, BackendError> {
    let alg = set.policy.algorithm;
    let mut kids: Vec<Option<String>> = vec![None];
    kids.extend(set.keys.iter().map(|k| Some(k.kid.clone())));
    let mut probes = Vec::new();
    if alg.is_hmac() {
        for old in old_secrets {
            for kid in kids.iter().chain(std::iter::once(&old.kid)) {
                probes.push(OldKeyProbe {
                    token: sign_hmac(alg, old.secret.expose_secret(), kid.as_deref())?,
                    kid: old.kid.clone(),
                    field: old.field.clone(),
                });
            }
        }
    }
    for key in old_keys.iter().filter(|k| k.alg == alg && !alg.is_hmac()) {
        for kid in kids.iter().flatten().chain(std::iter::once(&key.kid)) {
            probes.push(OldKeyProbe {
                token: sign_with(alg, &key.material, Some(kid))?,
                kid: Some(key.kid.clone()),
                field: KEY_SETS.to_owned(),
            });
        }
    }
    Ok(probes)
}
