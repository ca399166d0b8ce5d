//! The rotation event Secrets Manager sends to the function, parsed with errors that say what is wrong.

use secrecy::SecretString;
use serde_json::Value;
use std::fmt;
use std::time::Instant;

/// The four steps of the rotation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Build the new value and store it as AWSPENDING.
    CreateSecret,
    /// Make the service accept the AWSPENDING value.
    SetSecret,
    /// Check that the AWSPENDING value works.
    TestSecret,
    /// Move AWSCURRENT to the AWSPENDING version.
    FinishSecret,
}

impl Step {
    /// Every step, in the order Secrets Manager runs them.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The step's name as it appears in the event, e.g. `createSecret`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload that is not a rotation event. The message quotes at most a short, escaped prefix of
/// the input and never the rotation token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rotation event: {0}")]
pub struct InvalidEvent(pub String);

/// `{"Step", "SecretId", "ClientRequestToken", "RotationToken"?}`; unknown fields are ignored.
#[derive(Debug, Clone)]
pub struct RotationEvent {
    /// The step to run.
    pub step: Step,
    /// The secret's ARN or name; non-empty, at most 2048 bytes, no whitespace.
    pub secret_id: String,
    /// The id of the version being rotated to; non-empty, at most 64 bytes, no whitespace.
    pub client_request_token: String,
    /// Opaque; required by the service for cross-account rotation. Redacted in Debug.
    pub rotation_token: Option<SecretString>,
    /// When the invocation runs out of time (the Lambda's deadline); `None` outside Lambda.
    pub deadline: Option<Instant>,
}

const MAX_SECRET_ID_LEN: usize = 2048;
const MAX_TOKEN_LEN: usize = 64;

impl RotationEvent {
    /// An event without a rotation token, as a same-account caller would send; not validated.
    pub fn new(step: Step, secret_id: &str, client_request_token: &str) -> Self {
        Self {
            step,
            secret_id: secret_id.to_owned(),
            client_request_token: client_request_token.to_owned(),
            rotation_token: None,
            deadline: None,
        }
    }

    /// The same event, to be finished before `deadline`: a backend that waits on its target
    /// stops in time to fail the step cleanly instead of being killed mid-step.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Parses and validates the Lambda payload; unknown fields are ignored.
    pub fn from_json(payload: &Value) -> Result<Self, InvalidEvent> {
        let object = payload.as_object().ok_or_else(|| {
            InvalidEvent(format!("expected a JSON object, got {}", kind_of(payload)))
        })?;
        let step_name = required_string(object, "Step")?;
        let step = Step::ALL
            .into_iter()
            .find(|s| s.as_str() == step_name)
            .ok_or_else(|| {
                InvalidEvent(format!(
                    "unknown Step {}; expected createSecret, setSecret, testSecret or finishSecret",
                    quoted_prefix(step_name)
                ))
            })?;
        let secret_id = required_string(object, "SecretId")?;
        check_identifier("SecretId", secret_id, MAX_SECRET_ID_LEN)?;
        let token = required_string(object, "ClientRequestToken")?;
        check_identifier("ClientRequestToken", token, MAX_TOKEN_LEN)?;
        let rotation_token = match object.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s.clone())),
            Some(Value::String(_)) => return Err(InvalidEvent("RotationToken is empty".into())),
            Some(other) => {
                return Err(InvalidEvent(format!(
                    "RotationToken must be a string, got {}",
                    kind_of(other)
                )))
            }
        };
        Ok(Self {
            step,
            secret_id: secret_id.to_owned(),
            client_request_token: token.to_owned(),
            rotation_token,
            deadline: None,
        })
    }
}

fn required_string<'a>(
    object: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<&'a str, InvalidEvent> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s),
        None => Err(InvalidEvent(format!("missing field {field}"))),
        Some(other) => Err(InvalidEvent(format!(
            "{field} must be a string, got {}",
            kind_of(other)
        ))),
    }
}

fn check_identifier(field: &str, value: &str, max_len: usize) -> Result<(), InvalidEvent> {
    if value.is_empty() {
        return Err(InvalidEvent(format!("{field} is empty")));
    }
    if value.len() > max_len {
        return Err(InvalidEvent(format!(
            "{field} is {} bytes long, more than {max_len}",
            value.len()
        )));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidEvent(format!(
            "{field} contains whitespace or control characters"
        )));
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Echo at most a short, escaped prefix of untrusted input.
fn quoted_prefix(input: &str) -> String {
    let prefix: String = input.chars().take(40).collect();
    let ellipsis = if prefix.len() < input.len() {
        "…"
    } else {
        ""
    };
    format!("{prefix:?}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Result<RotationEvent, InvalidEvent> {
        RotationEvent::from_json(&value)
    }

    #[test]
    fn parses_every_step_and_ignores_unknown_fields() {
        for step in Step::ALL {
            let parsed = event(json!({"Step": step.as_str(), "SecretId": "arn:x", "ClientRequestToken": "t-1", "Extra": 1})).unwrap();
            assert_eq!(parsed.step, step);
            assert!(parsed.rotation_token.is_none());
        }
    }

    #[test]
    fn keeps_the_rotation_token_but_never_prints_it() {
        let parsed = event(json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": "opaque-rt-value"})).unwrap();
        assert!(parsed.rotation_token.is_some());
        assert!(!format!("{parsed:?}").contains("opaque-rt-value"));
    }

    #[test]
    fn malformed_events_say_what_is_wrong() {
        let cases = [
            (json!([1, 2]), "expected a JSON object, got an array"),
            (
                json!({"SecretId": "s", "ClientRequestToken": "t"}),
                "missing field Step",
            ),
            (
                json!({"Step": "dropSecret", "SecretId": "s", "ClientRequestToken": "t"}),
                "unknown Step \"dropSecret\"",
            ),
            (
                json!({"Step": 3, "SecretId": "s", "ClientRequestToken": "t"}),
                "Step must be a string, got a number",
            ),
            (
                json!({"Step": "setSecret", "ClientRequestToken": "t"}),
                "missing field SecretId",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "", "ClientRequestToken": "t"}),
                "SecretId is empty",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s"}),
                "missing field ClientRequestToken",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "a b"}),
                "whitespace",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "x".repeat(65)}),
                "more than 64",
            ),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": 7}),
                "RotationToken must be a string",
            ),
        ];
        for (input, expected) in cases {
            let err = event(input.clone()).unwrap_err().to_string();
            assert!(err.contains(expected), "{input} -> {err}");
        }
    }

    #[test]
    fn long_unknown_steps_are_truncated_in_errors() {
        let err =
            event(json!({"Step": "y".repeat(5000), "SecretId": "s", "ClientRequestToken": "t"}))
                .unwrap_err();
        assert!(err.to_string().len() < 200);
    }
}
