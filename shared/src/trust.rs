//! The trust boundary between an application secret and the admin who acts on it.
//!
//! Every field of an application secret (AWSCURRENT and AWSPENDING alike) is written by someone
//! weaker than the admin: a pipeline, an operator, `terraform apply`. Authority over a user comes
//! only from proof of possession of its current credential, or from the admin side: the admin
//! secret and the function's environment. This module holds what both backends share of that rule:
//! the seal that ties a pending value to the AWSCURRENT it was built from, the check that a pending
//! value changes nothing but the credential, and the admin side's explicit allowances.

use crate::backend::BackendError;
use crate::protocol::ROTATION_MODE_FIELD;
use crate::secret::SecretValue;
use aws_lc_rs::hmac;
use serde_json::Value;

/// The field in which createSecret seals the pending value to the AWSCURRENT it was built from.
pub const SEAL_FIELD: &str = "rotation_seal";
/// Admin secret field, and function environment variable (comma-separated): users that may be
/// reset by the admin without proof of possession of their current credential (break-glass).
/// An entry ending in `*` is a prefix.
pub const BREAK_GLASS_FIELD: &str = "break_glass_users";
/// The function environment's counterpart of [`BREAK_GLASS_FIELD`], comma-separated; it adds
/// to the admin secret's list.
pub const BREAK_GLASS_ENV: &str = "ROTATION_BREAK_GLASS_USERS";
/// Admin secret field, and function environment variable (comma-separated): privileged users
/// (superusers, ACL administrators) that an application secret may nevertheless rotate.
pub const PRIVILEGED_FIELD: &str = "privileged_users";
/// The function environment's counterpart of [`PRIVILEGED_FIELD`], comma-separated; it adds to
/// the admin secret's list.
pub const PRIVILEGED_ENV: &str = "ROTATION_PRIVILEGED_USERS";
/// Admin secret field: further `host` or `host:port` names of the admin's own server that
/// application secrets may use (a DNS alias, a reader endpoint, a proxy in front of it).
pub const ENDPOINTS_FIELD: &str = "endpoints";

/// Fields a rotation may change between AWSCURRENT and AWSPENDING.
const CREDENTIAL_FIELDS: [&str; 4] = ["username", "password", ROTATION_MODE_FIELD, SEAL_FIELD];
const SEAL_CONTEXT: &[u8] = b"secret-rotation pending seal v1";

/// A refusal at the trust boundary: names the field and the rule, never a value.
pub fn refused(field: &str, rule: &str) -> BackendError {
    BackendError::Refused {
        field: field.to_owned(),
        rule: rule.to_owned(),
    }
}

/// The seal createSecret writes into the pending value: an HMAC keyed with the whole AWSCURRENT
/// value (which holds the current credential) over this secret, this version and the pending value.
/// Forging one needs the current credential, so a secret writer who cannot read it cannot plant a
/// pending credential of their own choosing.
pub fn seal(current: &SecretValue, secret_arn: &str, token: &str, pending: &SecretValue) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, canonical_value(current).as_bytes());
    hex::encode(hmac::sign(&key, &seal_message(secret_arn, token, pending)).as_ref())
}

/// Refuses a pending value that createSecret did not seal with this AWSCURRENT, secret and version.
pub fn check_seal(
    current: &SecretValue,
    secret_arn: &str,
    token: &str,
    pending: &SecretValue,
) -> Result<(), BackendError> {
    let rule = "the pending value was not built by this function's createSecret from the current \
                AWSCURRENT (someone else may have written it, or AWSCURRENT changed since); cancel \
                the rotation and remove AWSPENDING, then rotate again";
    let tag = pending
        .get(SEAL_FIELD)
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| refused(SEAL_FIELD, rule))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, canonical_value(current).as_bytes());
    hmac::verify(&key, &seal_message(secret_arn, token, pending), &tag)
        .map_err(|_| refused(SEAL_FIELD, rule))
}

fn seal_message(secret_arn: &str, token: &str, pending: &SecretValue) -> Vec<u8> {
    let mut unsealed = pending.clone();
    unsealed.remove(SEAL_FIELD);
    let mut message = SEAL_CONTEXT.to_vec();
    for part in [secret_arn, token, &canonical_value(&unsealed)] {
        message.push(0);
        message.extend_from_slice(part.as_bytes());
    }
    message
}

