//! Consumers that behave like each convention's applications, reading only the fields they use,
//! and probe tokens to put through them. testSecret proves the pending value with these.

use super::model::{invalid, KeyAlg, Material, SetName};
use super::policy::Convention;
use super::time;
use crate::backend::BackendError;
use crate::secret::SecretValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which fields a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One flat convention's fields. For `singleKey`, the first of its fields the value holds
    /// (`JWT_ACCESS_SECRET` before `JWT_SECRET`); `Single` names one.
    Flat(Convention),
    /// One single-key field (`JWT_ACCESS_SECRET`, `JWT_SECRET`, `JWT_REFRESH_SECRET`), as an
    /// application that reads nothing else: it signs and verifies with that key alone, so it
    /// stops accepting the previous key as soon as a rotation is promoted (the hard cut).
    Single(&'static str),
    /// The set's public JWK Set (`jwks` / `refreshJwks`), looked up by kid.
    Jwks,
}

impl Kind {
    /// The field a consumer of this kind reads first, for messages.
    pub fn field(self, set: SetName) -> &'static str {
        match self {
            Kind::Flat(convention) => convention.fields(set)[0],
            Kind::Single(field) => field,
            Kind::Jwks => set.jwks_field(),
        }
    }

    /// Whether its consumer verifies with the active key alone (see `Single`).
    pub fn hard_cut(self) -> bool {
        match self {
            Kind::Flat(convention) => convention.hard_cut(),
            Kind::Single(_) => true,
            Kind::Jwks => false,
        }
    }
}

/// Why a consumer refused a token. Names no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JWT signed with a supported algorithm.
    #[error("not a JWT signed with a supported algorithm")]
    Malformed,
    /// The token's algorithm is not the set's.
    #[error("the token's algorithm is not the key set's")]
    Algorithm,
    /// A kid-keyed consumer got a token without a kid.
    #[error("the token has no kid")]
    MissingKid,
    /// No verifying key has the token's kid.
    #[error("no verifying key has the token's kid")]
    UnknownKid,
    /// The key with the token's kid is past its `expiresAt`.
    #[error("the key with the token's kid is past its expiresAt")]
    KeyExpired,
    /// No verifying key matches the signature.
    #[error("the signature matches no verifying key")]
    BadSignature,
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    TokenExpired,
    /// Any other claim problem.
    #[error("the token's claims are not acceptable")]
    Claims,
}

/// A key as a consumer holds it.
pub struct ConsumerKey {
    /// The kid it is looked up by (kid array, JWK Set); `None` in keyless conventions.
    pub kid: Option<String>,
    /// HMAC consumers hold the secret (they could sign with it); JWKS consumers the public key.
    pub secret: Option<SecretString>,
    decoding: DecodingKey,
    /// The kid array's `expiresAt`: it stops verifying then.
    pub expires_at: Option<u64>,
    /// The key this convention's signer uses.
    pub signs: bool,
    /// Whether the consumer accepts tokens signed with it (until `expires_at`).
    pub verifies: bool,
}

/// One application reading one convention of one set.
pub struct Consumer {
    /// The set it reads.
    pub set: SetName,
    /// The fields it reads.
    pub kind: Kind,
    /// The only algorithm it accepts: the set's.
    pub alg: KeyAlg,
    /// Its keys, in the order it tries them.
    pub keys: Vec<ConsumerKey>,
}

impl Consumer {
    /// The consumer of `kind` for `set` in `value`, or `None` when the value lacks its fields.
    pub fn read(
        value: &SecretValue,
        set: SetName,
        kind: Kind,
        alg: KeyAlg,
    ) -> Result<Option<Self>, BackendError> {
        let keys = match kind {
            Kind::Flat(Convention::SecretKey) => secret_key_keys(value, set)?,
            Kind::Flat(Convention::SigningSecret) => signing_secret_keys(value, set)?,
            Kind::Flat(Convention::KidArray) => kid_array_keys(value, set)?,
            Kind::Flat(Convention::SingleKey) => {
                let held = Convention::SingleKey
                    .fields(set)
                    .iter()
                    .find(|f| value.get(f).is_some_and(|v| !v.is_null()));
                match held {
                    Some(field) => single_key_keys(value, field)?,
                    None => None,
                }
            }
            Kind::Single(field) => single_key_keys(value, field)?,
            Kind::Jwks => jwks_keys(value, set, alg)?,
        };
        Ok(keys.map(|keys| Self {
            set,
            kind,
            alg,
            keys,
        }))
    }

