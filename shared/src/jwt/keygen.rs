//! Key generation: random HMAC secrets and kids from the OS random source (through aws-lc-rs),
//! Ed25519 and P-256 key pairs as PKCS#8 PEM, and public JWKs. Builds on the types of `model`.

use super::model::{
    invalid, pem_decode, public_key, HmacKeyError, Key, KeyAlg, KeyError, KeyState, Material,
    SetName,
};
use crate::backend::BackendError;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde_json::{json, Value};

/// A new key of `alg` for `set`, in `state`.
pub fn generate(
    set: SetName,
    alg: KeyAlg,
    hmac_bytes: usize,
    state: KeyState,
    now: u64,
) -> Result<Key, BackendError> {
    let failed = |e: KeyError| BackendError::Rejected {
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
        Material::Hmac(hmac_secret(hmac_bytes).map_err(failed)?)
    } else {
        let pem = private_key_pem(alg).map_err(failed)?;
        let der = pem_decode(pem.expose_secret()).map_err(failed)?;
        let public = public_key(alg, der.expose_secret()).map_err(failed)?;
        Material::Private { pem, public }
    };
    Ok(Key {
        kid: kid(set.as_str(), now).map_err(failed)?,
        state,
        alg,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        verify_until: None,
        material,
    })
}

/// Random bytes from the OS source, wiped when dropped.
fn random_bytes(len: usize) -> Result<SecretBox<[u8]>, KeyError> {
    let mut bytes = vec![0u8; len].into_boxed_slice();
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Random)?;
    Ok(SecretBox::new(bytes))
}

/// An HMAC secret of `bytes` random bytes as unpadded base64url. The string itself is the key (its
/// UTF-8 bytes), as every convention's applications use it, and needs no escaping in JSON,
/// environment variables, shells or a comma-separated list.
pub fn hmac_secret(bytes: usize) -> Result<SecretString, KeyError> {
    let raw = random_bytes(bytes)?;
    Ok(SecretString::from(
        URL_SAFE_NO_PAD.encode(raw.expose_secret()),
    ))
}

/// `<set>-<yyyymmdd>-<128 random bits in hex>`: public, unguessable, never produced twice.
pub fn kid(set: &str, now: u64) -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Random)?;
    let date: String = super::time::format(now)
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    Ok(format!("{set}-{date}-{}", hex::encode(bytes)))
}

/// A new private key for an asymmetric algorithm, as PKCS#8 PEM.
pub fn private_key_pem(alg: KeyAlg) -> Result<SecretString, KeyError> {
    let der = match alg {
        KeyAlg::EdDSA => Ed25519KeyPair::generate()
            .and_then(|pair| pair.to_pkcs8v1())
            .map_err(|_| KeyError::Generate("Ed25519"))?,
        KeyAlg::ES256 => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate("P-256"))?
        }
        KeyAlg::HS256 | KeyAlg::HS384 | KeyAlg::HS512 => return Err(KeyError::Generate("HMAC")),
    };
    Ok(pem_encode(der.as_ref()))
}

fn pem_encode(der: &[u8]) -> SecretString {
    let body = SecretString::from(STANDARD.encode(der));
    let body = body.expose_secret();
    let mut pem = String::with_capacity(body.len() + 64);
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    SecretString::from(pem)
}

/// The public JWK (RFC 7517/8037) of a key: `kty`, `crv`, `x` (and `y`), `kid`, `alg`, `use`.
/// Built from the public key only, so it cannot carry private material.
pub fn public_jwk(alg: KeyAlg, kid: &str, public: &[u8]) -> Option<Value> {
    match alg {
        KeyAlg::EdDSA if public.len() == 32 => Some(json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public),
            "kid": kid, "alg": "EdDSA", "use": "sig",
        })),
        KeyAlg::ES256 if public.len() == 65 && public[0] == 4 => Some(json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]), "y": URL_SAFE_NO_PAD.encode(&public[33..]),
            "kid": kid, "alg": "ES256", "use": "sig",
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_secrets_carry_the_asked_entropy_and_differ() {
        let a = hmac_secret(32).unwrap();
        let b = hmac_secret(32).unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(a.expose_secret() != b.expose_secret());
        let decoded = URL_SAFE_NO_PAD.decode(a.expose_secret()).unwrap();
        assert_eq!(decoded.len(), 32);
        assert!(a
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn kids_are_dated_random_and_distinct() {
        let a = kid("access", 1_776_384_000).unwrap();
        assert!(a.starts_with("access-20260417-"), "{a}");
        assert_eq!(a.len(), "access-20260417-".len() + 32);
        assert_ne!(a, kid("access", 1_776_384_000).unwrap());
    }

    #[test]
    fn generated_private_keys_round_trip_through_pem_and_give_public_jwks() {
        for alg in [KeyAlg::EdDSA, KeyAlg::ES256] {
            let pem = private_key_pem(alg).unwrap();
            assert!(pem
                .expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let der = pem_decode(pem.expose_secret()).unwrap();
            let public = public_key(alg, der.expose_secret()).unwrap();
            let jwk = public_jwk(alg, "k1", &public).unwrap();
            assert!(jwk.get("d").is_none());
            assert_eq!(jwk["alg"], alg.as_str());
        }
        assert!(private_key_pem(KeyAlg::HS256).is_err());
    }

    #[test]
    fn a_key_of_the_wrong_kind_is_refused() {
        let ed = private_key_pem(KeyAlg::EdDSA).unwrap();
        let der = pem_decode(ed.expose_secret()).unwrap();
        assert_eq!(
            public_key(KeyAlg::ES256, der.expose_secret()),
            Err(KeyError::WrongKey("P-256"))
        );
        assert_eq!(pem_decode("not a pem").err(), Some(KeyError::NotPem));
    }
}
