//! The rotation health monitor: configuration from the environment, and one run per event.
//!
//! A run lists the secrets in scope (ListSecrets, one call per 100; DescribeSecret only to confirm a
//! problem or for an entry that lacks what the rules read: never GetSecretValue), judges them with
//! [`rotation::health`] — the rules `rotationctl status` uses —
//! and writes to stdout, where Lambda sends it to CloudWatch Logs:
//! - one EMF line per secret (dimension `SecretName`),
//! - one JSON line per unhealthy secret (`"event": "rotation.health"`),
//! - one EMF summary line (dimension `Monitor`) that the alarms watch.
//!
//! The run is evaluated at the event's `time` (an EventBridge scheduled event's scheduled time),
//! or at the clock when the event has none; so a retried event reports what the scheduled one
//! would have.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use rotation::health::{self, Selection, Summary};
use rotation::store::{AwsSecretStore, ListFilter, StoreError};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// `ROTATION_MONITOR_NAME_PREFIX`: only secrets whose name starts with it.
pub const ENV_NAME_PREFIX: &str = "ROTATION_MONITOR_NAME_PREFIX";
/// `ROTATION_MONITOR_TAG`: only secrets with this tag, `KEY` or `KEY=VALUE`.
pub const ENV_TAG: &str = "ROTATION_MONITOR_TAG";
/// `ROTATION_MONITOR_INCLUDE_DISABLED`: `true` to check secrets without rotation too.
pub const ENV_INCLUDE_DISABLED: &str = "ROTATION_MONITOR_INCLUDE_DISABLED";
/// `ROTATION_METRICS_NAMESPACE`: the CloudWatch namespace, as for the rotation functions.
pub const ENV_NAMESPACE: &str = "ROTATION_METRICS_NAMESPACE";
/// `ROTATION_MONITOR_NAME`: the `Monitor` dimension of the summary metrics (default: the
/// function's name).
pub const ENV_MONITOR_NAME: &str = "ROTATION_MONITOR_NAME";

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{variable}: {problem}")]
    Config {
        variable: &'static str,
        problem: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} secret(s) could not be described; the others were checked")]
    Unreadable(usize),
}

impl MonitorError {
    pub fn kind(&self) -> &'static str {
        match self {
            MonitorError::Config { .. } => "InvalidConfiguration",
            MonitorError::Store(_) => "SecretsManagerError",
            MonitorError::Unreadable(_) => "SecretsUnreadable",
        }
    }
}

impl From<MonitorError> for Diagnostic {
    fn from(err: MonitorError) -> Self {
        Diagnostic {
            error_type: err.kind().to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// What the monitor checks and where its metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub selection: Selection,
    pub namespace: String,
    pub monitor_name: String,
}

impl Config {
    /// Reads the `ROTATION_*` variables through `var` (the process environment in Lambda).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, MonitorError> {
        let set = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let (tag_key, tag_value) = match set(ENV_TAG) {
            None => (None, None),
            Some(tag) => match tag.split_once('=') {
                Some(("", _)) => return Err(config(ENV_TAG, "empty tag key")),
                Some((key, value)) => (Some(key.to_owned()), Some(value.to_owned())),
                None => (Some(tag), None),
            },
        };
        let include_disabled = match set(ENV_INCLUDE_DISABLED).as_deref() {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(config(ENV_INCLUDE_DISABLED, "must be true or false")),
        };
        Ok(Self {
            selection: Selection {
                filter: ListFilter {
                    name_prefix: set(ENV_NAME_PREFIX),
                    tag_key,
                    tag_value,
                },
                include_disabled,
            },
            namespace: set(ENV_NAMESPACE)
                .unwrap_or_else(|| rotation::audit::DEFAULT_NAMESPACE.to_owned()),
            monitor_name: set(ENV_MONITOR_NAME)
                .or_else(|| set("AWS_LAMBDA_FUNCTION_NAME"))
                .unwrap_or_else(|| "secret-rotation-monitor".to_owned()),
        })
    }
}

fn config(variable: &'static str, problem: &str) -> MonitorError {
    MonitorError::Config {
        variable,
        problem: problem.to_owned(),
    }
}

/// The monitor: a Secrets Manager store, its configuration and where its lines go.
pub struct Monitor {
    store: AwsSecretStore,
    config: Config,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Monitor {
    pub fn new(aws: &aws_config::SdkConfig, config: Config) -> Self {
        Self {
            store: AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(aws)),
            config,
            out: Mutex::new(Box::new(std::io::stdout())),
        }
    }

