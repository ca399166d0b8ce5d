//! The unavoidable work of one alternating-users PostgreSQL rotation, done directly (raw SDK
//! calls and raw logins from this process, no engine, no Lambda): the Secrets Manager calls the
//! protocol needs and the logins the rotation must make. The rotation's own cost is compared to it.

use crate::setup::{pg_login, BenchResult, Stack};
use crate::stats::Samples;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use rotation::password::generate_password;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};
use testkit::lambda::cpu_time_of;

pub const DESCRIBE: &str = "DescribeSecret";
pub const GET: &str = "GetSecretValue";
pub const PUT: &str = "PutSecretValue";
pub const UPDATE: &str = "UpdateSecretVersionStage";
pub const TAG: &str = "TagResource";
pub const UNTAG: &str = "UntagResource";
pub const LOGIN: &str = "PostgreSQL login";
pub const REFUSED: &str = "PostgreSQL refused login";

#[derive(Default)]
pub struct Baseline {
    /// Latency of each kind of operation.
    pub ops: BTreeMap<&'static str, Samples>,
    pub steps: [Samples; 4],
    pub total: Samples,
    /// One SCRAM-SHA-256 verifier: the 4096-iteration PBKDF2 every login also pays on the client.
    pub scram: Samples,
    /// CPU time of this process over all the iterations (the function is idle meanwhile).
    pub cpu: Duration,
}

impl Baseline {
    pub fn op_median(&self, op: &str) -> Duration {
        self.ops.get(op).map(Samples::median).unwrap_or_default()
    }
}

/// A secret of its own for the minimal rotations (its value stays the same, so the role's
/// password stays valid); each iteration is staged first, untimed, as the service would.
pub struct Rig<'a> {
    stack: &'a Stack,
    id: String,
    admin_arn: String,
    client: aws_sdk_secretsmanager::Client,
    /// The previous iteration's rotation log entry, dropped as the oldest would be.
    previous_log: Option<String>,
    pub out: Baseline,
}

impl<'a> Rig<'a> {
    pub async fn prepare(stack: &'a Stack) -> BenchResult<Self> {
        let role = "bench_baseline".to_owned();
        let password = stack.pg_roles(std::slice::from_ref(&role)).await?.remove(0);
        let port = stack.postgres.port;
        let admin_arn = stack.pg_admin_secret(port).await;
        let id = stack.pg_secret(&role, &password, port, &admin_arn).await;
        let mut rig = Self {
            stack,
            id,
            admin_arn,
            client: stack.emulator.client(),
            previous_log: None,
            out: Baseline::default(),
        };
        rig.iteration().await?;
        rig.out = Baseline::default();
        Ok(rig)
    }

    /// Times `n` SCRAM-SHA-256 verifiers.
    pub fn scram(&mut self, n: usize) {
        for _ in 0..n {
            let started = Instant::now();
            std::hint::black_box(postgres_protocol::password::scram_sha_256(
                std::hint::black_box(b"bench-not-a-secret"),
            ));
            self.out.scram.push(started.elapsed());
        }
    }

