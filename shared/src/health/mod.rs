//! Rotation health: how old a secret's credential is, whether its rotation is overdue, whether a
//! rotation is stuck with an AWSPENDING version, and (for JWT key sets) how long the oldest
//! previous key keeps verifying.
//!
//! The rules are pure functions of a secret's metadata (what DescribeSecret returns: never a
//! value) and of `now`, so that the monitor function and `rotationctl status` cannot disagree.
//! [`collect`] is the one place that asks Secrets Manager: ListSecrets, whose entries carry the same
//! metadata (one call per 100 secrets), and DescribeSecret only for an entry that lacks what the
//! rules read or looks unhealthy. The rules, exactly:
//!
//! - **Scope**: a secret is checked when rotation is enabled on it, or when every secret was asked
//!   for. A secret scheduled for deletion is never checked.
//! - **Last rotation**: `LastRotatedDate`; a secret that was never rotated counts from its
//!   `CreatedDate`. **Age** = `now` − last rotation (0 if that lies in the future).
//! - **Interval**: `RotationRules.AutomaticallyAfterDays`, else a `rate(N days|hours)` schedule
//!   expression; a `cron(...)` schedule has no fixed interval.
//! - **Window**: `RotationRules.Duration` (`Nh`, 1 ≤ N ≤ 24); without one, 1 hour for a schedule in
//!   hours and 24 hours otherwise, as Secrets Manager does.
//! - **Due**: the earlier of `NextRotationDate` (Secrets Manager's "rotated on or before") and
//!   last rotation + interval + window. **Overdue**: rotation is enabled and `now` is past the due
//!   date.
//! - **Pending**: a version labelled AWSPENDING that is not also AWSCURRENT. DescribeSecret does not
//!   date versions, so the pending version counts from the secret's `LastChangedDate` (every step
//!   that makes progress changes the secret), else its `CreatedDate`. **Stuck**: pending for longer
//!   than the window. A stuck AWSPENDING blocks every later RotateSecret.
//! - **JWT**: a secret tagged [`JWT_VERIFY_UNTIL_TAG`] (an RFC 3339 time, maintained by whatever
//!   rotates the key set) reports the seconds left until that time: when the oldest previous key
//!   stops verifying. Without the tag nothing is reported: the key list lives in the value, which
//!   the health check never reads.
//! - **Engine**: the [`ENGINE_TAG`] tag, else the engine named in the rotation function's name
//!   (`…postgres…`, `…redis…`, `…jwt…`).

use crate::protocol::{AWSCURRENT, AWSPENDING};
use crate::store::{
    AwsSecretStore, ListFilter, RotationRules, SecretMetadata, StoreError, StoreErrorKind,
};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod report;
pub use report::{emf_line, problem_line, secret_metrics, summary_metrics, to_json, Summary};

/// Optional tag naming the engine of a secret (`postgres`, `redis`, `jwt`).
pub const ENGINE_TAG: &str = "rotation:engine";
/// Optional tag on a JWT key-set secret: when its oldest previous key stops verifying (RFC 3339).
pub const JWT_VERIFY_UNTIL_TAG: &str = "rotation:jwt-verify-until";

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
const DEFAULT_WINDOW: Duration = Duration::from_secs(DAY);
const HOURLY_WINDOW: Duration = Duration::from_secs(HOUR);

/// Where a secret's last rotation date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationDateSource {
    /// Secrets Manager's `LastRotatedDate`.
    LastRotated,
    /// Never rotated: the secret's `CreatedDate`.
    Created,
}

impl RotationDateSource {
    /// The metadata field's name, as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationDateSource::LastRotated => "LastRotatedDate",
            RotationDateSource::Created => "CreatedDate",
        }
    }
}

/// A version labelled AWSPENDING that is not AWSCURRENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVersion {
    /// The version id.
    pub version: String,
    /// When it was at the latest created (see the module documentation).
    pub since: Option<SystemTime>,
    /// Pending for longer than the rotation window; blocks every later rotation.
    pub stuck: bool,
}

