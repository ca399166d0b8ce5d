//! Fault injection on JWT signing-key rotation with a live prober that signs with whatever
//! AWSCURRENT holds and verifies, as a consumer of the `JWT_SIGNING_SECRET`/`JWT_VERIFICATION_SECRETS` convention's convention does, both that token and
//! the one signed by the probe before it. Writes target/reports/faults-jwt.md.

use async_trait::async_trait;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rotation::jwt::JwtBackend;
use rotation::Step;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use testkit::reliability::{FaultKind, Suite, Target};
use testkit::Emulator;

#[derive(Default)]
struct JwtTarget {
    last_token: Mutex<Option<String>>,
}

fn verifies(token: &str, verification: &[&str]) -> bool {
    let validation = Validation::new(Algorithm::HS256);
    verification.iter().any(|key| {
        decode::<Value>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        )
        .is_ok()
    })
}

#[async_trait]
impl Target for JwtTarget {
    async fn login(&self, value: &Value) -> bool {
        let (Some(signing), Some(verification)) = (
            value["JWT_SIGNING_SECRET"].as_str(),
            value["JWT_VERIFICATION_SECRETS"].as_str(),
        ) else {
            return false;
        };
        let verification: Vec<&str> = verification.split(',').collect();
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 3600;
        let Ok(token) = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "prober", "exp": exp}),
            &EncodingKey::from_secret(signing.as_bytes()),
        ) else {
            return false;
        };
        let earlier = self.last_token.lock().unwrap().replace(token.clone());
        verifies(&token, &verification) && earlier.is_none_or(|t| verifies(&t, &verification))
    }

    async fn take_down(&self) {}
    async fn bring_up(&self) {}
    async fn refuse_rotation_login(&self, _step: Step, _pending: &Value) {}
    async fn allow_rotation_login(&self, _step: Step, _pending: &Value) {}

    /// The secret is the only target: nothing to take down or to refuse a login.
    fn applicable(&self, fault: FaultKind) -> bool {
        !matches!(fault, FaultKind::TargetDown | FaultKind::LoginRefused)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_at_every_step_is_survived_and_tokens_keep_verifying() {
    let emulator = Emulator::shared();
    let policy = json!({"engine": "jwt", "policy": {"access": {"algorithm": "HS256", "graceSeconds": 90000,
                        "conventions": ["signingSecret", "kidArray"]}}});
    let id = emulator
        .create_secret("faults-jwt", &policy.to_string())
        .await;
    let target = Arc::new(JwtTarget::default());
    let suite = Suite::after_first_rotation(JwtBackend::new(), target, &id).await;

    let report = suite.report(&id).await;
    assert!(
        suite.proxy.injected() > 0,
        "the proxy injected Secrets Manager faults"
    );
    report.assert_survived("faults-jwt.md", 24).await;
}
