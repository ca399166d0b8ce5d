//! One audit JSON line per step outcome and CloudWatch Embedded Metric Format lines for alarms.
//! Lines carry names, ids, outcomes and durations only: never a secret value.

use crate::event::Step;
use crate::rotation_log::{Method, Request};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The CloudWatch metric namespace when `ROTATION_METRICS_NAMESPACE` is unset or empty.
pub const DEFAULT_NAMESPACE: &str = "SecretRotation";

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work.
    Ok,
    /// Nothing left to do: a retry of a step that already ran, or a late retry after promotion.
    Skipped,
    /// The step failed; counted in the `RotationFailed` metric.
    Error,
}

impl Outcome {
    /// The `outcome` value of the audit line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

/// One step's record.
#[derive(Debug, Clone)]
pub struct StepRecord<'a> {
    /// The engine's name, e.g. `postgres`; also a metric dimension.
    pub engine: &'a str,
    /// The secret as the event named it (ARN or name).
    pub secret: &'a str,
    /// The step that ran.
    pub step: Step,
    /// The event's client request token.
    pub version: &'a str,
    /// How the step ended.
    pub outcome: Outcome,
    /// Wall time of the step; logged and emitted in milliseconds.
    pub elapsed: Duration,
    /// Error kind and message; messages are built to hold no secret material.
    pub error: Option<(&'a str, String)>,
    /// Who asked for the rotation and why, from the secret's tags; `None` when the secret could
    /// not be described.
    pub request: Option<&'a Request>,
}

/// Where audit and metric lines go: stdout in Lambda, a buffer in tests.
#[derive(Clone)]
pub struct Telemetry {
    out: Arc<Mutex<dyn Write + Send>>,
    namespace: String,
}

impl Telemetry {
    /// Lines to stdout, where Lambda sends them to CloudWatch Logs; the metric namespace is
    /// `ROTATION_METRICS_NAMESPACE`, else [`DEFAULT_NAMESPACE`].
    pub fn stdout() -> Self {
        let namespace = std::env::var("ROTATION_METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        Self::to_writer(std::io::stdout(), namespace)
    }

    /// Lines to `out` under metric namespace `namespace`.
    pub fn to_writer(out: impl Write + Send + 'static, namespace: String) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            namespace,
        }
    }

    /// Writes the step's audit line, its `StepDuration` metric and, on a failure or a finished
    /// rotation, a `RotationFailed` or `RotationSucceeded` count. Never fails.
    pub fn record_step(&self, record: &StepRecord<'_>) {
        let ms = u64::try_from(record.elapsed.as_millis()).unwrap_or(u64::MAX);
        let mut audit = json!({
            "event": "credential.rotate",
            "engine": record.engine,
            "secret": record.secret,
            "step": record.step.as_str(),
            "version": record.version,
            "outcome": record.outcome.as_str(),
            "duration_ms": ms,
        });
        if let Some(request) = record.request {
            let mode = match request.method {
                Method::Emergency => "emergency",
                Method::Schedule | Method::Rotate => "routine",
            };
            audit["mode"] = json!(mode);
            audit["method"] = json!(request.method.as_str());
            audit["requested_by"] = json!(request.requested_by);
            audit["reason"] = json!(request.reason);
        }
        if let Some((kind, message)) = &record.error {
            audit["error"] = json!(kind);
            audit["message"] = json!(message);
        }
        self.write_line(&audit);
        self.write_line(&self.metric(
            &[("Engine", record.engine), ("Step", record.step.as_str())],
            "StepDuration",
            "Milliseconds",
            ms,
        ));
        let rotation_outcome = match (record.outcome, record.step) {
            (Outcome::Error, _) => Some("RotationFailed"),
            (Outcome::Ok, Step::FinishSecret) => Some("RotationSucceeded"),
            _ => None,
        };
        if let Some(name) = rotation_outcome {
            self.write_line(&self.metric(&[("Engine", record.engine)], name, "Count", 1));
        }
    }

    /// A break-glass use: the admin reset `user` without proof of possession of its credential.
    pub fn record_break_glass(&self, engine: &str, secret: &str, user: &str, allowed_by: &str) {
        self.write_line(&json!({
            "event": "credential.break_glass",
            "engine": engine,
            "secret": secret,
            "user": user,
            "allowed_by": allowed_by,
        }));
    }

    fn metric(&self, dimensions: &[(&str, &str)], name: &str, unit: &str, value: u64) -> Value {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }],
            },
        });
        for (key, value) in dimensions {
            line[*key] = json!(value);
        }
        line[name] = json!(value);
        line
    }

    fn write_line(&self, line: &Value) {
        // A poisoned lock or a closed stdout must not fail the rotation itself.
        // One write per line, so lines from concurrent writers never interleave.
        let mut text = line.to_string();
        text.push('\n');
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(record: StepRecord<'_>) -> Vec<Value> {
        let buffer = Buffer::default();
        Telemetry::to_writer(buffer.clone(), "Test".into()).record_step(&record);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn record(step: Step, outcome: Outcome) -> StepRecord<'static> {
        static REQUEST: std::sync::OnceLock<Request> = std::sync::OnceLock::new();
        let request = REQUEST.get_or_init(|| Request {
            method: Method::Rotate,
            requested_by: "arn:aws:sts::1:assumed-role/ops/alice".into(),
            reason: Some("INC-42".into()),
        });
        StepRecord {
            engine: "postgres",
            secret: "arn:s",
            step,
            version: "v1",
            outcome,
            elapsed: Duration::from_millis(42),
            error: None,
            request: Some(request),
        }
    }

    #[test]
    fn audit_line_then_valid_emf_step_duration() {
        let out = lines(record(Step::SetSecret, Outcome::Ok));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["event"], "credential.rotate");
        assert_eq!(out[0]["step"], "setSecret");
        assert_eq!(out[0]["duration_ms"], 42);
        assert_eq!(
            out[0]["requested_by"],
            "arn:aws:sts::1:assumed-role/ops/alice"
        );
        assert_eq!(out[0]["reason"], "INC-42");
        assert_eq!(out[0]["mode"], "routine");
        assert_eq!(out[0]["method"], "rotate");
        let emf = &out[1];
        let directive = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(directive["Metrics"][0]["Name"], "StepDuration");
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(
                emf.get(dimension.as_str().unwrap()).is_some(),
                "dimension value missing"
            );
        }
        assert_eq!(emf["StepDuration"], 42);
        assert!(emf["_aws"]["Timestamp"].as_u64().unwrap() > 0);
    }

    #[test]
    fn rotation_outcome_metrics_on_finish_and_on_error() {
        let finished = lines(record(Step::FinishSecret, Outcome::Ok));
        assert_eq!(finished[2]["RotationSucceeded"], 1);
        let failed = lines(StepRecord {
            error: Some(("LoginRefused", "refused".into())),
            ..record(Step::TestSecret, Outcome::Error)
        });
        assert_eq!(failed[0]["error"], "LoginRefused");
        assert_eq!(failed[2]["RotationFailed"], 1);
        assert_eq!(lines(record(Step::FinishSecret, Outcome::Skipped)).len(), 2);
    }
}
