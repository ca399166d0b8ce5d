//! Issue 19's operator commands, `rotationctl` run as a subprocess against the emulator and real
//! PostgreSQL and redis-server: an incident-wide emergency over a mixed fleet and its re-run, the
//! rotation log in `history` and in the function's audit lines, and `check-expiring`.
//! Build the binaries first: `cargo build --workspace --bins`.

#[path = "cli/kit.rs"]
mod kit;

use kit::*;
use rotation::health::{ENGINE_TAG, JWT_VERIFY_UNTIL_TAG};
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, MODE_TAG};
use rotation::rotation_log::{LOG_TAG_PREFIX, REASON_TAG, REQUESTED_BY_TAG};
use rotation::Step;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use testkit::emulator::stage_value;
use testkit::lambda::workspace_binary;
use testkit::redis::scenario::user_secret;
use testkit::redis::RedisOptions;
use testkit::{Emulator, FunctionProcess, RedisServer};

/// The ARN moto's STS answers GetCallerIdentity with for the test credentials.
const CALLER: &str = "arn:aws:sts::123456789012:user/moto";

async fn tags(id: &str) -> BTreeMap<String, String> {
    let out = Emulator::shared()
        .client()
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .expect("DescribeSecret");
    out.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn tagged(id: &str, engine: &str) -> String {
    Emulator::shared().tag(id, ENGINE_TAG, engine).await;
    id.to_owned()
}

/// A JWT secret as hand-run procedures keep it (onboarded by its first rotation).
async fn jwt_secret(prefix: &str) -> String {
    let key = format!("{}{}", random_password(), random_password());
    let id = Emulator::shared()
        .create_secret(
            prefix,
            &json!({"engine": "jwt", "SECRET_KEY": key}).to_string(),
        )
        .await;
    enable_rotation(&id, 30).await;
    tagged(&id, "jwt").await
}

fn row<'a>(table: &'a str, name_part: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.contains(name_part))
        .unwrap_or_else(|| panic!("no row for {name_part} in:\n{table}"))
}

/// Every secret string in the values of every version of `ids` (what must never reach an
/// output): every string leaf but the fields that name things rather than prove anything.
async fn all_values(ids: &[&str]) -> Vec<String> {
    const NAMES: [&str; 7] = [
        "username",
        "host",
        "engine",
        "dbname",
        "masterarn",
        "kid",
        "rotation_mode",
    ];
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map
                .iter()
                .filter(|(key, _)| !NAMES.contains(&key.as_str()))
                .for_each(|(_, v)| walk(v, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::String(text) if text.len() >= 16 => {
                // Fields that hold JSON documents (kid arrays) are walked as such too.
                match serde_json::from_str::<Value>(text) {
                    Ok(inner @ (Value::Object(_) | Value::Array(_))) => walk(&inner, out),
                    _ => out.push(text.clone()),
                }
            }
            _ => {}
        }
    }
    let mut leaves = Vec::new();
    for id in ids {
        for stage in [AWSCURRENT, AWSPREVIOUS, AWSPENDING] {
            if let Some(raw) = Emulator::shared().value_at(id, stage).await {
                walk(&serde_json::from_str(&raw).unwrap(), &mut leaves);
            }
        }
    }
    leaves
}

