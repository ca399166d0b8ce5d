//! The IAM proof itself, on its committed input (tests/fixtures/iam-proof.json, written by
//! `make e2e` from a real deployment's policies and recorded calls): it holds as committed, and it
//! fails when any statement that allows a recorded call is removed from a function's policy, when
//! a function calls an action its policy lacks, and when the evaluator cannot evaluate a request.
//! Needs node and iam-check's packages (`make deps`).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use testkit::iam::{ContextValue, Expect, Principal, Proof, Verdict};

fn committed() -> Proof {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/iam-proof.json");
    let text = std::fs::read_to_string(path).expect("tests/fixtures/iam-proof.json");
    serde_json::from_str(&text).expect("the committed proof parses")
}

fn principal(proof: &Proof, kind: &str) -> Principal {
    let case = proof
        .cases
        .iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| panic!("a case of {kind}"));
    Principal {
        kind: kind.into(),
        role_arn: case.request.principal.clone(),
        policies: case.request.identity_policies.clone(),
    }
}

#[test]
fn the_committed_proof_holds_for_every_function() {
    let proof = committed();
    let verdicts = proof.evaluate();
    assert_eq!(proof.problems(&verdicts), Vec::<String>::new());
    for kind in ["postgres", "redis", "jwt", "monitor", "operator"] {
        for expect in [Expect::Allowed, Expect::Denied] {
            let n = proof
                .cases
                .iter()
                .filter(|c| c.kind == kind && c.expect == expect)
                .count();
            assert!(n > 0, "{kind}: no {expect:?} case in the committed proof");
        }
    }
}

/// Removes the statement `sid` from the policy `name` of `proof`.
fn without(proof: &Proof, name: &str, sid: &str) -> Value {
    let mut policy = proof.policies[name].clone();
    let statements = policy["Statement"].as_array_mut().expect("statements");
    let before = statements.len();
    statements.retain(|s| s["Sid"] != sid);
    assert_eq!(statements.len(), before - 1, "{name} has one {sid}");
    policy
}

/// The identity statements that allow a case, as (policy name, Sid).
type Grants = Vec<(String, String)>;

#[test]
fn removing_any_statement_that_allows_a_call_fails_the_proof() {
    let proof = committed();
    let verdicts = proof.evaluate();
    // The statements that allow each call (the operators' role has the same statement in each
    // function's policy), and the calls they allow.
    let mut needed: BTreeMap<Grants, Vec<usize>> = BTreeMap::new();
    for (i, (case, verdict)) in proof.cases.iter().zip(&verdicts).enumerate() {
        if case.expect == Expect::Allowed {
            let grants: Grants = (verdict.allowed_by.iter())
                .filter(|g| g.policy_type == "identity")
                .map(|g| {
                    let policy = g.policy.clone().expect("the allowing policy's name");
                    (policy, g.sid.clone().expect("the allowing statement's Sid"))
                })
                .collect();
            assert!(!grants.is_empty(), "nothing allows {:?}", case.request);
            needed.entry(grants).or_default().push(i);
        }
    }
    assert!(
        needed.len() >= 10,
        "statements exercised: {:?}",
        needed.keys()
    );
    // One evaluator run over every mutant: the policies without the statements that allow a
    // call, with the calls they allowed.
    let mut mutants = Proof {
        policies: proof.policies.clone(),
        cases: Vec::new(),
    };
    let mut owners = Vec::new();
    for (grants, cases) in &needed {
        let mut renamed = BTreeMap::new();
        for (policy, sid) in grants {
            let name = format!("{policy} without {sid}");
            mutants
                .policies
                .insert(name.clone(), without(&proof, policy, sid));
            renamed.insert(policy.clone(), name);
        }
        for &i in cases {
            let mut case = proof.cases[i].clone();
            for attached in &mut case.request.identity_policies {
                if let Some(name) = renamed.get(attached) {
                    attached.clone_from(name);
                }
            }
            case.request.id = format!("{}", mutants.cases.len());
            mutants.cases.push(case);
            owners.push(grants.clone());
        }
    }
    let verdicts: Vec<Verdict> = mutants.evaluate();
    for ((grants, case), verdict) in owners.iter().zip(&mutants.cases).zip(&verdicts) {
        let alone = Proof {
            policies: BTreeMap::new(),
            cases: vec![case.clone()],
        };
        let problems = alone.problems(std::slice::from_ref(verdict));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("its policy does not allow it")),
            "without {grants:?}: {} on {} still passes",
            case.request.action,
            case.request.resource
        );
    }
}

