//! The IAM half of `make e2e`: every call the deployed functions made during the run, recorded at
//! the emulator, evaluated against the policies Terraform rendered for them (read back from the
//! applied roles and key) together with the calls they must never be allowed to make; then the
//! calls the integration suites recorded, each kind of which must be one proven here.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use testkit::iam::{key_policy_name, ContextValue, Expect, Principal, Proof, RecordedCall};
use testkit::Emulator;

/// The committed table and the committed proof input (the unit tests of the proof run on it).
const TABLE: &str = "docs/iam.md";
const FIXTURE: &str = "tests/fixtures/iam-proof.json";
/// Regenerates both instead of failing when they are stale.
const UPDATE_VAR: &str = "IAM_PROOF_UPDATE";
/// Set by `make test`: the suites' recorded calls must be there.
const SUITES_REQUIRED_VAR: &str = "IAM_SUITE_CALLS_REQUIRED";
/// The role the example gives rotationctl, and the name the test runs rotationctl as.
pub const OPERATOR: &str = "operator";

/// What the apply created, from its outputs.
pub struct Deployment {
    pub prefix: String,
    pub function_names: BTreeMap<String, String>,
    pub function_arns: BTreeMap<String, String>,
    pub role_names: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub admin_secret: Option<String>,
    pub kms_key: String,
    pub redis_user: String,
    /// Secrets the Redis function rotates beyond the example's own, and what they name.
    pub extra_redis_secrets: Vec<String>,
    pub memorydb_user: Option<String>,
    pub replication_group: Option<String>,
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .expect("an object output")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
        .collect()
}

impl Deployment {
    pub fn from_outputs(prefix: &str, out: &BTreeMap<String, Value>) -> Self {
        Self {
            prefix: prefix.into(),
            function_names: string_map(&out["function_names"]),
            function_arns: string_map(&out["function_arns"]),
            role_names: string_map(&out["role_names"]),
            secrets: string_map(&out["secret_arns"]),
            admin_secret: out["postgres_admin_secret_arn"].as_str().map(str::to_owned),
            kms_key: out["kms_key_arn"].as_str().expect("kms_key_arn").into(),
            redis_user: out["redis_user_arn"]
                .as_str()
                .expect("redis_user_arn")
                .into(),
            extra_redis_secrets: Vec::new(),
            memorydb_user: None,
            replication_group: None,
        }
    }

    /// Managed Redis listed in `redis.extra_managed_arns` and the secrets that name it.
    pub fn add_managed_redis(&mut self, secrets: &[String], memorydb_user: &str, group: &str) {
        self.extra_redis_secrets = secrets.to_vec();
        self.memorydb_user = Some(memorydb_user.into());
        self.replication_group = Some(group.into());
    }

    fn kind_of(&self, call: &RecordedCall) -> Option<&str> {
        if call.program() == "rotationctl" {
            return Some(OPERATOR);
        }
        let function_name = call.function_name();
        self.function_names
            .iter()
            .find(|(_, n)| *n == function_name)
            .map(|(k, _)| k.as_str())
    }

    /// How the table names what a call was made on; `None` for what the deployment does not know.
    fn target(&self, kind: &str, call: &RecordedCall) -> Option<String> {
        let resource = call.resource.as_deref()?;
        if resource == "*" {
            return Some("every secret (no resource-level permission)".into());
        }
        let extra = kind == "redis" && self.extra_redis_secrets.iter().any(|s| s == resource);
        if extra || self.secrets.get(kind).is_some_and(|s| s == resource) {
            return Some("its own secret".into());
        }
        if self.admin_secret.as_deref() == Some(resource) {
            return Some("the admin secret".into());
        }
        if kind == "monitor" && self.secrets.values().any(|s| s == resource) {
            return Some("a secret it watches".into());
        }
        if kind == OPERATOR && self.secrets.values().any(|s| s == resource) {
            return Some("a rotated secret".into());
        }
        if kind == OPERATOR && self.function_arns.values().any(|f| f == resource) {
            return Some("a rotation function".into());
        }
        if resource == self.redis_user {
            return Some("the ElastiCache user it rotates".into());
        }
        if self.memorydb_user.as_deref() == Some(resource) {
            return Some("the MemoryDB user it rotates".into());
        }
        if self.replication_group.as_deref() == Some(resource) {
            return Some("the replication group whose AUTH token it rotates".into());
        }
        None
    }
}