#[tokio::test]
async fn an_incident_wide_emergency_rotates_a_mixed_fleet_and_a_rerun_finishes_the_failed_one() {
    let incident = unique("inc");
    // PostgreSQL: one that rotates, one whose user cannot log in (the failure to fix).
    let good_user = unique("inc_ok");
    let broken_user = unique("inc_broken");
    let (pg_ok, pg_ok_first) = postgres_secret(&good_user, false).await;
    let (pg_broken, pg_broken_first) = postgres_secret(&broken_user, false).await;
    // Secrets named under the incident's prefix: copies with that name, rotation enabled.
    let rename = |id: String, kind: &'static str| {
        let incident = incident.clone();
        async move {
            let value = Emulator::shared().value_at(&id, AWSCURRENT).await.unwrap();
            let copy = Emulator::shared()
                .create_secret(&format!("{incident}-{kind}"), &value)
                .await;
            enable_rotation(&copy, 30).await;
            copy
        }
    };
    let pg_ok = tagged(&rename(pg_ok, "pg-ok").await, "postgres").await;
    let pg_broken = tagged(&rename(pg_broken, "pg-broken").await, "postgres").await;
    let first = random_password();
    let rules =
        "~selfy:* -@all +get +acl|getuser +acl|setuser +config|get +config|rewrite +info +client|kill";
    let redis = RedisServer::start_opts(RedisOptions {
        users: &[&format!("user selfy on >{first} {rules}")],
        ..Default::default()
    })
    .expect("redis-server starts");
    let redis_id = user_secret(&redis, "selfy", &first, json!({})).await;
    let redis_id = tagged(&rename(redis_id, "redis").await, "redis").await;
    let jwt = jwt_secret(&format!("{incident}-jwt")).await;
    let jwt_first = stage_value(&jwt, AWSCURRENT).await;
    // Outside the selection: must not be touched.
    let (outsider, _) = postgres_secret(&unique("inc_out"), false).await;
    let outsider_version = Emulator::shared().version_with(&outsider, AWSCURRENT).await;

    server()
        .superuser_execute(&format!("ALTER ROLE {broken_user} NOLOGIN"))
        .await;
    let reason = "INC-7 credentials in a public log";
    let command = [
        "emergency",
        "--prefix",
        incident.as_str(),
        "--reason",
        reason,
        "--local",
        "--yes",
        "--concurrency",
        "2",
    ];
    let run = rotationctl(&command).await;
    assert_eq!(run.code, 1, "one secret failed: exit 1\n{}", run.all());
    let names = ["pg-ok", "pg-broken", "redis", "jwt"];
    for name in names {
        assert!(
            row(&run.stdout, &format!("{incident}-{name}")).contains("rotate"),
            "listed before rotating"
        );
    }
    let summary = &run.stdout[run.stdout.rfind("SECRET").unwrap()..];
    for (name, outcome, revoked) in [
        ("pg-ok", "rotated", "yes"),
        ("redis", "rotated", "yes"),
        ("jwt", "rotated", "yes"),
        ("pg-broken", "FAILED", "no"),
    ] {
        let line = row(summary, &format!("{incident}-{name}"));
        assert!(
            line.contains(outcome) && line.trim_end().ends_with(revoked),
            "{name}: {line}\n{}",
            run.all()
        );
    }
    assert!(run.stdout.contains("was not rotated") || run.stderr.contains("were not rotated"));
    assert!(
        run.stderr.contains(&format!("[{}", incident)),
        "progress is named per secret:\n{}",
        run.stderr
    );

    // The previous credentials are revoked; the new ones work.
    let pg_now = stage_value(&pg_ok, AWSCURRENT).await;
    assert!(logs_in(&pg_now).await);
    let mut pg_old = pg_now.clone();
    pg_old["password"] = json!(pg_ok_first);
    assert!(!logs_in(&pg_old).await, "the previous password is revoked");
    let redis_now = stage_value(&redis_id, AWSCURRENT).await;
    assert!(
        redis
            .can_login("selfy", redis_now["password"].as_str().unwrap())
            .await
    );
    assert!(
        !redis.can_login("selfy", &first).await,
        "the previous Redis password is revoked"
    );
    let jwt_now = stage_value(&jwt, AWSCURRENT).await;
    assert_ne!(jwt_now["SECRET_KEY"], jwt_first["SECRET_KEY"]);
    assert_eq!(
        jwt_now["SECRET_KEY_PREVIOUS"], "",
        "no previous key verifies"
    );
    // The failed one: staged as an emergency rotation, nothing promoted, its tag kept.
    let broken_current = stage_value(&pg_broken, AWSCURRENT).await;
    assert_eq!(broken_current["password"], pg_broken_first.as_str());
    assert!(Emulator::shared()
        .version_with(&pg_broken, AWSPENDING)
        .await
        .is_some());
    assert_eq!(
        tags(&pg_broken).await.get(MODE_TAG).map(String::as_str),
        Some("emergency")
    );
    assert_eq!(
        Emulator::shared().version_with(&outsider, AWSCURRENT).await,
        outsider_version,
        "a secret outside the selection is untouched"
    );
    let versions_after_first: Vec<Option<String>> = {
        let mut v = Vec::new();
        for id in [&pg_ok, &redis_id, &jwt] {
            v.push(Emulator::shared().version_with(id, AWSCURRENT).await);
        }
        v
    };

    // Fix the cause, run the same command again: only the failed one is rotated.
    server()
        .superuser_execute(&format!("ALTER ROLE {broken_user} LOGIN"))
        .await;
    let rerun = rotationctl(&command).await;
    assert_eq!(rerun.code, 0, "{}", rerun.all());
    let summary = &rerun.stdout[rerun.stdout.rfind("SECRET").unwrap()..];
    for name in ["pg-ok", "redis", "jwt"] {
        let line = row(summary, &format!("{incident}-{name}"));
        assert!(line.contains("rotated earlier"), "{name}: {line}");
    }
    assert!(row(summary, &format!("{incident}-pg-broken")).contains(" rotated "));
    for (id, before) in [&pg_ok, &redis_id, &jwt].iter().zip(&versions_after_first) {
        assert_eq!(
            &Emulator::shared().version_with(id, AWSCURRENT).await,
            before,
            "not rotated again in the same incident"
        );
    }
    let broken_now = stage_value(&pg_broken, AWSCURRENT).await;
    assert!(logs_in(&broken_now).await);
    assert!(
        !logs_in(&broken_current).await,
        "its previous password is revoked"
    );
    assert!(!tags(&pg_broken).await.contains_key(MODE_TAG));

    // Another incident is another reason: everything in the class rotates again.
    let listing = rotationctl(&[
        "emergency",
        "--prefix",
        incident.as_str(),
        "--engine",
        "redis",
        "--reason",
        "INC-8",
    ])
    .await;
    assert_eq!(listing.code, 2, "no terminal and no --yes: refused");
    assert!(row(&listing.stdout, &format!("{incident}-redis")).contains("rotate"));
    assert!(
        !listing.stdout.contains("-pg-"),
        "--engine redis lists only Redis secrets:\n{}",
        listing.stdout
    );

    let secrets = all_values(&[&pg_ok, &pg_broken, &redis_id, &jwt]).await;
    for output in [&run, &rerun, &listing] {
        for secret in &secrets {
            assert!(
                !output.all().contains(secret.as_str()),
                "a secret value reached rotationctl's output"
            );
        }
    }
}

