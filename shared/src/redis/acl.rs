//! `ACL GETUSER` replies and the `ACL SETUSER` rule lists rebuilt from them.
//!
//! Measured on Redis 7.0: the rule list `resetkeys resetchannels clearselectors -@all`, the flags,
//! then the commands, keys and channels strings split on spaces, then one `(...)` per selector,
//! rebuilds a user exactly. Passwords go in as `#<sha256>` and out as `!<sha256>`; we never send
//! `resetpass` (it would cut every client off) nor `reset` (it adds sanitize-payload).

use redis::Value;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// A password's SHA-256 in lowercase hex, as `ACL GETUSER` lists it. Secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The hash the server stores for `password`.
    pub fn of(password: &SecretString) -> Self {
        Self(hex::encode(Sha256::digest(
            password.expose_secret().as_bytes(),
        )))
    }

    /// The rule that adds this password.
    pub fn add_rule(&self) -> Rule {
        Rule(format!("#{}", self.0))
    }

    /// The rule that removes this password.
    pub fn remove_rule(&self) -> Rule {
        Rule(format!("!{}", self.0))
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// One `ACL SETUSER` argument. May hold a password hash, so `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Rule(String);

impl Rule {
    /// Wraps a rule as given; the caller makes sure it is one rule, not several.
    pub fn new(rule: impl Into<String>) -> Self {
        Self(rule.into())
    }

    /// The rule as sent; may hold a password hash, so never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rule(<redacted>)")
    }
}

/// The permissions of one selector, or of the user's root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    /// The command rules as one string, e.g. `-@all +get`.
    pub commands: String,
    /// The key patterns, space-separated, e.g. `~app:*`.
    pub keys: String,
    /// The channel patterns, space-separated, e.g. `&*`.
    pub channels: String,
}

impl Permissions {
    /// The rules that grant these permissions after a reset, in `ACL GETUSER` order.
    fn rules(&self) -> impl Iterator<Item = &str> {
        [&self.commands, &self.keys, &self.channels]
            .into_iter()
            .flat_map(|s| s.split_ascii_whitespace())
    }
}

/// A user as `ACL GETUSER` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclUser {
    /// The flags as listed, e.g. `on`, `nopass`, `allkeys`.
    pub flags: Vec<String>,
    /// The hashes of every password the user has.
    pub passwords: Vec<PasswordHash>,
    /// The permissions outside any selector.
    pub root: Permissions,
    /// The selectors, in order; each grants on its own.
    pub selectors: Vec<Permissions>,
}

/// What in a reply did not look like `ACL GETUSER`'s. Names the part, never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected ACL GETUSER reply: {0}")]
pub struct ParseError(&'static str);

impl AclUser {
    /// Parses a RESP2 (flat array) or RESP3 (map) reply; `Nil` means no such user.
    pub fn parse(reply: &Value) -> Result<Option<Self>, ParseError> {
        let pairs = match reply {
            Value::Nil => return Ok(None),
            other => pairs(other).ok_or(ParseError("not a field/value list"))?,
        };
        let mut user = AclUser::default();
        for (name, value) in pairs {
            match name.as_str() {
                "flags" => user.flags = strings(value).ok_or(ParseError("flags"))?,
                "passwords" => {
                    user.passwords = strings(value)
                        .ok_or(ParseError("passwords"))?
                        .into_iter()
                        .map(PasswordHash)
                        .collect()
                }
                "commands" => user.root.commands = text(value).ok_or(ParseError("commands"))?,
                "keys" => user.root.keys = text_or_list(value).ok_or(ParseError("keys"))?,
                "channels" => {
                    user.root.channels = text_or_list(value).ok_or(ParseError("channels"))?
                }
                "selectors" => {
                    let (Value::Array(items) | Value::Set(items)) = value else {
                        return Err(ParseError("selectors"));
                    };
                    for item in items {
                        user.selectors.push(selector(item)?);
                    }
                }
                _ => {} // fields of later versions
            }
        }
        Ok(Some(user))
    }

    /// Whether the user has `flag`, compared exactly.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether the user accepts the password with this hash.
    pub fn has_password(&self, hash: &PasswordHash) -> bool {
        self.passwords.contains(hash)
    }

    /// The flags that describe permissions (not `on`/`off`, not `nopass`).
    pub fn permission_flags(&self) -> impl Iterator<Item = &str> {
        self.flags
            .iter()
            .map(String::as_str)
            .filter(|f| !matches!(*f, "on" | "off" | "nopass"))
    }

    /// The parts in which two users' permissions differ: empty when one is a true clone.
    pub fn permission_differences(&self, other: &AclUser) -> Vec<&'static str> {
        let mut differences = vec![];
        if !self.permission_flags().eq(other.permission_flags()) {
            differences.push("flags");
        }
        if self.root.commands != other.root.commands {
            differences.push("commands");
        }
        if self.root.keys != other.root.keys {
            differences.push("keys");
        }
        if self.root.channels != other.root.channels {
            differences.push("channels");
        }
        if self.selectors != other.selectors {
            differences.push("selectors");
        }
        differences
    }
}

