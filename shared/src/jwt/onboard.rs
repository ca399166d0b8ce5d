//! Onboarding: a secret that predates the key sets and holds one or more flat conventions becomes a
//! key set, keeping every key its applications sign or verify with today (and their kids).

use super::model::{check_kid, hmac_material, invalid, Key, KeyAlg, KeyState, SetName};
use super::policy::Convention;
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
/// a consumer accepts as `previous`, verifying until `previous_until` (or its `expiresAt` when only
/// a kid array lists it). Kids from a kid array are kept; other keys get new random kids.
///
/// `previous_until` is what a key demoted by the same rotation would get (now plus
/// maxRotationSeconds plus graceSeconds): we cannot know when an adopted key stopped signing, and
/// counting its grace the same way keeps a testSecret within maxRotationSeconds from finding it
/// short.
pub fn adopt(
    value: &SecretValue,
    set: SetName,
    alg: KeyAlg,
    previous_until: u64,
    now: u64,
) -> Result<Vec<Key>, BackendError> {
    let found: Vec<Found> = [
        secret_key(value, set)?,
        signing_secret(value, set)?,
        kid_array(value, set, now)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let Some(first) = found.first() else {
        return Ok(Vec::new());
    };
    for other in &found[1..] {
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
    let alg = if alg.is_hmac() { alg } else { KeyAlg::HS256 };
    // A kid array's kid wins for its key, whichever convention lists the key first.
    let kid_of = |secret: &str| {
        found
            .iter()
            .flat_map(|f| std::iter::once(&f.active).chain(&f.others))
            .find(|seen| seen.kid.is_some() && seen.secret.expose_secret() == secret)
            .and_then(|seen| seen.kid.clone())
    };
    let mut keys: Vec<Key> = Vec::new();
    let mut add = |seen: &Seen, state: KeyState| -> Result<(), BackendError> {
        let field = seen.field.as_str();
        let secret = seen.secret.expose_secret();
        let verify_until =
            (state == KeyState::Previous).then(|| seen.expires_at.unwrap_or(previous_until));
        if let Some(existing) = keys
            .iter_mut()
            .find(|k| k.material.hmac_secret() == Some(secret))
        {
            // Listed by several conventions: it verifies as long as the most lenient one says.
            if existing.state == KeyState::Previous {
                existing.verify_until = existing.verify_until.max(verify_until);
            }
            return Ok(());
        }
        let listed_kid = kid_of(secret);
        // Only a kid the secret already lists names the key for the operator; a drawn one does not.
        let material = hmac_material(secret, alg, field, listed_kid.as_deref())?;
        let kid = match listed_kid {
            Some(kid) if keys.iter().any(|k| k.kid == kid) => {
                return Err(invalid(field, "lists one kid for two different keys"))
            }
            Some(kid) => kid,
            None => keygen::kid(set.as_str(), now).map_err(|e| invalid(field, &e.to_string()))?,
        };
        keys.push(Key {
            kid,
            state,
            alg,
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
            verify_until,
            material,
        });
        Ok(())
    };
    add(&first.active, KeyState::Active)?;
    for seen in found.iter().flat_map(|f| &f.others) {
        add(seen, KeyState::Previous)?;
    }
    Ok(keys)
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

/// The `SECRET_KEY`/`SECRET_KEY_PREVIOUS` convention: try `SECRET_KEY`, then `SECRET_KEY_PREVIOUS` when it is not empty.
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

/// The `JWT_SIGNING_SECRET`/`JWT_VERIFICATION_SECRETS` convention: sign with `JWT_SIGNING_SECRET`; accept any entry of `JWT_VERIFICATION_SECRETS`.
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

/// The `JWT_SECRETS` kid-array convention: `[{kid, secret, isActive, canVerify, expiresAt}]`, as a JSON array or a JSON-encoded
/// string. The `isActive` entry signs; entries with `canVerify: true` verify until `expiresAt`.
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
        let path = format!("{field}[{i}]");
        let object = entry
            .as_object()
            .ok_or_else(|| invalid(&path, "must be an object"))?;
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
        let secret =
            text("secret")?.ok_or_else(|| invalid(&format!("{path}.secret"), "is missing"))?;
        let expires_at = text("expiresAt")?
            .map(|s| {
                time::parse(s).ok_or_else(|| {
                    invalid(&format!("{path}.expiresAt"), "must be an RFC 3339 time")
                })
            })
            .transpose()?;
        let seen = Seen {
            field: format!("{path}.secret"),
            secret: SecretString::from(secret.to_owned()),
            kid: Some(kid),
            expires_at,
        };
        if flag("isActive")? {
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
        } else if flag("canVerify")? && expires_at.is_none_or(|until| until > now) {
            others.push(seen);
        }
    }
    let active = active.ok_or_else(|| invalid(field, "has no entry with isActive: true"))?;
    Ok(Some(Found {
        field,
        active,
        others,
    }))
}
