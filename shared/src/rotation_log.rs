//! The rotation log: who asked for a rotation and why, kept in the secret's tags.
//!
//! `rotationctl rotate` and `emergency` tag the secret with [`REQUESTED_BY_TAG`] (the caller's ARN,
//! from STS) and [`REASON_TAG`] before they start a rotation. The engine reads them into every
//! step's audit line, writes one [`LogEntry`] per rotation as a tag [`LOG_TAG_PREFIX`]`<version>`
//! (the newest [`LOG_ENTRIES_KEPT`] are kept), and removes the request tags when the rotation ends.
//! A rotation started without them (the schedule, `aws secretsmanager rotate-secret`, a Terraform
//! apply) is logged as requested by [`SCHEDULE`].
//!
//! Trust: a tag says what the principal allowed to write it said. The module lets only the
//! operator role write the request tags and only the function write the log; CloudTrail records
//! who really called TagResource and RotateSecret.

use crate::health::{format_time, parse_time};
use crate::protocol::Mode;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The tag holding the ARN of whoever asked for the rotation in progress.
pub const REQUESTED_BY_TAG: &str = "rotation:requested-by";
/// The tag holding why the rotation in progress was asked for.
pub const REASON_TAG: &str = "rotation:reason";
/// The prefix of the tags holding the log, one per version: `rotation:log:<version id>`.
pub const LOG_TAG_PREFIX: &str = "rotation:log:";
/// How many log entries a secret keeps (each is one of its 50 tags).
pub const LOG_ENTRIES_KEPT: usize = 5;
/// Who requested a rotation that no one tagged: the rotation schedule or a bare RotateSecret.
pub const SCHEDULE: &str = "schedule";
/// The longest reason kept: a tag value holds 256 characters, and the log entry adds its date,
/// method and requester.
pub const MAX_REASON_CHARS: usize = 120;
/// The longest tag value Secrets Manager accepts.
const MAX_TAG_VALUE_CHARS: usize = 256;

/// How a rotation was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// By the schedule or by RotateSecret without a request tag.
    Schedule,
    /// By `rotationctl rotate`.
    Rotate,
    /// By `rotationctl emergency` (the `rotation:mode=emergency` tag).
    Emergency,
}

impl Method {
    /// `schedule`, `rotate` or `emergency`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Schedule => "schedule",
            Method::Rotate => "rotate",
            Method::Emergency => "emergency",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Method::Schedule, Method::Rotate, Method::Emergency]
            .into_iter()
            .find(|m| m.as_str() == raw)
    }
}

/// What the tags say about the rotation being asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// How it was started.
    pub method: Method,
    /// The requester's ARN, or [`SCHEDULE`].
    pub requested_by: String,
    /// Why, when the requester said.
    pub reason: Option<String>,
}

impl Request {
    /// The request the secret's tags describe. Tag values are cleaned as [`tag_text`] does: they
    /// come from whoever may tag the secret and end up in log lines.
    pub fn of(tags: &BTreeMap<String, String>) -> Self {
        let requested_by = tags
            .get(REQUESTED_BY_TAG)
            .map(|by| tag_text(by, MAX_TAG_VALUE_CHARS).replace(' ', "_"))
            .filter(|by| !by.is_empty());
        let emergency = Mode::requested(tags) == Ok(Mode::Emergency);
        let method = match (emergency, &requested_by) {
            (true, _) => Method::Emergency,
            (false, Some(_)) => Method::Rotate,
            (false, None) => Method::Schedule,
        };
        Self {
            method,
            requested_by: requested_by.unwrap_or_else(|| SCHEDULE.to_owned()),
            reason: tags
                .get(REASON_TAG)
                .map(|reason| tag_text(reason, MAX_REASON_CHARS))
                .filter(|reason| !reason.is_empty()),
        }
    }

    /// Whether the secret carries a request tag to remove when the rotation ends.
    pub fn tagged(tags: &BTreeMap<String, String>) -> bool {
        tags.contains_key(REQUESTED_BY_TAG) || tags.contains_key(REASON_TAG)
    }
}

/// One rotation in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When the rotation's createSecret ran.
    pub at: SystemTime,
    /// The request it served.
    pub request: Request,
}

impl LogEntry {
    /// The tag key of `version`'s entry.
    pub fn key(version: &str) -> String {
        format!("{LOG_TAG_PREFIX}{version}")
    }

    /// `<date> <method> by=<requester>[ reason=<reason>]`, within a tag value's 256 characters.
    pub fn to_tag_value(&self) -> String {
        let mut value = format!(
            "{} {} by={}",
            format_time(self.at),
            self.request.method.as_str(),
            self.request.requested_by
        );
        if let Some(reason) = &self.request.reason {
            value.push_str(" reason=");
            value.push_str(reason);
        }
        value.chars().take(MAX_TAG_VALUE_CHARS).collect()
    }

    /// The entry a log tag holds; `None` for a value this module did not write.
    pub fn parse(value: &str) -> Option<Self> {
        let mut words = value.splitn(3, ' ');
        let at = parse_time(words.next()?)?;
        let method = Method::parse(words.next()?)?;
        let rest = words.next()?;
        let (by, reason) = match rest.split_once(" reason=") {
            Some((by, reason)) => (by, Some(reason.to_owned())),
            None => (rest, None),
        };
        Some(Self {
            at,
            request: Request {
                method,
                requested_by: by.strip_prefix("by=")?.to_owned(),
                reason,
            },
        })
    }
}

