//! The key sets: names, states, algorithms, and one key with its redacted material, read from and
//! written to the `keySets` member of the secret.

use super::keygen;
use super::time;
use crate::backend::BackendError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use std::fmt;

/// The smallest HMAC key accepted, HS256's: 256 bits (jsonwebtoken itself accepts one byte).
/// HS384 and HS512 need more: [`KeyAlg::min_hmac_key_bytes`].
pub const MIN_HMAC_BYTES: usize = 32;

/// A key set: `access` tokens, and optionally `refresh` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetName {
    Access,
    Refresh,
}

impl SetName {
    pub const ALL: [SetName; 2] = [SetName::Access, SetName::Refresh];

    pub fn as_str(self) -> &'static str {
        match self {
            SetName::Access => "access",
            SetName::Refresh => "refresh",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The member holding this set's public JWK Set when its algorithm is asymmetric.
    pub fn jwks_field(self) -> &'static str {
        match self {
            SetName::Access => "jwks",
            SetName::Refresh => "refreshJwks",
        }
    }
}

/// `next` → `active` → `previous` → pruned. Only `active` signs; all three verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Previous,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Previous => "previous",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [KeyState::Next, KeyState::Active, KeyState::Previous]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The signing algorithms a set may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    HS256,
    HS384,
    HS512,
    EdDSA,
    ES256,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 5] = [
        KeyAlg::HS256,
        KeyAlg::HS384,
        KeyAlg::HS512,
        KeyAlg::EdDSA,
        KeyAlg::ES256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::HS256 => "HS256",
            KeyAlg::HS384 => "HS384",
            KeyAlg::HS512 => "HS512",
            KeyAlg::EdDSA => "EdDSA",
            KeyAlg::ES256 => "ES256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, KeyAlg::HS256 | KeyAlg::HS384 | KeyAlg::HS512)
    }

    /// The hash output size: RFC 7518's minimum HMAC key size, and the default for random keys.
    pub fn hmac_hash_bytes(self) -> usize {
        match self {
            KeyAlg::HS384 => 48,
            KeyAlg::HS512 => 64,
            _ => MIN_HMAC_BYTES,
        }
    }

    /// The shortest HMAC key accepted for this algorithm, imported or generated: its hash output
    /// size (RFC 7518 §3.2), so HS256 ≥ 32, HS384 ≥ 48, HS512 ≥ 64 bytes.
    pub fn min_hmac_key_bytes(self) -> usize {
        self.hmac_hash_bytes()
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::HS256 => Algorithm::HS256,
            KeyAlg::HS384 => Algorithm::HS384,
            KeyAlg::HS512 => Algorithm::HS512,
            KeyAlg::EdDSA => Algorithm::EdDSA,
            KeyAlg::ES256 => Algorithm::ES256,
        }
    }
}

/// An HMAC key refused for its length. Names the algorithm and the rule, never the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HmacKeyError {
    /// A key read from the secret (a key set or a convention being onboarded).
    #[error(
        "is shorter than the {}-byte ({}-bit) minimum for {}; replace it with an emergency rotation",
        .alg.min_hmac_key_bytes(),
        .alg.min_hmac_key_bytes() * 8,
        .alg.as_str()
    )]
    TooShort { alg: KeyAlg },
    /// A key about to be generated from too few random bytes.
    #[error(
        "asks for {bytes} random bytes, fewer than the {}-byte ({}-bit) minimum for {}",
        .alg.min_hmac_key_bytes(),
        .alg.min_hmac_key_bytes() * 8,
        .alg.as_str()
    )]
    TooFewBytes { alg: KeyAlg, bytes: usize },
}

/// A key's secret half. `Debug` never shows it.
#[derive(Clone)]
pub enum Material {
    /// The HMAC key is the UTF-8 bytes of this string.
    Hmac(SecretString),
    /// A PKCS#8 PEM private key and its public key (not secret).
    Private { pem: SecretString, public: Vec<u8> },
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Material::Hmac(_) => f.write_str("Hmac(<redacted>)"),
            Material::Private { .. } => f.write_str("Private(<redacted>)"),
        }
    }
}

impl Material {
    pub fn hmac_secret(&self) -> Option<&str> {
        match self {
            Material::Hmac(secret) => Some(secret.expose_secret()),
            Material::Private { .. } => None,
        }
    }

