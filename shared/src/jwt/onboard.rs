//! Onboarding: a secret that predates the key sets and holds one or more flat conventions becomes a
//! key set, keeping every key its applications sign or verify with today (and their kids).

use super::model::{check_kid, hmac_material, invalid, Key, KeyAlg, KeyState, SetName};
use super::policy::{Convention, SetPolicy};
use super::{keygen, time};
use crate::backend::BackendError;
use crate::secret::SecretValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// One key as a convention shows it.
struct Seen {
    /// Where it was read, for errors: `SECRET_KEY_PREVIOUS`, `JWT_SECRETS[1].secret`…
    field: String,
    secret: SecretString,
    kid: Option<String>,
    /// `expiresAt` from a kid array; `None` means the convention accepts it with no end.
    expires_at: Option<u64>,
}

/// What one convention's fields say about a set.
struct Found {
    field: &'static str,
    active: Seen,
    others: Vec<Seen>,
}

/// Whether the value holds a field of any convention of `set`.
pub fn present(value: &SecretValue, set: SetName) -> bool {
    Convention::ALL
        .iter()
        .flat_map(|c| c.fields(set))
        .any(|field| value.get(field).is_some_and(|v| !v.is_null()))
}

/// Whether the set's kid array is stored as a JSON array rather than a JSON-encoded string.
pub fn kid_array_is_json(value: &SecretValue, set: SetName) -> bool {
    value
        .get(Convention::KidArray.fields(set)[0])
        .is_some_and(Value::is_array)
}

/// The keys the flat conventions of `set` hold today: the signing key as `active`, every other key
/// a consumer accepts as `previous`, verifying until `policy.previous_until(now)` (or its
/// `expiresAt` when only a kid array lists it). Kids from a kid array are kept; other keys get new
/// random kids. The single-key fields are read only when the policy's conventions include
/// `singleKey`: otherwise they are the application's own fields, left alone.
///
/// `previous_until` is what a key demoted by this rotation gets: we cannot know when an adopted key
/// stopped signing, and counting its grace the same way keeps a testSecret within
/// maxRotationSeconds from finding it short.
pub fn adopt(
    value: &SecretValue,
    set: SetName,
    policy: &SetPolicy,
    now: u64,
) -> Result<Vec<Key>, BackendError> {
    let (alg, previous_until) = (policy.algorithm, policy.previous_until(now));
    let single = if policy.has(Convention::SingleKey) {
        single_key(value, set)?
    } else {
        Vec::new()
    };
    // The single-key fields come last: a disagreement is reported against the older convention.
    let found: Vec<Found> = [
        secret_key(value, set)?,
        signing_secret(value, set)?,
        kid_array(value, set, now)?,
    ]
    .into_iter()
    .flatten()
    .chain(single)
    .collect();
    let Some(first) = found.first() else {
        return Ok(Vec::new());
    };
    same_signing_key(&found)?;
    let mut adoption = Adoption {
        found: &found,
        set,
        // Flat conventions hold HMAC secrets, whatever algorithm the policy names.
        alg: if alg.is_hmac() { alg } else { KeyAlg::HS256 },
        previous_until,
        now,
        keys: Vec::new(),
    };
    adoption.add(&first.active, KeyState::Active)?;
    for seen in found.iter().flat_map(|f| &f.others) {
        adoption.add(seen, KeyState::Previous)?;
    }
    Ok(adoption.keys)
}

/// Every convention present must sign with the first one's key.
fn same_signing_key(found: &[Found]) -> Result<(), BackendError> {
    let Some((first, rest)) = found.split_first() else {
        return Ok(());
    };
    for other in rest {
        if other.active.secret.expose_secret() != first.active.secret.expose_secret() {
            return Err(invalid(
                other.field,
                &format!(
                    "holds a different signing key from {}; make the conventions agree \
                     before the first rotation",
                    first.field
                ),
            ));
        }
    }
    Ok(())
}