/// A problem the monitor alarms on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Rotation is enabled and the due date has passed.
    Overdue,
    /// An AWSPENDING version has outlived the rotation window.
    PendingStuck,
}

impl Problem {
    /// The problem's name in reports and metrics, in snake case.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Overdue => "overdue",
            Problem::PendingStuck => "pending_stuck",
        }
    }
}

/// The health of one secret at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHealth {
    /// The secret's ARN.
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// The engine, by [`engine_of`]; `None` when neither tag nor function name tells.
    pub engine: Option<String>,
    /// Whether rotation is enabled on the secret.
    pub rotation_enabled: bool,
    /// The last rotation and which date it was taken from; `None` when the secret has neither.
    pub last_rotation: Option<(SystemTime, RotationDateSource)>,
    /// Time since the last rotation; zero if that lies in the future.
    pub age: Option<Duration>,
    /// The time between rotations; `None` for a `cron(...)` schedule or no schedule.
    pub interval: Option<Duration>,
    /// How long a rotation may take before it counts as late or stuck.
    pub window: Duration,
    /// Secrets Manager's `NextRotationDate`.
    pub next_rotation: Option<SystemTime>,
    /// The date by which the rotation should have happened; `None` when rotation is off.
    pub due: Option<SystemTime>,
    /// Rotation is enabled and `at` is past `due`.
    pub overdue: bool,
    /// The AWSPENDING version that is not AWSCURRENT, if any.
    pub pending: Option<PendingVersion>,
    /// When the oldest previous JWT key stops verifying, from [`JWT_VERIFY_UNTIL_TAG`].
    pub jwt_verify_until: Option<SystemTime>,
    /// The instant this was evaluated at.
    pub at: SystemTime,
}

impl SecretHealth {
    /// What the monitor alarms on for this secret, in a fixed order; empty when healthy.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.overdue {
            problems.push(Problem::Overdue);
        }
        if self.pending.as_ref().is_some_and(|p| p.stuck) {
            problems.push(Problem::PendingStuck);
        }
        problems
    }

    /// Neither overdue nor stuck.
    pub fn is_healthy(&self) -> bool {
        self.problems().is_empty()
    }

    /// Whether an AWSPENDING version is stuck.
    pub fn pending_stuck(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| p.stuck)
    }

    /// How long past due (zero when not overdue).
    pub fn overdue_by(&self) -> Duration {
        match (self.overdue, self.due) {
            (true, Some(due)) => elapsed(due, self.at),
            _ => Duration::ZERO,
        }
    }

    /// Seconds until the oldest previous JWT key stops verifying; negative once it has.
    pub fn jwt_seconds_left(&self) -> Option<i64> {
        self.jwt_verify_until
            .map(|until| signed_seconds(until) - signed_seconds(self.at))
    }
}

/// Whether a secret is checked: rotation enabled (or everything asked for), not being deleted.
pub fn in_scope(secret: &SecretMetadata, include_disabled: bool) -> bool {
    secret.deleted.is_none() && (secret.rotation_enabled || include_disabled)
}

/// Every rule applied to one secret at `now`.
pub fn evaluate(secret: &SecretMetadata, now: SystemTime) -> SecretHealth {
    let last_rotation = last_rotation(secret);
    let rules = secret.rotation_rules.as_ref();
    let interval = rules.and_then(rotation_interval);
    let window = rotation_window(rules);
    let due = due_date(secret, last_rotation.map(|(at, _)| at), interval, window);
    SecretHealth {
        arn: secret.arn.clone(),
        name: secret.name.clone(),
        engine: engine_of(secret),
        rotation_enabled: secret.rotation_enabled,
        last_rotation,
        age: last_rotation.map(|(at, _)| elapsed(at, now)),
        interval,
        window,
        next_rotation: secret.next_rotation,
        due,
        overdue: is_overdue(due, now),
        pending: pending_version(secret, window, now),
        jwt_verify_until: jwt_verify_until(secret),
        at: now,
    }
}