    /// Whether two keys hold the same material.
    pub fn same_as(&self, other: &Material) -> bool {
        match (self, other) {
            (Material::Hmac(a), Material::Hmac(b)) => a.expose_secret() == b.expose_secret(),
            (Material::Private { public: a, .. }, Material::Private { public: b, .. }) => a == b,
            _ => false,
        }
    }

    pub fn encoding_key(&self, alg: KeyAlg) -> Result<EncodingKey, keygen::KeyError> {
        match self {
            Material::Hmac(secret) => {
                Ok(EncodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            Material::Private { pem, .. } => {
                let der = keygen::pem_decode(pem.expose_secret())?;
                match alg {
                    KeyAlg::EdDSA => Ok(EncodingKey::from_ed_der(der.expose_secret())),
                    _ => Ok(EncodingKey::from_ec_der(der.expose_secret())),
                }
            }
        }
    }

    pub fn decoding_key(&self, alg: KeyAlg) -> DecodingKey {
        match self {
            Material::Hmac(secret) => DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            Material::Private { public, .. } if alg == KeyAlg::EdDSA => {
                DecodingKey::from_ed_der(public)
            }
            Material::Private { public, .. } => DecodingKey::from_ec_der(public),
        }
    }
}

/// One key of a set. Times are seconds since the epoch, written as RFC 3339 UTC.
#[derive(Debug, Clone)]
pub struct Key {
    pub kid: String,
    pub state: KeyState,
    pub alg: KeyAlg,
    /// When it was generated, or adopted from a secret that predates the key sets.
    pub created_at: u64,
    pub activated_at: Option<u64>,
    pub retired_at: Option<u64>,
    /// Previous keys only: the end of the grace period; pruned at the first rotation after it.
    pub verify_until: Option<u64>,
    pub material: Material,
}

impl Key {
    /// Whether the key still verifies at `now`.
    pub fn verifies_at(&self, now: u64) -> bool {
        self.verify_until.is_none_or(|until| now < until)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("kid".into(), json!(self.kid));
        out.insert("state".into(), json!(self.state.as_str()));
        out.insert("alg".into(), json!(self.alg.as_str()));
        out.insert("createdAt".into(), json!(time::format(self.created_at)));
        for (name, at) in [
            ("activatedAt", self.activated_at),
            ("retiredAt", self.retired_at),
            ("verifyUntil", self.verify_until),
        ] {
            if let Some(at) = at {
                out.insert(name.into(), json!(time::format(at)));
            }
        }
        match &self.material {
            Material::Hmac(secret) => out.insert("secret".into(), json!(secret.expose_secret())),
            Material::Private { pem, .. } => {
                out.insert("privateKey".into(), json!(pem.expose_secret()))
            }
        };
        Value::Object(out)
    }

    /// Reads one entry of `keySets.<set>`; `path` names it in errors.
    pub fn from_json(value: &Value, path: &str) -> Result<Self, BackendError> {
        let entry = value
            .as_object()
            .ok_or_else(|| invalid(path, "must be an object"))?;
        for name in entry.keys() {
            if !KNOWN_KEY_FIELDS.contains(&name.as_str()) {
                return Err(invalid(&format!("{path}.{name}"), "is not a key field"));
            }
        }
        let text = |name: &str| -> Result<Option<&str>, BackendError> {
            match entry.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(invalid(&format!("{path}.{name}"), "must be a string")),
            }
        };
        let required = |name: &str| -> Result<&str, BackendError> {
            text(name)?.ok_or_else(|| invalid(&format!("{path}.{name}"), "is missing"))
        };
        let at = |name: &str| -> Result<Option<u64>, BackendError> {
            text(name)?
                .map(|s| {
                    time::parse(s).ok_or_else(|| {
                        invalid(
                            &format!("{path}.{name}"),
                            "must be an RFC 3339 time such as 2026-04-17T00:00:00Z",
                        )
                    })
                })
                .transpose()
        };
        let kid = check_kid(required("kid")?, &format!("{path}.kid"))?;
        let state = KeyState::parse(required("state")?)
            .ok_or_else(|| invalid(&format!("{path}.state"), "must be next, active or previous"))?;
        let alg = KeyAlg::parse(required("alg")?).ok_or_else(|| {
            invalid(
                &format!("{path}.alg"),
                "must be HS256, HS384, HS512, EdDSA or ES256",
            )
        })?;
        let created_at =
            at("createdAt")?.ok_or_else(|| invalid(&format!("{path}.createdAt"), "is missing"))?;
        let verify_until = at("verifyUntil")?;
        if state == KeyState::Previous && verify_until.is_none() {
            return Err(invalid(
                &format!("{path}.verifyUntil"),
                "is missing: a previous key needs the end of its grace period",
            ));
        }
        let material = if alg.is_hmac() {
            if entry.contains_key("privateKey") {
                return Err(invalid(
                    &format!("{path}.privateKey"),
                    "does not belong to an HMAC key",
                ));
            }
            hmac_material(
                required("secret")?,
                alg,
                &format!("{path}.secret"),
                Some(&kid),
            )?
        } else {
            if entry.contains_key("secret") {
                return Err(invalid(
                    &format!("{path}.secret"),
                    "does not belong to an asymmetric key",
                ));
            }
            private_material(alg, required("privateKey")?, &format!("{path}.privateKey"))?
        };
        Ok(Key {
            kid,
            state,
            alg,
            created_at,
            activated_at: at("activatedAt")?,
            retired_at: at("retiredAt")?,
            verify_until,
            material,
        })
    }
}

const KNOWN_KEY_FIELDS: [&str; 9] = [
    "kid",
    "state",
    "alg",
    "createdAt",
    "activatedAt",
    "retiredAt",
    "verifyUntil",
    "secret",
    "privateKey",
];

/// A kid as consumers look it up: non-empty, at most 128 printable ASCII characters.
pub fn check_kid(kid: &str, path: &str) -> Result<String, BackendError> {
    if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            path,
            "must be 1 to 128 printable ASCII characters without spaces",
        ));
    }
    Ok(kid.to_owned())
}

