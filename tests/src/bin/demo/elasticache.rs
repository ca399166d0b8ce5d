//! The ElastiCache part of the demo: an RBAC user changed through the control plane by the same
//! Redis function (ModifyUser with the new and the current password), against the test kit's
//! ElastiCache emulator, which applies each change to a TLS redis-server once the user is `active`.

use crate::{print_stages, rotate_through_function_with, stage, yes_no, DemoResult};
use aws_sdk_elasticache::error::DisplayErrorContext;
use rotation::password::generate_password;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::managed_redis::ManagedRedis;
use testkit::redis::{RedisOptions, RedisServer, TlsFiles};
use testkit::Emulator;

/// How long the emulator keeps a changed user `modifying` (AWS takes minutes).
const MODIFYING: Duration = Duration::from_millis(300);

pub async fn run(emulator: &Emulator) -> DemoResult {
    let tls = TlsFiles::generate()?;
    let server = RedisServer::start_opts(RedisOptions {
        tls: Some(&tls),
        ..Default::default()
    })?;
    let tls_port = server.tls_port.ok_or("redis-server has no TLS port")?;
    let scope = ManagedRedis::new(emulator);
    scope.attach(&[&server], MODIFYING).await;

    let password = generate_password(32);
    let user_id = format!(
        "demo-app-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = scope
        .elasticache()
        .create_user()
        .user_id(&user_id)
        .user_name("app")
        .engine("redis")
        .access_string("on ~cache:* +@read +@write")
        .passwords(password.expose_secret())
        .send()
        .await
        .map_err(|e| format!("CreateUser: {}", DisplayErrorContext(e)))?;
    let arn = created.arn().ok_or("CreateUser answers no ARN")?.to_owned();
    wait_until_active(&scope, &user_id).await?;
    let app = json!({"user_arn": arn, "username": "app", "password": password.expose_secret(),
                     "host": "localhost", "port": tls_port});
    let id = emulator
        .create_secret("demo/elasticache", &app.to_string())
        .await;
    println!("  ElastiCache user {user_id} (login app), {arn}");
    println!(
        "  its changes reach redis-server with TLS on localhost:{tls_port} after {} ms `modifying` \
         (emulated: AWS takes minutes); secret {id}",
        MODIFYING.as_millis()
    );
    print_stages(emulator, &id, "before").await;

    // The function signs as this emulator scope, trusts the kit's CA, and may change only this
    // user and log in only at localhost: what Terraform sets from the same list as its IAM policy.
    let mut env: Vec<(&str, String)> = emulator
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_ACCESS_KEY_ID")
        .collect();
    env.push(("AWS_ACCESS_KEY_ID", scope.access_key().to_owned()));
    env.push((
        "ROTATION_CA_BUNDLE_FILE",
        tls.ca_path().display().to_string(),
    ));
    env.push(("ROTATION_MANAGED_REDIS_ARNS", arn.clone()));
    env.push(("ROTATION_MANAGED_REDIS_ENDPOINTS", "localhost".into()));
    scope.reset_calls().await;
    let function =
        rotate_through_function_with(emulator, "secret-rotation-redis", &id, &env).await?;

    let calls: Vec<String> = scope
        .calls()
        .await
        .iter()
        .map(|(name, n)| format!("{n} {}", name.trim_start_matches("elasticache.")))
        .collect();
    println!("  ElastiCache calls: {}", calls.join(", "));
    let (waits, polls, waited) = waits_in(&function.output());
    println!(
        "  waited for the user to be `active` {waits} times, {waited} ms in all ({polls} DescribeUsers polls)"
    );
    print_stages(emulator, &id, "after").await;
    let current = stage(emulator, &id, "AWSCURRENT").await?;
    let previous = stage(emulator, &id, "AWSPREVIOUS").await?;
    let login = |value: &Value| {
        let (user, pw) = (
            value["username"].as_str().unwrap_or_default().to_owned(),
            value["password"].as_str().unwrap_or_default().to_owned(),
        );
        let server = &server;
        async move { server.can_login(&user, &pw).await }
    };
    let (new_ok, old_ok) = (login(&current).await, login(&previous).await);
    println!(
        "  new password (AWSCURRENT) logs in as app: {}",
        yes_no(new_ok)
    );
    println!(
        "  old password (AWSPREVIOUS) still logs in as app until the next rotation: {}",
        yes_no(old_ok)
    );
    if !(new_ok && old_ok) {
        return Err("a password that must work does not log in".into());
    }
    Ok(())
}

async fn wait_until_active(scope: &ManagedRedis<'_>, user_id: &str) -> DemoResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let users = scope
            .elasticache()
            .describe_users()
            .user_id(user_id)
            .send()
            .await
            .map_err(|e| format!("DescribeUsers: {}", DisplayErrorContext(e)))?;
        if users.users().first().and_then(|u| u.status()) == Some("active") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the ElastiCache user {user_id} never became active").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The function's waits for `active` in its JSON log lines: how many, their polls, and the sum
/// of their `waited_ms`.
fn waits_in(output: &str) -> (u32, u64, u64) {
    let mut found = (0, 0, 0);
    for line in output.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fields = &entry["fields"];
        if fields["message"] == "managed target ready" {
            found.0 += 1;
            found.1 += fields["polls"].as_u64().unwrap_or(0);
            found.2 += fields["waited_ms"].as_u64().unwrap_or(0);
        }
    }
    found
}