/// `LastRotatedDate`, else `CreatedDate` for a secret never rotated.
pub fn last_rotation(secret: &SecretMetadata) -> Option<(SystemTime, RotationDateSource)> {
    secret
        .last_rotated
        .map(|at| (at, RotationDateSource::LastRotated))
        .or_else(|| secret.created.map(|at| (at, RotationDateSource::Created)))
}

/// The time between rotations, when the schedule has a fixed one.
pub fn rotation_interval(rules: &RotationRules) -> Option<Duration> {
    if let Some(days) = rules.automatically_after_days.filter(|d| *d > 0) {
        return u64::try_from(days)
            .ok()
            .map(|d| Duration::from_secs(d.saturating_mul(DAY)));
    }
    rules
        .schedule_expression
        .as_deref()
        .and_then(parse_rate)
        .map(|(n, unit)| Duration::from_secs(n.saturating_mul(unit)))
}

/// The rotation window: `Duration` (`Nh`), else Secrets Manager's default for the schedule.
pub fn rotation_window(rules: Option<&RotationRules>) -> Duration {
    let Some(rules) = rules else {
        return DEFAULT_WINDOW;
    };
    if let Some(hours) = rules.duration.as_deref().and_then(parse_hours) {
        return Duration::from_secs(hours * HOUR);
    }
    match rules.schedule_expression.as_deref().and_then(parse_rate) {
        Some((_, HOUR)) if rules.automatically_after_days.is_none() => HOURLY_WINDOW,
        _ => DEFAULT_WINDOW,
    }
}

/// `rate(N day|days|hour|hours)` → (N, seconds per unit).
fn parse_rate(expression: &str) -> Option<(u64, u64)> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let n: u64 = parts.next()?.parse().ok().filter(|n| *n > 0)?;
    let unit = match parts.next()? {
        "day" | "days" => DAY,
        "hour" | "hours" => HOUR,
        _ => return None,
    };
    parts.next().is_none().then_some((n, unit))
}

/// `Nh` with 1 ≤ N ≤ 24.
fn parse_hours(duration: &str) -> Option<u64> {
    duration
        .trim()
        .strip_suffix('h')?
        .parse()
        .ok()
        .filter(|h| (1..=24).contains(h))
}

