//! The IAM proof. The AWS calls the project's own processes make are recorded at the emulator
//! (`iam_call_recorder.py`, when `IAM_CALL_LOG_DIR` is set), turned into the requests IAM
//! evaluates — with the context keys Secrets Manager adds and the KMS calls it makes on the
//! caller's behalf — and evaluated against the policies Terraform rendered, by
//! `@cloud-copilot/iam-simulate` (`iam-check/evaluate.js`, installed by `make deps`).
//!
//! The evaluator has no "cannot evaluate" answer: a context key it does not know for the action is
//! dropped, an unknown condition operator is "not met". Either makes a verdict meaningless, so both
//! are problems here, whichever way the verdict went.

use crate::process::{find_program, fresh_dir};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The emulator's account.
pub const ACCOUNT: &str = "123456789012";
/// Where `make test` has the emulators write the calls they record (unset: nothing is recorded).
pub const CALL_LOG_DIR_VAR: &str = "IAM_CALL_LOG_DIR";
const PRINCIPAL_PREFIX: &str = "iam-principal:";

/// The session token a process started by the kit presents (Lambda gives every function one):
/// how the recorder tells whose call it is. `program` is the binary's file name.
pub fn principal_token(binary: &Path, name: &str) -> String {
    let program = binary.file_name().map_or_else(
        || binary.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    format!("{PRINCIPAL_PREFIX}{program}:{name}")
}

/// A new file for one emulator's recorded calls, when `IAM_CALL_LOG_DIR` is set.
pub fn new_call_log() -> io::Result<Option<PathBuf>> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = std::env::var_os(CALL_LOG_DIR_VAR).map(PathBuf::from) else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let stem = exe
        .file_stem()
        .map_or_else(|| "test".into(), |s| s.to_string_lossy().into_owned());
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    Ok(Some(
        dir.join(format!("{stem}-{}-{n}.jsonl", std::process::id())),
    ))
}

/// One call as the recorder wrote it: identifiers only, never a value.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordedCall {
    /// `<program>:<function name>`.
    pub principal: String,
    pub service: String,
    pub action: String,
    pub region: String,
    /// The ARN the call names, `*` when it names none, `None` when it could not be resolved.
    pub resource: Option<String>,
    pub rotation_lambda_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
    /// RotateSecret's `RotationLambdaARN`, when the request sets one.
    #[serde(default)]
    pub requested_rotation_lambda_arn: Option<String>,
    pub status: Option<u16>,
    pub unresolved: Option<String>,
}

impl RecordedCall {
    /// The binary's file name (`secret-rotation-postgres`, `bootstrap`, `rotationctl`).
    pub fn program(&self) -> &str {
        self.principal.split_once(':').map_or("", |(p, _)| p)
    }

    /// The name it ran as (`AWS_LAMBDA_FUNCTION_NAME`).
    pub fn function_name(&self) -> &str {
        self.principal.split_once(':').map_or("", |(_, n)| n)
    }

    /// `service:Action`, as policies name it.
    pub fn iam_action(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }

    /// A call no policy governs: STS GetCallerIdentity needs no permission, and an explicit deny
    /// cannot refuse it (AWS STS API reference). rotationctl asks it who the requester is.
    pub fn needs_no_permission(&self) -> bool {
        self.iam_action() == "sts:GetCallerIdentity"
    }
}

/// Every call recorded in the `.jsonl` files of `dir` whose name passes `keep`.
pub fn read_calls(dir: &Path, keep: impl Fn(&str) -> bool) -> io::Result<Vec<RecordedCall>> {
    let mut calls = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .filter(|p| p.file_name().is_some_and(|n| keep(&n.to_string_lossy())))
        .collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(&file)?.lines() {
            let call = serde_json::from_str(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", file.display()),
                )
            })?;
            calls.push(call);
        }
    }
    Ok(calls)
}

/// One request as IAM evaluates it (the input format of `iam-check/evaluate.js`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub id: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub account_id: String,
    pub context: BTreeMap<String, ContextValue>,
    pub identity_policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource_policy: Option<String>,
}

/// A request context value: single-valued keys take a string, multivalued ones a list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(untagged)]
pub enum ContextValue {
    One(String),
    Many(Vec<String>),
}

/// Whom a recorded call is evaluated as: the role and its policies' names in [`Proof::policies`].
#[derive(Debug, Clone)]
pub struct Principal {
    /// `postgres`, `redis`, `jwt`, `monitor`, `operator`: the table's first column.
    pub kind: String,
    pub role_arn: String,
    pub policies: Vec<String>,
}

