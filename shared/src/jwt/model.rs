//! The key sets: names, states, algorithms, and one key with its redacted material, read from and
//! written to the `keySets` member of the secret. Key generation lives in `keygen`, which builds on
//! these types.

use super::time;
use crate::backend::BackendError;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde_json::{json, Map, Value};
use std::fmt;

/// The smallest HMAC key accepted, HS256's: 256 bits (jsonwebtoken itself accepts one byte).
/// HS384 and HS512 need more: [`KeyAlg::min_hmac_key_bytes`].
pub const MIN_HMAC_BYTES: usize = 32;

/// A key set: `access` tokens, and optionally `refresh` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetName {
    /// `access`: always present.
    Access,
    /// `refresh`: present when the secret's policy, key list or flat fields name it.
    Refresh,
}

impl SetName {
    /// Every set, `access` first.
    pub const ALL: [SetName; 2] = [SetName::Access, SetName::Refresh];

    /// The set's name in `policy` and `keySets`.
    pub fn as_str(self) -> &'static str {
        match self {
            SetName::Access => "access",
            SetName::Refresh => "refresh",
        }
    }

    /// The set named `name`, if it is one.
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
    /// Verifies; consumers pre-load it before it signs.
    Next,
    /// Signs and verifies; one per set.
    Active,
    /// Verifies until its `verifyUntil`.
    Previous,
}

impl KeyState {
    /// The state as written in a key's `state` member.
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
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// Ed25519.
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl KeyAlg {
    /// Every accepted algorithm; `none` and RSA are not among them.
    pub const ALL: [KeyAlg; 5] = [
        KeyAlg::HS256,
        KeyAlg::HS384,
        KeyAlg::HS512,
        KeyAlg::EdDSA,
        KeyAlg::ES256,
    ];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::HS256 => "HS256",
            KeyAlg::HS384 => "HS384",
            KeyAlg::HS512 => "HS512",
            KeyAlg::EdDSA => "EdDSA",
            KeyAlg::ES256 => "ES256",
        }
    }

    /// The algorithm with JOSE name `name`, if accepted.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether keys of this algorithm are shared HMAC secrets.
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

    /// The same algorithm as jsonwebtoken names it.
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
    TooShort {
        /// The key's algorithm.
        alg: KeyAlg,
    },
    /// A key about to be generated from too few random bytes.
    #[error(
        "asks for {bytes} random bytes, fewer than the {}-byte ({}-bit) minimum for {}",
        .alg.min_hmac_key_bytes(),
        .alg.min_hmac_key_bytes() * 8,
        .alg.as_str()
    )]
    TooFewBytes {
        /// The key's algorithm.
        alg: KeyAlg,
        /// The number of random bytes asked for.
        bytes: usize,
    },
}