/// An HMAC key string at least as long as `alg`'s hash output. The problem names the field, the
/// kid when there is one, and the rule; never the value.
pub fn hmac_material(
    secret: &str,
    alg: KeyAlg,
    path: &str,
    kid: Option<&str>,
) -> Result<Material, BackendError> {
    if secret.len() < alg.min_hmac_key_bytes() {
        let rule = HmacKeyError::TooShort { alg };
        let problem = match kid {
            Some(kid) => format!("(kid {kid}) {rule}"),
            None => rule.to_string(),
        };
        return Err(invalid(path, &problem));
    }
    Ok(Material::Hmac(SecretString::from(secret.to_owned())))
}

fn private_material(alg: KeyAlg, pem: &str, path: &str) -> Result<Material, BackendError> {
    let der = keygen::pem_decode(pem).map_err(|e| invalid(path, &e.to_string()))?;
    let public =
        keygen::public_key(alg, der.expose_secret()).map_err(|e| invalid(path, &e.to_string()))?;
    Ok(Material::Private {
        pem: SecretString::from(pem.to_owned()),
        public,
    })
}

/// A new key of `alg` for `set`, in `state`.
pub fn generate(
    set: SetName,
    alg: KeyAlg,
    hmac_bytes: usize,
    state: KeyState,
    now: u64,
) -> Result<Key, BackendError> {
    let failed = |e: keygen::KeyError| BackendError::Rejected {
        target: format!("key generation for set `{}`", set.as_str()),
        detail: e.to_string(),
    };
    let material = if alg.is_hmac() {
        // The policy already refuses fewer bytes; a caller passing its own count may not.
        if hmac_bytes < alg.min_hmac_key_bytes() {
            return Err(invalid(
                &format!("policy.{}.hmacKeyBytes", set.as_str()),
                &HmacKeyError::TooFewBytes {
                    alg,
                    bytes: hmac_bytes,
                }
                .to_string(),
            ));
        }
        Material::Hmac(keygen::hmac_secret(hmac_bytes).map_err(failed)?)
    } else {
        let pem = keygen::private_key_pem(alg).map_err(failed)?;
        let der = keygen::pem_decode(pem.expose_secret()).map_err(failed)?;
        let public = keygen::public_key(alg, der.expose_secret()).map_err(failed)?;
        Material::Private { pem, public }
    };
    Ok(Key {
        kid: keygen::kid(set.as_str(), now).map_err(failed)?,
        state,
        alg,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        verify_until: None,
        material,
    })
}

pub fn invalid(field: &str, problem: &str) -> BackendError {
    BackendError::InvalidField {
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}
