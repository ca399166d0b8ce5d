//! The local stack itself: each service starts on a free port, answers, and is gone once stopped.

use std::net::TcpStream;
use testkit::{Emulator, PostgresServer, RedisServer};

#[tokio::test]
async fn postgres_starts_accepts_the_superuser_and_stops() {
    let server = PostgresServer::start().expect("PostgreSQL starts");
    let port = server.port;
    let client = server.superuser_client().await;
    let row = client
        .query_one("SELECT current_user::text, version()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert!(row.get::<_, String>(1).starts_with("PostgreSQL"));
    let wrong = server
        .connect("postgres", "not-the-password", "postgres")
        .await;
    assert!(wrong.is_err(), "password authentication is enforced");
    drop(client);
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "PostgreSQL stopped with its handle"
    );
}

#[test]
fn redis_starts_answers_survives_a_restart_and_stops() {
    let mut server = RedisServer::start().expect("redis-server starts");
    assert_eq!(server.raw_command("PING").unwrap(), "+PONG");
    server.restart().expect("restart");
    assert_eq!(server.raw_command("PING").unwrap(), "+PONG");
    let port = server.port;
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "redis-server stopped with its handle"
    );
}

#[tokio::test]
async fn the_emulator_stages_a_rotation_as_the_service_does() {
    let emulator = Emulator::shared();
    let id = emulator
        .create_secret("stack", "{\"password\":\"x\"}")
        .await;
    let token = emulator.stage_rotation(&id).await;
    // The service's empty placeholder: staged AWSPENDING, no value yet.
    let read = emulator
        .client()
        .get_secret_value()
        .secret_id(&id)
        .version_id(&token)
        .send()
        .await;
    let code = read
        .as_ref()
        .err()
        .and_then(aws_sdk_secretsmanager::error::ProvideErrorMetadata::code);
    assert_eq!(code, Some("ResourceNotFoundException"));
    let described = emulator
        .client()
        .describe_secret()
        .secret_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.rotation_enabled(), Some(true));
}

#[tokio::test]
async fn postgres_restarts_with_its_data_and_cleans_up_after_itself() {
    let mut server = PostgresServer::start().expect("PostgreSQL starts");
    server
        .superuser_client()
        .await
        .batch_execute("CREATE TABLE kept (id int)")
        .await
        .unwrap();
    server.stop();
    assert!(!server.is_running());
    assert!(server.connect("postgres", "x", "postgres").await.is_err());
    server.start_again().expect("restart");
    let client = server.superuser_client().await;
    client
        .query("SELECT * FROM kept", &[])
        .await
        .expect("data survived the restart");
    let dir = server.dir().to_path_buf();
    assert!(dir.exists());
    drop(client);
    drop(server);
    assert!(!dir.exists(), "the server's directory was removed");
}