/// The value as JSON with keys sorted at every level, so a value read back from Secrets Manager
/// yields the same bytes as when it was written, whatever the map's order.
fn canonical_value(value: &SecretValue) -> String {
    let mut out = String::new();
    write_canonical(&Value::Object(value.fields().clone()), &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A pending value may differ from AWSCURRENT only in its credential (user name and password)
/// and the rotation's own fields: the same server, database, admin secret, TLS settings and
/// options, or the writer of the pending value could point the admin somewhere else.
pub fn check_only_credential_changed(
    current: &SecretValue,
    pending: &SecretValue,
) -> Result<(), BackendError> {
    let fields = current.fields().keys().chain(pending.fields().keys());
    for field in fields {
        if CREDENTIAL_FIELDS.contains(&field.as_str()) {
            continue;
        }
        if current.get(field) != pending.get(field) {
            return Err(refused(
                printable_field(field),
                "differs between AWSCURRENT and AWSPENDING; a pending value may change only the \
                 user name and password",
            ));
        }
    }
    Ok(())
}

/// A field name fit for a message: names of the secret formats print, anything else does not.
fn printable_field(field: &str) -> &str {
    let plain = !field.is_empty()
        && field.len() <= 40
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        field
    } else {
        "(a field with an unusual name)"
    }
}

/// What the admin side allows beyond the rule: users the admin may reset without proof of
/// possession (break-glass), and privileged users an application secret may still rotate. Read
/// from the admin secret and the function's environment, never from an application secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminAllowances {
    break_glass: Vec<UserPattern>,
    privileged: Vec<UserPattern>,
}

/// A user name, or a prefix when it ends in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserPattern {
    Exact(String),
    Prefix(String),
}

impl UserPattern {
    fn parse(field: &str, entry: &str) -> Result<Self, BackendError> {
        let entry = entry.trim();
        match entry.strip_suffix('*') {
            Some("") => Err(refused(
                field,
                "a bare `*` would allow every user; name users or a non-empty prefix",
            )),
            Some(prefix) if !prefix.contains('*') => Ok(Self::Prefix(prefix.to_owned())),
            None if !entry.is_empty() && !entry.contains('*') => Ok(Self::Exact(entry.to_owned())),
            _ => Err(refused(
                field,
                "entries are user names, or a prefix followed by a single trailing `*`",
            )),
        }
    }

    fn matches(&self, user: &str) -> bool {
        match self {
            Self::Exact(name) => name == user,
            Self::Prefix(prefix) => user.starts_with(prefix.as_str()),
        }
    }
}

impl AdminAllowances {
    /// The function's environment only (no admin secret, e.g. a single user rotating itself).
    pub fn from_env() -> Result<Self, BackendError> {
        let mut allowances = Self::default();
        allowances.add_env()?;
        Ok(allowances)
    }

    /// The admin secret's fields, plus the function's environment.
    pub fn read(admin: &SecretValue) -> Result<Self, BackendError> {
        let mut allowances = Self {
            break_glass: patterns_field(admin, BREAK_GLASS_FIELD)?,
            privileged: patterns_field(admin, PRIVILEGED_FIELD)?,
        };
        allowances.add_env()?;
        Ok(allowances)
    }

    fn add_env(&mut self) -> Result<(), BackendError> {
        for (env, list) in [
            (BREAK_GLASS_ENV, &mut self.break_glass),
            (PRIVILEGED_ENV, &mut self.privileged),
        ] {
            if let Ok(value) = std::env::var(env) {
                for entry in value.split(',').filter(|e| !e.trim().is_empty()) {
                    list.push(UserPattern::parse(env, entry)?);
                }
            }
        }
        Ok(())
    }

    /// Whether the admin side lets the admin reset `user` without proof of possession.
    pub fn allows_break_glass(&self, user: &str) -> bool {
        self.break_glass.iter().any(|p| p.matches(user))
    }

    /// Whether the admin side lets an application secret rotate the privileged `user`.
    pub fn allows_privileged(&self, user: &str) -> bool {
        self.privileged.iter().any(|p| p.matches(user))
    }
}

fn patterns_field(admin: &SecretValue, field: &str) -> Result<Vec<UserPattern>, BackendError> {
    match admin.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let entry = item
                    .as_str()
                    .ok_or_else(|| refused(field, "must be an array of user names"))?;
                UserPattern::parse(field, entry)
            })
            .collect(),
        Some(_) => Err(refused(field, "must be an array of user names")),
    }
}

/// The admin secret's extra endpoint names (`endpoints`): `host` or `host:port` strings.
pub fn admin_endpoint_aliases(admin: &SecretValue) -> Result<Vec<String>, BackendError> {
    match admin.get(ENDPOINTS_FIELD) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().to_ascii_lowercase())
                    .ok_or_else(|| {
                        refused(
                            ENDPOINTS_FIELD,
                            "must be an array of \"host[:port]\" strings",
                        )
                    })
            })
            .collect(),
        Some(_) => Err(refused(
            ENDPOINTS_FIELD,
            "must be an array of \"host[:port]\" strings",
        )),
    }
}

