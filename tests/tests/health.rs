//! Rotation health against the Secrets Manager emulator (moto): the rules of `rotation::health`
//! on real DescribeSecret/ListSecrets answers, and the monitor's real binary through the Lambda
//! Runtime API.
//!
//! moto never sets LastRotatedDate when the rotation is driven step by step (as here), and dates
//! every version "now" in ListSecretVersionIds; it does set CreatedDate, LastChangedDate,
//! RotationRules and NextRotationDate (RotateSecret time + AutomaticallyAfterDays). A secret is
//! made "old" by evaluating it at a later instant: `evaluate(.., now)` in the library, the
//! scheduled event's `time` for the monitor. Nothing about the store is faked.

use rotation::health::{self, Selection};
use rotation::store::{AwsSecretStore, ListFilter, SecretStore};
use rotation::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use testkit::emulator::run_steps;
use testkit::fake::FakeBackend;
use testkit::lambda::workspace_binary;
use testkit::{Emulator, FunctionProcess, LogCapture};

const DAY: Duration = Duration::from_secs(86_400);

fn engine() -> Engine<AwsSecretStore, FakeBackend> {
    Engine::new(
        Emulator::shared().store(),
        FakeBackend::default(),
        LogCapture::global().telemetry(),
    )
}

/// A prefix no other test uses, so that ListSecrets filters return this test's secrets only.
fn unique_prefix(label: &str) -> String {
    format!(
        "health-{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn password() -> String {
    secrecy::ExposeSecret::expose_secret(&rotation::password::generate_password(32)).to_owned()
}

async fn create(prefix: &str, secret_password: &str) -> String {
    Emulator::shared()
        .create_secret(
            prefix,
            &json!({"engine": "fake", "username": "app", "password": secret_password}).to_string(),
        )
        .await
}

/// A new secret with a rotation staged as the service does (rotation enabled on a schedule of
/// `days`, an empty AWSPENDING) and never run: its id and the pending version.
async fn staged(prefix: &str, days: i64) -> (String, String) {
    let id = create(prefix, &password()).await;
    let token = Emulator::shared().stage_rotation_every(&id, days).await;
    (id, token)
}

/// A secret rotated just now, end to end, on a schedule of `days`.
async fn rotated(prefix: &str, days: i64) -> String {
    rotated_from(prefix, &password(), days).await
}

/// As [`rotated`], from a first value holding `secret_password`.
async fn rotated_from(prefix: &str, secret_password: &str, days: i64) -> String {
    let id = create(prefix, secret_password).await;
    let token = Emulator::shared().stage_rotation_every(&id, days).await;
    run_steps(&engine(), &id, &token).await.unwrap();
    id
}

async fn health_of(id: &str, now: SystemTime) -> health::SecretHealth {
    let secret = Emulator::shared().store().describe(id).await.unwrap();
    health::evaluate(&secret, now)
}

#[tokio::test]
async fn a_recently_rotated_secret_is_healthy() {
    let prefix = unique_prefix("fresh");
    let id = rotated(&prefix, 30).await;
    let now = SystemTime::now();
    let health = health_of(&id, now).await;
    assert!(health.is_healthy(), "{health:?}");
    assert!(health.rotation_enabled);
    assert_eq!(health.pending, None, "the rotation left no AWSPENDING");
    assert!(health.age.unwrap() < Duration::from_secs(600), "{health:?}");
    let due = health
        .due
        .expect("a rotation-enabled secret has a due date");
    assert!(due > now + 29 * DAY && due < now + 32 * DAY, "{health:?}");
    // Still healthy the day before the schedule says it is due.
    assert!(health_of(&id, now + 29 * DAY).await.is_healthy());
}

#[tokio::test]
async fn a_secret_whose_last_rotation_is_older_than_its_schedule_is_overdue() {
    let prefix = unique_prefix("late");
    let id = rotated(&prefix, 1).await;
    let now = SystemTime::now();
    assert!(!health_of(&id, now).await.overdue);
    let later = health_of(&id, now + 3 * DAY).await;
    assert!(later.overdue, "{later:?}");
    assert_eq!(later.problems(), vec![health::Problem::Overdue]);
    assert!(
        later.overdue_by() >= DAY,
        "due one day after the rotation: {later:?}"
    );
    assert!(later.age.unwrap() >= 3 * DAY - Duration::from_secs(600));
}

#[tokio::test]
async fn a_stale_awspending_is_flagged_stuck() {
    let prefix = unique_prefix("stuck");
    let (id, token) = staged(&prefix, 90).await;
    let now = SystemTime::now();
    let fresh = health_of(&id, now).await;
    let pending = fresh.pending.as_ref().expect("AWSPENDING is staged");
    assert_eq!(pending.version, token);
    assert!(!pending.stuck, "a rotation that just started is not stuck");
    assert!(fresh.is_healthy());

    let stale = health_of(&id, now + 2 * DAY).await;
    assert!(stale.pending_stuck(), "{stale:?}");
    assert_eq!(stale.problems(), vec![health::Problem::PendingStuck]);
    assert!(
        !stale.overdue,
        "stuck, but not yet overdue on a 90-day schedule"
    );

    // Finishing the rotation clears it.
    run_steps(&engine(), &id, &token).await.unwrap();
    assert_eq!(health_of(&id, now + 2 * DAY).await.pending, None);
}

#[tokio::test]
async fn a_secret_without_rotation_is_ignored_unless_asked_for() {
    let prefix = unique_prefix("plain");
    let plain = create(&prefix, &password()).await;
    let enabled = rotated(&prefix, 30).await;
    let store = Emulator::shared().store();
    let filter = ListFilter {
        name_prefix: Some(prefix.clone()),
        ..ListFilter::default()
    };
    let names = |collected: health::Collected| -> Vec<String> {
        collected.secrets.into_iter().map(|s| s.arn).collect()
    };
    let default = health::collect(
        &store,
        &Selection {
            filter: filter.clone(),
            include_disabled: false,
        },
        SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(names(default), vec![enabled.clone()]);

    let everything = health::collect(
        &store,
        &Selection {
            filter,
            include_disabled: true,
        },
        SystemTime::now(),
    )
    .await
    .unwrap();
    let mut found = names(everything);
    found.sort();
    let mut expected = vec![plain.clone(), enabled];
    expected.sort();
    assert_eq!(found, expected);
    let health = health_of(&plain, SystemTime::now() + 1000 * DAY).await;
    assert!(
        !health.overdue && health.due.is_none(),
        "no schedule, never overdue"
    );
}

#[tokio::test]
async fn a_tag_filter_matches_key_and_value_together() {
    let prefix = unique_prefix("tags");
    let team_a = rotated(&prefix, 30).await;
    let other = rotated(&prefix, 30).await;
    let emulator = Emulator::shared();
    emulator.tag(&team_a, "team", "a").await;
    // Tag key "team" on one tag and value "b" on another: ListSecrets alone would match it.
    emulator.tag(&other, "team", "x").await;
    emulator.tag(&other, "owner", "b").await;
    let select = |value: &str| Selection {
        filter: ListFilter {
            name_prefix: Some(prefix.clone()),
            tag_key: Some("team".into()),
            tag_value: Some(value.into()),
        },
        include_disabled: false,
    };
    let store = emulator.store();
    let a = health::collect(&store, &select("a"), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        a.secrets.iter().map(|s| s.arn.as_str()).collect::<Vec<_>>(),
        [team_a.as_str()]
    );
    assert!(health::collect(&store, &select("b"), SystemTime::now())
        .await
        .unwrap()
        .secrets
        .is_empty());
}

/// Checks one line against the Embedded Metric Format: every metric and dimension it declares
/// is present at the root with the right type. Returns the metric names.
fn assert_emf(line: &Value) -> Vec<String> {
    let meta = &line["_aws"];
    assert!(meta["Timestamp"].is_u64(), "Timestamp in ms: {line}");
    let directives = meta["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    let mut names = Vec::new();
    for directive in directives {
        assert!(directive["Namespace"]
            .as_str()
            .is_some_and(|n| !n.is_empty()));
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            for key in set.as_array().expect("a dimension set is an array") {
                let key = key.as_str().expect("dimension keys are strings");
                assert!(
                    line[key].is_string(),
                    "dimension {key} has a string value: {line}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("metric name");
            assert!(
                ["Seconds", "Count"].contains(&metric["Unit"].as_str().unwrap_or("")),
                "{metric}"
            );
            assert!(line[name].is_number(), "metric {name} has a number: {line}");
            names.push(name.to_owned());
        }
    }
    names
}

#[tokio::test]
async fn metrics_come_out_as_valid_emf_lines() {
    let prefix = unique_prefix("emf");
    let secret_password = password();
    let healthy = rotated_from(&prefix, &secret_password, 30).await;
    let (stuck, _) = staged(&prefix, 30).await;
    let emulator = Emulator::shared();
    emulator
        .tag(
            &healthy,
            health::JWT_VERIFY_UNTIL_TAG,
            &health::format_time(SystemTime::now() + 4 * DAY),
        )
        .await;

    let at = SystemTime::now() + 2 * DAY;
    let collected = health::collect(
        &emulator.store(),
        &Selection {
            filter: ListFilter {
                name_prefix: Some(prefix),
                ..ListFilter::default()
            },
            include_disabled: false,
        },
        at,
    )
    .await
    .unwrap();
    let report: Vec<_> = collected
        .secrets
        .iter()
        .map(|s| health::evaluate(s, at))
        .collect();
    let mut text = String::new();
    for h in &report {
        text += &format!("{}\n", health::secret_metrics(h, "SecretRotationTest"));
        if let Some(line) = health::problem_line(h) {
            text += &format!("{line}\n");
        }
    }
    let summary = health::Summary::of(&report, 0);
    text += &format!(
        "{}\n",
        health::summary_metrics(&summary, "SecretRotationTest", "test", at)
    );

    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 3, "two secrets and the summary");
    for line in &emf {
        assert_emf(line);
    }
    let by_name = |arn: &str| {
        emf.iter()
            .find(|l| l["SecretArn"] == arn)
            .copied()
            .unwrap_or_else(|| panic!("no metrics for {arn}"))
    };
    let h = by_name(&healthy);
    assert_eq!(
        assert_emf(h),
        [
            "SecondsSinceRotation",
            "RotationOverdue",
            "PendingStuck",
            "JwtPreviousKeySecondsLeft"
        ]
    );
    assert_eq!(
        (h["RotationOverdue"].as_u64(), h["PendingStuck"].as_u64()),
        (Some(0), Some(0))
    );
    let left = h["JwtPreviousKeySecondsLeft"].as_i64().unwrap();
    assert!(
        (DAY.as_secs() as i64..=2 * DAY.as_secs() as i64).contains(&left),
        "{left}"
    );
    assert_eq!(by_name(&stuck)["PendingStuck"], 1);
    let summary_line = emf.iter().find(|l| l["Monitor"] == "test").unwrap();
    assert_eq!(summary_line["SecretsChecked"], 2);
    assert_eq!(summary_line["SecretsPendingStuck"], 1);
    let problems: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "rotation.health")
        .collect();
    assert_eq!(problems.len(), 1, "one line per unhealthy secret");
    assert_eq!(problems[0]["arn"], stuck.as_str());
    assert!(
        !text.contains(&secret_password),
        "no secret value in the output"
    );
}

/// A TCP proxy in front of the emulator that keeps every byte the client sent, so a test can see
/// which Secrets Manager operations (X-Amz-Target) a process called.
struct RecordingProxy {
    endpoint: String,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&sent);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                });
                let (mut from_client, mut to_server, record) =
                    (client, server, Arc::clone(&record));
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = from_client.read(&mut buf) {
                        if n == 0 || to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { endpoint, sent }
    }

    /// The `X-Amz-Target` operations seen so far, e.g. `secretsmanager.ListSecrets`.
    fn operations(&self) -> Vec<String> {
        let sent = String::from_utf8_lossy(&self.sent.lock().unwrap()).to_ascii_lowercase();
        sent.lines()
            .filter_map(|l| l.strip_prefix("x-amz-target:"))
            .map(|t| t.trim().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn the_monitor_binary_emits_emf_and_calls_only_list_and_describe() {
    let emulator = Emulator::shared();
    let prefix = unique_prefix("lambda");
    let secret_password = password();
    // A healthy secret, rotated just now, and one whose rotation was staged and never run.
    rotated_from(&prefix, &secret_password, 90).await;
    let (stuck, _) = staged(&prefix, 90).await;

    let proxy = RecordingProxy::start(emulator.endpoint());
    let mut env: Vec<(&str, String)> = emulator
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_ENDPOINT_URL")
        .collect();
    env.push(("AWS_ENDPOINT_URL", proxy.endpoint.clone()));
    env.push(("ROTATION_MONITOR_NAME_PREFIX", prefix.clone()));
    env.push(("ROTATION_METRICS_NAMESPACE", "SecretRotationTest".into()));
    let mut function = FunctionProcess::start(&workspace_binary("secret-rotation-monitor"), &env)
        .await
        .expect("the monitor starts");

    // The scheduled event two days from now: the AWSPENDING staged above is stuck by then.
    let later = health::format_time(SystemTime::now() + 2 * DAY);
    let scheduled = json!({
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": later, "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/monitor"], "detail": {}
    });
    let answer = function.invoke(&scheduled).await.expect("the run succeeds");
    assert_eq!(answer["checked"], 2, "{answer}");
    assert_eq!(answer["pending_stuck"], 1, "{answer}");
    assert_eq!(answer["overdue"], 0, "{answer}");
    assert_eq!(answer["evaluated_at"], later.as_str());
    // Without a time, the clock: nothing is stuck yet.
    let now = function.invoke(&json!({})).await.expect("the run succeeds");
    assert_eq!(now["pending_stuck"], 0, "{now}");
    let output = function.output();
    function.stop();

    let lines: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 6, "per run: two secrets and a summary\n{output}");
    for line in &emf {
        assert_emf(line);
    }
    let summary = emf
        .iter()
        .find(|l| l["Monitor"] == "local-rotation" && l["SecretsPendingStuck"] == 1)
        .unwrap_or_else(|| panic!("summary of the scheduled run\n{output}"));
    assert_eq!(summary["SecretsChecked"], 2);
    assert_eq!(
        summary["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "SecretRotationTest"
    );
    let stuck_metrics = emf
        .iter()
        .find(|l| l["SecretArn"] == stuck.as_str() && l["PendingStuck"] == 1)
        .unwrap_or_else(|| panic!("stuck metric\n{output}"));
    assert!(stuck_metrics["SecondsSinceRotation"].as_u64().unwrap() >= 2 * DAY.as_secs() - 600);
    let problems: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "rotation.health")
        .collect();
    assert_eq!(
        problems.len(),
        1,
        "one line, for the stuck secret\n{output}"
    );
    assert_eq!(problems[0]["arn"], stuck.as_str());
    assert_eq!(problems[0]["problems"], json!(["pending_stuck"]));
    assert!(
        !output.contains(&secret_password),
        "no secret value in the output"
    );

    let mut operations = proxy.operations();
    operations.sort();
    operations.dedup();
    assert_eq!(
        operations,
        [
            "secretsmanager.describesecret",
            "secretsmanager.listsecrets"
        ],
        "the monitor reads metadata only"
    );
}

/// Health from ListSecrets entries: one call per 100 secrets; DescribeSecret only to confirm a
/// secret the entry shows unhealthy, and for an entry lacking what the rules read (here: a secret
/// without any version, in scope when everything is asked for). Counted at a proxy.
#[tokio::test]
async fn health_comes_from_list_secrets_pages_and_describes_only_what_it_must() {
    let prefix = unique_prefix("scale");
    let emulator = Emulator::shared();
    // 105 rotations just started: healthy now, stuck two days on.
    for _ in 0..105 {
        let id = create(&prefix, &password()).await;
        emulator.stage_rotation_every(&id, 30).await;
    }
    let (stuck, _) = staged(&prefix, 30).await;
    let empty = emulator
        .client()
        .create_secret()
        .name(format!("{prefix}-empty"))
        .send()
        .await
        .expect("CreateSecret without a value")
        .arn()
        .expect("an ARN")
        .to_owned();
    let proxy = testkit::proxy::CountingProxy::start(emulator.endpoint())
        .await
        .unwrap();
    let store = emulator.store_through(proxy.endpoint());
    let selection = |include_disabled| Selection {
        filter: ListFilter {
            name_prefix: Some(prefix.clone()),
            ..ListFilter::default()
        },
        include_disabled,
    };

    // Now: 107 secrets in scope, all healthy: two pages and nothing else.
    let collected = health::collect(&store, &selection(false), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(collected.secrets.len(), 106);
    assert_eq!(collected.described, health::Described::default());
    let calls = proxy.take();
    assert_eq!(calls.get("ListSecrets"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("DescribeSecret"), None, "{calls:?}");

    // Two days on every staged rotation is stuck: each confirmed with DescribeSecret before it is
    // reported; the secret without a version is described because its entry cannot be judged.
    let later = SystemTime::now() + 2 * DAY;
    let collected = health::collect(&store, &selection(true), later)
        .await
        .unwrap();
    assert_eq!(collected.described.incomplete, 1);
    assert_eq!(collected.described.to_confirm, 106);
    assert!(collected.secrets.iter().any(|s| s.arn == empty));
    let stuck_now = collected
        .secrets
        .iter()
        .filter(|s| !health::evaluate(s, later).is_healthy())
        .count();
    assert_eq!(stuck_now, 106, "every staged rotation is stuck two days on");
    assert!(collected.secrets.iter().any(|s| s.arn == stuck));
    let calls = proxy.take();
    assert_eq!(calls.get("ListSecrets"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("DescribeSecret"), Some(&107), "{calls:?}");
}
