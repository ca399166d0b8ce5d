//! When the oldest previous key stops verifying, told to readers of metadata alone (the monitor,
//! `rotationctl check-expiring`) through the `rotation:jwt-verify-until` tag: the keys live in the
//! value, which they never read.

use super::doc::{JwtSecret, Read};
use super::model::KeyState;
use crate::health::{format_time, JWT_VERIFY_UNTIL_TAG};
use crate::secret::SecretValue;
use std::time::{Duration, UNIX_EPOCH};

/// The tag for `promoted`: the earliest `verifyUntil` of its previous keys, or `None` (remove the
/// tag) when no previous key verifies. Empty when the value cannot be read: leave the tag alone.
pub fn verify_until_tag(promoted: &SecretValue, now: u64) -> Vec<(&'static str, Option<String>)> {
    let Ok(secret) = JwtSecret::read(promoted, Read::Keys, now) else {
        return Vec::new();
    };
    let earliest = secret
        .sets
        .iter()
        .flat_map(|set| &set.keys)
        .filter(|key| key.state == KeyState::Previous)
        .filter_map(|key| key.verify_until)
        .min();
    vec![(
        JWT_VERIFY_UNTIL_TAG,
        earliest.map(|until| format_time(UNIX_EPOCH + Duration::from_secs(until))),
    )]
}