/// The roles' inline policies and the secrets' key policy, as the emulator holds them.
fn read_policies(emulator: &Emulator, d: &Deployment, dir: &Path) -> Value {
    let out = dir.join("policies.json");
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json, boto3\n\
             endpoint, out, roles, key = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]\n\
             kw = dict(endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             iam, kms = boto3.client('iam', **kw), boto3.client('kms', **kw)\n\
             result = {'roles': {}, 'key': json.loads(kms.get_key_policy(KeyId=key, PolicyName='default')['Policy'])}\n\
             for kind, role in roles.items():\n\
             \x20   names = sorted(iam.list_role_policies(RoleName=role)['PolicyNames'])\n\
             \x20   attached = [a['PolicyArn'] for a in iam.list_attached_role_policies(RoleName=role)['AttachedPolicies']]\n\
             \x20   result['roles'][kind] = {'arn': iam.get_role(RoleName=role)['Role']['Arn'], 'attached': attached,\n\
             \x20       'inline': {n: iam.get_role_policy(RoleName=role, PolicyName=n)['PolicyDocument'] for n in names}}\n\
             json.dump(result, open(out, 'w'))\n",
        ])
        .arg(emulator.endpoint())
        .arg(&out)
        .arg(serde_json::to_string(&d.role_names).unwrap())
        .arg(&d.kms_key)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "reading the applied policies back");
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

fn principals(policies: &Value, proof: &mut Proof) -> BTreeMap<String, Principal> {
    let mut principals = BTreeMap::new();
    for (kind, role) in policies["roles"].as_object().expect("roles") {
        assert_eq!(
            role["attached"],
            serde_json::json!([]),
            "{kind}: the modules attach no managed policy"
        );
        // By name (sorted when read): the order IAM lists them in is the order
        // Terraform happened to create them.
        let inline = role["inline"].as_object().expect("inline policies");
        // A function's role has its one policy; the operators' role one per function.
        let expected = if kind == OPERATOR { 3 } else { 1 };
        assert_eq!(inline.len(), expected, "{kind}: inline policies");
        let mut names = Vec::new();
        for (name, policy) in inline {
            let name = format!("role {kind}: {name}");
            proof.policies.insert(name.clone(), policy.clone());
            names.push(name);
        }
        let role_arn = role["arn"].as_str().expect("the role's ARN").to_owned();
        principals.insert(
            kind.clone(),
            Principal {
                kind: kind.clone(),
                role_arn,
                policies: names,
            },
        );
    }
    principals
}

fn one(value: &str) -> ContextValue {
    ContextValue::One(value.into())
}