/// Every log entry in `tags`, by version id.
pub fn entries(tags: &BTreeMap<String, String>) -> BTreeMap<String, LogEntry> {
    tags.iter()
        .filter_map(|(key, value)| {
            let version = key.strip_prefix(LOG_TAG_PREFIX)?;
            Some((version.to_owned(), LogEntry::parse(value)?))
        })
        .collect()
}

/// The log tags to remove so that, with `keep` written, the newest [`LOG_ENTRIES_KEPT`] remain.
/// Tags under the prefix that do not parse are removed too: only the function writes there.
pub fn surplus_log_tags(tags: &BTreeMap<String, String>, keep: &str) -> Vec<String> {
    let mut dated: Vec<(Option<SystemTime>, &String)> = tags
        .iter()
        .filter(|(key, _)| key.starts_with(LOG_TAG_PREFIX) && key.as_str() != keep)
        .map(|(key, value)| (LogEntry::parse(value).map(|e| e.at), key))
        .collect();
    // Newest first; unparsable ones last, so they go first.
    dated.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    dated
        .into_iter()
        .enumerate()
        .filter(|(i, (at, _))| at.is_none() || *i + 1 >= LOG_ENTRIES_KEPT)
        .map(|(_, (_, key))| key.clone())
        .collect()
}

/// `raw` as a tag value may hold it: letters, digits and spaces and `_ . : / = + - @`; anything
/// else (control characters, quotes, commas, brackets…) becomes a space, runs of spaces one,
/// and the result is cut to `max` characters.
pub fn tag_text(raw: &str, max: usize) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let keep = c.is_alphanumeric() || "_.:/=+-@".contains(c);
        if keep {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim_end().chars().take(max).collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MODE_TAG;
    use std::time::{Duration, UNIX_EPOCH};

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_untagged_rotation_is_the_schedule_and_tags_name_the_requester_and_reason() {
        let scheduled = Request::of(&BTreeMap::new());
        assert_eq!(scheduled.method, Method::Schedule);
        assert_eq!(scheduled.requested_by, SCHEDULE);
        assert_eq!(scheduled.reason, None);
        let asked = Request::of(&tags(&[
            (REQUESTED_BY_TAG, "arn:aws:sts::1:assumed-role/ops/alice"),
            (REASON_TAG, "INC-42: key in a log"),
        ]));
        assert_eq!(asked.method, Method::Rotate);
        assert_eq!(asked.requested_by, "arn:aws:sts::1:assumed-role/ops/alice");
        assert_eq!(asked.reason.as_deref(), Some("INC-42: key in a log"));
        let emergency = Request::of(&tags(&[(MODE_TAG, "emergency")]));
        assert_eq!(emergency.method, Method::Emergency);
        assert_eq!(emergency.requested_by, SCHEDULE);
    }

    #[test]
    fn hostile_tag_values_are_cleaned_and_bounded() {
        let request = Request::of(&tags(&[
            (REQUESTED_BY_TAG, "evil\" by=x\n"),
            (REASON_TAG, &format!("a\u{0}b\"}}{{,{}", "x".repeat(500))),
        ]));
        assert_eq!(request.requested_by, "evil_by=x");
        let reason = request.reason.unwrap();
        assert!(reason.starts_with("a b "), "{reason}");
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
        assert_eq!(tag_text("  (INC-7), rotate!  ", 50), "INC-7 rotate");
    }

    #[test]
    fn a_log_entry_survives_its_tag_value_and_stays_within_256_characters() {
        let entry = LogEntry {
            at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            request: Request {
                method: Method::Emergency,
                requested_by: "arn:aws:sts::123456789012:assumed-role/ops/alice".into(),
                reason: Some("INC-42 key leaked by=me reason=twice".into()),
            },
        };
        let value = entry.to_tag_value();
        assert_eq!(LogEntry::parse(&value), Some(entry.clone()));
        let long = LogEntry {
            request: Request {
                requested_by: "r".repeat(200),
                reason: Some("x".repeat(MAX_REASON_CHARS)),
                ..entry.request
            },
            ..entry
        };
        assert_eq!(long.to_tag_value().chars().count(), 256);
        assert_eq!(LogEntry::parse("not a log entry"), None);
    }

    #[test]
    fn the_newest_entries_are_kept_and_foreign_values_under_the_prefix_go() {
        let at = |secs: u64| {
            LogEntry {
                at: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
                request: Request::of(&BTreeMap::new()),
            }
            .to_tag_value()
        };
        let mut pairs: Vec<(String, String)> = (0..7)
            .map(|i| (LogEntry::key(&format!("v{i}")), at(i)))
            .collect();
        pairs.push((LogEntry::key("junk"), "junk".into()));
        pairs.push(("team".into(), "sre".into()));
        let tags: BTreeMap<String, String> = pairs.into_iter().collect();
        let mut surplus = surplus_log_tags(&tags, &LogEntry::key("v7"));
        surplus.sort();
        // v7 is being written: with v6..v3 that makes five.
        assert_eq!(
            surplus,
            vec![
                LogEntry::key("junk"),
                LogEntry::key("v0"),
                LogEntry::key("v1"),
                LogEntry::key("v2"),
            ]
        );
        assert_eq!(entries(&tags).len(), 7);
    }
}