    /// Serves Lambda events until the runtime stops.
    pub async fn serve(self) -> Result<(), lambda_runtime::Error> {
        let monitor = Arc::new(self);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let monitor = Arc::clone(&monitor);
            async move { monitor.run(&event.payload).await }
        }))
        .await
    }

    /// One health run. Fails when the secrets cannot be listed, or when some could not be
    /// described (after reporting the others).
    pub async fn run(&self, event: &Value) -> Result<Value, MonitorError> {
        let now = event_time(event).unwrap_or_else(SystemTime::now);
        let collected = health::collect(&self.store, &self.config.selection, now).await?;
        let report: Vec<_> = collected
            .secrets
            .iter()
            .map(|secret| health::evaluate(secret, now))
            .collect();
        for secret in &report {
            self.write(&health::secret_metrics(secret, &self.config.namespace));
            if let Some(line) = health::problem_line(secret) {
                self.write(&line);
            }
        }
        for error in &collected.errors {
            self.write(&json!({
                "event": "rotation.health",
                "outcome": "error",
                "secret": error.secret_id,
                "error": error.to_string(),
            }));
        }
        let summary = Summary::of(&report, collected.errors.len());
        self.write(&health::summary_metrics(
            &summary,
            &self.config.namespace,
            &self.config.monitor_name,
            now,
        ));
        if !collected.errors.is_empty() {
            return Err(MonitorError::Unreadable(collected.errors.len()));
        }
        Ok(json!({
            "evaluated_at": health::format_time(now),
            "checked": summary.checked,
            "overdue": summary.overdue,
            "pending_stuck": summary.pending_stuck,
            // DescribeSecret calls beyond ListSecrets: entries lacking what the rules read, and
            // unhealthy ones confirmed on a fresh view.
            "described": {
                "incomplete": collected.described.incomplete,
                "to_confirm": collected.described.to_confirm,
            },
        }))
    }

    fn write(&self, line: &Value) {
        // A poisoned lock or a closed stdout must not fail the run.
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// The `time` of an EventBridge event (RFC 3339), if it has a valid one.
pub fn event_time(event: &Value) -> Option<SystemTime> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(health::parse_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn defaults_check_every_rotation_enabled_secret() {
        let config = Config::from_env(env(&[("AWS_LAMBDA_FUNCTION_NAME", "mon")])).unwrap();
        assert_eq!(config.selection, Selection::default());
        assert_eq!(config.namespace, "SecretRotation");
        assert_eq!(config.monitor_name, "mon");
    }

    #[test]
    fn filters_and_names_come_from_the_environment() {
        let config = Config::from_env(env(&[
            (ENV_NAME_PREFIX, "prod/"),
            (ENV_TAG, "team=sre"),
            (ENV_INCLUDE_DISABLED, "TRUE"),
            (ENV_NAMESPACE, "Custom"),
            (ENV_MONITOR_NAME, "prod-monitor"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ignored"),
        ]))
        .unwrap();
        assert_eq!(
            config.selection,
            Selection {
                filter: ListFilter {
                    name_prefix: Some("prod/".into()),
                    tag_key: Some("team".into()),
                    tag_value: Some("sre".into()),
                },
                include_disabled: true,
            }
        );
        assert_eq!(config.namespace, "Custom");
        assert_eq!(config.monitor_name, "prod-monitor");
        let key_only = Config::from_env(env(&[(ENV_TAG, "team")])).unwrap();
        assert_eq!(key_only.selection.filter.tag_key.as_deref(), Some("team"));
        assert_eq!(key_only.selection.filter.tag_value, None);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Config::from_env(env(&[(ENV_INCLUDE_DISABLED, "yes")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{ENV_INCLUDE_DISABLED}: must be true or false")
        );
        assert!(Config::from_env(env(&[(ENV_TAG, "=x")])).is_err());
    }

    #[test]
    fn the_scheduled_time_of_the_event_is_used_when_present() {
        let event = json!({"detail-type": "Scheduled Event", "time": "2026-03-01T10:00:00Z"});
        assert_eq!(
            event_time(&event).map(health::format_time).as_deref(),
            Some("2026-03-01T10:00:00Z")
        );
        assert_eq!(event_time(&json!({})), None);
        assert_eq!(event_time(&json!({"time": "soon"})), None);
    }
}
