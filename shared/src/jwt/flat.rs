//! The fields derived from the key list: one group per consumer convention and set, and the public
//! `jwks`. Written on every rotation from the keys alone, so they can never disagree with them.

use super::keygen;
use super::model::{invalid, Key, KeyState, Material, SetName};
use super::policy::{Convention, SetPolicy};
use super::time;
use crate::backend::BackendError;
use serde_json::{json, Value};

/// A set's keys in the order consumers should try them: active, next, then previous newest first.
pub fn ordered(keys: &[Key]) -> Vec<&Key> {
    let mut out: Vec<&Key> = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    out.extend(keys.iter().filter(|k| k.state == KeyState::Next));
    out.extend(keys.iter().filter(|k| k.state == KeyState::Previous));
    out
}

/// The flat fields of one HMAC set for the conventions its policy enables. `kid_array_as_json`
/// writes the kid array as a real JSON array instead of a JSON-encoded string;
/// `single_key_fields` are the fields `singleKey` writes (see `policy::single_key_fields`).
pub fn derive(
    set: SetName,
    policy: &SetPolicy,
    keys: &[Key],
    kid_array_as_json: bool,
    single_key_fields: &[&'static str],
) -> Result<Vec<(&'static str, Value)>, BackendError> {
    let mut out = Vec::new();
    if policy.conventions.is_empty() {
        return Ok(out);
    }
    let ordered = ordered(keys);
    let secrets = hmac_secrets(set, &ordered)?;
    for convention in &policy.conventions {
        let fields = convention.fields(set);
        match convention {
            Convention::SecretKey => out.extend(secret_key(fields, &ordered, &secrets)),
            Convention::SigningSecret => out.extend(signing_secret(set, fields, &secrets)?),
            Convention::KidArray => {
                let array = kid_array(&ordered, &secrets);
                let value = if kid_array_as_json {
                    array
                } else {
                    Value::String(array.to_string())
                };
                out.push((fields[0], value));
            }
            // The active key alone: no previous key, no next key (a hard cut for its consumers).
            Convention::SingleKey => out.extend(
                single_key_fields
                    .iter()
                    .map(|field| (*field, json!(secrets[0]))),
            ),
        }
    }
    Ok(out)
}

/// The HMAC key strings of `ordered`, which must start with the active key.
fn hmac_secrets<'a>(set: SetName, ordered: &[&'a Key]) -> Result<Vec<&'a str>, BackendError> {
    let mut secrets = Vec::with_capacity(ordered.len());
    for key in ordered {
        let secret = key.material.hmac_secret().ok_or_else(|| {
            invalid(
                &format!("keySets.{}", set.as_str()),
                "holds an asymmetric key while policy asks for flat HMAC conventions",
            )
        })?;
        secrets.push(secret);
    }
    if !ordered.first().is_some_and(|k| k.state == KeyState::Active) {
        return Err(invalid(
            &format!("keySets.{}", set.as_str()),
            "has no active key",
        ));
    }
    Ok(secrets)
}

/// `SECRET_KEY`: the active key; `SECRET_KEY_PREVIOUS`: the newest previous key, or `""`.
fn secret_key(
    fields: &'static [&'static str],
    ordered: &[&Key],
    secrets: &[&str],
) -> [(&'static str, Value); 2] {
    let previous = ordered
        .iter()
        .zip(secrets)
        .find(|(k, _)| k.state == KeyState::Previous)
        .map_or("", |(_, s)| *s);
    [(fields[0], json!(secrets[0])), (fields[1], json!(previous))]
}

/// `JWT_SIGNING_SECRET`: the active key; `JWT_VERIFICATION_SECRETS`: every key, comma-separated.
fn signing_secret(
    set: SetName,
    fields: &'static [&'static str],
    secrets: &[&str],
) -> Result<[(&'static str, Value); 2], BackendError> {
    // Consumers split the list on commas and trim each entry.
    if let Some(position) = secrets
        .iter()
        .position(|s| s.contains(',') || s.trim() != *s)
    {
        return Err(invalid(
            &format!("keySets.{}[{}].secret", set.as_str(), position),
            &format!(
                "contains a comma or surrounding whitespace, which {} cannot list",
                fields[1]
            ),
        ));
    }
    Ok([
        (fields[0], json!(secrets[0])),
        (fields[1], json!(secrets.join(","))),
    ])
}

/// `JWT_SECRETS`: one entry per key, with `expiresAt` when the key has a `verifyUntil`.
fn kid_array(ordered: &[&Key], secrets: &[&str]) -> Value {
    let entries = ordered
        .iter()
        .zip(secrets)
        .map(|(key, secret)| {
            let mut entry = json!({
                "kid": key.kid,
                "secret": secret,
                "isActive": key.state == KeyState::Active,
                "canVerify": true,
            });
            if let Some(until) = key.verify_until {
                entry["expiresAt"] = json!(time::format(until));
            }
            entry
        })
        .collect();
    Value::Array(entries)
}

/// The public JWK Set of every asymmetric key that verifies: `{"keys": [...]}`.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Value {
    let jwks: Vec<Value> = keys
        .into_iter()
        .filter_map(|key| match &key.material {
            Material::Private { public, .. } => keygen::public_jwk(key.alg, &key.kid, public),
            Material::Hmac(_) => None,
        })
        .collect();
    json!({ "keys": jwks })
}