#[tokio::test]
async fn history_names_the_operator_and_reason_of_a_cli_rotation_and_schedule_for_the_service() {
    let (id, _) = postgres_secret(&unique("hist"), false).await;
    let run = rotationctl(&["rotate", "--local", "--reason", "quarterly drill", &id]).await;
    assert_eq!(run.code, 0, "{}", run.all());
    let by_cli = Emulator::shared()
        .version_with(&id, AWSCURRENT)
        .await
        .unwrap();
    let after_cli = tags(&id).await;
    assert!(
        !after_cli.contains_key(REQUESTED_BY_TAG) && !after_cli.contains_key(REASON_TAG),
        "the request tags are removed when the rotation ends"
    );

    // Two rotations by the function binary, as the service runs them: one asked for with the
    // request tags rotationctl sets (and the function removes), one by the schedule.
    let emulator = Emulator::shared();
    let function = FunctionProcess::start(
        &workspace_binary("secret-rotation-postgres"),
        &emulator.env(),
    )
    .await
    .unwrap();
    let operator = "arn:aws:sts::123456789012:assumed-role/ops/alice";
    emulator.tag(&id, REQUESTED_BY_TAG, operator).await;
    emulator.tag(&id, REASON_TAG, "INC-9 audit check").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let token = emulator.stage_rotation(&id).await;
        for step in Step::ALL {
            let event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
            function
                .invoke(&event)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e:?}"));
        }
        tokens.push(token);
    }
    let (asked, token) = (tokens[0].clone(), tokens[1].clone());

    let history = rotationctl(&["history", &id]).await;
    assert_eq!(history.code, 0, "{}", history.all());
    let header = history
        .stdout
        .lines()
        .find(|l| l.starts_with("DATE"))
        .unwrap();
    for column in ["DATE", "SECRET", "VERSION", "OPERATOR", "METHOD", "NOTES"] {
        assert!(header.contains(column), "{header}");
    }
    let cli_row = row(&history.stdout, &by_cli);
    assert!(
        cli_row.contains(CALLER)
            && cli_row.contains(" rotate ")
            && cli_row.ends_with("quarterly drill"),
        "{cli_row}"
    );
    let asked_row = row(&history.stdout, &asked);
    assert!(
        asked_row.contains(operator) && asked_row.ends_with("INC-9 audit check"),
        "{asked_row}"
    );
    let service_row = row(&history.stdout, &token);
    assert!(
        service_row.contains("schedule") && !service_row.contains(CALLER),
        "{service_row}"
    );
    let json_history = rotationctl(&["history", "--json", &id]).await;
    let document: Value = serde_json::from_str(&json_history.stdout).unwrap();
    let version = |v: &str| {
        document["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["version"] == v)
            .cloned()
            .unwrap()
    };
    assert_eq!(version(&by_cli)["requested_by"], CALLER);
    assert_eq!(version(&by_cli)["reason"], "quarterly drill");
    assert_eq!(version(&token)["method"], "schedule");
    assert_eq!(version(&token)["reason"], Value::Null);

    // The function's audit lines for the whole rotation: JSON, the fields, no secret material.
    let output = function.output();
    let audit: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["event"] == "credential.rotate")
        .collect();
    assert_eq!(audit.len(), 8, "one line per step:\n{output}");
    for (line, step) in audit.iter().zip(Step::ALL.iter().chain(&Step::ALL)) {
        assert_eq!(line["step"], step.as_str());
        assert_eq!(line["secret"], id.as_str());
        assert_eq!(line["mode"], "routine");
        assert_eq!(line["outcome"], "ok");
        assert!(line["duration_ms"].is_u64(), "{line}");
    }
    for line in &audit[..4] {
        assert_eq!(line["version"], asked.as_str());
        assert_eq!(line["requested_by"], operator);
        assert_eq!(line["reason"], "INC-9 audit check");
        assert_eq!(line["method"], "rotate");
    }
    for line in &audit[4..] {
        assert_eq!(line["version"], token.as_str());
        assert_eq!(line["requested_by"], "schedule");
        assert_eq!(line["reason"], Value::Null);
        assert_eq!(line["method"], "schedule");
    }
    for secret in all_values(&[&id]).await {
        assert!(
            !output.contains(&secret) && !history.all().contains(&secret),
            "a secret value reached an output"
        );
    }
    assert!(
        tags(&id)
            .await
            .keys()
            .filter(|k| k.starts_with(LOG_TAG_PREFIX))
            .count()
            == 3,
        "one log entry per rotation"
    );
}