#[test]
fn a_call_outside_the_policy_fails_the_proof() {
    let mut proof = committed();
    let jwt = principal(&proof, "jwt");
    let monitor = principal(&proof, "monitor");
    let user = proof
        .cases
        .iter()
        .find(|c| c.kind == "redis" && c.request.action == "elasticache:ModifyUser")
        .map(|c| c.request.resource.clone())
        .expect("the Redis function's ModifyUser");
    let secret = proof
        .cases
        .iter()
        .find(|c| c.kind == "monitor" && c.request.action == "secretsmanager:DescribeSecret")
        .map(|c| c.request.resource.clone())
        .expect("a secret the monitor describes");
    proof.cases.clear();
    let none = BTreeMap::new();
    let calls = [
        (&jwt, "elasticache:ModifyUser", user.as_str()),
        (&monitor, "secretsmanager:GetSecretValue", secret.as_str()),
        (&jwt, "secretsmanager:DeleteSecret", secret.as_str()),
    ];
    for (p, action, resource) in calls {
        let (target, allowed) = ("a call the function starts making", Expect::Allowed);
        proof.push(p, target, allowed, action, resource, none.clone(), None);
    }
    let proof = proof.normalized();
    let problems = proof.problems(&proof.evaluate());
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems
        .iter()
        .all(|p| p.contains("its policy does not allow it")));
}

#[test]
fn a_request_the_evaluator_cannot_evaluate_fails_the_proof_either_way() {
    let mut proof = committed();
    let jwt = principal(&proof, "jwt");
    let secret = proof
        .cases
        .iter()
        .find(|c| {
            c.kind == "jwt"
                && c.expect == Expect::Allowed
                && c.request.action == "secretsmanager:GetSecretValue"
        })
        .map(|c| c.request.clone())
        .expect("the JWT function's GetSecretValue");
    proof.cases.clear();
    // A context key the evaluator does not know for the action: dropped, not evaluated.
    let mut context = secret.context.clone();
    context.insert(
        "secretsmanager:NoSuchKey".into(),
        ContextValue::One("x".into()),
    );
    let target = "its own secret";
    let action = "secretsmanager:GetSecretValue";
    proof.push(
        &jwt,
        target,
        Expect::Allowed,
        action,
        &secret.resource,
        context,
        None,
    );
    // A Deny whose operator is misspelt never applies: the evaluator says "not met".
    let mut misspelt = proof.policies[&jwt.policies[0]].clone();
    misspelt["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "MisspeltDeny", "Effect": "Deny", "Action": "secretsmanager:PutSecretValue",
        "Resource": "*",
        "Condition": {"StringEqualz": {"secretsmanager:resource/AllowRotationLambdaArn": "x"}}
    }));
    proof.policies.insert("misspelt".into(), misspelt);
    let mut with_misspelt = jwt.clone();
    with_misspelt.policies = vec!["misspelt".into()];
    let (action, denied) = ("secretsmanager:PutSecretValue", Expect::Denied);
    proof.push(
        &with_misspelt,
        target,
        denied,
        action,
        &secret.resource,
        secret.context.clone(),
        None,
    );
    let proof = proof.normalized();
    let problems = proof.problems(&proof.evaluate());
    assert!(
        problems.iter().any(|p| p.contains("ignored context keys")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("MisspeltDeny") && p.contains("cannot be evaluated")),
        "{problems:#?}"
    );
}