/// Rules that leave `existing` (or a new user) with exactly the passwords `keep` plus `add`.
pub fn password_rules(
    existing: Option<&AclUser>,
    keep: &[&PasswordHash],
    add: &PasswordHash,
) -> Vec<Rule> {
    let mut rules: Vec<Rule> = existing
        .map(|u| u.passwords.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|h| *h != add && !keep.contains(h))
        .map(PasswordHash::remove_rule)
        .collect();
    if !existing.is_some_and(|u| u.has_password(add)) {
        rules.push(add.add_rule());
    }
    rules
}

/// Rules that make a user (new or existing) a copy of `source`'s permissions, switched on.
/// Password rules come separately (see [`password_rules`]); they may precede these.
pub fn clone_rules(source: &AclUser) -> Vec<Rule> {
    let mut rules: Vec<Rule> = [
        "resetkeys",
        "resetchannels",
        "clearselectors",
        "-@all",
        "on",
    ]
    .into_iter()
    .map(Rule::new)
    .collect();
    rules.extend(source.permission_flags().map(Rule::new));
    rules.extend(source.root.rules().map(Rule::new));
    for selector in &source.selectors {
        rules.push(Rule(format!(
            "({})",
            selector.rules().collect::<Vec<_>>().join(" ")
        )));
    }
    rules
}

fn pairs(value: &Value) -> Option<Vec<(String, &Value)>> {
    match value {
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|kv| Some((text(&kv[0])?, &kv[1])))
            .collect(),
        Value::Map(entries) => entries.iter().map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        _ => None,
    }
}

/// Redis 6.0 listed keys and channels as arrays; 6.2+ as one string.
fn text_or_list(value: &Value) -> Option<String> {
    text(value).or_else(|| strings(value).map(|v| v.join(" ")))
}