    /// One minimal rotation, timed per operation, per step and in all.
    pub async fn iteration(&mut self) -> BenchResult<()> {
        let Rig {
            stack,
            id,
            admin_arn,
            client,
            previous_log,
            out,
        } = self;
        let (id, admin_arn, client, port) = (&*id, &*admin_arn, &*client, stack.postgres.port);
        let cpu_before = cpu_time_of("self");
        let token = stack.emulator.stage_rotation(id).await;
        let mut step_times = [Duration::ZERO; 4];
        let started = Instant::now();

        // createSecret
        let step = Instant::now();
        timed(out, DESCRIBE, describe(client, id)).await?;
        let current = timed(out, GET, value(client, id, Version::Current)).await?;
        timed(out, PUT, async {
            client
                .put_secret_value()
                .secret_id(id)
                .client_request_token(&token)
                .secret_string(&current)
                .version_stages("AWSPENDING")
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("PutSecretValue: {}", DisplayErrorContext(e)).into())
        })
        .await?;
        // The rotation log: drop the oldest entry, write this rotation's.
        if let Some(oldest) = previous_log.take() {
            timed(out, UNTAG, async {
                client
                    .untag_resource()
                    .secret_id(id)
                    .tag_keys(oldest)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("UntagResource: {}", DisplayErrorContext(e)).into())
            })
            .await?;
        }
        let log_key = format!("{}{token}", rotation::rotation_log::LOG_TAG_PREFIX);
        timed(out, TAG, async {
            client
                .tag_resource()
                .secret_id(id)
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(&log_key)
                        .value("2026-01-01T00:00:00Z schedule by=schedule")
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("TagResource: {}", DisplayErrorContext(e)).into())
        })
        .await?;
        *previous_log = Some(log_key);
        step_times[0] = step.elapsed();

        // setSecret
        let step = Instant::now();
        timed(out, DESCRIBE, describe(client, id)).await?;
        let pending = timed(out, GET, value(client, id, Version::Id(&token))).await?;
        let current = timed(out, GET, value(client, id, Version::Current)).await?;
        let master = timed(out, GET, value(client, admin_arn, Version::Current)).await?;
        let (user, user_password) = login_of(&pending)?;
        let (current_user, current_password) = login_of(&current)?;
        let (admin, admin_password) = login_of(&master)?;
        let unknown = generate_password(32);
        if timed(out, REFUSED, pg_login(port, &user, &unknown)).await? {
            return Err("baseline: a random password logged in".into());
        }
        // Proof of possession: the current credential logs in before the admin acts.
        expect_login(timed(out, LOGIN, pg_login(port, &current_user, &current_password)).await?)?;
        expect_login(timed(out, LOGIN, pg_login(port, &admin, &admin_password)).await?)?;
        step_times[1] = step.elapsed();

        // testSecret
        let step = Instant::now();
        timed(out, DESCRIBE, describe(client, id)).await?;
        timed(out, GET, value(client, id, Version::Id(&token))).await?;
        expect_login(timed(out, LOGIN, pg_login(port, &user, &user_password)).await?)?;
        step_times[2] = step.elapsed();

        // finishSecret
        let step = Instant::now();
        let versions = timed(out, DESCRIBE, describe(client, id)).await?;
        timed(out, GET, value(client, id, Version::Id(&token))).await?;
        let old = versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(version, _)| version.clone())
            .ok_or("baseline: no AWSCURRENT version")?;
        let update = |stage: &'static str, to: Option<String>, from: String| {
            let request = client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage(stage)
                .set_move_to_version_id(to)
                .remove_from_version_id(from);
            async move {
                request.send().await.map(drop).map_err(|e| {
                    format!("UpdateSecretVersionStage: {}", DisplayErrorContext(e)).into()
                })
            }
        };
        timed(out, UPDATE, update("AWSCURRENT", Some(token.clone()), old)).await?;
        timed(out, UPDATE, update("AWSPENDING", None, token.clone())).await?;
        step_times[3] = step.elapsed();

        out.total.push(started.elapsed());
        if let (Some(before), Some(after)) = (cpu_before, cpu_time_of("self")) {
            out.cpu += after.saturating_sub(before);
        }
        for (samples, time) in out.steps.iter_mut().zip(step_times) {
            samples.push(time);
        }
        Ok(())
    }
}

async fn timed<T>(
    out: &mut Baseline,
    op: &'static str,
    work: impl Future<Output = BenchResult<T>>,
) -> BenchResult<T> {
    let started = Instant::now();
    let result = work.await;
    out.ops.entry(op).or_default().push(started.elapsed());
    result
}

enum Version<'a> {
    Current,
    Id(&'a str),
}

async fn describe(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> BenchResult<Vec<(String, Vec<String>)>> {
    let out = client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| format!("DescribeSecret: {}", DisplayErrorContext(e)))?;
    Ok(out
        .version_ids_to_stages()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

async fn value(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    version: Version<'_>,
) -> BenchResult<String> {
    let request = client.get_secret_value().secret_id(id);
    let request = match version {
        Version::Current => request.version_stage("AWSCURRENT"),
        Version::Id(token) => request.version_id(token),
    };
    let out = request
        .send()
        .await
        .map_err(|e| format!("GetSecretValue: {}", DisplayErrorContext(e)))?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| "GetSecretValue: no SecretString".into())
}

fn login_of(raw: &str) -> BenchResult<(String, SecretString)> {
    let value: Value = serde_json::from_str(raw).map_err(|_| "baseline: a value is not JSON")?;
    match (value["username"].as_str(), value["password"].as_str()) {
        (Some(user), Some(password)) => {
            Ok((user.to_owned(), SecretString::from(password.to_owned())))
        }
        _ => Err("baseline: a value lacks username or password".into()),
    }
}

fn expect_login(ok: bool) -> BenchResult<()> {
    if ok {
        Ok(())
    } else {
        Err("baseline: a login that must work was refused".into())
    }
}