/// The calls no function may make, whatever it was seen to call.
fn must_be_denied(d: &Deployment, principals: &BTreeMap<String, Principal>, proof: &mut Proof) {
    let key_policy = Some(key_policy_name(&d.kms_key));
    let via = |secret: &str| {
        BTreeMap::from([
            (
                "kms:ViaService".to_owned(),
                one("secretsmanager.us-east-1.amazonaws.com"),
            ),
            ("kms:EncryptionContext:SecretARN".to_owned(), one(secret)),
        ])
    };
    let rotated_by = |kind: &str| {
        BTreeMap::from([(
            "secretsmanager:resource/AllowRotationLambdaArn".to_owned(),
            one(&d.function_arns[kind]),
        )])
    };
    let another_key = format!(
        "arn:aws:kms:us-east-1:{}:key/ffffffff-ffff-ffff-ffff-ffffffffffff",
        testkit::iam::ACCOUNT
    );
    for (kind, p) in principals {
        let deny = Expect::Denied;
        for (other, secret) in &d.secrets {
            if other == kind {
                continue;
            }
            let target = match kind.as_str() {
                "monitor" => "a secret it watches",
                OPERATOR => "a rotated secret",
                _ => "another function's secret",
            };
            for action in [
                "GetSecretValue",
                "PutSecretValue",
                "UpdateSecretVersionStage",
            ] {
                let action = format!("secretsmanager:{action}");
                proof.push(p, target, deny, &action, secret, rotated_by(other), None);
            }
            // Not listed: kms:Decrypt through Secrets Manager for another secret. The key grant
            // cannot name a rotation function; Secrets Manager decrypts only for a GetSecretValue
            // IAM allowed, and that is denied just above.
        }
        if let Some(admin) = &d.admin_secret {
            for action in ["PutSecretValue", "UpdateSecretVersionStage", "DeleteSecret"] {
                let action = format!("secretsmanager:{action}");
                proof.push(
                    p,
                    "the admin secret",
                    deny,
                    &action,
                    admin,
                    BTreeMap::new(),
                    None,
                );
            }
            if kind != "postgres" {
                let (action, target) = ("secretsmanager:GetSecretValue", "the admin secret");
                proof.push(p, target, deny, action, admin, BTreeMap::new(), None);
            }
        }
        if kind == OPERATOR {
            operator_must_not(d, p, proof);
        }
        let Some(own) = d.secrets.get(kind) else {
            continue;
        };
        let target = "the KMS key of its own secret, called directly";
        proof.push(
            p,
            target,
            deny,
            "kms:Decrypt",
            &d.kms_key,
            BTreeMap::new(),
            key_policy.clone(),
        );
        let mut via_ssm = via(own);
        via_ssm.insert("kms:ViaService".into(), one("ssm.us-east-1.amazonaws.com"));
        let target = "the KMS key of its own secret, through another service (SSM)";
        proof.push(
            p,
            target,
            deny,
            "kms:Decrypt",
            &d.kms_key,
            via_ssm,
            key_policy.clone(),
        );
        let target = "another KMS key, through Secrets Manager";
        proof.push(
            p,
            target,
            deny,
            "kms:Decrypt",
            &another_key,
            via(own),
            key_policy.clone(),
        );
        let mut other_tag = rotated_by(kind);
        other_tag.insert(
            "aws:TagKeys".into(),
            ContextValue::Many(vec!["owner".into()]),
        );
        let target = "its own secret, a tag not of the rotation";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:UntagResource",
            own,
            other_tag.clone(),
            None,
        );
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:TagResource",
            own,
            other_tag,
            None,
        );
        // A function never asks for a rotation: neither the mode nor who asks.
        let mut request = rotated_by(kind);
        request.insert(
            "aws:TagKeys".into(),
            ContextValue::Many(vec!["rotation:mode".into(), "rotation:requested-by".into()]),
        );
        let target = "its own secret, the request tags";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:TagResource",
            own,
            request,
            None,
        );
        let target = "its own secret";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:DeleteSecret",
            own,
            rotated_by(kind),
            None,
        );
        let unnamed_user = format!(
            "arn:aws:elasticache:us-east-1:{}:user:{}-someone-else",
            testkit::iam::ACCOUNT,
            d.prefix
        );
        let (action, target) = (
            "elasticache:ModifyUser",
            "an ElastiCache user it does not name",
        );
        proof.push(
            p,
            target,
            deny,
            action,
            &unnamed_user,
            BTreeMap::new(),
            None,
        );
        let account = testkit::iam::ACCOUNT;
        let unnamed = [
            (
                "memorydb:UpdateUser",
                format!(
                    "arn:aws:memorydb:us-east-1:{account}:user/{}-someone-else",
                    d.prefix
                ),
                "a MemoryDB user it does not name",
            ),
            (
                "elasticache:ModifyReplicationGroup",
                format!(
                    "arn:aws:elasticache:us-east-1:{account}:replicationgroup:{}-other",
                    d.prefix
                ),
                "a replication group it does not name",
            ),
        ];
        for (action, resource, target) in &unnamed {
            proof.push(p, target, deny, action, resource, BTreeMap::new(), None);
        }
        if kind != "redis" {
            let target = "the Redis function's ElastiCache user";
            proof.push(
                p,
                target,
                deny,
                action,
                &d.redis_user,
                BTreeMap::new(),
                None,
            );
        }
    }
}

