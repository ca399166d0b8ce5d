//! `make e2e`: deploy, then rotate. `terraform apply` of terraform/examples/e2e against the emulator
//! with the functions' zips; each deployed function read back from the emulator (runtime,
//! architecture, handler, environment, the uploaded zip) and its bootstrap run from that very zip,
//! with that environment, under the test kit's Runtime API; each applied secret's rotation, staged
//! by the apply, driven through its four steps as the service does; the deployed monitor asked
//! whether they are healthy; `terraform plan` clean; `terraform destroy` leaving nothing.

use aws_sdk_lambda::types::{Architecture, Runtime};
use base64::Engine as _;
use rotation::protocol::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, MODE_TAG};
use rotation::rotation_log;
use rotation::Step;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::lambda::{workspace_binary, Bootstrap};
use testkit::managed_redis::ManagedRedis;
use testkit::process::fresh_dir;
use testkit::redis::scenario::SecretMaterial;
use testkit::redis::{RedisOptions, TlsFiles};
use testkit::{Emulator, FunctionProcess, PostgresServer, RedisServer};

#[path = "e2e/iam.rs"]
mod iam;
#[path = "e2e/managed.rs"]
mod managed;

const DAY: Duration = Duration::from_secs(86_400);
const KINDS: [&str; 3] = ["postgres", "redis", "jwt"];
const MONITOR: &str = "monitor";

/// The Terraform CLI on a private copy of terraform/, offline from the provider mirror.
struct Terraform {
    dir: PathBuf,
    env: Vec<(String, String)>,
    work: PathBuf,
}

impl Drop for Terraform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

impl Terraform {
    fn new() -> Self {
        let work = fresh_dir("e2e-terraform").expect("a temporary directory");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform");
        let copy = work.join("terraform");
        let status = Command::new("cp")
            .arg("-r")
            .arg(&root)
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(status.success(), "copying terraform/");
        let config = work.join("terraformrc");
        let mirror = provider_mirror();
        std::fs::write(
            &config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
                mirror.display()
            ),
        )
        .expect("the CLI configuration");
        let env = vec![
            ("TF_CLI_CONFIG_FILE".into(), config.display().to_string()),
            (
                "TF_DATA_DIR".into(),
                work.join("data").display().to_string(),
            ),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("TF_INPUT".into(), "0".into()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
        ];
        Self {
            dir: copy.join("examples/e2e"),
            env,
            work,
        }
    }

    /// Runs `terraform <args>`; the exit status and the output (which never holds a secret value:
    /// every one is a sensitive variable or a data source's sensitive attribute).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let started = Instant::now();
        let output = Command::new(std::env::var("TERRAFORM").unwrap_or("terraform".into()))
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .expect("the terraform CLI runs (is it installed?)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!(
            "terraform {} → {:?} in {:.1} s",
            args.first().unwrap_or(&""),
            output.status.code(),
            started.elapsed().as_secs_f64()
        );
        (output.status.code().unwrap_or(-1), text)
    }

    fn ok(&self, args: &[&str], material: &SecretMaterial) -> String {
        let (code, text) = self.run(args);
        material.assert_absent(&text, "terraform's output");
        assert_eq!(code, 0, "terraform {args:?} failed:\n{text}");
        text
    }
}

/// The filesystem mirror holding hashicorp/aws: `$TF_PLUGIN_MIRROR`, else found on the machine
/// (as scripts/terraform-check.sh finds it).
fn provider_mirror() -> PathBuf {
    if let Some(mirror) = std::env::var_os("TF_PLUGIN_MIRROR") {
        return PathBuf::from(mirror);
    }
    let found = Command::new("find")
        .args([
            "/",
            "-maxdepth",
            "5",
            "(",
            "-path",
            "/proc",
            "-o",
            "-path",
            "/sys",
            "-o",
            "-path",
            "/dev",
            ")",
            "-prune",
            "-o",
            "-type",
            "d",
            "-path",
            "*/registry.terraform.io/hashicorp/aws",
            "-print",
        ])
        .output()
        .expect("find");
    let listing = String::from_utf8_lossy(&found.stdout);
    let aws = listing.lines().next().unwrap_or_else(|| {
        panic!("no Terraform provider mirror holds hashicorp/aws; set TF_PLUGIN_MIRROR")
    });
    PathBuf::from(aws)
        .ancestors()
        .nth(3)
        .expect("the mirror's root")
        .to_path_buf()
}

