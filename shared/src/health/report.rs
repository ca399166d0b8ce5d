//! How a health verdict is told: one secret as JSON, the log line of an unhealthy one, and the
//! CloudWatch Embedded Metric Format lines the monitor's alarms watch (names, dates and numbers
//! only: a secret's value is never read).

use super::{format_time, SecretHealth};
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time_or_null(at: Option<SystemTime>) -> Value {
    at.map_or(Value::Null, |t| json!(format_time(t)))
}

/// Everything known about one secret's health, as JSON (names, dates and numbers only).
pub fn to_json(health: &SecretHealth) -> Value {
    let pending = health.pending.as_ref();
    json!({
        "name": health.name,
        "arn": health.arn,
        "engine": health.engine,
        "rotation_enabled": health.rotation_enabled,
        "last_rotated": time_or_null(health.last_rotation.map(|(at, _)| at)),
        "last_rotated_source": health.last_rotation.map(|(_, source)| source.as_str()),
        "age_seconds": health.age.map(|a| a.as_secs()),
        "interval_seconds": health.interval.map(|i| i.as_secs()),
        "window_seconds": health.window.as_secs(),
        "next_rotation": time_or_null(health.next_rotation),
        "due": time_or_null(health.due),
        "overdue": health.overdue,
        "overdue_seconds": health.overdue_by().as_secs(),
        "pending_version": pending.map(|p| p.version.as_str()),
        "pending_since": time_or_null(pending.and_then(|p| p.since)),
        "pending_stuck": health.pending_stuck(),
        "jwt_verify_until": time_or_null(health.jwt_verify_until),
        "jwt_seconds_left": health.jwt_seconds_left(),
        "problems": health.problems().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "healthy": health.is_healthy(),
        "evaluated_at": format_time(health.at),
    })
}

/// The structured log line for an unhealthy secret; `None` when it is healthy.
pub fn problem_line(health: &SecretHealth) -> Option<Value> {
    if health.is_healthy() {
        return None;
    }
    let mut line = json!({"event": "rotation.health", "outcome": "unhealthy"});
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, to_json(health)) {
        line.extend(fields);
    }
    Some(line)
}

/// One EMF metric: name, unit, value.
type Metric = (&'static str, &'static str, Value);

/// A CloudWatch Embedded Metric Format line in the shape of [`crate::audit`]'s.
pub fn emf_line(
    namespace: &str,
    at: SystemTime,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
    properties: &[(&str, Value)],
) -> Value {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": epoch_millis(at),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (key, value) in properties {
        line.insert((*key).to_owned(), value.clone());
    }
    for (key, value) in dimensions {
        line.insert((*key).to_owned(), json!(value));
    }
    for (name, _, value) in metrics {
        line.insert((*name).to_owned(), value.clone());
    }
    Value::Object(line)
}

/// The per-secret metrics, dimension `SecretName`: `SecondsSinceRotation`, `RotationOverdue`
/// (0/1), `PendingStuck` (0/1) and, for a JWT key set with the tag, `JwtPreviousKeySecondsLeft`.
pub fn secret_metrics(health: &SecretHealth, namespace: &str) -> Value {
    let mut metrics: Vec<Metric> = Vec::new();
    if let Some(age) = health.age {
        metrics.push(("SecondsSinceRotation", "Seconds", json!(age.as_secs())));
    }
    metrics.push(("RotationOverdue", "Count", json!(u8::from(health.overdue))));
    metrics.push((
        "PendingStuck",
        "Count",
        json!(u8::from(health.pending_stuck())),
    ));
    if let Some(left) = health.jwt_seconds_left() {
        metrics.push(("JwtPreviousKeySecondsLeft", "Seconds", json!(left)));
    }
    let mut properties = vec![("SecretArn", json!(health.arn))];
    if let Some(engine) = &health.engine {
        properties.push(("Engine", json!(engine)));
    }
    emf_line(
        namespace,
        health.at,
        &[("SecretName", health.name.as_str())],
        &metrics,
        &properties,
    )
}

/// Counts over one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Secrets evaluated.
    pub checked: u64,
    /// Secrets whose rotation is overdue.
    pub overdue: u64,
    /// Secrets with a stuck AWSPENDING version.
    pub pending_stuck: u64,
    /// Secrets listed but not described (the run reports an error too).
    pub unreadable: u64,
}

impl Summary {
    /// Counts the verdicts of one run, plus the `unreadable` secrets that got none.
    pub fn of(health: &[SecretHealth], unreadable: usize) -> Self {
        Self {
            checked: health.len() as u64,
            overdue: health.iter().filter(|h| h.overdue).count() as u64,
            pending_stuck: health.iter().filter(|h| h.pending_stuck()).count() as u64,
            unreadable: unreadable as u64,
        }
    }
}

/// The run's counts, dimension `Monitor`: what the alarms watch.
pub fn summary_metrics(summary: &Summary, namespace: &str, monitor: &str, at: SystemTime) -> Value {
    emf_line(
        namespace,
        at,
        &[("Monitor", monitor)],
        &[
            ("SecretsChecked", "Count", json!(summary.checked)),
            ("SecretsOverdue", "Count", json!(summary.overdue)),
            ("SecretsPendingStuck", "Count", json!(summary.pending_stuck)),
            ("SecretsUnreadable", "Count", json!(summary.unreadable)),
        ],
        &[],
    )
}
