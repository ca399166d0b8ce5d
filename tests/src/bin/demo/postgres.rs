//! The PostgreSQL part of the demo: alternating users with an admin secret.

use crate::{print_stages, rotate_through_function, stage, yes_no, DemoResult};
use rotation::password::generate_password;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use testkit::{Emulator, PostgresServer};

pub async fn run(emulator: &Emulator) -> DemoResult {
    let server = PostgresServer::start()?;
    let su = server.superuser_client().await;
    let admin_password = generate_password(32);
    let app_password = generate_password(32);
    su.batch_execute(&format!(
        "CREATE ROLE demo_admin LOGIN CREATEROLE PASSWORD '{}'; GRANT pg_signal_backend TO demo_admin; \
         CREATE ROLE app LOGIN PASSWORD '{}'; ALTER ROLE app SET search_path TO public, pg_catalog;",
        admin_password.expose_secret(),
        app_password.expose_secret()
    ))
    .await?;
    let admin = json!({"engine": "postgres", "host": "127.0.0.1", "port": server.port, "username": "demo_admin",
                       "password": admin_password.expose_secret(), "ssl": false});
    let admin_arn = emulator
        .create_secret("demo/postgres-admin", &admin.to_string())
        .await;
    let app = json!({"engine": "postgres", "host": "127.0.0.1", "port": server.port, "username": "app",
                     "password": app_password.expose_secret(), "dbname": "postgres", "ssl": false, "masterarn": admin_arn});
    let id = emulator
        .create_secret("demo/postgres", &app.to_string())
        .await;
    println!("  PostgreSQL 15 on 127.0.0.1:{}; secret {id}", server.port);
    print_stages(emulator, &id, "before").await;

    rotate_through_function(emulator, "secret-rotation-postgres", &id).await?;

    print_stages(emulator, &id, "after").await;
    let login = |value: Value| {
        let server = &server;
        async move {
            let user = value["username"].as_str().unwrap_or_default().to_owned();
            let ok = server
                .connect(
                    &user,
                    value["password"].as_str().unwrap_or_default(),
                    "postgres",
                )
                .await
                .is_ok();
            (user, ok)
        }
    };
    let (new_user, new_ok) = login(stage(emulator, &id, "AWSCURRENT").await?).await;
    let (old_user, old_ok) = login(stage(emulator, &id, "AWSPREVIOUS").await?).await;
    println!(
        "  new credential (AWSCURRENT, user {new_user}) logs in: {}",
        yes_no(new_ok)
    );
    println!(
        "  old credential (AWSPREVIOUS, user {old_user}) still logs in until the next rotation: {}",
        yes_no(old_ok)
    );
    if !(new_ok && old_ok) {
        return Err("a credential that must work does not log in".into());
    }
    Ok(())
}
