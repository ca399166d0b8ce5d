//! The emulator's Lambda (`lambda_emulator.py`), driven through the AWS SDK for Rust: GetFunction's
//! Code.Location downloads the very package uploaded; RotateSecret with a function the emulator
//! knows stages the rotation as the service does when the call returns (empty AWSPENDING version,
//! rotation configured, AWSCURRENT still the default version), invokes nothing and is listed at
//! `/_emulator/rotations`; RotateSecret with a function it does not know keeps moto's behaviour
//! (staged, then ResourceNotFound), which the rest of the kit relies on; and no function code ever
//! runs (Invoke answers a function error without trying Docker).

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::RotationRulesType;
use base64::Engine as _;
use rotation::protocol::{AWSCURRENT, AWSPENDING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use testkit::emulator::{REGION, UNKNOWN_ROTATION_LAMBDA};
use testkit::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCOUNT: &str = "123456789012";
const ROTATIONS: &str = "/_emulator/rotations";
const INVOCATIONS: &str = "/_emulator/lambda-invocations";
const CODE: &str = "/_emulator/lambda-code";

fn emulator() -> &'static Emulator {
    Emulator::shared()
}

fn lambda() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&emulator().sdk_config())
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// An HTTP answer: status, headers (names lowercase) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "JSON expected ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One HTTP/1.1 request to `url` (`http://host:port/path`), the connection closed after it.
async fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("an http:// URL, not {url}"));
    let (address, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {address}: {e}"));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.expect("request");
    stream.write_all(body).await.expect("request body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer, not {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get(path: &str) -> Answer {
    http("GET", &format!("{}{path}", emulator().endpoint()), &[], b"").await
}

/// The emulator's list at `path` (rotations or invocations), entries whose `key` is `value`.
async fn entries(path: &str, key: &str, value: &str) -> Vec<Value> {
    let answer = get(path).await;
    assert_eq!(answer.status, 200, "GET {path}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let list = answer.json();
    list.as_array()
        .unwrap_or_else(|| panic!("GET {path} answers a list, not {list}"))
        .iter()
        .filter(|entry| entry[key] == value)
        .cloned()
        .collect()
}

/// CRC-32 (IEEE), as ZIP headers carry it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ZIP archive holding `bootstrap` (stored, mode 0755) with `content`.
fn zip_with_bootstrap(content: &[u8]) -> Vec<u8> {
    let name = b"bootstrap";
    let crc = crc32(content);
    let size = u32::try_from(content.len()).expect("a small file");
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, time
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&size.to_le_bytes());
    local.extend_from_slice(&size.to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    local.extend_from_slice(content);
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // made by unix
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&size.to_le_bytes());
    central.extend_from_slice(&size.to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&((0o100_755u32) << 16).to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name);
    let mut zip = local;
    let central_at = u32::try_from(zip.len()).expect("a small archive");
    let central_len = u32::try_from(central.len()).expect("a small directory");
    zip.extend_from_slice(&central);
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    zip.extend_from_slice(&central_len.to_le_bytes());
    zip.extend_from_slice(&central_at.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip
}

/// A package unique to the caller, with every byte value in it (the route must not alter any).
fn package() -> Vec<u8> {
    let mut content = format!("#!/bin/sh\n# {}\n", uuid::Uuid::new_v4()).into_bytes();
    content.extend(0..=255u8);
    zip_with_bootstrap(&content)
}

/// An IAM role Lambda may assume (moto's CreateFunction refuses a role it does not know), through
/// IAM's query protocol: the kit has no IAM SDK. Returns its ARN.
async fn role() -> String {
    let name = unique("fn-role");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let form: String = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", name.as_str()),
        ("AssumeRolePolicyDocument", &trust.to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", percent_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/iam/aws4_request, \
         SignedHeaders=host, Signature=0"
    );
    let answer = http(
        "POST",
        &format!("{}/", emulator().endpoint()),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &authorization),
        ],
        form.as_bytes(),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "CreateRole: {}",
        String::from_utf8_lossy(&answer.body)
    );
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A function created from `zip` (provided.al2023, handler bootstrap): its name and ARN.
async fn function(zip: &[u8]) -> (String, String) {
    let name = unique("rotator");
    let out = lambda()
        .create_function()
        .function_name(&name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role().await)
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateFunction: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            )
        });
    let arn = out.function_arn().expect("an ARN").to_owned();
    (name, arn)
}

