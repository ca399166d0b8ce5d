//! The JWT part of the demo: a token signed before the rotation still verifies, one signed with the
//! new key verifies at once.

use crate::{print_stages, rotate_through_function, stage, yes_no, DemoResult};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use testkit::Emulator;

pub async fn run(emulator: &Emulator) -> DemoResult {
    let policy = json!({"engine": "jwt", "policy": {"access": {"algorithm": "HS256", "graceSeconds": 90000,
                        "conventions": ["secretKey", "signingSecret", "kidArray"]}}});
    let id = emulator
        .create_secret("demo/jwt", &policy.to_string())
        .await;
    println!("  secret {id} (access keys, HS256, grace 25 h)");
    // The first rotation creates the key set; the second is a routine rotation of it.
    rotate_through_function(emulator, "secret-rotation-jwt", &id).await?;
    let before = stage(emulator, &id, "AWSCURRENT").await?;
    let old_token = sign(&before)?;
    print_stages(emulator, &id, "before the routine rotation").await;

    rotate_through_function(emulator, "secret-rotation-jwt", &id).await?;

    print_stages(emulator, &id, "after").await;
    let after = stage(emulator, &id, "AWSCURRENT").await?;
    let new_token = sign(&after)?;
    let (old_ok, new_ok) = (verifies(&old_token, &after), verifies(&new_token, &after));
    println!(
        "  token signed with the old key verifies with the new version (grace period): {}",
        yes_no(old_ok)
    );
    println!(
        "  token signed with the new key verifies at once: {}",
        yes_no(new_ok)
    );
    if !(old_ok && new_ok) {
        return Err("a token that must verify does not".into());
    }
    Ok(())
}

/// Signs as the `JWT_SIGNING_SECRET`/`JWT_VERIFICATION_SECRETS` convention's application does: with JWT_SIGNING_SECRET.
fn sign(secret: &Value) -> Result<String, Box<dyn std::error::Error>> {
    let key = secret["JWT_SIGNING_SECRET"]
        .as_str()
        .ok_or("no JWT_SIGNING_SECRET")?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 900;
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "demo", "exp": exp}),
        &EncodingKey::from_secret(key.as_bytes()),
    )?)
}

/// Verifies as the `JWT_SIGNING_SECRET`/`JWT_VERIFICATION_SECRETS` convention's application does: any key of JWT_VERIFICATION_SECRETS.
fn verifies(token: &str, secret: &Value) -> bool {
    let keys = secret["JWT_VERIFICATION_SECRETS"]
        .as_str()
        .unwrap_or_default();
    keys.split(',').any(|key| {
        decode::<Value>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &Validation::new(Algorithm::HS256),
        )
        .is_ok()
    })
}
