//! Unit tests of the health rules.

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn days(n: u64) -> u64 {
    n * DAY
}

fn rules(days: i64) -> Option<RotationRules> {
    Some(RotationRules {
        automatically_after_days: Some(days),
        ..RotationRules::default()
    })
}

fn versions(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(id, stages)| {
            (
                (*id).to_owned(),
                stages.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

/// Rotation on every 30 days, created at T0, last rotated at T0 + 10 days.
fn secret() -> SecretMetadata {
    SecretMetadata {
        arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf".into(),
        name: "app".into(),
        rotation_enabled: true,
        versions: versions(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT"])]),
        rotation_rules: rules(30),
        created: Some(at(T0)),
        last_changed: Some(at(T0 + days(10))),
        last_rotated: Some(at(T0 + days(10))),
        next_rotation: Some(at(T0 + days(40))),
        ..SecretMetadata::default()
    }
}

#[test]
fn scope_is_rotation_enabled_unless_everything_is_asked_for_and_never_deleted_secrets() {
    let enabled = secret();
    let disabled = SecretMetadata {
        rotation_enabled: false,
        ..secret()
    };
    let deleted = SecretMetadata {
        deleted: Some(at(T0)),
        ..secret()
    };
    assert!(in_scope(&enabled, false));
    assert!(!in_scope(&disabled, false));
    assert!(in_scope(&disabled, true));
    assert!(!in_scope(&deleted, true));
}

#[test]
fn last_rotation_is_last_rotated_date_else_creation() {
    assert_eq!(
        last_rotation(&secret()),
        Some((at(T0 + days(10)), RotationDateSource::LastRotated))
    );
    let never = SecretMetadata {
        last_rotated: None,
        ..secret()
    };
    assert_eq!(
        last_rotation(&never),
        Some((at(T0), RotationDateSource::Created))
    );
    assert_eq!(last_rotation(&SecretMetadata::default()), None);
}

#[test]
fn age_counts_from_the_last_rotation_and_never_goes_negative() {
    let health = evaluate(&secret(), at(T0 + days(12)));
    assert_eq!(health.age, Some(Duration::from_secs(days(2))));
    let before = evaluate(&secret(), at(T0 + days(5)));
    assert_eq!(before.age, Some(Duration::ZERO));
}

#[test]
fn interval_from_days_or_a_rate_expression_but_not_from_cron() {
    let by_days = RotationRules {
        automatically_after_days: Some(90),
        ..RotationRules::default()
    };
    assert_eq!(
        rotation_interval(&by_days),
        Some(Duration::from_secs(days(90)))
    );
    for (expression, expected) in [
        ("rate(10 days)", Some(days(10))),
        ("rate(1 day)", Some(days(1))),
        ("rate(4 hours)", Some(4 * HOUR)),
        ("cron(0 16 1,15 * ? *)", None),
        ("rate(0 days)", None),
        ("rate(3 weeks)", None),
        ("rate(10 days) extra", None),
    ] {
        let rules = RotationRules {
            schedule_expression: Some(expression.into()),
            ..RotationRules::default()
        };
        assert_eq!(
            rotation_interval(&rules),
            expected.map(Duration::from_secs),
            "{expression}"
        );
    }
    assert_eq!(rotation_interval(&RotationRules::default()), None);
}

#[test]
fn window_is_the_duration_else_one_hour_for_hourly_schedules_else_a_day() {
    let with = |duration: Option<&str>, expression: Option<&str>| RotationRules {
        duration: duration.map(str::to_owned),
        schedule_expression: expression.map(str::to_owned),
        ..RotationRules::default()
    };
    assert_eq!(
        rotation_window(Some(&with(Some("3h"), None))),
        Duration::from_secs(3 * HOUR)
    );
    assert_eq!(
        rotation_window(Some(&with(Some("30h"), None))),
        DEFAULT_WINDOW
    );
    assert_eq!(
        rotation_window(Some(&with(Some("soon"), None))),
        DEFAULT_WINDOW
    );
    assert_eq!(
        rotation_window(Some(&with(None, Some("rate(4 hours)")))),
        HOURLY_WINDOW
    );
    assert_eq!(
        rotation_window(Some(&with(None, Some("rate(7 days)")))),
        DEFAULT_WINDOW
    );
    assert_eq!(rotation_window(None), DEFAULT_WINDOW);
}

#[test]
fn overdue_once_the_next_rotation_date_has_passed() {
    assert!(!evaluate(&secret(), at(T0 + days(39))).overdue);
    let late = evaluate(&secret(), at(T0 + days(41)));
    assert!(late.overdue);
    assert_eq!(late.due, Some(at(T0 + days(40))));
    assert_eq!(late.overdue_by(), Duration::from_secs(days(1)));
    assert_eq!(late.problems(), vec![Problem::Overdue]);
}

#[test]
fn overdue_by_age_when_the_last_rotation_is_older_than_interval_plus_window() {
    // No NextRotationDate: due = last rotation + 30 days + 1 day of window.
    let undated = SecretMetadata {
        next_rotation: None,
        ..secret()
    };
    assert_eq!(
        evaluate(&undated, at(T0)).due,
        Some(at(T0 + days(10 + 30 + 1)))
    );
    assert!(!evaluate(&undated, at(T0 + days(41) - 1)).overdue);
    assert!(evaluate(&undated, at(T0 + days(41) + 1)).overdue);
    // A NextRotationDate far away does not hide a credential older than its schedule.
    let postponed = SecretMetadata {
        next_rotation: Some(at(T0 + days(400))),
        ..secret()
    };
    assert!(evaluate(&postponed, at(T0 + days(42))).overdue);
    // A never-rotated secret counts from its creation.
    let never = SecretMetadata {
        last_rotated: None,
        next_rotation: None,
        ..secret()
    };
    assert!(evaluate(&never, at(T0 + days(32))).overdue);
}

#[test]
fn never_overdue_without_rotation_or_without_any_schedule_date() {
    let disabled = SecretMetadata {
        rotation_enabled: false,
        ..secret()
    };
    let health = evaluate(&disabled, at(T0 + days(1000)));
    assert!(!health.overdue);
    assert_eq!(health.due, None);
    let cron_only = SecretMetadata {
        next_rotation: None,
        rotation_rules: Some(RotationRules {
            schedule_expression: Some("cron(0 4 ? * MON *)".into()),
            ..RotationRules::default()
        }),
        ..secret()
    };
    assert!(!evaluate(&cron_only, at(T0 + days(1000))).overdue);
}

#[test]
fn a_pending_version_is_stuck_after_the_window_without_progress() {
    let pending = SecretMetadata {
        versions: versions(&[("v2", &["AWSCURRENT"]), ("v3", &["AWSPENDING"])]),
        last_changed: Some(at(T0 + days(20))),
        rotation_rules: Some(RotationRules {
            automatically_after_days: Some(30),
            duration: Some("4h".into()),
            ..RotationRules::default()
        }),
        ..secret()
    };
    let fresh = evaluate(&pending, at(T0 + days(20) + 3 * HOUR));
    let p = fresh.pending.as_ref().unwrap();
    assert_eq!(
        (p.version.as_str(), p.since, p.stuck),
        ("v3", Some(at(T0 + days(20))), false)
    );
    assert!(fresh.is_healthy());
    let stuck = evaluate(&pending, at(T0 + days(20) + 5 * HOUR));
    assert!(stuck.pending_stuck());
    assert_eq!(stuck.problems(), vec![Problem::PendingStuck]);
}

#[test]
fn pending_on_the_current_version_or_absent_is_no_rotation_in_progress() {
    let finished = SecretMetadata {
        versions: versions(&[
            ("v2", &["AWSPREVIOUS"]),
            ("v3", &["AWSCURRENT", "AWSPENDING"]),
        ]),
        ..secret()
    };
    assert_eq!(evaluate(&finished, at(T0 + days(1000))).pending, None);
    assert_eq!(evaluate(&secret(), at(T0 + days(1000))).pending, None);
}

#[test]
fn pending_falls_back_to_the_creation_date_and_is_not_stuck_when_undated() {
    let undated_change = SecretMetadata {
        versions: versions(&[("v1", &["AWSCURRENT"]), ("v2", &["AWSPENDING"])]),
        last_changed: None,
        ..secret()
    };
    let health = evaluate(&undated_change, at(T0 + days(2)));
    assert_eq!(health.pending.as_ref().unwrap().since, Some(at(T0)));
    assert!(health.pending_stuck());
    let undated = SecretMetadata {
        created: None,
        ..undated_change
    };
    assert!(!evaluate(&undated, at(T0 + days(2))).pending_stuck());
}

#[test]
fn engine_from_the_tag_else_from_the_rotation_function_name() {
    let mut s = SecretMetadata {
        rotation_lambda_arn: Some(
            "arn:aws:lambda:eu-west-1:123456789012:function:team-Redis-rotation".into(),
        ),
        ..secret()
    };
    assert_eq!(engine_of(&s).as_deref(), Some("redis"));
    s.tags.insert(ENGINE_TAG.into(), "JWT".into());
    assert_eq!(engine_of(&s).as_deref(), Some("jwt"));
    s.tags.clear();
    s.rotation_lambda_arn =
        Some("arn:aws:lambda:eu-west-1:123456789012:function:secret-rotation-postgres:live".into());
    assert_eq!(engine_of(&s).as_deref(), Some("postgres"));
    s.rotation_lambda_arn = Some("arn:aws:lambda:eu-west-1:123456789012:function:other".into());
    assert_eq!(engine_of(&s), None);
    assert_eq!(engine_of(&SecretMetadata::default()), None);
}

#[test]
fn jwt_time_left_comes_from_the_tag_and_goes_negative_once_passed() {
    let mut s = secret();
    assert_eq!(evaluate(&s, at(T0)).jwt_seconds_left(), None);
    s.tags
        .insert(JWT_VERIFY_UNTIL_TAG.into(), format_time(at(T0 + days(3))));
    assert_eq!(
        evaluate(&s, at(T0 + days(1))).jwt_seconds_left(),
        Some(days(2) as i64)
    );
    assert_eq!(
        evaluate(&s, at(T0 + days(4))).jwt_seconds_left(),
        Some(-(days(1) as i64))
    );
    s.tags
        .insert(JWT_VERIFY_UNTIL_TAG.into(), "next tuesday".into());
    assert_eq!(evaluate(&s, at(T0)).jwt_seconds_left(), None);
}

#[test]
fn times_round_trip_through_rfc3339() {
    assert_eq!(format_time(at(T0)), "2023-11-14T22:13:20Z");
    assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(at(T0)));
    assert_eq!(parse_time("2023-11-14"), None);
}

fn assert_valid_emf(line: &Value) {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 0);
    assert!(directive["Namespace"].is_string());
    for dimension in directive["Dimensions"][0].as_array().unwrap() {
        assert!(line[dimension.as_str().unwrap()].is_string(), "{dimension}");
    }
    for metric in directive["Metrics"].as_array().unwrap() {
        assert!(
            line[metric["Name"].as_str().unwrap()].is_number(),
            "{metric}"
        );
    }
}

#[test]
fn metric_lines_are_emf_with_every_metric_and_dimension_present() {
    let mut s = SecretMetadata {
        versions: versions(&[("v2", &["AWSCURRENT"]), ("v3", &["AWSPENDING"])]),
        ..secret()
    };
    s.tags
        .insert(JWT_VERIFY_UNTIL_TAG.into(), format_time(at(T0 + days(50))));
    let health = evaluate(&s, at(T0 + days(45)));
    let line = secret_metrics(&health, "Test");
    assert_valid_emf(&line);
    assert_eq!(line["SecretName"], "app");
    assert_eq!(line["SecondsSinceRotation"], days(35));
    assert_eq!(line["RotationOverdue"], 1);
    assert_eq!(line["PendingStuck"], 1);
    assert_eq!(line["JwtPreviousKeySecondsLeft"], days(5));
    assert_eq!(
        line["_aws"]["Timestamp"],
        (T0 + days(45)) * 1000,
        "timestamped at the evaluation time"
    );

    let summary = Summary::of(&[health.clone(), evaluate(&secret(), at(T0))], 1);
    assert_eq!(
        summary,
        Summary {
            checked: 2,
            overdue: 1,
            pending_stuck: 1,
            unreadable: 1
        }
    );
    let line = summary_metrics(&summary, "Test", "monitor", at(T0));
    assert_valid_emf(&line);
    assert_eq!(line["Monitor"], "monitor");
    assert_eq!(line["SecretsOverdue"], 1);
}

#[test]
fn one_problem_line_per_unhealthy_secret_none_for_a_healthy_one() {
    assert_eq!(problem_line(&evaluate(&secret(), at(T0 + days(11)))), None);
    let line = problem_line(&evaluate(&secret(), at(T0 + days(41)))).unwrap();
    assert_eq!(line["event"], "rotation.health");
    assert_eq!(line["problems"], json!(["overdue"]));
    assert_eq!(line["overdue_seconds"], days(1));
    assert_eq!(line["due"], format_time(at(T0 + days(40))));
}

#[test]
fn an_entry_is_judged_as_listed_only_with_versions_a_creation_date_and_a_schedule() {
    assert!(entry_is_complete(&secret()));
    let no_versions = SecretMetadata {
        versions: BTreeMap::new(),
        ..secret()
    };
    let no_created = SecretMetadata {
        created: None,
        ..secret()
    };
    let no_schedule = SecretMetadata {
        rotation_rules: None,
        ..secret()
    };
    for incomplete in [&no_versions, &no_created, &no_schedule] {
        assert!(!entry_is_complete(incomplete), "{incomplete:?}");
    }
    let not_rotating = SecretMetadata {
        rotation_enabled: false,
        ..no_schedule
    };
    assert!(entry_is_complete(&not_rotating), "no schedule is needed");
}
