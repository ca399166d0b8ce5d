//! The whole JWT secret: its key sets with their policies, read from a secret value (adopting the
//! flat conventions of a secret that predates the key sets) and written back with every derived
//! field.

use super::flat;
use super::model::{invalid, Key, KeyAlg, KeyState, SetName};
use super::onboard;
use super::policy::{configured_sets, single_key_fields, Convention, SetPolicy};
use crate::backend::BackendError;
use crate::secret::SecretValue;
use serde_json::{json, Map, Value};

/// The secret's `engine`.
pub const ENGINE: &str = "jwt";
/// The member holding the key lists.
pub const KEY_SETS: &str = "keySets";
/// The member holding the policies.
pub const POLICY: &str = "policy";

/// One set: its policy and keys.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// Which set.
    pub name: SetName,
    /// Its resolved policy.
    pub policy: SetPolicy,
    /// Its keys.
    pub keys: Vec<Key>,
    /// The kid array is written as a JSON array (as the secret had it) rather than a JSON string.
    pub kid_array_as_json: bool,
    /// The fields `singleKey` writes, when the policy has it: those the secret already holds
    /// (`JWT_ACCESS_SECRET`, `JWT_SECRET`, or both), else `JWT_ACCESS_SECRET`.
    pub single_key_fields: Vec<&'static str>,
}

impl KeySet {
    /// The key that signs.
    pub fn active(&self) -> Option<&Key> {
        self.keys.iter().find(|k| k.state == KeyState::Active)
    }
}

/// The key sets of one secret value, `access` first.
#[derive(Debug, Clone)]
pub struct JwtSecret {
    /// The sets, `access` first.
    pub sets: Vec<KeySet>,
}

/// How to read keys from the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Every key, strictly validated; a set missing from `keySets` adopts its flat conventions.
    Keys,
    /// Policies only (an emergency rotation drops every key, so none needs to be readable).
    PoliciesOnly,
}

impl JwtSecret {
    /// The key sets of `value`: `access` always, `refresh` when anything names it.
    pub fn read(value: &SecretValue, how: Read, now: u64) -> Result<Self, BackendError> {
        super::SPEC.check_engine_field(value)?;
        let policy = value.get(POLICY).filter(|v| !v.is_null());
        let key_sets = key_sets(value)?;
        let names = set_names(value, policy, key_sets)?;
        let mut sets = Vec::new();
        for name in SetName::ALL {
            if name != SetName::Access && !names.contains(&name) {
                continue;
            }
            let policy_json = policy.and_then(|p| p.get(name.as_str()));
            let entries = key_sets.and_then(|sets| sets.get(name.as_str()));
            sets.push(read_set(value, name, how, policy_json, entries, now)?);
        }
        Ok(Self { sets })
    }

    /// `base` with every field this function owns replaced by the ones derived from the key sets;
    /// other fields (the application's own settings) are kept as they are.
    pub fn write(&self, base: &SecretValue) -> Result<SecretValue, BackendError> {
        let mut fields: Map<String, Value> = base
            .fields()
            .iter()
            .filter(|(name, _)| !self.owns(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        fields.insert("engine".into(), json!(ENGINE));
        let mut policy = Map::new();
        let mut key_sets = Map::new();
        for set in &self.sets {
            policy.insert(set.name.as_str().into(), set.policy.to_json());
            let keys: Vec<Value> = flat::ordered(&set.keys)
                .into_iter()
                .map(Key::to_json)
                .collect();
            key_sets.insert(set.name.as_str().into(), Value::Array(keys));
            for (field, value) in flat::derive(
                set.name,
                &set.policy,
                &set.keys,
                set.kid_array_as_json,
                &set.single_key_fields,
            )? {
                fields.insert(field.into(), value);
            }
        }
        fields.insert(POLICY.into(), Value::Object(policy));
        fields.insert(KEY_SETS.into(), Value::Object(key_sets));
        for set in &self.sets {
            if !set.policy.algorithm.is_hmac() {
                fields.insert(
                    set.name.jwks_field().into(),
                    flat::jwks(flat::ordered(&set.keys)),
                );
            }
        }
        Ok(SecretValue::from_map(fields))
    }

    /// The set named `name`, if the secret has it.
    pub fn set(&self, name: SetName) -> Option<&KeySet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// Whether this function writes `field`; every other field of the secret is left alone.
    /// The single-key fields are ours only in a set whose policy has `singleKey`: elsewhere a
    /// `JWT_SECRET` is the application's own, as it was before that convention existed.
    pub fn owns(&self, field: &str) -> bool {
        let single_key = |set: SetName| {
            self.set(set)
                .is_some_and(|s| s.policy.has(Convention::SingleKey))
        };
        ["engine", POLICY, KEY_SETS].contains(&field)
            || SetName::ALL.iter().any(|set| {
                set.jwks_field() == field
                    || Convention::ALL
                        .iter()
                        .filter(|c| **c != Convention::SingleKey || single_key(*set))
                        .any(|c| c.fields(*set).contains(&field))
            })
    }
}

fn key_sets(value: &SecretValue) -> Result<Option<&Map<String, Value>>, BackendError> {
    match value.get(KEY_SETS) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(sets)) => Ok(Some(sets)),
        Some(_) => Err(invalid(KEY_SETS, "must be an object")),
    }
}