fn selector(value: &Value) -> Result<Permissions, ParseError> {
    let mut permissions = Permissions::default();
    for (name, value) in pairs(value).ok_or(ParseError("selector"))? {
        let field = match name.as_str() {
            "commands" => &mut permissions.commands,
            "keys" => &mut permissions.keys,
            "channels" => &mut permissions.channels,
            _ => continue,
        };
        *field = text_or_list(value).ok_or(ParseError("selector"))?;
    }
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn array(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn perms(commands: &str, keys: &str, channels: &str) -> Vec<Value> {
        ["commands", commands, "keys", keys, "channels", channels]
            .map(bulk)
            .to_vec()
    }

    const HASH: &str = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";

    /// Redis 7.0's reply for the user
    /// `sel on >pw ~app:* &chan:* +@read (~other:* %W~w:* +set) (+get ~x*)`.
    fn selector_user_reply() -> Value {
        let mut items = vec![bulk("flags"), array(&["on"])];
        items.extend([bulk("passwords"), array(&[HASH])]);
        items.extend(perms("-@all +@read", "~app:*", "&chan:*"));
        items.push(bulk("selectors"));
        items.push(Value::Array(vec![
            Value::Array(perms("-@all +set", "~other:* %W~w:*", "")),
            Value::Array(perms("-@all +get", "~x*", "")),
        ]));
        Value::Array(items)
    }

    #[test]
    fn parses_a_user_with_selectors() {
        let user = AclUser::parse(&selector_user_reply()).unwrap().unwrap();
        assert_eq!(user.flags, ["on"]);
        assert_eq!(user.passwords, [PasswordHash(HASH.into())]);
        assert_eq!(user.root.commands, "-@all +@read");
        assert_eq!(user.root.keys, "~app:*");
        assert_eq!(user.root.channels, "&chan:*");
        assert_eq!(user.selectors.len(), 2);
        assert_eq!(user.selectors[0].keys, "~other:* %W~w:*");
        assert_eq!(user.selectors[1].commands, "-@all +get");
    }

    #[test]
    fn clone_rules_rebuild_selectors_one_argument_each() {
        let user = AclUser::parse(&selector_user_reply()).unwrap().unwrap();
        let rules: Vec<String> = clone_rules(&user)
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        assert_eq!(
            rules,
            [
                "resetkeys",
                "resetchannels",
                "clearselectors",
                "-@all",
                "on",
                "-@all",
                "+@read",
                "~app:*",
                "&chan:*",
                "(-@all +set ~other:* %W~w:*)",
                "(-@all +get ~x*)",
            ]
        );
        assert!(!rules
            .iter()
            .any(|r| r == "reset" || r == "resetpass" || r == "nopass"));
    }

    #[test]
    fn parses_resp3_maps_and_missing_users() {
        let map = Value::Map(vec![
            (
                bulk("flags"),
                Value::Set(vec![
                    bulk("off"),
                    bulk("skip-sanitize-payload"),
                    bulk("nopass"),
                ]),
            ),
            (bulk("passwords"), Value::Array(vec![])),
            (bulk("commands"), bulk("-@all +subscribe")),
            (bulk("keys"), bulk("~config:*")),
            (bulk("channels"), bulk("")),
            (bulk("selectors"), Value::Array(vec![])),
        ]);
        let user = AclUser::parse(&map).unwrap().unwrap();
        assert!(user.has_flag("nopass"));
        assert_eq!(
            user.permission_flags().collect::<Vec<_>>(),
            ["skip-sanitize-payload"]
        );
        assert_eq!(AclUser::parse(&Value::Nil).unwrap(), None);
        assert!(AclUser::parse(&Value::Int(3)).is_err());
        assert!(AclUser::parse(&array(&["flags"])).is_err());
    }

    #[test]
    fn password_rules_keep_listed_hashes_and_add_once() {
        let (a, b, c) = (
            PasswordHash::of(&"a".into()),
            PasswordHash::of(&"b".into()),
            PasswordHash::of(&"c".into()),
        );
        let user = AclUser {
            passwords: vec![a.clone(), b.clone()],
            ..Default::default()
        };
        // Keep b (current), add c (pending): a goes.
        assert_eq!(
            password_rules(Some(&user), &[&b], &c),
            [a.remove_rule(), c.add_rule()]
        );
        // A retry after c was added changes nothing.
        let done = AclUser {
            passwords: vec![b.clone(), c.clone()],
            ..Default::default()
        };
        assert!(password_rules(Some(&done), &[&b], &c).is_empty());
        // A new user gets only the added password.
        assert_eq!(password_rules(None, &[&b], &c), [c.add_rule()]);
    }

    #[test]
    fn hashes_are_sha256_hex_and_never_debug_printed() {
        let hash = PasswordHash::of(&"pw".into());
        assert_eq!(hash.add_rule().as_str(), format!("#{HASH}"));
        assert_eq!(hash.remove_rule().as_str(), format!("!{HASH}"));
        for shown in [format!("{hash:?}"), format!("{:?}", hash.add_rule())] {
            assert!(!shown.contains(&HASH[..16]), "{shown}");
        }
    }

    #[test]
    fn differences_ignore_names_passwords_and_on_off() {
        let user = AclUser::parse(&selector_user_reply()).unwrap().unwrap();
        let mut clone = user.clone();
        clone.passwords.clear();
        clone.flags = vec!["off".into()];
        assert!(user.permission_differences(&clone).is_empty());
        clone.root.keys = "~*".into();
        clone.selectors.pop();
        assert_eq!(user.permission_differences(&clone), ["keys", "selectors"]);
    }
}
