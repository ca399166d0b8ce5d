//! The secrecy scan: every secret value in every version of every secret the emulator holds, and
//! the forms a leak could take (Redis's SHA-256 hash), must be absent from whatever was captured.

use crate::Emulator;
use serde_json::Value;

/// Field names whose string values are secret material.
fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "privatekey", "private_key"]
        .iter()
        .any(|marker| name.contains(marker))
}

fn collect(value: &Value, secret_context: bool, out: &mut Vec<String>) {
    match value {
        Value::String(text) if secret_context && text.len() >= 8 => {
            // Some conventions hold JSON or lists inside a string (a kid array, a comma list).
            match serde_json::from_str::<Value>(text) {
                Ok(inner @ (Value::Array(_) | Value::Object(_))) => collect(&inner, true, out),
                _ => {
                    out.extend(
                        text.split(',')
                            .filter(|part| part.len() >= 8)
                            .map(str::to_owned),
                    );
                    out.push(text.clone());
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect(item, secret_context, out)),
        Value::Object(fields) => {
            for (name, field) in fields {
                collect(field, secret_context || is_secret_field(name), out);
            }
        }
        _ => {}
    }
}

/// Secret strings of one secret value, plus the SHA-256 hex of each (how Redis stores passwords).
pub fn secret_strings(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(raw) {
        Ok(value) => collect(&value, false, &mut out),
        Err(_) if raw.len() >= 8 => out.push(raw.to_owned()),
        Err(_) => {}
    }
    let hashes: Vec<String> = out.iter().map(|s| sha256_hex(s)).collect();
    out.extend(hashes);
    // A PEM key leaks through its body just as much: check a slice of its base64 text.
    let pem_bodies: Vec<String> = out
        .iter()
        .filter(|s| s.contains("PRIVATE KEY"))
        .filter_map(|pem| {
            pem.lines()
                .find(|line| line.len() >= 40 && !line.starts_with("-----"))
        })
        .map(str::to_owned)
        .collect();
    out.extend(pem_bodies);
    out.sort();
    out.dedup();
    out
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Every secret string of every version of every secret in the emulator.
pub async fn all_secret_material(emulator: &Emulator) -> Vec<String> {
    let client = emulator.client();
    let mut material = Vec::new();
    let mut secrets = client.list_secrets().into_paginator().send();
    while let Some(page) = secrets.next().await {
        let page = page.expect("ListSecrets");
        for secret in page.secret_list() {
            let Some(arn) = secret.arn() else { continue };
            let versions = client
                .list_secret_version_ids()
                .secret_id(arn)
                .include_deprecated(true)
                .send()
                .await
                .expect("ListSecretVersionIds");
            for version in versions.versions() {
                let Some(id) = version.version_id() else {
                    continue;
                };
                if let Ok(out) = client
                    .get_secret_value()
                    .secret_id(arn)
                    .version_id(id)
                    .send()
                    .await
                {
                    if let Some(raw) = out.secret_string() {
                        material.extend(secret_strings(raw));
                    }
                }
            }
        }
    }
    material.sort();
    material.dedup();
    material
}

/// Fails, naming the place but never the secret, when any secret material appears in any text.
pub async fn assert_no_secret_material(emulator: &Emulator, texts: &[(&str, &str)]) -> usize {
    let material = all_secret_material(emulator).await;
    assert!(
        !material.is_empty(),
        "the scan found secret material to look for"
    );
    for (place, text) in texts {
        let leaks = material
            .iter()
            .filter(|secret| text.contains(secret.as_str()))
            .count();
        assert_eq!(leaks, 0, "{leaks} secret value(s) appear in {place}");
        assert!(
            !text.contains("SCRAM-SHA-256$"),
            "a SCRAM verifier appears in {place}"
        );
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "a private key appears in {place}"
        );
    }
    material.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_passwords_keys_kid_array_secrets_and_their_hashes() {
        let raw = serde_json::json!({"username": "app", "password": "pw-1234567890",
            "JWT_SECRETS": "[{\"kid\":\"k1\",\"secret\":\"s3cr3t-value-1\"}]",
            "JWT_VERIFICATION_SECRETS": "key-aaaaaaaa,key-bbbbbbbb", "host": "db.example"})
        .to_string();
        let found = secret_strings(&raw);
        for expected in [
            "pw-1234567890",
            "s3cr3t-value-1",
            "key-aaaaaaaa",
            "key-bbbbbbbb",
        ] {
            assert!(found.iter().any(|s| s == expected), "{expected}");
        }
        assert!(found.contains(&sha256_hex("pw-1234567890")));
        assert!(!found.iter().any(|s| s == "db.example" || s == "app"));
    }
}