/// Why key material could not be made or read. Never holds the material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The OS random source failed.
    #[error("the OS random source failed")]
    Random,
    /// aws-lc-rs could not generate a key pair of the named kind.
    #[error("generating a {0} key pair failed")]
    Generate(&'static str),
    /// The text is not a PKCS#8 PEM private key.
    #[error("not a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`)")]
    NotPem,
    /// The private key is not of the named kind.
    #[error("the private key is not a valid {0} key")]
    WrongKey(&'static str),
}

/// A key's secret half. `Debug` never shows it.
#[derive(Clone)]
pub enum Material {
    /// The HMAC key is the UTF-8 bytes of this string.
    Hmac(SecretString),
    /// A PKCS#8 PEM private key and its public key.
    Private {
        /// The PKCS#8 private key as PEM.
        pem: SecretString,
        /// Its public key (not secret).
        public: Vec<u8>,
    },
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
    /// The HMAC key string; `None` for a private key.
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

    /// The key to sign with under `alg`.
    pub fn encoding_key(&self, alg: KeyAlg) -> Result<EncodingKey, KeyError> {
        match self {
            Material::Hmac(secret) => {
                Ok(EncodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            Material::Private { pem, .. } => {
                let der = pem_decode(pem.expose_secret())?;
                match alg {
                    KeyAlg::EdDSA => Ok(EncodingKey::from_ed_der(der.expose_secret())),
                    _ => Ok(EncodingKey::from_ec_der(der.expose_secret())),
                }
            }
        }
    }

    /// The key to verify with under `alg`: the public key for a private one.
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
    /// The key id tokens name it by; unique in its set.
    pub kid: String,
    /// Where it is in its life: next, active or previous.
    pub state: KeyState,
    /// The algorithm it signs or verifies under.
    pub alg: KeyAlg,
    /// When it was generated, or adopted from a secret that predates the key sets.
    pub created_at: u64,
    /// When it started signing.
    pub activated_at: Option<u64>,
    /// When a rotation demoted it: that rotation's createSecret. It signs until finishSecret.
    pub retired_at: Option<u64>,
    /// Previous keys only: the end of the grace period; pruned at the first rotation after it.
    pub verify_until: Option<u64>,
    /// The secret half, redacted in `Debug`.
    pub material: Material,
}

impl Key {
    /// Whether the key still verifies at `now`.
    pub fn verifies_at(&self, now: u64) -> bool {
        self.verify_until.is_none_or(|until| now < until)
    }

    /// The key as an entry of `keySets.<set>`.
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
        let entry = Entry::new(value, path)?;
        let kid = check_kid(entry.required("kid")?, &entry.path("kid"))?;
        let state = KeyState::parse(entry.required("state")?)
            .ok_or_else(|| invalid(&entry.path("state"), "must be next, active or previous"))?;
        let alg = KeyAlg::parse(entry.required("alg")?).ok_or_else(|| {
            invalid(
                &entry.path("alg"),
                "must be HS256, HS384, HS512, EdDSA or ES256",
            )
        })?;
        let created_at = entry
            .at("createdAt")?
            .ok_or_else(|| invalid(&entry.path("createdAt"), "is missing"))?;
        let verify_until = entry.at("verifyUntil")?;
        if state == KeyState::Previous && verify_until.is_none() {
            return Err(invalid(
                &entry.path("verifyUntil"),
                "is missing: a previous key needs the end of its grace period",
            ));
        }
        let material = entry.material(alg, &kid)?;
        Ok(Key {
            kid,
            state,
            alg,
            created_at,
            activated_at: entry.at("activatedAt")?,
            retired_at: entry.at("retiredAt")?,
            verify_until,
            material,
        })
    }
}

/// One `keySets` entry being read. Holds key material: no `Debug`.
struct Entry<'a> {
    fields: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Entry<'a> {
    /// An object with no member outside `KNOWN_KEY_FIELDS`.
    fn new(value: &'a Value, path: &'a str) -> Result<Self, BackendError> {
        let fields = value
            .as_object()
            .ok_or_else(|| invalid(path, "must be an object"))?;
        for name in fields.keys() {
            if !KNOWN_KEY_FIELDS.contains(&name.as_str()) {
                return Err(invalid(&format!("{path}.{name}"), "is not a key field"));
            }
        }
        Ok(Self { fields, path })
    }

    fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    fn text(&self, name: &str) -> Result<Option<&'a str>, BackendError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(&self.path(name), "must be a string")),
        }
    }

    fn required(&self, name: &str) -> Result<&'a str, BackendError> {
        self.text(name)?
            .ok_or_else(|| invalid(&self.path(name), "is missing"))
    }

    fn at(&self, name: &str) -> Result<Option<u64>, BackendError> {
        self.text(name)?
            .map(|s| {
                time::parse(s).ok_or_else(|| {
                    invalid(
                        &self.path(name),
                        "must be an RFC 3339 time such as 2026-04-17T00:00:00Z",
                    )
                })
            })
            .transpose()
    }

    /// `secret` for an HMAC key, `privateKey` for an asymmetric one; never both.
    fn material(&self, alg: KeyAlg, kid: &str) -> Result<Material, BackendError> {
        if alg.is_hmac() {
            if self.fields.contains_key("privateKey") {
                return Err(invalid(
                    &self.path("privateKey"),
                    "does not belong to an HMAC key",
                ));
            }
            hmac_material(
                self.required("secret")?,
                alg,
                &self.path("secret"),
                Some(kid),
            )
        } else {
            if self.fields.contains_key("secret") {
                return Err(invalid(
                    &self.path("secret"),
                    "does not belong to an asymmetric key",
                ));
            }
            private_material(alg, self.required("privateKey")?, &self.path("privateKey"))
        }
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
    let der = pem_decode(pem).map_err(|e| invalid(path, &e.to_string()))?;
    let public = public_key(alg, der.expose_secret()).map_err(|e| invalid(path, &e.to_string()))?;
    Ok(Material::Private {
        pem: SecretString::from(pem.to_owned()),
        public,
    })
}

/// The DER inside a PKCS#8 PEM, wiped when dropped.
pub fn pem_decode(pem: &str) -> Result<SecretBox<[u8]>, KeyError> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.strip_suffix("-----END PRIVATE KEY-----"))
        .ok_or(KeyError::NotPem)?;
    let compact = SecretString::from(body.split_ascii_whitespace().collect::<String>());
    let der = STANDARD
        .decode(compact.expose_secret())
        .map_err(|_| KeyError::NotPem)?;
    Ok(SecretBox::new(der.into_boxed_slice()))
}

/// The public key of a PKCS#8 private key: 32 bytes for Ed25519, the uncompressed point for P-256.
pub fn public_key(alg: KeyAlg, pkcs8: &[u8]) -> Result<Vec<u8>, KeyError> {
    match alg {
        KeyAlg::EdDSA => Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| pair.public_key().as_ref().to_vec())
            .map_err(|_| KeyError::WrongKey("Ed25519")),
        KeyAlg::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map(|pair| pair.public_key().as_ref().to_vec())
            .map_err(|_| KeyError::WrongKey("P-256")),
        KeyAlg::HS256 | KeyAlg::HS384 | KeyAlg::HS512 => Err(KeyError::WrongKey("asymmetric")),
    }
}

/// An `InvalidSecret` error naming `field` and the rule it breaks; never a value.
pub fn invalid(field: &str, problem: &str) -> BackendError {
    BackendError::InvalidField {
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}