/// The earlier of `NextRotationDate` and last rotation + interval + window; none when rotation is
/// off or nothing dates it.
pub fn due_date(
    secret: &SecretMetadata,
    last_rotation: Option<SystemTime>,
    interval: Option<Duration>,
    window: Duration,
) -> Option<SystemTime> {
    if !secret.rotation_enabled {
        return None;
    }
    let by_age = match (last_rotation, interval) {
        (Some(at), Some(interval)) => at.checked_add(interval + window),
        _ => None,
    };
    match (secret.next_rotation, by_age) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Strictly past the due date; never when there is none.
pub fn is_overdue(due: Option<SystemTime>, now: SystemTime) -> bool {
    due.is_some_and(|due| now > due)
}

/// The AWSPENDING version that is not AWSCURRENT, if any, and whether it is stuck.
pub fn pending_version(
    secret: &SecretMetadata,
    window: Duration,
    now: SystemTime,
) -> Option<PendingVersion> {
    let (version, _) = secret.versions.iter().find(|(_, stages)| {
        stages.iter().any(|s| s == AWSPENDING) && !stages.iter().any(|s| s == AWSCURRENT)
    })?;
    let since = secret.last_changed.or(secret.created);
    Some(PendingVersion {
        version: version.clone(),
        since,
        stuck: since.is_some_and(|since| elapsed(since, now) > window),
    })
}

/// The [`ENGINE_TAG`] tag, else an engine named in the rotation function's name.
pub fn engine_of(secret: &SecretMetadata) -> Option<String> {
    if let Some(engine) = secret.tags.get(ENGINE_TAG).filter(|e| !e.is_empty()) {
        return Some(engine.to_ascii_lowercase());
    }
    let arn = secret.rotation_lambda_arn.as_deref()?;
    let function = arn.rsplit_once(":function:").map_or(arn, |(_, f)| f);
    let function = function.split(':').next().unwrap_or(function);
    let function = function.to_ascii_lowercase();
    crate::engines::names()
        .find(|engine| function.contains(engine))
        .map(str::to_owned)
}

/// The [`JWT_VERIFY_UNTIL_TAG`] tag as a time; a malformed tag counts as absent.
pub fn jwt_verify_until(secret: &SecretMetadata) -> Option<SystemTime> {
    let raw = secret.tags.get(JWT_VERIFY_UNTIL_TAG)?;
    parse_time(raw)
}

/// An RFC 3339 time such as `2026-01-31T12:00:00Z`.
pub fn parse_time(raw: &str) -> Option<SystemTime> {
    DateTime::from_str(raw.trim(), Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
}

/// RFC 3339 in UTC, to the second.
pub fn format_time(at: SystemTime) -> String {
    let secs = signed_seconds(at);
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

fn elapsed(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or(Duration::ZERO)
}

fn signed_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Which secrets a health run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The ListSecrets filter.
    pub filter: ListFilter,
    /// Also secrets without rotation (they are never overdue, but may hold a stuck AWSPENDING).
    pub include_disabled: bool,
}

/// What [`collect`] found: the secrets in scope, by name, and the ones that could not be described.
#[derive(Debug, Default)]
pub struct Collected {
    /// The metadata of every secret in scope, sorted by name: its ListSecrets entry, or
    /// DescribeSecret's for those counted in `described`.
    pub secrets: Vec<SecretMetadata>,
    /// The DescribeSecret failures, one per secret that could not be checked.
    pub errors: Vec<StoreError>,
    /// The secrets described one by one, and why.
    pub described: Described,
}

/// How many secrets [`collect`] described individually: everything else came from ListSecrets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    /// The entry lacked what the rules read (versions, creation date, a schedule).
    pub incomplete: usize,
    /// The entry looked unhealthy: confirmed on a fresh view before anything alarms.
    pub to_confirm: usize,
}

impl Described {
    /// Both counts together: DescribeSecret calls made.
    pub fn total(&self) -> usize {
        self.incomplete + self.to_confirm
    }
}

/// Whether a ListSecrets entry holds everything [`evaluate`] reads: the versions and their stages,
/// the creation date, and for a rotating secret its schedule.
pub fn entry_is_complete(entry: &SecretMetadata) -> bool {
    !entry.versions.is_empty()
        && entry.created.is_some()
        && (!entry.rotation_enabled || entry.rotation_rules.is_some())
}

/// ListSecrets (all pages, filtered, one call per 100 secrets), and the rules applied to the
/// entries themselves. DescribeSecret only for a secret whose entry lacks what the rules read, and
/// for one the entry shows unhealthy at `now`: ListSecrets may lag recent changes by minutes, and
/// an alarm is raised on a fresh view only. A secret deleted in between is skipped; any other
/// failure is kept in `errors` and the rest still checked. Reads no value.
pub async fn collect(
    store: &AwsSecretStore,
    selection: &Selection,
    now: SystemTime,
) -> Result<Collected, StoreError> {
    let listed = store.list_secrets(&selection.filter).await?;
    let mut collected = Collected::default();
    for entry in listed
        .into_iter()
        .filter(|s| in_scope(s, selection.include_disabled))
    {
        if !entry_is_complete(&entry) {
            collected.described.incomplete += 1;
        } else if !evaluate(&entry, now).is_healthy() {
            collected.described.to_confirm += 1;
        } else {
            collected.secrets.push(entry);
            continue;
        }
        let id = if entry.arn.is_empty() {
            &entry.name
        } else {
            &entry.arn
        };
        match crate::store::SecretStore::describe(store, id).await {
            Ok(secret) if in_scope(&secret, selection.include_disabled) => {
                collected.secrets.push(secret)
            }
            Ok(_) => {}
            Err(e) if e.kind == StoreErrorKind::NotFound => {}
            Err(e) => collected.errors.push(e),
        }
    }
    collected.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(collected)
}

#[cfg(test)]
mod tests;