    /// The key and kid this convention's signer uses, if the convention has a signer.
    pub fn signer(&self) -> Option<&ConsumerKey> {
        self.keys.iter().find(|k| k.signs)
    }

    /// The keys it accepts at `now`.
    pub fn verifying(&self, now: u64) -> impl Iterator<Item = &ConsumerKey> {
        self.keys
            .iter()
            .filter(move |k| k.verifies && k.expires_at.is_none_or(|until| now < until))
    }

    /// Verifies as the applications do: the set's algorithm only; then every key in turn
    /// (kid-less conventions) or the key with the token's kid, if it has not expired at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<(), Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        if header.alg != self.alg.jwt() {
            return Err(Rejection::Algorithm);
        }
        let by_kid = matches!(self.kind, Kind::Flat(Convention::KidArray) | Kind::Jwks);
        let candidates: Vec<&ConsumerKey> = if by_kid {
            let kid = header.kid.as_deref().ok_or(Rejection::MissingKid)?;
            let key = self
                .keys
                .iter()
                .find(|k| k.verifies && k.kid.as_deref() == Some(kid))
                .ok_or(Rejection::UnknownKid)?;
            if key.expires_at.is_some_and(|until| until <= now) {
                return Err(Rejection::KeyExpired);
            }
            vec![key]
        } else {
            self.verifying(now).collect()
        };
        let validation = Validation::new(self.alg.jwt());
        for key in candidates {
            match jsonwebtoken::decode::<Value>(token, &key.decoding, &validation) {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                    return Err(Rejection::TokenExpired)
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidAlgorithm) => {
                    return Err(Rejection::Algorithm)
                }
                Err(_) => return Err(Rejection::Claims),
            }
        }
        Err(Rejection::BadSignature)
    }
}

/// `SECRET_KEY` signs and verifies; `SECRET_KEY_PREVIOUS` verifies unless empty.
fn secret_key_keys(
    value: &SecretValue,
    set: SetName,
) -> Result<Option<Vec<ConsumerKey>>, BackendError> {
    let [current, previous] = Convention::SecretKey.fields(set) else {
        return Ok(None);
    };
    let Some(current) = text(value, current)?.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut keys = vec![hmac(None, current, true)];
    if let Some(previous) = text(value, previous)?.filter(|s| !s.is_empty()) {
        keys.push(hmac(None, previous, false));
    }
    Ok(Some(keys))
}

/// A single-key field signs and verifies, and is the only key.
fn single_key_keys(
    value: &SecretValue,
    field: &str,
) -> Result<Option<Vec<ConsumerKey>>, BackendError> {
    let key = text(value, field)?.filter(|s| !s.is_empty());
    Ok(key.map(|key| vec![hmac(None, key, true)]))
}

/// `JWT_SIGNING_SECRET` signs; each comma-separated entry of `JWT_VERIFICATION_SECRETS` verifies.
fn signing_secret_keys(
    value: &SecretValue,
    set: SetName,
) -> Result<Option<Vec<ConsumerKey>>, BackendError> {
    let [signing, list] = Convention::SigningSecret.fields(set) else {
        return Ok(None);
    };
    let Some(signing) = text(value, signing)?.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // The signing secret verifies only if the list holds it.
    let mut keys = vec![ConsumerKey {
        verifies: false,
        ..hmac(None, signing, true)
    }];
    keys.extend(
        text(value, list)?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| hmac(None, s, false)),
    );
    Ok(Some(keys))
}

/// The kid array: the `isActive` entry signs; it and `canVerify` entries verify until `expiresAt`.
fn kid_array_keys(
    value: &SecretValue,
    set: SetName,
) -> Result<Option<Vec<ConsumerKey>>, BackendError> {
    let field = Convention::KidArray.fields(set)[0];
    let Some(entries) = kid_entries(value, field)? else {
        return Ok(None);
    };
    let keys = entries
        .iter()
        .map(|entry| kid_array_key(entry, field))
        .collect::<Result<_, _>>()?;
    Ok(Some(keys))
}