/// What the proof expects of a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expect {
    Allowed,
    Denied,
}

/// One request, what it must be, and how the table describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Case {
    pub kind: String,
    /// e.g. "its own secret", "the admin secret", "another function's secret".
    pub target: String,
    pub expect: Expect,
    pub request: Request,
}

/// The policies by name and the cases: the whole input of one proof.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Proof {
    pub policies: BTreeMap<String, Value>,
    pub cases: Vec<Case>,
}

/// The KMS call Secrets Manager makes for the caller on a secret encrypted with a customer key.
fn kms_action_for(action: &str) -> Option<&'static str> {
    match action {
        "GetSecretValue" => Some("kms:Decrypt"),
        "PutSecretValue" => Some("kms:GenerateDataKey"),
        _ => None,
    }
}

/// The name of a KMS key's policy in [`Proof::policies`].
pub fn key_policy_name(key_arn: &str) -> String {
    format!("key-policy {key_arn}")
}

impl Proof {
    /// The requests one recorded call makes IAM evaluate: the call, with the context keys the
    /// service adds (the secret's rotation function, the tag keys), and for a secret under a
    /// customer key the KMS call Secrets Manager makes on the caller's behalf. `Err` for a call
    /// the recorder could not resolve (the proof cannot say what IAM would do with it).
    pub fn add_call(
        &mut self,
        call: &RecordedCall,
        principal: &Principal,
        target: &str,
        expect: Expect,
    ) -> Result<(), String> {
        let resource = call.resource.clone().ok_or_else(|| {
            format!(
                "{} {} names a resource the recorder could not resolve",
                principal.kind,
                call.iam_action()
            )
        })?;
        let mut context = BTreeMap::new();
        if let Some(lambda) = &call.rotation_lambda_arn {
            context.insert(
                "secretsmanager:resource/AllowRotationLambdaArn".into(),
                ContextValue::One(lambda.clone()),
            );
        }
        if let Some(keys) = &call.tag_keys {
            // A rotation log entry's key names its version, a new UUID each run: one stable
            // placeholder keeps the proof's input the same from run to run. It matches the same
            // `rotation:log:*` patterns any version id does.
            let keys = keys
                .iter()
                .map(
                    |key| match key.strip_prefix(rotation::rotation_log::LOG_TAG_PREFIX) {
                        Some(_) => format!("{}version", rotation::rotation_log::LOG_TAG_PREFIX),
                        None => key.clone(),
                    },
                )
                .collect();
            context.insert("aws:TagKeys".into(), ContextValue::Many(keys));
        }
        if let Some(lambda) = &call.requested_rotation_lambda_arn {
            context.insert(
                "secretsmanager:RotationLambdaARN".into(),
                ContextValue::One(lambda.clone()),
            );
        }
        let action = call.iam_action();
        self.push(principal, target, expect, &action, &resource, context, None);
        // RotateSecret also needs the caller's lambda:InvokeFunction on the rotation function.
        let function =
            (call.requested_rotation_lambda_arn.as_ref()).or(call.rotation_lambda_arn.as_ref());
        if let (true, Some(function)) = (call.action == "RotateSecret", function) {
            let target = format!("the rotation function of {target}");
            let action = "lambda:InvokeFunction";
            self.push(
                principal,
                &target,
                expect,
                action,
                function,
                BTreeMap::new(),
                None,
            );
        }
        let customer_key = call
            .kms_key_arn
            .as_deref()
            .filter(|k| k.starts_with("arn:") && k.contains(":key/"));
        if let (Some(kms_action), Some(key)) = (kms_action_for(&call.action), customer_key) {
            let context = BTreeMap::from([
                (
                    "kms:ViaService".to_owned(),
                    ContextValue::One(format!("secretsmanager.{}.amazonaws.com", call.region)),
                ),
                (
                    "kms:EncryptionContext:SecretARN".to_owned(),
                    ContextValue::One(resource.clone()),
                ),
            ]);
            let target = format!("the KMS key of {target}, through Secrets Manager");
            let policy = key_policy_name(key);
            self.push(
                principal,
                &target,
                expect,
                kms_action,
                key,
                context,
                Some(policy),
            );
        }
        Ok(())
    }