/// Downloads the package GetFunction points at; asserts the answer is a zip.
async fn download(location: &str) -> Vec<u8> {
    let answer = http("GET", location, &[], b"").await;
    assert_eq!(answer.status, 200, "GET {location}");
    assert_eq!(answer.header("content-type"), Some("application/zip"));
    answer.body
}

fn sha256_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// RotateSecret with `function` (None: the configured one), token `token`, every 30 days.
async fn rotate(
    secret: &str,
    function: Option<&str>,
    token: &str,
    immediately: bool,
) -> Result<
    aws_sdk_secretsmanager::operation::rotate_secret::RotateSecretOutput,
    aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::rotate_secret::RotateSecretError,
    >,
> {
    emulator()
        .client()
        .rotate_secret()
        .secret_id(secret)
        .client_request_token(token)
        .set_rotation_lambda_arn(function.map(str::to_owned))
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(immediately)
        .send()
        .await
}

/// The version with no stage given: what a plain GetSecretValue answers (id, stages, value).
async fn default_version(secret: &str) -> (String, Vec<String>, Option<String>) {
    let out = emulator()
        .client()
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GetSecretValue without a stage: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        });
    (
        out.version_id().unwrap_or_default().to_owned(),
        out.version_stages().to_vec(),
        out.secret_string().map(str::to_owned),
    )
}

#[tokio::test]
async fn get_function_location_serves_the_uploaded_zip() {
    let zip = package();
    let (name, _) = function(&zip).await;
    let out = lambda()
        .get_function()
        .function_name(&name)
        .send()
        .await
        .expect("GetFunction");
    let code = out.code().expect("GetFunction answers Code");
    assert_eq!(code.repository_type(), Some("S3"));
    let location = code.location().expect("a Location");
    assert_eq!(
        location,
        format!("{}{CODE}/{ACCOUNT}/{REGION}/{name}", emulator().endpoint())
    );
    let downloaded = download(location).await;
    assert!(
        downloaded == zip,
        "the download ({} bytes) differs from the upload ({} bytes)",
        downloaded.len(),
        zip.len()
    );
    let configuration = out.configuration().expect("a Configuration");
    assert_eq!(
        configuration.code_sha256(),
        Some(sha256_base64(&downloaded).as_str())
    );
    assert_eq!(configuration.code_size(), downloaded.len() as i64);
}