/// Whether an application secret's `host:port` is the admin's own server: the same host and port,
/// or listed in the admin secret's `endpoints` (as `host:port`, or `host` for any port).
pub fn is_admin_endpoint(
    app_host: &str,
    app_port: u16,
    admin_host: &str,
    admin_port: u16,
    aliases: &[String],
) -> bool {
    let host = app_host.trim().to_ascii_lowercase();
    if host == admin_host.trim().to_ascii_lowercase() && app_port == admin_port {
        return true;
    }
    let with_port = format!("{host}:{app_port}");
    aliases.iter().any(|a| *a == with_port || *a == host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(v: Value) -> SecretValue {
        SecretValue::parse(&v.to_string()).unwrap()
    }

    #[test]
    fn a_seal_holds_for_its_value_version_and_current_only() {
        let current = value(json!({"username":"app","password":"p1","host":"h"}));
        let mut pending = value(json!({"username":"app","password":"p2","host":"h"}));
        let tag = seal(&current, "arn:s", "v1", &pending);
        pending.insert(SEAL_FIELD, Value::from(tag.clone()));
        assert!(check_seal(&current, "arn:s", "v1", &pending).is_ok());
        // Read back in another key order: the same bytes are sealed.
        let reordered = SecretValue::parse(&format!(
            r#"{{"{SEAL_FIELD}":"{tag}","host":"h","password":"p2","username":"app"}}"#
        ))
        .unwrap();
        assert!(check_seal(&current, "arn:s", "v1", &reordered).is_ok());
        assert!(check_seal(&current, "arn:s", "v2", &pending).is_err());
        assert!(check_seal(&current, "arn:other", "v1", &pending).is_err());
        let other_current = value(json!({"username":"app","password":"guess","host":"h"}));
        assert!(check_seal(&other_current, "arn:s", "v1", &pending).is_err());
        let mut planted = pending.clone();
        planted.insert("password", Value::from("chosen"));
        let err = check_seal(&current, "arn:s", "v1", &planted).unwrap_err();
        assert!(matches!(err, BackendError::Refused { ref field, .. } if field == SEAL_FIELD));
        let mut unsealed = pending;
        unsealed.remove(SEAL_FIELD);
        assert!(check_seal(&current, "arn:s", "v1", &unsealed).is_err());
    }

    #[test]
    fn only_the_credential_may_change() {
        let current = value(json!({"username":"app","password":"p1","host":"h","port":5432}));
        let ok = value(
            json!({"username":"app_clone","password":"p2","host":"h","port":5432,
                              "rotation_mode":"emergency", SEAL_FIELD: "x"}),
        );
        assert!(check_only_credential_changed(&current, &ok).is_ok());
        for (field, changed) in [
            (
                "host",
                json!({"username":"app","password":"p2","host":"evil","port":5432}),
            ),
            (
                "port",
                json!({"username":"app","password":"p2","host":"h","port":1}),
            ),
            (
                "masterarn",
                json!({"username":"app","password":"p2","host":"h","port":5432,"masterarn":"arn:x"}),
            ),
        ] {
            let err = check_only_credential_changed(&current, &value(changed)).unwrap_err();
            assert!(
                matches!(err, BackendError::Refused { field: ref f, .. } if f == field),
                "{err}"
            );
        }
        let hostile = value(
            json!({"username":"app","password":"p2","host":"h","port":5432,"hunter2 secret":1}),
        );
        let err = check_only_credential_changed(&current, &hostile)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn allowances_come_from_the_admin_secret_as_names_or_prefixes() {
        let admin = value(json!({"username":"admin","password":"x",
            BREAK_GLASS_FIELD: ["legacy_app", "batch_*"], PRIVILEGED_FIELD: ["ops"]}));
        let allowances = AdminAllowances::read(&admin).unwrap();
        assert!(allowances.allows_break_glass("legacy_app"));
        assert!(allowances.allows_break_glass("batch_nightly"));
        assert!(!allowances.allows_break_glass("legacy_app_clone"));
        assert!(!allowances.allows_break_glass("app"));
        assert!(allowances.allows_privileged("ops"));
        assert!(!allowances.allows_privileged("admin"));
        for bad in [
            json!(["*"]),
            json!("app"),
            json!([""]),
            json!(["a*b"]),
            json!([1]),
        ] {
            let admin = value(json!({"username":"admin","password":"x", BREAK_GLASS_FIELD: bad}));
            assert!(AdminAllowances::read(&admin).is_err());
        }
    }

    #[test]
    fn the_admin_endpoint_is_its_own_or_one_it_lists() {
        let aliases = vec!["db-alias.internal".to_owned(), "proxy:6432".to_owned()];
        assert!(is_admin_endpoint(
            "DB.internal",
            5432,
            "db.internal",
            5432,
            &[]
        ));
        assert!(!is_admin_endpoint(
            "db.internal",
            5433,
            "db.internal",
            5432,
            &[]
        ));
        assert!(!is_admin_endpoint(
            "evil",
            5432,
            "db.internal",
            5432,
            &aliases
        ));
        assert!(is_admin_endpoint(
            "db-alias.internal",
            1,
            "db.internal",
            5432,
            &aliases
        ));
        assert!(is_admin_endpoint(
            "proxy",
            6432,
            "db.internal",
            5432,
            &aliases
        ));
        assert!(!is_admin_endpoint(
            "proxy",
            5432,
            "db.internal",
            5432,
            &aliases
        ));
    }
}
