//! moto's server as the Secrets Manager emulator, and helpers that stage rotations as the service does.

use crate::process::{
    find_program, free_port, fresh_dir, wait_for_port, ServiceProcess, ServiceSpec,
};
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::rotate_secret::RotateSecretError;
use aws_sdk_secretsmanager::Client;
use rotation::{Backend, Engine, RotationError, RotationEvent, SecretStore, Step, StepOutcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

pub const REGION: &str = "us-east-1";
/// A Lambda the emulator does not know: RotateSecret then enables rotation, creates the empty
/// AWSPENDING version and answers ResourceNotFound, leaving the steps to the caller.
pub const UNKNOWN_ROTATION_LAMBDA: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:driven-by-test";

/// moto's server as Secrets Manager behaves: a version with a value is never overwritten.
const MOTO_SERVER: &str = include_str!("emulator_server.py");
/// ElastiCache and MemoryDB users: a module the main script imports from beside it.
const MANAGED_REDIS: &str = include_str!("managed_redis_emulator.py");
/// Lambda packages served, RotateSecret staged without running anything: a module beside it too.
const LAMBDA: &str = include_str!("lambda_emulator.py");
/// Records the calls of the project's own processes for the IAM proof: a module beside it too.
const IAM_CALL_RECORDER: &str = include_str!("iam_call_recorder.py");

pub struct Emulator {
    endpoint: String,
    log: std::path::PathBuf,
    call_log: Option<std::path::PathBuf>,
    _process: ServiceProcess,
}

impl Emulator {
    pub fn start() -> io::Result<Self> {
        // The Python that `make deps` installed moto into.
        let python = find_program("MOTO_PYTHON", &["python3"], &[])?;
        let dir = fresh_dir("moto")?;
        let script = dir.join("emulator_server.py");
        std::fs::write(&script, MOTO_SERVER)?;
        std::fs::write(dir.join("managed_redis_emulator.py"), MANAGED_REDIS)?;
        std::fs::write(dir.join("lambda_emulator.py"), LAMBDA)?;
        std::fs::write(dir.join("iam_call_recorder.py"), IAM_CALL_RECORDER)?;
        let port = free_port()?;
        let mut args = vec![
            script.display().to_string(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        let call_log = crate::iam::new_call_log()?;
        if let Some(log) = &call_log {
            args.extend(["--iam-call-log".into(), log.display().to_string()]);
        }
        let mut process = ServiceProcess::spawn(ServiceSpec {
            name: "moto_server",
            program: &python,
            args,
            stop_signal: "TERM",
            remove_on_exit: Some(&dir),
            log: &dir.join("moto.log"),
            run_as: None,
        })?;
        wait_for_port(port, Duration::from_secs(60), &mut process)?;
        warm_up_with_retries(port)?;
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            log: dir.join("moto.log"),
            call_log,
            _process: process,
        })
    }

    /// One emulator per test process.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(|| {
            Emulator::start()
                .unwrap_or_else(|e| panic!("cannot start the Secrets Manager emulator: {e}"))
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's log so far (for secrecy scans).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where it records the calls of the project's own processes (`IAM_CALL_LOG_DIR` set).
    pub fn call_log(&self) -> Option<&std::path::Path> {
        self.call_log.as_deref()
    }

    /// What a function process needs to reach the emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SDK configuration for any service of the emulator (Secrets Manager, RDS, …).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(Credentials::new(
                    "testing", "testing", None, None, "testkit",
                )),
            )
            .build()
    }

    pub fn client(&self) -> Client {
        client_at(&self.endpoint)
    }

    pub fn store(&self) -> rotation::AwsSecretStore {
        rotation::AwsSecretStore::new(self.client())
    }

    /// A store that reaches the emulator through `endpoint` (a proxy in front of it).
    pub fn store_through(&self, endpoint: &str) -> rotation::AwsSecretStore {
        rotation::AwsSecretStore::new(client_at(endpoint))
    }

    /// Creates a secret with a unique name and returns its ARN.
    pub async fn create_secret(&self, prefix: &str, value: &str) -> String {
        let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        let out = self
            .client()
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "CreateSecret failed: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            });
        out.arn().expect("CreateSecret returns an ARN").to_owned()
    }

    /// Writes `value` as a secret writer could (PutSecretValue, labelled `stage`), on the version
    /// `token` when given, else on a new one.
    pub async fn put_value(&self, secret_id: &str, token: Option<&str>, value: &str, stage: &str) {
        self.client()
            .put_secret_value()
            .secret_id(secret_id)
            .set_client_request_token(token.map(str::to_owned))
            .secret_string(value)
            .version_stages(stage)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PutSecretValue ({stage}): {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            });
    }

    /// Starts a rotation as the service does and returns its token (the pending version id).
    pub async fn stage_rotation(&self, secret_id: &str) -> String {
        let token = self.stage_rotation_every(secret_id, 90).await;
        let stages = self.stages(secret_id).await;
        assert_eq!(
            stages.get(&token).map(Vec::as_slice),
            Some(&["AWSPENDING".to_owned()][..]),
            "staged {stages:?}"
        );
        token
    }

    /// RotateSecret as the service calls it, on a schedule of `days`: rotation enabled and an
    /// empty AWSPENDING version staged; returns its token. Panics on any error but the emulator's
    /// ResourceNotFound for the function it does not know.
    pub async fn stage_rotation_every(&self, secret_id: &str, days: i64) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        if let Err(e) = request_rotation(&self.client(), secret_id, &token, days).await {
            panic!("RotateSecret: unexpected error {e:?}");
        }
        token
    }

    pub async fn stages(&self, secret_id: &str) -> BTreeMap<String, Vec<String>> {
        self.store()
            .describe(secret_id)
            .await
            .expect("DescribeSecret")
            .versions
    }

    /// The version that holds `stage`, if any.
    pub async fn version_with(&self, secret_id: &str, stage: &str) -> Option<String> {
        self.stages(secret_id)
            .await
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id)
    }

    /// The raw string at a stage (test code only: the caller must not print it).
    pub async fn value_at(&self, secret_id: &str, stage: &str) -> Option<String> {
        let out = self
            .client()
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        out.secret_string().map(str::to_owned)
    }

    /// The JSON value at a stage (test code only: the caller must not print it).
    pub async fn json_at(&self, secret_id: &str, stage: &str) -> Value {
        let raw = self
            .value_at(secret_id, stage)
            .await
            .unwrap_or_else(|| panic!("the secret has a value at {stage}"));
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("the value at {stage} is JSON: {e}"))
    }

    /// Tags the secret `rotation:mode=emergency`, as an operator asking for an emergency rotation.
    pub async fn tag_emergency(&self, secret_id: &str) {
        self.tag(secret_id, rotation::protocol::MODE_TAG, "emergency")
            .await;
    }

    pub async fn tag(&self, secret_id: &str, key: &str, value: &str) {
        self.client()
            .tag_resource()
            .secret_id(secret_id)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .expect("TagResource");
    }

    /// Stages a rotation and runs the four steps in order, as the service would.
    pub async fn rotate<S: SecretStore, B: Backend>(
        &self,
        engine: &Engine<S, B>,
        secret_id: &str,
    ) -> Result<String, RotationError> {
        let token = self.stage_rotation(secret_id).await;
        run_steps(engine, secret_id, &token).await?;
        Ok(token)
    }
}

