//! The Redis part of the demo: a single ACL user that holds the new and the previous password at once.

use crate::{print_stages, rotate_through_function, stage, yes_no, DemoResult};
use rotation::password::generate_password;
use secrecy::ExposeSecret;
use serde_json::json;
use testkit::redis::{RedisOptions, RedisServer};
use testkit::Emulator;

pub async fn run(emulator: &Emulator) -> DemoResult {
    let password = generate_password(32);
    let user = format!(
        "user app on >{} ~cache:* +@read +@write",
        password.expose_secret()
    );
    let server = RedisServer::start_opts(RedisOptions {
        users: &[&user],
        ..Default::default()
    })?;
    let admin_arn = emulator
        .create_secret(
            "demo/redis-admin",
            &testkit::redis::admin_secret_json_for(&server),
        )
        .await;
    let app = json!({"engine": "redis", "host": "127.0.0.1", "port": server.port, "username": "app",
                     "password": password.expose_secret(), "tls": false, "masterarn": admin_arn});
    let id = emulator.create_secret("demo/redis", &app.to_string()).await;
    println!(
        "  redis-server on 127.0.0.1:{} (users in redis.conf); secret {id}",
        server.port
    );
    print_stages(emulator, &id, "before").await;

    rotate_through_function(emulator, "secret-rotation-redis", &id).await?;

    print_stages(emulator, &id, "after").await;
    let current = stage(emulator, &id, "AWSCURRENT").await?;
    let previous = stage(emulator, &id, "AWSPREVIOUS").await?;
    let login = |value: &serde_json::Value| {
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
