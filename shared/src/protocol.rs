//! The rotation protocol's vocabulary: Secrets Manager's version stages, and the rotation mode an
//! operator asks for (by tag) and a pending value records (by field).

use crate::secret::SecretValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// The stage of the version applications read.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The stage of the version a rotation is building.
pub const AWSPENDING: &str = "AWSPENDING";
/// The stage Secrets Manager moves to the version AWSCURRENT left.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// The tag an operator sets to ask for an emergency rotation; removed when it has finished.
pub const MODE_TAG: &str = "rotation:mode";
/// The field in which createSecret records the rotation mode, so retries do not depend on tags.
pub const ROTATION_MODE_FIELD: &str = "rotation_mode";

/// How a rotation treats the credential it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The previous credential keeps working until the next rotation.
    #[default]
    Routine,
    /// The previous credential is revoked as soon as the new one is promoted.
    Emergency,
}

impl Mode {
    /// The spelling of the tag and the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Routine => "routine",
            Mode::Emergency => "emergency",
        }
    }

    /// `routine` or `emergency`; anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "routine" => Some(Mode::Routine),
            "emergency" => Some(Mode::Emergency),
            _ => None,
        }
    }

    /// The mode the operator asked for by [`MODE_TAG`]: `Err` holds a tag value that names none.
    pub fn requested(tags: &BTreeMap<String, String>) -> Result<Self, InvalidModeTag> {
        match tags.get(MODE_TAG) {
            None => Ok(Mode::Routine),
            Some(value) => Mode::parse(value).ok_or(InvalidModeTag),
        }
    }

    /// The mode a pending value recorded; a value without the field is routine.
    pub fn recorded(value: &SecretValue) -> Self {
        match value.get(ROTATION_MODE_FIELD).and_then(Value::as_str) {
            Some("emergency") => Mode::Emergency,
            _ => Mode::Routine,
        }
    }

    /// Writes the mode into a pending value, so later steps and retries do not depend on the tag.
    pub fn record(self, pending: &mut SecretValue) {
        match self {
            Mode::Emergency => pending.insert(ROTATION_MODE_FIELD, Value::from(self.as_str())),
            Mode::Routine => {
                pending.remove(ROTATION_MODE_FIELD);
            }
        }
    }
}

/// The [`MODE_TAG`] holds neither `routine` nor `emergency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidModeTag;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_mode_survives_its_own_round_trip_and_routine_leaves_no_field() {
        let mut value = SecretValue::parse(r#"{"password":"p"}"#).unwrap();
        Mode::Emergency.record(&mut value);
        assert_eq!(Mode::recorded(&value), Mode::Emergency);
        Mode::Routine.record(&mut value);
        assert_eq!(Mode::recorded(&value), Mode::Routine);
        assert!(value.get(ROTATION_MODE_FIELD).is_none());
    }

    #[test]
    fn the_tag_names_the_requested_mode_and_anything_else_is_refused() {
        let mut tags = BTreeMap::new();
        assert_eq!(Mode::requested(&tags), Ok(Mode::Routine));
        tags.insert(MODE_TAG.to_owned(), "emergency".to_owned());
        assert_eq!(Mode::requested(&tags), Ok(Mode::Emergency));
        tags.insert(MODE_TAG.to_owned(), "Emergency!".to_owned());
        assert_eq!(Mode::requested(&tags), Err(InvalidModeTag));
    }
}