    /// Adds one request as given (the must-be-denied list, KMS calls made directly).
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        principal: &Principal,
        target: &str,
        expect: Expect,
        action: &str,
        resource: &str,
        context: BTreeMap<String, ContextValue>,
        resource_policy: Option<String>,
    ) {
        let request = Request {
            id: String::new(),
            principal: principal.role_arn.clone(),
            action: action.into(),
            resource: resource.into(),
            account_id: ACCOUNT.into(),
            context,
            identity_policies: principal.policies.clone(),
            resource_policy,
        };
        let case = Case {
            kind: principal.kind.clone(),
            target: target.into(),
            expect,
            request,
        };
        if !self.cases.contains(&case) {
            self.cases.push(case);
        }
    }

    /// Sorted, numbered cases: the same calls give the same proof whatever order they came in.
    pub fn normalized(mut self) -> Self {
        self.cases.sort();
        self.cases.dedup();
        for (i, case) in self.cases.iter_mut().enumerate() {
            case.request.id = format!("{i}");
        }
        self
    }

    /// Runs the evaluator once over every case. Panics when node or the evaluator cannot run:
    /// the proof never passes by not running.
    pub fn evaluate(&self) -> Vec<Verdict> {
        let node = find_program("NODE", &["node"], &[]).unwrap_or_else(|e| panic!("{e}"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../iam-check/evaluate.js");
        let dir = fresh_dir("iam-proof").expect("a temporary directory");
        let input = dir.join("input.json");
        let requests: Vec<&Request> = self.cases.iter().map(|c| &c.request).collect();
        let body = serde_json::json!({"policies": self.policies, "requests": requests});
        std::fs::write(&input, body.to_string()).expect("writing the evaluator's input");
        let output = Command::new(node)
            .arg(&script)
            .arg(&input)
            .output()
            .expect("node runs");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            output.status.code().is_some_and(|c| c == 0 || c == 2),
            "iam-check/evaluate.js failed ({:?}; run `make deps`): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let verdicts: Vec<Verdict> =
            serde_json::from_slice(&output.stdout).expect("the evaluator's verdicts");
        assert_eq!(verdicts.len(), self.cases.len(), "one verdict per request");
        verdicts
    }

    /// What is wrong, one line per case: a recorded call denied, a call that must be denied
    /// allowed, a verdict the evaluator could not reach. Empty when the proof holds.
    pub fn problems(&self, verdicts: &[Verdict]) -> Vec<String> {
        let mut problems = Vec::new();
        for (case, verdict) in self.cases.iter().zip(verdicts) {
            let r = &case.request;
            let what = format!(
                "{}: {} on {} ({})",
                case.kind, r.action, r.resource, case.target
            );
            if verdict.decision == "Error" {
                problems.push(format!("{what}: not evaluated: {}", verdict.errors));
                continue;
            }
            if !verdict.ignored_context_keys.is_empty() {
                problems.push(format!(
                    "{what}: the evaluator ignored context keys {:?}",
                    verdict.ignored_context_keys
                ));
            }
            for c in &verdict.failed_conditions {
                if c.reason == "unknownOperator" || c.reason == "arrayForSingleValuedKey" {
                    problems.push(format!(
                        "{what}: statement {:?}: condition {} on {} cannot be evaluated ({})",
                        c.sid, c.operator, c.key, c.reason
                    ));
                }
            }
            let allowed = verdict.decision == "Allowed";
            match (case.expect, allowed) {
                (Expect::Allowed, false) => problems.push(format!(
                    "{what}: {} — the function makes this call and its policy does not allow it",
                    verdict.decision
                )),
                (Expect::Denied, true) => problems.push(format!(
                    "{what}: Allowed by {:?} — it must be denied",
                    verdict.allowing_sids()
                )),
                _ => {}
            }
        }
        problems
    }

    /// The committed table: per function, each action it was seen to call on each kind of
    /// resource and the statement that allows it; then the calls proven denied.
    pub fn table(&self, verdicts: &[Verdict]) -> String {
        let mut allowed: BTreeSet<(String, String, String, String)> = BTreeSet::new();
        let mut denied: BTreeSet<(String, String, String, String)> = BTreeSet::new();
        for (case, verdict) in self.cases.iter().zip(verdicts) {
            let row = (
                case.kind.clone(),
                case.request.action.clone(),
                case.target.clone(),
                match case.expect {
                    Expect::Allowed => verdict.allowing_sids().join(", "),
                    Expect::Denied => verdict.decision.clone(),
                },
            );
            match case.expect {
                Expect::Allowed => allowed.insert(row),
                Expect::Denied => denied.insert(row),
            };
        }
        let mut out = String::from(
            "## Every call the functions made, and the statement that allows it\n\n\
             | Function | Action | On | Allowed by |\n|---|---|---|---|\n",
        );
        for (kind, action, target, sids) in &allowed {
            out.push_str(&format!("| {kind} | `{action}` | {target} | {sids} |\n"));
        }
        out.push_str(
            "\n## Calls proven denied\n\n| Function | Action | On | Decision |\n|---|---|---|---|\n",
        );
        for (kind, action, target, decision) in &denied {
            out.push_str(&format!(
                "| {kind} | `{action}` | {target} | {decision} |\n"
            ));
        }
        out
    }
}

/// The evaluator's answer for one request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub id: String,
    /// `Allowed`, `ImplicitlyDenied`, `ExplicitlyDenied` or `Error`.
    pub decision: String,
    #[serde(default)]
    pub allowed_by: Vec<Grant>,
    #[serde(default)]
    pub ignored_context_keys: Vec<String>,
    #[serde(default)]
    pub failed_conditions: Vec<FailedCondition>,
    #[serde(default)]
    pub errors: Value,
}

