//! The ElastiCache part of the demo: an RBAC user changed through the control plane by the same
//! Redis function (ModifyUser with the new and the current password), against the test kit's
//! ElastiCache emulator, which applies each change to a TLS redis-server once the user is `active`.

use crate::{print_stages, rotate_through_function_with, stage, yes_no, DemoResult};
use rotation::password::generate_password;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::managed_redis::{waits_in, ManagedRedis};
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
    let arn = scope
        .create_elasticache_user(
            &user_id,
            "app",
            "on ~cache:* +@read +@write",
            &[password.expose_secret()],
        )
        .await;
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
    let env = scope.function_env(&tls.ca_path(), &[&arn]);
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
    let waits = waits_in(&function.output());
    let polls: u64 = waits.iter().map(|w| w.polls).sum();
    let waited: u64 = waits.iter().map(|w| w.waited_ms).sum();
    println!(
        "  waited for the user to be `active` {} times, {waited} ms in all ({polls} DescribeUsers polls)",
        waits.len()
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