fn client_at(endpoint: &str) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "testkit",
        ))
        .build();
    Client::from_conf(config)
}

/// RotateSecret with `client` for a function the emulator does not know, on a schedule of `days`:
/// rotation enabled and the empty AWSPENDING version `token` staged. The emulator's
/// ResourceNotFound for the unknown function is success; any other error is returned.
pub async fn request_rotation(
    client: &Client,
    secret_id: &str,
    token: &str,
    days: i64,
) -> Result<(), SdkError<RotateSecretError>> {
    let result = client
        .rotate_secret()
        .secret_id(secret_id)
        .client_request_token(token)
        .rotation_lambda_arn(UNKNOWN_ROTATION_LAMBDA)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(days)
                .build(),
        )
        .send()
        .await;
    match result {
        Err(e) if e.code() != Some("ResourceNotFoundException") => Err(e),
        _ => Ok(()),
    }
}

/// The JSON value at a stage of a secret in the shared emulator (test code only: the caller must
/// not print it).
pub async fn stage_value(secret_id: &str, stage: &str) -> Value {
    Emulator::shared().json_at(secret_id, stage).await
}

/// Runs one step that must succeed and returns its outcome; panics naming the step otherwise.
pub async fn run_step_ok<S: SecretStore, B: Backend>(
    engine: &Engine<S, B>,
    step: Step,
    secret_id: &str,
    token: &str,
) -> StepOutcome {
    run_step(engine, step, secret_id, token)
        .await
        .unwrap_or_else(|e| panic!("{step} failed: {e}"))
}

pub async fn run_steps<S: SecretStore, B: Backend>(
    engine: &Engine<S, B>,
    secret_id: &str,
    token: &str,
) -> Result<(), RotationError> {
    for step in Step::ALL {
        run_step(engine, step, secret_id, token).await?;
    }
    Ok(())
}

pub async fn run_step<S: SecretStore, B: Backend>(
    engine: &Engine<S, B>,
    step: Step,
    secret_id: &str,
    token: &str,
) -> Result<StepOutcome, RotationError> {
    engine
        .handle(&RotationEvent::new(step, secret_id, token))
        .await
}

/// One Secrets Manager call before anyone else's: moto builds a service's app on its first request
/// (≈ 0.2 s), and the answer proves the port is moto's.
/// The server may accept on its port a moment before it serves (seen once as a reset connection in
/// CI): retry a refused, reset or cut-short warm-up for a bounded time; any other failure is final.
fn warm_up_with_retries(port: u16) -> io::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match warm_up(port) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::UnexpectedEof
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn warm_up(port: u16) -> io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = "{}";
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: secretsmanager.ListSecrets\r\n\
         Content-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=testing/20260101/{REGION}/secretsmanager/aws4_request, SignedHeaders=host, \
         Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 200") && answer.contains("SecretList") {
        Ok(())
    } else if answer.is_empty() {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the emulator on port {port} closed the connection without an answer"),
        ))
    } else {
        Err(io::Error::other(format!(
            "the emulator on port {port} did not answer ListSecrets: {}",
            answer.lines().next().unwrap_or("no answer")
        )))
    }
}