impl Verdict {
    /// The Sids of the identity-policy statements that allow it (the key policy's are not the
    /// function's to keep).
    pub fn allowing_sids(&self) -> Vec<String> {
        let mut sids: Vec<String> = self
            .allowed_by
            .iter()
            .filter(|g| g.policy_type == "identity")
            .map(|g| g.sid.clone().unwrap_or_else(|| "(no Sid)".into()))
            .collect();
        sids.sort();
        sids.dedup();
        sids
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    #[serde(default)]
    pub policy_type: String,
    /// The name of the policy in [`Proof::policies`].
    pub policy: Option<String>,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FailedCondition {
    pub sid: Option<String>,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub key: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, kms: Option<&str>) -> RecordedCall {
        RecordedCall {
            principal: "bootstrap:fn".into(),
            service: "secretsmanager".into(),
            action: action.into(),
            region: "eu-west-1".into(),
            resource: Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf".into()),
            rotation_lambda_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:fn".into()),
            kms_key_arn: kms.map(str::to_owned),
            tag_keys: None,
            requested_rotation_lambda_arn: None,
            status: Some(200),
            unresolved: None,
        }
    }

    fn principal() -> Principal {
        Principal {
            kind: "jwt".into(),
            role_arn: "arn:aws:iam::123456789012:role/fn".into(),
            policies: vec!["role jwt".into()],
        }
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_read_under_a_customer_key_adds_the_decrypt_secrets_manager_makes() {
        let mut proof = Proof::default();
        let read = call("GetSecretValue", Some(KEY));
        proof
            .add_call(&read, &principal(), "its own secret", Expect::Allowed)
            .unwrap();
        assert_eq!(proof.cases.len(), 2);
        let kms = &proof.cases[1].request;
        assert_eq!(
            (kms.action.as_str(), kms.resource.as_str()),
            ("kms:Decrypt", KEY)
        );
        assert_eq!(
            kms.context["kms:ViaService"],
            ContextValue::One("secretsmanager.eu-west-1.amazonaws.com".into())
        );
        assert_eq!(
            kms.context["kms:EncryptionContext:SecretARN"],
            ContextValue::One(read.resource.clone().unwrap())
        );
        assert_eq!(kms.resource_policy, Some(key_policy_name(KEY)));
        let own = &proof.cases[0].request;
        assert_eq!(
            own.context["secretsmanager:resource/AllowRotationLambdaArn"],
            ContextValue::One(read.rotation_lambda_arn.clone().unwrap())
        );
    }

    #[test]
    fn a_write_adds_generate_data_key_and_other_calls_no_kms() {
        let mut proof = Proof::default();
        let p = principal();
        let write = call("PutSecretValue", Some(KEY));
        proof.add_call(&write, &p, "t", Expect::Allowed).unwrap();
        assert_eq!(proof.cases[1].request.action, "kms:GenerateDataKey");
        let mut only_one = Proof::default();
        for c in [
            call("DescribeSecret", Some(KEY)),
            call("GetSecretValue", Some("alias/aws/secretsmanager")),
            call("GetSecretValue", None),
        ] {
            only_one.add_call(&c, &p, "t", Expect::Allowed).unwrap();
        }
        assert!(only_one
            .cases
            .iter()
            .all(|c| !c.request.action.starts_with("kms:")));
    }

    #[test]
    fn an_unresolved_call_cannot_be_proven() {
        let mut unresolved = call("GetSecretValue", None);
        unresolved.resource = None;
        let mut proof = Proof::default();
        assert!(proof
            .add_call(&unresolved, &principal(), "t", Expect::Allowed)
            .is_err());
    }
}