/// The key list being adopted, one key per distinct secret. Holds key material: no `Debug`.
struct Adoption<'a> {
    found: &'a [Found],
    set: SetName,
    alg: KeyAlg,
    previous_until: u64,
    now: u64,
    keys: Vec<Key>,
}

impl Adoption<'_> {
    /// Adds the key `seen` shows, or widens the grace of the key already holding its secret.
    fn add(&mut self, seen: &Seen, state: KeyState) -> Result<(), BackendError> {
        let field = seen.field.as_str();
        let secret = seen.secret.expose_secret();
        let verify_until =
            (state == KeyState::Previous).then(|| seen.expires_at.unwrap_or(self.previous_until));
        if let Some(existing) = self
            .keys
            .iter_mut()
            .find(|k| k.material.hmac_secret() == Some(secret))
        {
            // Listed by several conventions: it verifies as long as the most lenient one says.
            if existing.state == KeyState::Previous {
                existing.verify_until = existing.verify_until.max(verify_until);
            }
            return Ok(());
        }
        let listed_kid = self.kid_of(secret);
        // Only a kid the secret already lists names the key for the operator; a drawn one does not.
        let material = hmac_material(secret, self.alg, field, listed_kid.as_deref())?;
        let kid = match listed_kid {
            Some(kid) if self.keys.iter().any(|k| k.kid == kid) => {
                return Err(invalid(field, "lists one kid for two different keys"))
            }
            Some(kid) => kid,
            None => keygen::kid(self.set.as_str(), self.now)
                .map_err(|e| invalid(field, &e.to_string()))?,
        };
        self.keys.push(Key {
            kid,
            state,
            alg: self.alg,
            created_at: self.now,
            activated_at: (state == KeyState::Active).then_some(self.now),
            retired_at: None,
            verify_until,
            material,
        });
        Ok(())
    }

    /// A kid array's kid wins for its key, whichever convention lists the key first.
    fn kid_of(&self, secret: &str) -> Option<String> {
        self.found
            .iter()
            .flat_map(|f| std::iter::once(&f.active).chain(&f.others))
            .find(|seen| seen.kid.is_some() && seen.secret.expose_secret() == secret)
            .and_then(|seen| seen.kid.clone())
    }
}

fn string_field<'a>(value: &'a SecretValue, field: &str) -> Result<Option<&'a str>, BackendError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn seen(field: &str, secret: &str) -> Seen {
    Seen {
        field: field.to_owned(),
        secret: SecretString::from(secret.to_owned()),
        kid: None,
        expires_at: None,
    }
}

/// `SECRET_KEY` signs; `SECRET_KEY_PREVIOUS` verifies when not empty.
fn secret_key(value: &SecretValue, set: SetName) -> Result<Option<Found>, BackendError> {
    let [current, previous] = Convention::SecretKey.fields(set) else {
        return Ok(None);
    };
    let previous_value = string_field(value, previous)?.filter(|s| !s.is_empty());
    let Some(active) = string_field(value, current)?.filter(|s| !s.is_empty()) else {
        if previous_value.is_some() {
            return Err(invalid(
                current,
                &format!("is missing while {previous} is set"),
            ));
        }
        return Ok(None);
    };
    Ok(Some(Found {
        field: current,
        active: seen(current, active),
        others: previous_value
            .map(|p| seen(previous, p))
            .into_iter()
            .collect(),
    }))
}

/// `JWT_SIGNING_SECRET` signs; any entry of `JWT_VERIFICATION_SECRETS` verifies.
fn signing_secret(value: &SecretValue, set: SetName) -> Result<Option<Found>, BackendError> {
    let [signing, verification] = Convention::SigningSecret.fields(set) else {
        return Ok(None);
    };
    let list = string_field(value, verification)?;
    let Some(active) = string_field(value, signing)?.filter(|s| !s.is_empty()) else {
        if list.is_some_and(|l| !l.trim().is_empty()) {
            return Err(invalid(
                signing,
                &format!("is missing while {verification} is set"),
            ));
        }
        return Ok(None);
    };
    let others = list
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != active)
        .map(|s| seen(verification, s))
        .collect();
    Ok(Some(Found {
        field: signing,
        active: seen(signing, active),
        others,
    }))
}