fn kid_array_key(entry: &Value, field: &str) -> Result<ConsumerKey, BackendError> {
    let active = entry.get("isActive").and_then(Value::as_bool) == Some(true);
    let can_verify = entry.get("canVerify").and_then(Value::as_bool) == Some(true);
    let (Some(kid), Some(secret)) = (
        entry.get("kid").and_then(Value::as_str),
        entry.get("secret").and_then(Value::as_str),
    ) else {
        return Err(invalid(field, "has an entry without kid or secret"));
    };
    let expires_at = entry
        .get("expiresAt")
        .and_then(Value::as_str)
        .map(|at| {
            time::parse(at)
                .ok_or_else(|| invalid(field, "has an expiresAt that is not an RFC 3339 time"))
        })
        .transpose()?;
    Ok(ConsumerKey {
        expires_at,
        verifies: active || can_verify,
        ..hmac(Some(kid), secret, active)
    })
}

/// The set's public JWK Set: each key verifies tokens of the set's algorithm only.
fn jwks_keys(
    value: &SecretValue,
    set: SetName,
    alg: KeyAlg,
) -> Result<Option<Vec<ConsumerKey>>, BackendError> {
    let Some(jwks) = value.get(set.jwks_field()).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let jwks: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|_| invalid(set.jwks_field(), "is not a JWK Set"))?;
    let mut keys = Vec::new();
    for jwk in &jwks.keys {
        let decoding = DecodingKey::from_jwk(jwk)
            .map_err(|_| invalid(set.jwks_field(), "holds a key that cannot verify"))?;
        let jwk_alg = jwk.common.key_algorithm.map(|a| a.to_string());
        keys.push(ConsumerKey {
            kid: jwk.common.key_id.clone(),
            secret: None,
            decoding,
            expires_at: None,
            signs: false,
            verifies: jwk_alg.as_deref() == Some(alg.as_str()),
        });
    }
    Ok(Some(keys))
}

fn hmac(kid: Option<&str>, secret: &str, signs: bool) -> ConsumerKey {
    ConsumerKey {
        kid: kid.map(str::to_owned),
        secret: Some(SecretString::from(secret.to_owned())),
        decoding: DecodingKey::from_secret(secret.as_bytes()),
        expires_at: None,
        signs,
        verifies: true,
    }
}

fn text<'a>(value: &'a SecretValue, field: &str) -> Result<Option<&'a str>, BackendError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// The kid array's entries, from a JSON array or a JSON-encoded string.
fn kid_entries(value: &SecretValue, field: &str) -> Result<Option<Vec<Value>>, BackendError> {
    let shape = "must be a JSON array of {kid, secret, isActive, canVerify, expiresAt}";
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(entries)) => Ok(Some(entries.clone())),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(entries)) => Ok(Some(entries)),
            _ => Err(invalid(field, shape)),
        },
        Some(_) => Err(invalid(field, shape)),
    }
}

/// Claims of a probe: short-lived (by the real clock, which jsonwebtoken checks `exp` against).
fn probe_claims() -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut jti = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut jti);
    json!({"sub": "secret-rotation-probe", "iat": now, "exp": now + 300, "jti": hex::encode(jti)})
}

/// A probe token signed with `key` under `alg`, with `kid` in the header when given.
pub fn sign(alg: KeyAlg, key: &EncodingKey, kid: Option<&str>) -> Result<String, BackendError> {
    let mut header = Header::new(alg.jwt());
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &probe_claims(), key).map_err(|_| {
        BackendError::NotVerified(format!(
            "could not sign a probe token with {}",
            alg.as_str()
        ))
    })
}

/// A probe signed with key material from the key list.
pub fn sign_with(
    alg: KeyAlg,
    material: &Material,
    kid: Option<&str>,
) -> Result<String, BackendError> {
    let key = material
        .encoding_key(alg)
        .map_err(|e| BackendError::NotVerified(format!("a key cannot sign: {e}")))?;
    sign(alg, &key, kid)
}

/// A probe signed with an HMAC secret string as a consumer holds it.
pub fn sign_hmac(alg: KeyAlg, secret: &str, kid: Option<&str>) -> Result<String, BackendError> {
    sign(alg, &EncodingKey::from_secret(secret.as_bytes()), kid)
}

/// An unsigned token (`alg: none`), which no consumer may accept.
pub fn unsigned(kid: Option<&str>) -> String {
    let mut header = json!({"alg": "none", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(probe_claims().to_string())
    )
}