/// The functions' zips: `make build`'s when present and newer than the debug binary, else the
/// debug binary zipped as `bootstrap` the same way.
fn packages(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lambda");
    for kind in KINDS.iter().chain([&MONITOR]) {
        let name = format!("secret-rotation-{kind}");
        let binary = workspace_binary(&name);
        let built = root.join(&name).join("bootstrap.zip");
        let target = dir.join(&name);
        std::fs::create_dir_all(&target).unwrap();
        let newer = |a: &Path, b: &Path| {
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            matches!((modified(a), modified(b)), (Some(a), Some(b)) if a >= b)
        };
        if built.exists() && newer(&built, &binary) {
            std::fs::copy(&built, target.join("bootstrap.zip")).unwrap();
            println!("{name}: make build's zip");
        } else {
            python(
                "import sys, zipfile\n\
                 info = zipfile.ZipInfo('bootstrap')\n\
                 info.external_attr = 0o755 << 16\n\
                 info.compress_type = zipfile.ZIP_DEFLATED\n\
                 with zipfile.ZipFile(sys.argv[1], 'w') as z, open(sys.argv[2], 'rb') as f:\n\
                 \x20   z.writestr(info, f.read())\n",
                &[&target.join("bootstrap.zip"), &binary],
            );
            println!("{name}: the debug binary, zipped");
        }
    }
    dir.to_path_buf()
}

fn python(script: &str, args: &[&Path]) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .status()
        .expect("python3");
    assert!(status.success(), "python3 {args:?}");
}

fn lambda_client(emulator: &Emulator) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&emulator.sdk_config())
}

/// A deployed function, read back from the emulator, and its bootstrap unpacked from the zip it
/// holds.
struct Deployed {
    env: Vec<(String, String)>,
    bootstrap: PathBuf,
}