#[tokio::test]
async fn a_qualified_location_serves_that_versions_package() {
    let first = package();
    let (name, _) = function(&first).await;
    let version = lambda()
        .publish_version()
        .function_name(&name)
        .send()
        .await
        .expect("PublishVersion");
    let version = version.version().expect("a version number").to_owned();
    let second = package();
    lambda()
        .update_function_code()
        .function_name(&name)
        .zip_file(Blob::new(second.clone()))
        .send()
        .await
        .expect("UpdateFunctionCode");

    for (qualifier, expected) in [(Some(version.as_str()), &first), (None, &second)] {
        let out = lambda()
            .get_function()
            .function_name(&name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .expect("GetFunction");
        let location = out.code().and_then(|c| c.location()).expect("a Location");
        let downloaded = download(location).await;
        assert!(
            &downloaded == expected,
            "{qualifier:?}: {location} serves another package"
        );
        assert_eq!(
            out.configuration().and_then(|c| c.code_sha256()),
            Some(sha256_base64(&downloaded).as_str()),
            "{qualifier:?}"
        );
    }
}

#[tokio::test]
async fn the_code_route_answers_404_for_an_unknown_function() {
    for path in [
        format!("{CODE}/{ACCOUNT}/{REGION}/{}", unique("nobody")),
        format!("{CODE}/{ACCOUNT}/{REGION}"),
        format!("{CODE}/"),
    ] {
        let answer = get(&path).await;
        assert_eq!(answer.status, 404, "GET {path}");
        assert_eq!(answer.json()["error"], "no such function", "GET {path}");
    }
}

#[tokio::test]
async fn rotate_secret_with_a_known_function_stages_and_invokes_nothing() {
    let (_, function_arn) = function(&package()).await;
    let secret = emulator()
        .create_secret("lambda-rotation", r#"{"password":"before"}"#)
        .await;
    let (current, _, _) = default_version(&secret).await;
    let token = uuid::Uuid::new_v4().to_string();

    let out = rotate(&secret, Some(&function_arn), &token, true)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RotateSecret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        });
    assert_eq!(out.version_id(), Some(token.as_str()), "the new version");

    let stages = emulator().stages(&secret).await;
    assert_eq!(stages.get(&token), Some(&vec![AWSPENDING.to_owned()]));
    assert_eq!(stages.get(&current), Some(&vec![AWSCURRENT.to_owned()]));
    let pending = emulator()
        .client()
        .get_secret_value()
        .secret_id(&secret)
        .version_id(&token)
        .send()
        .await;
    assert!(
        pending
            .as_ref()
            .map_or(true, |o| o.secret_string().is_none()),
        "the pending version is empty"
    );
    let (id, version_stages, value) = default_version(&secret).await;
    assert_eq!(
        id, current,
        "GetSecretValue without a stage answers AWSCURRENT"
    );
    assert_eq!(version_stages, vec![AWSCURRENT.to_owned()]);
    assert_eq!(value.as_deref(), Some(r#"{"password":"before"}"#));

    let described = emulator()
        .client()
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(described.rotation_enabled(), Some(true));
    assert_eq!(described.rotation_lambda_arn(), Some(function_arn.as_str()));
    assert_eq!(
        described
            .rotation_rules()
            .and_then(|r| r.automatically_after_days()),
        Some(30)
    );

    let recorded = entries(ROTATIONS, "secret_arn", &secret).await;
    assert_eq!(
        recorded,
        vec![
            json!({"secret_arn": secret, "function_arn": function_arn, "token": token,
                    "rotate_immediately": true})
        ]
    );
    assert_eq!(
        entries(INVOCATIONS, "function_arn", &function_arn).await,
        Vec::<Value>::new(),
        "RotateSecret invoked the function"
    );
}

#[tokio::test]
async fn rotate_secret_without_a_function_uses_the_configured_one() {
    let (_, function_arn) = function(&package()).await;
    let secret = emulator().create_secret("lambda-again", "v1").await;
    let (current, _, _) = default_version(&secret).await;
    let first = uuid::Uuid::new_v4().to_string();
    rotate(&secret, Some(&function_arn), &first, true)
        .await
        .expect("RotateSecret configuring the function");
    // The first rotation given up: AWSPENDING off its version, as between two rotations.
    emulator()
        .client()
        .update_secret_version_stage()
        .secret_id(&secret)
        .version_stage(AWSPENDING)
        .remove_from_version_id(&first)
        .send()
        .await
        .expect("AWSPENDING removed");

    let second = uuid::Uuid::new_v4().to_string();
    let out = emulator()
        .client()
        .rotate_secret()
        .secret_id(&secret)
        .client_request_token(&second)
        .send()
        .await
        .expect("RotateSecret with the configured function");
    assert_eq!(out.version_id(), Some(second.as_str()));

    let stages = emulator().stages(&secret).await;
    assert_eq!(stages.get(&second), Some(&vec![AWSPENDING.to_owned()]));
    assert_eq!(stages.get(&current), Some(&vec![AWSCURRENT.to_owned()]));
    assert_eq!(default_version(&secret).await.0, current);
    let recorded = entries(ROTATIONS, "secret_arn", &secret).await;
    assert_eq!(
        recorded.last(),
        Some(
            &json!({"secret_arn": secret, "function_arn": function_arn, "token": second,
                     "rotate_immediately": true})
        )
    );
    assert_eq!(recorded.len(), 2);
    assert!(entries(INVOCATIONS, "function_arn", &function_arn)
        .await
        .is_empty());
}

#[tokio::test]
async fn rotate_immediately_false_stages_a_copy_and_invokes_nothing() {
    let (_, function_arn) = function(&package()).await;
    let secret = emulator().create_secret("lambda-later", "v1").await;
    let (current, _, _) = default_version(&secret).await;
    let token = uuid::Uuid::new_v4().to_string();
    rotate(&secret, Some(&function_arn), &token, false)
        .await
        .expect("RotateSecret, RotateImmediately false");

    let stages = emulator().stages(&secret).await;
    assert_eq!(stages.get(&token), Some(&vec![AWSPENDING.to_owned()]));
    assert_eq!(stages.get(&current), Some(&vec![AWSCURRENT.to_owned()]));
    assert_eq!(
        emulator().value_at(&secret, AWSPENDING).await.as_deref(),
        Some("v1"),
        "moto's staging for the testSecret check: a copy of the current value"
    );
    assert_eq!(default_version(&secret).await.0, current);
    assert_eq!(
        entries(ROTATIONS, "secret_arn", &secret).await,
        vec![
            json!({"secret_arn": secret, "function_arn": function_arn, "token": token,
                    "rotate_immediately": false})
        ]
    );
    assert!(entries(INVOCATIONS, "function_arn", &function_arn)
        .await
        .is_empty());
}

#[tokio::test]
async fn an_unknown_function_keeps_the_staging_and_resource_not_found() {
    let secret = emulator().create_secret("lambda-unknown", "v1").await;
    let (current, _, _) = default_version(&secret).await;
    let token = uuid::Uuid::new_v4().to_string();
    let error = rotate(&secret, Some(UNKNOWN_ROTATION_LAMBDA), &token, true)
        .await
        .expect_err("RotateSecret with a function the emulator does not know");
    assert_eq!(error.code(), Some("ResourceNotFoundException"));

    let stages = emulator().stages(&secret).await;
    assert_eq!(stages.get(&token), Some(&vec![AWSPENDING.to_owned()]));
    assert_eq!(stages.get(&current), Some(&vec![AWSCURRENT.to_owned()]));
    let described = emulator()
        .client()
        .describe_secret()
        .secret_id(&secret)
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(described.rotation_enabled(), Some(true));
    assert_eq!(
        described.rotation_lambda_arn(),
        Some(UNKNOWN_ROTATION_LAMBDA)
    );
    assert!(
        entries(ROTATIONS, "secret_arn", &secret).await.is_empty(),
        "a rotation answered ResourceNotFound is not listed"
    );
    // The kit's own helper still sees it that way.
    let other = emulator().create_secret("lambda-unknown-kit", "v1").await;
    let token = emulator().stage_rotation(&other).await;
    assert_eq!(
        emulator().version_with(&other, AWSPENDING).await,
        Some(token)
    );
}

#[tokio::test]
async fn invoke_runs_no_code_and_never_docker() {
    let (name, function_arn) = function(&package()).await;
    let event = json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"});
    let out = lambda()
        .invoke()
        .function_name(&name)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("Invoke");
    assert!(out.function_error().is_some(), "a function error");
    let payload: Value = serde_json::from_slice(out.payload().expect("a payload").as_ref())
        .unwrap_or_else(|e| {
            panic!(
                "a JSON error payload ({e}), not {:?}",
                out.payload().map(|p| String::from_utf8_lossy(p.as_ref()))
            )
        });
    assert_eq!(payload["errorType"], "EmulatorRunsNoCode", "{payload}");
    assert_eq!(
        entries(INVOCATIONS, "function_arn", &function_arn).await,
        vec![json!({"function_arn": function_arn, "step": "createSecret"})]
    );
    assert!(
        !emulator().log().contains("error running docker"),
        "moto tried Docker"
    );
}