/// What rotationctl's policy must not allow: reading or decrypting a value, another tag, pointing a
/// secret at another function, invoking the monitor, deleting.
fn operator_must_not(d: &Deployment, p: &Principal, proof: &mut Proof) {
    let deny = Expect::Denied;
    for (kind, secret) in &d.secrets {
        let rotated_by = BTreeMap::from([(
            "secretsmanager:resource/AllowRotationLambdaArn".to_owned(),
            one(&d.function_arns[kind]),
        )]);
        let via = BTreeMap::from([
            (
                "kms:ViaService".to_owned(),
                one("secretsmanager.us-east-1.amazonaws.com"),
            ),
            ("kms:EncryptionContext:SecretARN".to_owned(), one(secret)),
        ]);
        let (key, key_policy) = (&d.kms_key, Some(key_policy_name(&d.kms_key)));
        let target = "the KMS key of a rotated secret, through Secrets Manager";
        proof.push(p, target, deny, "kms:Decrypt", key, via, key_policy);
        let mut other_tag = rotated_by.clone();
        other_tag.insert(
            "aws:TagKeys".into(),
            ContextValue::Many(vec!["owner".into()]),
        );
        let target = "a rotated secret, a tag not of the request";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:TagResource",
            secret,
            other_tag,
            None,
        );
        // The rotation log is the function's to write: an operator cannot forge an entry.
        let mut log_entry = rotated_by.clone();
        log_entry.insert(
            "aws:TagKeys".into(),
            ContextValue::Many(vec![
                "rotation:log:00000000-0000-0000-0000-000000000000".into()
            ]),
        );
        let target = "a rotated secret, a rotation log entry";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:TagResource",
            secret,
            log_entry,
            None,
        );
        let other_function = d
            .function_arns
            .iter()
            .find(|(k, _)| *k != kind && *k != "monitor");
        let (_, other_function) = other_function.expect("another rotation function");
        let mut repointed = rotated_by.clone();
        repointed.insert(
            "secretsmanager:RotationLambdaARN".into(),
            one(other_function),
        );
        let target = "a rotated secret, pointed at another function";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:RotateSecret",
            secret,
            repointed,
            None,
        );
        let target = "a rotated secret";
        proof.push(
            p,
            target,
            deny,
            "secretsmanager:DeleteSecret",
            secret,
            rotated_by,
            None,
        );
    }
    let (monitor, target) = (&d.function_arns["monitor"], "the monitor function");
    proof.push(
        p,
        target,
        deny,
        "lambda:InvokeFunction",
        monitor,
        BTreeMap::new(),
        None,
    );
}

/// Stable names for what differs from run to run (the prefix, the secrets' random suffixes, the
/// key id), so that the committed files change only when what is proven does.
fn normalize(text: &str, d: &Deployment) -> String {
    let mut text = text.to_owned();
    let secrets = d
        .secrets
        .values()
        .chain(d.admin_secret.iter())
        .chain(&d.extra_redis_secrets);
    for arn in secrets {
        let stable = format!("{}-suffix", &arn[..arn.len() - 7]);
        text = text.replace(arn.as_str(), &stable);
    }
    let key_id = d.kms_key.rsplit('/').next().unwrap_or_default();
    text = text.replace(key_id, "00000000-0000-0000-0000-000000000000");
    text.replace(&d.prefix, "e2e")
}