/// The sets the policy, the key list or a flat convention names. A value naming none and no
/// `engine` is refused, so a secret of another kind wired to this function is never touched.
fn set_names(
    value: &SecretValue,
    policy: Option<&Value>,
    key_sets: Option<&Map<String, Value>>,
) -> Result<Vec<SetName>, BackendError> {
    let mut names = configured_sets(policy)?;
    for name in key_sets.into_iter().flat_map(|sets| sets.keys()) {
        names.push(SetName::parse(name).ok_or_else(|| {
            invalid(
                &format!("{KEY_SETS}.{name}"),
                "is not a key set (known: access, refresh)",
            )
        })?);
    }
    names.extend(
        SetName::ALL
            .into_iter()
            .filter(|set| onboard::present(value, *set)),
    );
    let recognised =
        !names.is_empty() || value.get("engine").and_then(Value::as_str) == Some(ENGINE);
    if !recognised {
        return Err(invalid(
            KEY_SETS,
            "is missing, and the secret holds none of SECRET_KEY, JWT_SIGNING_SECRET, JWT_SECRETS, \
             JWT_ACCESS_SECRET, JWT_SECRET (or their refresh variants) to adopt; add a `policy` \
             member to start new key sets",
        ));
    }
    Ok(names)
}

/// One set: its keys read strictly, adopted from the flat conventions when `keySets` lacks it, or
/// none at all when only policies are read.
fn read_set(
    value: &SecretValue,
    name: SetName,
    how: Read,
    policy_json: Option<&Value>,
    entries: Option<&Value>,
    now: u64,
) -> Result<KeySet, BackendError> {
    let holds = |field: &str| value.get(field).is_some_and(|v| !v.is_null());
    let single_key_fields = single_key_fields(name, holds);
    let holds_single_key = Convention::SingleKey.fields(name).iter().any(|f| holds(f));
    let policy = |hint| SetPolicy::read(name, policy_json, hint, holds_single_key);
    let (policy, keys) = match (how, entries.filter(|e| !e.is_null())) {
        (Read::PoliciesOnly, entries) => (policy(entries.and_then(active_alg_hint))?, Vec::new()),
        (Read::Keys, Some(entries)) => {
            let keys = read_keys(name, entries)?;
            let hint = keys
                .iter()
                .find(|k| k.state == KeyState::Active)
                .map(|k| k.alg);
            (policy(hint)?, keys)
        }
        (Read::Keys, None) => {
            let policy = policy(None)?;
            let keys = onboard::adopt(value, name, &policy, now)?;
            (policy, keys)
        }
    };
    Ok(KeySet {
        name,
        policy,
        keys,
        kid_array_as_json: onboard::kid_array_is_json(value, name),
        single_key_fields,
    })
}

fn active_alg_hint(entries: &Value) -> Option<KeyAlg> {
    entries
        .as_array()?
        .iter()
        .find(|k| k.get("state").and_then(Value::as_str) == Some("active"))
        .and_then(|k| k.get("alg")?.as_str())
        .and_then(KeyAlg::parse)
}

fn read_keys(set: SetName, entries: &Value) -> Result<Vec<Key>, BackendError> {
    let path = format!("{KEY_SETS}.{}", set.as_str());
    let entries = entries
        .as_array()
        .ok_or_else(|| invalid(&path, "must be an array of keys"))?;
    let mut keys: Vec<Key> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let key = Key::from_json(entry, &format!("{path}[{i}]"))?;
        if keys.iter().any(|k| k.kid == key.kid) {
            return Err(invalid(
                &format!("{path}[{i}].kid"),
                "repeats another key's kid",
            ));
        }
        if keys.iter().any(|k| k.material.same_as(&key.material)) {
            return Err(invalid(
                &format!("{path}[{i}]"),
                "repeats another key's material",
            ));
        }
        keys.push(key);
    }
    for (state, most) in [(KeyState::Active, 1), (KeyState::Next, 1)] {
        if keys.iter().filter(|k| k.state == state).count() > most {
            return Err(invalid(
                &path,
                &format!("has more than one {} key", state.as_str()),
            ));
        }
    }
    if !keys.is_empty() && !keys.iter().any(|k| k.state == KeyState::Active) {
        return Err(invalid(&path, "has keys but no active key"));
    }
    Ok(keys)
}