/// A copy of `id`'s current value under a name starting with `prefix`, rotation enabled.
async fn copy_named(id: &str, prefix: &str) -> String {
    let value = Emulator::shared().value_at(id, AWSCURRENT).await.unwrap();
    let copy = Emulator::shared().create_secret(prefix, &value).await;
    enable_rotation(&copy, 30).await;
    copy
}

fn parse_json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("JSON expected ({e}):\n{}", run.all()))
}

#[tokio::test]
async fn check_expiring_exits_3_with_what_lapses_within_the_window_and_0_when_nothing_does() {
    let prefix = unique("exp");
    let (pg, _) = postgres_secret(&unique("exp_pg"), false).await;
    let pg = tagged(&copy_named(&pg, &format!("{prefix}-pg")).await, "postgres").await;
    let jwt = jwt_secret(&format!("{prefix}-jwt")).await;
    // The JWT function keeps rotation:jwt-verify-until: the previous key's end of grace. The
    // first rotation publishes the next key; the second demotes the onboarded one to previous.
    let rotated = rotationctl(&["rotate", "--local", &jwt]).await;
    assert_eq!(rotated.code, 0, "{}", rotated.all());
    assert!(
        !tags(&jwt).await.contains_key(JWT_VERIFY_UNTIL_TAG),
        "no previous key yet, no tag"
    );
    let rotated = rotationctl(&["rotate", "--local", &jwt]).await;
    assert_eq!(rotated.code, 0, "{}", rotated.all());
    let grace_ends = tags(&jwt)
        .await
        .get(JWT_VERIFY_UNTIL_TAG)
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the JWT rotation tags when its previous key stops verifying\n{}",
                rotated.all()
            )
        });
    let grace_ends = rotation::health::parse_time(&grace_ends).unwrap();
    let hours_left = grace_ends
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
        / 3_600;

    // Nothing within an hour: exit 0.
    let quiet = rotationctl(&[
        "check-expiring",
        "--prefix",
        &prefix,
        "--within",
        "1h",
        "--json",
    ])
    .await;
    assert_eq!(quiet.code, 0, "{}", quiet.all());
    let document = parse_json(&quiet);
    assert_eq!(document["checked"], 2);
    assert_eq!(document["expiring"], json!([]));

    // Until just after the grace ends: the JWT key, not the rotations 30 days out.
    let window = format!("{}h", hours_left + 2);
    let grace = rotationctl(&[
        "check-expiring",
        "--prefix",
        &prefix,
        "--within",
        &window,
        "--json",
    ])
    .await;
    assert_eq!(grace.code, 3, "{}", grace.all());
    let expiring = parse_json(&grace)["expiring"].as_array().unwrap().clone();
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0]["kind"], "jwt_key_grace");
    assert_eq!(expiring[0]["engine"], "jwt");
    assert!(expiring[0]["secret"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{prefix}-jwt")));

    // 40 days: both rotations fall due too (every 30 days).
    let month = rotationctl(&[
        "check-expiring",
        "--prefix",
        &prefix,
        "--within",
        "40d",
        "--json",
    ])
    .await;
    assert_eq!(month.code, 3, "{}", month.all());
    let kinds: Vec<(String, String)> = parse_json(&month)["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["engine"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for expected in [
        ("postgres", "rotation"),
        ("jwt", "rotation"),
        ("jwt", "jwt_key_grace"),
    ] {
        assert!(
            kinds.contains(&(expected.0.into(), expected.1.into())),
            "{kinds:?}"
        );
    }

    // As of 60 days on, the table says overdue; exit 3.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60 * 86_400);
    let at = rotation::health::format_time(later);
    let table = rotationctl(&[
        "check-expiring",
        "--prefix",
        &prefix,
        "--within",
        "1d",
        "--at",
        &at,
    ])
    .await;
    assert_eq!(table.code, 3, "{}", table.all());
    assert!(
        row(&table.stdout, &format!("{prefix}-pg")).contains("OVERDUE by"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("2 of 2 secret(s) have something expiring"),
        "{}",
        table.stdout
    );

    // Bad windows are usage errors.
    let bad = rotationctl(&["check-expiring", "--within", "2 weeks"]).await;
    assert_eq!(bad.code, 2, "{}", bad.all());
    assert_eq!(Emulator::shared().version_with(&pg, AWSPENDING).await, None);
}