fn check_committed(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        println!("iam: rewrote {relative}");
        return;
    }
    let differing = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "{relative} is stale (first difference at line {}): what the functions call or what their \
         policies allow changed. Review the change, then regenerate with `{UPDATE_VAR}=1 make e2e`.",
        differing + 1
    );
}

/// The kind of resource a call was made on, as the suites and this run can both say it.
fn resource_kind(call: &RecordedCall) -> String {
    match call.resource.as_deref() {
        None => "an unresolved resource".into(),
        Some("*") => "*".into(),
        Some(_) if call.service == "secretsmanager" && call.rotation_lambda_arn.is_some() => {
            "a secret it rotates".into()
        }
        Some(_) if call.service == "secretsmanager" => "a secret it does not rotate".into(),
        Some(arn) => {
            let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
            let kind = resource.split([':', '/']).next().unwrap_or_default();
            format!("a {} {kind}", call.service)
        }
    }
}

/// `secret-rotation-postgres` → `postgres`; `None` for what is not a function (rotationctl).
fn suite_kind(program: &str) -> Option<&str> {
    program.strip_prefix("secret-rotation-")
}

/// Proves the run's calls and returns the table.
pub fn prove(emulator: &Emulator, d: &Deployment, work: &Path) -> String {
    let log = emulator
        .call_log()
        .expect("the emulator records calls: run through `make e2e` (it sets IAM_CALL_LOG_DIR)");
    let own_log = log.file_name().unwrap().to_string_lossy().into_owned();
    let dir = log.parent().unwrap();
    let calls = testkit::iam::read_calls(dir, |name| name == own_log).expect("the recorded calls");
    let policies = read_policies(emulator, d, work);
    let mut proof = Proof::default();
    let principals = principals(&policies, &mut proof);
    proof
        .policies
        .insert(key_policy_name(&d.kms_key), policies["key"].clone());

    let mut proven: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut unknown = Vec::new();
    for call in calls.iter().filter(|c| !c.needs_no_permission()) {
        let kind = d.kind_of(call).unwrap_or_else(|| {
            panic!(
                "a call by {}, which this run did not deploy",
                call.principal
            )
        });
        match d.target(kind, call) {
            Some(target) => {
                let p = &principals[kind];
                proof.add_call(call, p, &target, Expect::Allowed).unwrap();
                proven.insert((kind.into(), call.iam_action(), resource_kind(call)));
            }
            None => unknown.push(format!(
                "{kind}: {} on {:?}",
                call.iam_action(),
                call.resource
            )),
        }
    }
    assert!(
        unknown.is_empty(),
        "calls on resources the deployment does not know: {unknown:#?}"
    );
    for kind in d.function_names.keys().chain([&OPERATOR.to_owned()]) {
        assert!(
            proven.iter().any(|(k, _, _)| k == kind),
            "no call of {kind} was recorded"
        );
    }
    for (kind, action) in check_suites(dir, &own_log, &proven) {
        let (p, admin) = (&principals[&kind], d.admin_secret.as_deref());
        let admin =
            admin.unwrap_or_else(|| panic!("{kind}: {action} on an admin secret, none deployed"));
        let target = "the admin secret (a call the suites saw)";
        proof.push(
            p,
            target,
            Expect::Allowed,
            &action,
            admin,
            BTreeMap::new(),
            None,
        );
    }
    must_be_denied(d, &principals, &mut proof);
    let proof = proof.normalized();
    let verdicts = proof.evaluate();
    let problems = proof.problems(&verdicts);
    assert!(
        problems.is_empty(),
        "the IAM proof fails:\n{}",
        problems.join("\n")
    );

    let table = format!(
        "# IAM: what each function calls, and the statement that allows it\n\n\
         Generated by `make e2e` (tests/tests/e2e/iam.rs) from the calls the deployed functions made\n\
         while rotating the example's secrets (once on schedule, once in an emergency asked with\n\
         `rotationctl emergency`), and the calls rotationctl made under the example's operator role\n\
         (each function's `operator_policy_json`), evaluated with `@cloud-copilot/iam-simulate`\n\
         against the policies Terraform rendered. A call through Secrets Manager to a secret under a\n\
         customer key also needs the KMS call the service makes on the caller's behalf (the `kms:`\n\
         rows); RotateSecret also needs `lambda:InvokeFunction` on the rotation function. Do not\n\
         edit: `{UPDATE_VAR}=1 make e2e` rewrites it, and `make e2e` fails while it is stale.\n\n{}",
        proof.table(&verdicts)
    );
    check_committed(TABLE, &table);
    let fixture = serde_json::to_string_pretty(&proof).unwrap() + "\n";
    check_committed(FIXTURE, &normalize(&fixture, d));
    table
}