/// `singleKey`: each of `JWT_ACCESS_SECRET` / `JWT_SECRET` (refresh: `JWT_REFRESH_SECRET`) the
/// secret has holds the key that signs and the only one that verifies.
fn single_key(value: &SecretValue, set: SetName) -> Result<Vec<Found>, BackendError> {
    let mut out = Vec::new();
    for field in Convention::SingleKey.fields(set) {
        let Some(active) = string_field(value, field)? else {
            continue;
        };
        // Unlike SECRET_KEY_PREVIOUS, the field has no "nothing here" value: it is the key.
        if active.is_empty() {
            return Err(invalid(
                field,
                "is empty: it must hold the key its applications sign with",
            ));
        }
        out.push(Found {
            field,
            active: seen(field, active),
            others: Vec::new(),
        });
    }
    Ok(out)
}

/// The `JWT_SECRETS` kid-array convention: `[{kid, secret, isActive, canVerify, expiresAt}]`, as a
/// JSON array or a JSON-encoded string. The `isActive` entry signs; entries with `canVerify: true`
/// verify until `expiresAt`.
fn kid_array(value: &SecretValue, set: SetName, now: u64) -> Result<Option<Found>, BackendError> {
    let field = Convention::KidArray.fields(set)[0];
    let shape = "must be a JSON array of {kid, secret, isActive, canVerify, expiresAt}";
    let parsed;
    let entries = match value.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| invalid(field, shape))?;
            parsed.as_array().ok_or_else(|| invalid(field, shape))?
        }
        Some(_) => return Err(invalid(field, shape)),
    };
    let mut active: Option<Seen> = None;
    let mut others = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match kid_array_entry(entry, &format!("{field}[{i}]"), now)? {
            (seen, Some(KeyState::Active)) => {
                if active.is_some() {
                    return Err(invalid(
                        field,
                        "has more than one entry with isActive: true",
                    ));
                }
                active = Some(Seen {
                    expires_at: None,
                    ..seen
                });
            }
            (seen, Some(_)) => others.push(seen),
            (_, None) => {}
        }
    }
    let active = active.ok_or_else(|| invalid(field, "has no entry with isActive: true"))?;
    Ok(Some(Found {
        field,
        active,
        others,
    }))
}

/// One kid-array entry at `path`: the key, and whether it is adopted as the active key
/// (`isActive`), a previous one (`canVerify`, not past `expiresAt`) or not at all.
fn kid_array_entry(
    entry: &Value,
    path: &str,
    now: u64,
) -> Result<(Seen, Option<KeyState>), BackendError> {
    let object = entry
        .as_object()
        .ok_or_else(|| invalid(path, "must be an object"))?;
    let text = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(&format!("{path}.{name}"), "must be a string")),
    };
    let flag = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(&format!("{path}.{name}"), "must be true or false")),
    };
    let kid = check_kid(
        text("kid")?.ok_or_else(|| invalid(&format!("{path}.kid"), "is missing"))?,
        &format!("{path}.kid"),
    )?;
    let secret = text("secret")?.ok_or_else(|| invalid(&format!("{path}.secret"), "is missing"))?;
    let expires_at = text("expiresAt")?
        .map(|s| {
            time::parse(s)
                .ok_or_else(|| invalid(&format!("{path}.expiresAt"), "must be an RFC 3339 time"))
        })
        .transpose()?;
    let seen = Seen {
        field: format!("{path}.secret"),
        secret: SecretString::from(secret.to_owned()),
        kid: Some(kid),
        expires_at,
    };
    let state = if flag("isActive")? {
        Some(KeyState::Active)
    } else if flag("canVerify")? && expires_at.is_none_or(|until| until > now) {
        Some(KeyState::Previous)
    } else {
        None
    };
    Ok((seen, state))
}