async fn read_back(emulator: &Emulator, name: &str, dir: &Path) -> Deployed {
    let function = lambda_client(emulator)
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetFunction {name}: {e:?}"));
    let config = function.configuration().expect("a configuration");
    assert_eq!(config.runtime(), Some(&Runtime::Providedal2023), "{name}");
    assert_eq!(config.architectures(), [Architecture::X8664], "{name}");
    assert_eq!(config.handler(), Some("bootstrap"), "{name}");
    let env: Vec<(String, String)> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let location = function
        .code()
        .and_then(|c| c.location())
        .expect("the code's location");
    let zip = dir.join(format!("{name}.zip"));
    let unpacked = dir.join(name);
    python(
        "import sys, urllib.request, zipfile\n\
         urllib.request.urlretrieve(sys.argv[1], sys.argv[2])\n\
         zipfile.ZipFile(sys.argv[2]).extract('bootstrap', sys.argv[3])\n",
        &[Path::new(location), &zip, &unpacked],
    );
    let bytes = std::fs::read(&zip).unwrap();
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    assert_eq!(
        config.code_sha256(),
        Some(digest.as_str()),
        "{name}: the downloaded zip is the uploaded one"
    );
    let bootstrap = unpacked.join("bootstrap");
    std::fs::set_permissions(
        &bootstrap,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    Deployed { env, bootstrap }
}

/// Starts a deployed function from its own zip with its own environment, plus what Lambda gives
/// every function: the region and the role's credentials (here: the emulator's, as `access_key`).
async fn start(
    deployed: &Deployed,
    name: &str,
    emulator: &Emulator,
    access_key: &str,
) -> FunctionProcess {
    let mut env: Vec<(&str, String)> = deployed
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    for (key, value) in emulator.env() {
        let value = if key == "AWS_ACCESS_KEY_ID" {
            access_key.to_owned()
        } else {
            value
        };
        env.push((key, value));
    }
    FunctionProcess::launch(
        &Bootstrap::new(&deployed.bootstrap)
            .clean_env()
            .env(&env)
            .name(name),
    )
    .await
    .unwrap_or_else(|e| panic!("{name} starts from its zip: {e}"))
}

/// Runs the built rotationctl as the example's operators would (as `iam::OPERATOR`, signing as the
/// test's scope), asserts it succeeds and prints nothing secret; its standard output.
fn rotationctl(
    emulator: &Emulator,
    access_key: &str,
    args: &[&str],
    material: &SecretMaterial,
) -> String {
    let binary = workspace_binary("rotationctl");
    let mut command = Command::new(&binary);
    command
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(std::process::Stdio::null());
    for (key, value) in emulator.env() {
        command.env(key, value);
    }
    command.env("AWS_ACCESS_KEY_ID", access_key).env(
        "AWS_SESSION_TOKEN",
        testkit::iam::principal_token(&binary, iam::OPERATOR),
    );
    let output = command.output().expect("rotationctl runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    material.assert_absent(&stdout, "rotationctl's output");
    material.assert_absent(&stderr, "rotationctl's errors");
    assert!(
        output.status.success(),
        "rotationctl {args:?}: {:?}\n{stderr}",
        output.status
    );
    println!("rotationctl {}: ok", args[0]);
    stdout
}

/// Drives the four steps of the rotation `token` through `function`, as the service does, printing
/// each step's time and outcome.
async fn drive(function: &FunctionProcess, kind: &str, secret: &str, token: &str) {
    for step in Step::ALL {
        let event = json!({"Step": step.as_str(), "SecretId": secret, "ClientRequestToken": token});
        let step_started = Instant::now();
        let answer = function
            .invoke(&event)
            .await
            .unwrap_or_else(|e| panic!("{kind} {step}: {}: {}", e.error_type, e.error_message));
        println!(
            "  {:<13} {:>7.1} ms  {}",
            step.as_str(),
            step_started.elapsed().as_secs_f64() * 1000.0,
            answer["outcome"]
        );
    }
}

fn outputs(terraform: &Terraform, material: &SecretMaterial) -> BTreeMap<String, Value> {
    let text = terraform.ok(&["output", "-json"], material);
    let parsed: BTreeMap<String, Value> =
        serde_json::from_str(&text).expect("terraform output -json");
    parsed
        .into_iter()
        .map(|(k, v)| (k, v["value"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "`make e2e` runs it (and `make test` runs `make e2e`), printing each rotation"]
async fn deploy_then_rotate_each_secret_through_what_was_deployed() {
    let started = Instant::now();
    let emulator = Emulator::shared();
    let mut material = SecretMaterial::default();

    // The targets: PostgreSQL with the admin and an application user; a TLS redis-server that the
    // emulator applies ElastiCache users to.
    let postgres = PostgresServer::start().expect("PostgreSQL starts");
    let app_password = rotation::password::generate_password(32);
    material.add(app_password.expose_secret());
    material.add(postgres.superuser_password().expose_secret());
    postgres
        .superuser_execute(&format!(
            "CREATE ROLE e2e_app LOGIN PASSWORD '{}'",
            app_password.expose_secret()
        ))
        .await;
    let tls = TlsFiles::generate().unwrap();
    let redis = RedisServer::start_opts(RedisOptions {
        tls: Some(&tls),
        ..Default::default()
    })
    .expect("redis-server starts");
    let scope = ManagedRedis::new(emulator);
    scope.attach(&[&redis], Duration::from_millis(300)).await;

    let work = fresh_dir("e2e").unwrap();
    let packages = packages(&work.join("packages"));
    let terraform = Terraform::new();
    let prefix = format!("e2e{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let mut extra = managed::Extra::create(&scope, &prefix, &mut material).await;
    let vars = json!({
        "endpoint": emulator.endpoint(),
        "access_key": scope.access_key(),
        "name_prefix": prefix,
        "lambda_package_dir": packages.display().to_string(),
        "postgres": {"host": "127.0.0.1", "port": postgres.port, "username": "e2e_app",
                     "password": app_password.expose_secret(), "dbname": "postgres", "ssl": false,
                     "admin_username": testkit::postgres::SUPERUSER,
                     "admin_password": postgres.superuser_password().expose_secret()},
        "redis": {"host": "localhost", "port": redis.tls_port, "ca_bundle": tls.ca_pem,
                  "extra_managed_arns": extra.arns()},
    });
    let var_file = work.join("e2e.tfvars.json");
    std::fs::write(&var_file, vars.to_string()).unwrap();
    let var_arg = format!("-var-file={}", var_file.display());
    terraform.ok(&["init", "-input=false", "-lockfile=readonly"], &material);
    terraform.ok(&["apply", "-auto-approve", &var_arg], &material);
    let out = outputs(&terraform, &material);
    let names = out["function_names"].as_object().expect("function_names");
    let secrets = out["secret_arns"].as_object().expect("secret_arns");

    for kind in KINDS {
        let secret = secrets[kind].as_str().expect("a secret ARN");
        let name = names[kind].as_str().expect("a function name");
        let deployed = read_back(emulator, name, &work).await;
        let token = emulator
            .version_with(secret, AWSPENDING)
            .await
            .unwrap_or_else(|| panic!("{kind}: the apply staged a rotation"));
        let before = emulator.json_at(secret, AWSCURRENT).await;
        let function = start(&deployed, name, emulator, scope.access_key()).await;
        println!("{kind}: {name} from its deployed zip, rotating {secret}");
        drive(&function, kind, secret, &token).await;
        assert_eq!(
            emulator.version_with(secret, AWSCURRENT).await,
            Some(token.clone())
        );
        let current = emulator.json_at(secret, AWSCURRENT).await;
        let previous = emulator.json_at(secret, AWSPREVIOUS).await;
        assert_eq!(previous, before, "{kind}: AWSPREVIOUS is the value before");
        for value in [&current, &previous] {
            if let Some(password) = value["password"].as_str() {
                material.add(password);
            }
        }
        match kind {
            "postgres" => {
                postgres
                    .connect_as(&current)
                    .await
                    .unwrap_or_else(|_| panic!("the new PostgreSQL credential logs in"));
                assert!(
                    postgres.connect_as(&previous).await.is_ok(),
                    "the previous PostgreSQL credential still logs in"
                );
            }
            "redis" => {
                let user = current["username"].as_str().unwrap();
                for (which, value) in [("new", &current), ("previous", &previous)] {
                    let password = value["password"].as_str().unwrap();
                    assert!(
                        redis.can_login(user, password).await,
                        "the {which} Redis password logs in"
                    );
                }
            }
            _ => assert_ne!(current, previous, "the JWT key set changed"),
        }

        // An operator's emergency rotation, asked with rotationctl under the example's operator
        // role: the previous credential is revoked and the function removes the rotation:mode tag
        // rotationctl set. (The emulator stages RotateSecret; the steps are driven here.)
        rotationctl(
            emulator,
            scope.access_key(),
            &[
                "emergency",
                "--reason",
                "e2e incident drill",
                "--no-wait",
                "--yes",
                secret,
            ],
            &material,
        );
        let token = emulator
            .version_with(secret, AWSPENDING)
            .await
            .expect("rotationctl emergency staged a rotation");
        println!("{kind}: emergency rotation (rotationctl emergency)");
        drive(&function, kind, secret, &token).await;
        assert_eq!(
            emulator.version_with(secret, AWSCURRENT).await,
            Some(token.clone())
        );
        let tags = emulator
            .client()
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .expect("DescribeSecret");
        assert!(
            !tags.tags().iter().any(|t| t.key() == Some(MODE_TAG)),
            "{kind}: the function removed {MODE_TAG} after the emergency rotation"
        );
        // The rotation log: the function wrote who asked (the operator role) and why, and removed
        // the request tags when the rotation ended.
        let tag_map: BTreeMap<String, String> = tags
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect();
        assert!(!tag_map.contains_key(rotation_log::REQUESTED_BY_TAG));
        assert!(!tag_map.contains_key(rotation_log::REASON_TAG));
        let entry = rotation_log::entries(&tag_map)
            .remove(&token)
            .unwrap_or_else(|| panic!("{kind}: no rotation log entry for the emergency rotation"));
        assert_eq!(entry.request.method, rotation_log::Method::Emergency);
        assert_eq!(entry.request.reason.as_deref(), Some("e2e incident drill"));
        assert!(
            entry.request.requested_by.contains(":assumed-role/")
                || entry.request.requested_by.contains(":user/"),
            "{kind}: requested by {}",
            entry.request.requested_by
        );
        println!(
            "{kind}: rotation log entry: requested by {}",
            entry.request.requested_by
        );
        let current = emulator.json_at(secret, AWSCURRENT).await;
        if let Some(password) = current["password"].as_str() {
            material.add(password);
        }
        match kind {
            "postgres" => assert!(postgres.connect_as(&current).await.is_ok()),
            "redis" => {
                let (user, password) = (
                    current["username"].as_str().unwrap(),
                    current["password"].as_str().unwrap(),
                );
                assert!(
                    redis.can_login(user, password).await,
                    "the emergency Redis password logs in"
                );
            }
            _ => {}
        }
        material.assert_absent(&function.output(), "the function's output");
    }

    // A MemoryDB user and an AUTH token the example lists but does not create, rotated by the
    // deployed Redis function.
    let redis_name = names["redis"].as_str().expect("the Redis function's name");
    let deployed = read_back(emulator, redis_name, &work).await;
    let function = start(&deployed, redis_name, emulator, scope.access_key()).await;
    let redis_arn = out["function_arns"]["redis"].as_str().expect("its ARN");
    let kms_key = out["kms_key_arn"].as_str().expect("the key's ARN");
    extra
        .rotate(
            emulator,
            &function,
            redis_arn,
            kms_key,
            &prefix,
            &redis,
            &tls.ca_pem,
            &mut material,
        )
        .await;
    material.assert_absent(&function.output(), "the Redis function's output");

    // What an operator sees with rotationctl: the three secrets, none overdue or stuck; a history.
    let status = rotationctl(
        emulator,
        scope.access_key(),
        &[
            "status",
            "--json",
            "--check",
            "--name-prefix",
            &format!("{prefix}/"),
        ],
        &material,
    );
    let listed: Value = serde_json::from_str(&status).expect("rotationctl status --json");
    assert_eq!(listed["summary"]["checked"], 3, "{listed}");
    assert_eq!(listed["summary"]["overdue"], 0, "{listed}");
    assert_eq!(listed["summary"]["pending_stuck"], 0, "{listed}");
    let jwt_secret = secrets["jwt"].as_str().expect("the JWT secret");
    rotationctl(
        emulator,
        scope.access_key(),
        &["history", jwt_secret],
        &material,
    );

    // The deployed monitor, from its zip: three secrets, all healthy.
    let monitor_name = names[MONITOR].as_str().expect("the monitor's name");
    let deployed = read_back(emulator, monitor_name, &work).await;
    let monitor = start(&deployed, monitor_name, emulator, scope.access_key()).await;
    let report = monitor.invoke(&json!({})).await.expect("the monitor runs");
    assert_eq!(report["checked"], 3, "{report}");
    for problem in ["pending_stuck", "overdue"] {
        assert_eq!(report[problem], 0, "{report}");
    }
    assert_eq!(
        report["described"]["to_confirm"], 0,
        "from ListSecrets alone: {report}"
    );
    // Asked as of 60 days on (a scheduled event's time), all three are overdue on their 30-day
    // schedule, each confirmed with DescribeSecret before it is reported.
    let later = rotation::health::format_time(std::time::SystemTime::now() + 60 * DAY);
    let report = monitor
        .invoke(&json!({"time": later}))
        .await
        .expect("the monitor runs");
    assert_eq!(report["overdue"], 3, "{report}");
    assert_eq!(report["described"]["to_confirm"], 3, "{report}");

    // IAM: every call the functions made, and the calls they must not make, evaluated against
    // the policies Terraform rendered for them.
    let mut deployment = iam::Deployment::from_outputs(&prefix, &out);
    deployment.add_managed_redis(&extra.secrets, &extra.memorydb_arn, &extra.group_arn);
    let table = iam::prove(emulator, &deployment, &work);
    println!("{table}");

    // What was applied is what the configuration says: nothing to change after the rotations.
    let (code, text) = terraform.run(&["plan", "-detailed-exitcode", "-input=false", &var_arg]);
    material.assert_absent(&text, "terraform plan");
    assert_eq!(
        code, 0,
        "terraform plan after the rotations wants changes:\n{text}"
    );
    extra.delete(emulator).await;
    terraform.ok(&["destroy", "-auto-approve", &var_arg], &material);
    let left = lambda_client(emulator)
        .list_functions()
        .send()
        .await
        .expect("ListFunctions");
    let ours: Vec<&str> = left
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(ours.is_empty(), "functions left after destroy: {ours:?}");
    for kind in KINDS {
        let secret = secrets[kind].as_str().unwrap();
        assert!(
            emulator
                .client()
                .describe_secret()
                .secret_id(secret)
                .send()
                .await
                .is_err(),
            "{kind}: the secret is gone after destroy"
        );
    }
    println!(
        "e2e: deploy, rotate, destroy in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