/// Each kind of call a function made in the integration suites must be one this run made too, or
/// one on a secret it does not rotate of a function this deployment gives an admin secret: those
/// are returned (kind, action), to be proven on that admin secret.
fn check_suites(
    dir: &Path,
    own_log: &str,
    proven: &BTreeSet<(String, String, String)>,
) -> Vec<(String, String)> {
    let suite_calls = testkit::iam::read_calls(dir, |name| name != own_log).unwrap();
    if suite_calls.is_empty() {
        assert!(
            std::env::var_os(SUITES_REQUIRED_VAR).is_none(),
            "no calls recorded by the integration suites in {}: `make test` runs them first",
            dir.display()
        );
        println!("iam: no suite calls recorded (run `make test` for the whole proof)");
        return Vec::new();
    }
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut operator: BTreeSet<String> = BTreeSet::new();
    let mut unresolved = 0;
    for call in &suite_calls {
        // A call on a secret that does not exist (the hostile and not-found tests) names no
        // resource a policy could allow: IAM denies it, as the emulator refused it.
        if call.resource.is_none() {
            unresolved += 1;
            continue;
        }
        match suite_kind(call.program()) {
            Some(kind) => {
                *seen
                    .entry((kind.into(), call.iam_action(), resource_kind(call)))
                    .or_default() += 1
            }
            None if call.program() == "rotationctl" => {
                operator.insert(call.iam_action());
            }
            None => {} // another e2e run's deployed functions
        }
    }
    let unproven = seen.keys().filter(|k| !proven.contains(*k));
    let (on_admin, missing): (Vec<_>, Vec<_>) = unproven
        .filter(|k| {
            !NOT_DEPLOYED_BY_THE_EXAMPLE.contains(&(k.0.as_str(), k.1.as_str(), k.2.as_str()))
        })
        .partition(|(kind, _, on)| kind == "postgres" && on == "a secret it does not rotate");
    let missing: Vec<String> = missing
        .into_iter()
        .map(|(kind, action, on)| format!("{kind}: {action} on {on}"))
        .collect();
    println!(
        "iam: {} suite calls ({unresolved} on no existing resource), {} kinds of call, each proven \
         here or listed as not deployed by the example",
        suite_calls.len(),
        seen.len()
    );
    // Not checked against the operator policy: the suites run rotationctl mostly with --local,
    // which acts as the function and needs the function's own permissions.
    println!("iam: rotationctl in the suites (with --local too) called {operator:?}");
    assert!(
        missing.is_empty(),
        "the suites saw functions make calls this proof never evaluated (a new action, or one the \
         e2e deployment does not exercise):\n{}",
        missing.join("\n")
    );
    on_admin
        .into_iter()
        .map(|(kind, action, _)| (kind.clone(), action.clone()))
        .collect()
}

/// Calls the suites make through configurations the e2e example does not deploy. Each is allowed
/// by a statement the module renders only for that configuration; keep this list short.
/// Each entry names the statement that allows it and the suite that makes it.
const NOT_DEPLOYED_BY_THE_EXAMPLE: &[(&str, &str, &str)] = &[
    // ReadPrivilegedSecrets (redis_security): a self-managed Redis admin secret.
    (
        "redis",
        "secretsmanager:GetSecretValue",
        "a secret it does not rotate",
    ),
];
