//! Secret values that never print their content.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::fmt;

/// Why a secret's value could not be read. Never quotes the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    /// The value does not parse as JSON; only the position of the fault is kept.
    #[error(
        "the secret value is not valid JSON ({category} error at line {line}, column {column})"
    )]
    NotJson {
        /// serde_json's class of error: `syntax`, `data`, `io` or `unexpected end`.
        category: &'static str,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
    },
    /// The value is JSON but not an object.
    #[error("the secret value is JSON but not an object")]
    NotAnObject,
    /// The secret holds a SecretBinary instead of a SecretString.
    #[error("the secret value is binary, not a string")]
    Binary,
    /// A required field is absent or `null`.
    #[error("field `{field}` is missing")]
    MissingField {
        /// The field's name.
        field: String,
    },
    /// A field holds a value of the wrong type.
    #[error("field `{field}` {expected}")]
    WrongType {
        /// The field's name.
        field: String,
        /// What it must be, phrased to follow the field name, e.g. `must be a string`.
        expected: &'static str,
    },
}

/// A secret's JSON object. `Debug` and `Display` show the field names at most, never a value.
#[derive(Clone, PartialEq, Default)]
pub struct SecretValue {
    fields: Map<String, Value>,
}

impl SecretValue {
    /// Parses a SecretString, which must be a JSON object.
    pub fn parse(raw: &str) -> Result<Self, SecretFormatError> {
        let value: Value = serde_json::from_str(raw).map_err(|e| SecretFormatError::NotJson {
            category: match e.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "unexpected end",
            },
            line: e.line(),
            column: e.column(),
        })?;
        match value {
            Value::Object(fields) => Ok(Self { fields }),
            _ => Err(SecretFormatError::NotAnObject),
        }
    }

    /// Wraps fields already in hand.
    pub fn from_map(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    /// The serialized value, for PutSecretValue.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::from(Value::Object(self.fields.clone()).to_string())
    }

    /// The size of [`to_secret_string`](Self::to_secret_string), in bytes: what Secrets
    /// Manager's size limit counts.
    pub fn serialized_len(&self) -> usize {
        self.to_secret_string().expose_secret().len()
    }

    /// All fields, values included: do not log them.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// All fields, for editing in place.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    /// A field's raw JSON value, of any type; `None` when absent.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// Sets a field, replacing any value it had.
    pub fn insert(&mut self, field: &str, value: Value) {
        self.fields.insert(field.to_owned(), value);
    }

    /// Removes a field, returning its value if it had one.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field)
    }

    /// A string field that must be present; `null` counts as absent.
    pub fn required_str(&self, field: &str) -> Result<&str, SecretFormatError> {
        self.optional_str(field)?
            .ok_or_else(|| SecretFormatError::MissingField {
                field: field.to_owned(),
            })
    }

    /// A string field; `null` counts as absent.
    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, SecretFormatError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(field, "must be a string")),
        }
    }

    /// A secret string field, wrapped so it cannot be printed by accident.
    pub fn required_secret(&self, field: &str) -> Result<SecretString, SecretFormatError> {
        self.required_str(field).map(SecretString::from)
    }

    /// A port or other integer; AWS's own secrets sometimes hold it as a string.
    pub fn optional_u64(&self, field: &str) -> Result<Option<u64>, SecretFormatError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_type(field, "must be a non-negative integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| wrong_type(field, "must be a non-negative integer")),
            Some(_) => Err(wrong_type(field, "must be a non-negative integer")),
        }
    }

    /// A flag; accepts `true`/`false` and their string forms, as AWS's templates do.
    pub fn optional_bool(&self, field: &str) -> Result<Option<bool>, SecretFormatError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(wrong_type(field, "must be true or false")),
        }
    }
}

fn wrong_type(field: &str, expected: &'static str) -> SecretFormatError {
    SecretFormatError::WrongType {
        field: field.to_owned(),
        expected,
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted secret value>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_values() {
        let value =
            SecretValue::parse(r#"{"username":"app","password":"hunter2-s3cr3t"}"#).unwrap();
        for shown in [
            format!("{value:?}"),
            format!("{value}"),
            format!("{value:#?}"),
        ] {
            assert!(!shown.contains("hunter2-s3cr3t"), "{shown}");
            assert!(!shown.contains("app\""), "{shown}");
        }
        assert!(format!("{value:?}").contains("password"));
    }

    #[test]
    fn parse_errors_do_not_quote_the_input() {
        let err = SecretValue::parse("hunter2-s3cr3t").unwrap_err();
        assert!(matches!(err, SecretFormatError::NotJson { .. }));
        assert!(!err.to_string().contains("hunter2"));
        assert_eq!(
            SecretValue::parse("[1]").unwrap_err(),
            SecretFormatError::NotAnObject
        );
    }

    #[test]
    fn typed_field_errors_name_the_field_not_the_value() {
        let value =
            SecretValue::parse(r#"{"port":"s3cr3t-port","ssl":"maybe-s3cr3t","user":5}"#).unwrap();
        let errors = [
            value.optional_u64("port").unwrap_err(),
            value.optional_bool("ssl").unwrap_err(),
            value.required_str("user").unwrap_err(),
            value.required_str("absent").unwrap_err(),
        ];
        for err in errors {
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
        assert_eq!(
            value.required_str("absent").unwrap_err().to_string(),
            "field `absent` is missing"
        );
    }

    #[test]
    fn numeric_fields_accept_strings_as_aws_templates_write_them() {
        let value = SecretValue::parse(r#"{"a":"5432","b":5432,"c":null,"d":"true"}"#).unwrap();
        assert_eq!(value.optional_u64("a").unwrap(), Some(5432));
        assert_eq!(value.optional_u64("b").unwrap(), Some(5432));
        assert_eq!(value.optional_u64("c").unwrap(), None);
        assert_eq!(value.optional_bool("d").unwrap(), Some(true));
    }
}
