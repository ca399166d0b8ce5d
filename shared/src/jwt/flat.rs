//! The fields derived from the key list: one group per consumer convention and set, and the public
//! `jwks`. Written on every rotation from the keys alone, so they can never disagree with them.

use super::keygen;
use super::model::{invalid, Key, KeyState, Material, SetName};
use super::policy::{Convention, SetPolicy};
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
/// writes the kid array as a real JSON array instead of a JSON-encoded string.
pub fn derive(
    set: SetName,
    policy: &SetPolicy,
    keys: &[Key],
    kid_array_as_json: bool,
) -> Result<Vec<(&'static str, Value)>, BackendError> {
    let mut out = Vec::new();
    if policy.conventions.is_empty() {
        return Ok(out);
    }
    let ordered = ordered(keys);
    let mut secrets = Vec::with_capacity(ordered.len());
    for key in &ordered {
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
    let previous = ordered
        .iter()
        .zip(&secrets)
        .find(|(k, _)| k.state == KeyState::Previous)
        .map_or("", |(_, s)| *s);
    for convention in &policy.conventions {
        let fields = convention.fields(set);
        match convention {
            Convention::SecretKey => {
                out.push((fields[0], json!(secrets[0])));
                out.push((fields[1], json!(previous)));
            }
            Convention::SigningSecret => {
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
                out.push((fields[0], json!(secrets[0])));
                out.push((fields[1], json!(secrets.join(","))));
            }
            Convention::KidArray => {
                let entries: Vec<Value> = ordered
                    .iter()
                    .zip(&secrets)
                    .map(|(key, secret)| {
                        let mut entry = json!({
                            "kid": key.kid,
                            "secret": secret,
                            "isActive": key.state == KeyState::Active,
                            "canVerify": true,
                        });
                        if let Some(until) = key.verify_until {
                            entry["expiresAt"] = json!(super::time::format(until));
                        }
                        entry
                    })
                    .collect();
                let array = Value::Array(entries);
                out.push((
                    fields[0],
                    if kid_array_as_json {
                        array
                    } else {
                        Value::String(array.to_string())
                    },
                ));
            }
        }
    }
    Ok(out)
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
