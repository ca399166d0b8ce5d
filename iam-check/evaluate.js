#!/usr/bin/env node
// Evaluates the AWS requests the IAM proof (tests/src/iam.rs) builds from recorded calls against
// the IAM policies Terraform rendered, with @cloud-copilot/iam-simulate (pinned exactly: the shim
// below reaches into its internals). Test-only; never shipped.
//
// Usage: node evaluate.js <input.json> [--explain]
// input: {
//   "policies": { "<name>": <policy document>, ... },
//   "requests": [ {
//     "id": "...", "principal": "arn:aws:iam::111122223333:role/x",
//     "action": "service:Action", "resource": "<arn or *>", "accountId": "<resource account>",
//     "context": { "<key>": "string" | ["strings"] },
//     "identityPolicies": ["<name>", ...],      // attached to the principal
//     "resourcePolicy": "<name>"                // optional: e.g. the KMS key policy
//   } ] }
// output (stdout): a JSON array with one verdict per request, in input order.
// exit status: 0 all requests simulated, 2 some request could not be simulated (invalid action,
// resource type, policy syntax), 1 crash.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const sim = require('@cloud-copilot/iam-simulate');
const { runSimulation, getGrantReasons, getDenialReasons } = sim;

// --- Shim for @cloud-copilot/iam-simulate 0.1.173 --------------------------------------------
// runSimulation() drops request context keys of the form "kms:EncryptionContext:<name>" as "not
// applicable to the action": its matcher for variable keys (listHasVariableKeyMatch) only knows
// "prefix/<name>" keys such as aws:ResourceTag/<tag>. The core engine evaluates them correctly.
// Wrap the (exported, writable) allowedContextKeysForRequest so that, when the action allows
// kms:EncryptionContext:${EncryptionContextKey}, the request's concrete keys are allowed too.
const contextKeysModule = require(path.join(path.dirname(require.resolve('@cloud-copilot/iam-simulate')), 'simulation_engine', 'contextKeys.js'));
const originalAllowed = contextKeysModule.allowedContextKeysForRequest;
let currentContextKeys = [];
contextKeysModule.allowedContextKeysForRequest = async (...args) => {
  const keys = await originalAllowed(...args);
  if (keys.includes('kms:encryptioncontext:${encryptioncontextkey}')) {
    for (const k of currentContextKeys) if (/^kms:encryptioncontext:./i.test(k)) keys.push(k.toLowerCase());
  }
  return keys;
};
// normalizeContextKeyCase() then renames such a key to the literal spec name
// "kms:EncryptionContext:${EncryptionContextKey}" (replaceVariableInContextKey, same '/'-only
// logic), so the condition would see the key as missing: keep the request's own name instead.
const keyCaseModule = require(path.join(path.dirname(require.resolve('@cloud-copilot/iam-simulate')), 'context_keys', 'contextKeys.js'));
const originalNormalize = keyCaseModule.normalizeContextKeyCase;
keyCaseModule.normalizeContextKeyCase = async (key) => {
  const m = /^kms:encryptioncontext:(.+)$/i.exec(key);
  return m ? `kms:EncryptionContext:${m[1]}` : originalNormalize(key);
};
// ----------------------------------------------------------------------------------------------

function conditionProblems(analysis) {
  // Conditions of statements whose action and resource matched but whose condition did not.
  const out = [];
  for (const part of ['identityAnalysis', 'resourceAnalysis']) {
    const a = analysis[part];
    if (!a) continue;
    for (const s of [...a.unmatchedStatements, ...a.allowStatements, ...a.denyStatements]) {
      const e = s.explain;
      if (!e.actionMatch || !e.resourceMatch) continue;
      for (const c of e.conditions ?? []) {
        if (c.matches) continue;
        out.push({
          policy: s.policyId, sid: e.identifier, effect: e.effect, operator: c.operator, key: c.conditionKeyValue,
          reason: c.missingOperator ? 'unknownOperator' : c.failedBecauseMissing ? 'keyMissing'
            : c.failedBecauseArray ? 'arrayForSingleValuedKey' : 'valueMismatch',
        });
      }
    }
  }
  return out;
}

async function evaluateOne(policies, req, explain) {
  const policy = (name) => {
    if (!(name in policies)) throw new Error(`request ${req.id}: unknown policy ${name}`);
    return policies[name];
  };
  const simulation = {
    request: {
      principal: req.principal,
      action: req.action,
      resource: { resource: req.resource, accountId: req.accountId },
      contextVariables: req.context ?? {},
    },
    identityPolicies: (req.identityPolicies ?? []).map((name) => ({ name, policy: policy(name) })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(req.resourcePolicy ? { resourcePolicy: policy(req.resourcePolicy) } : {}),
  };
  currentContextKeys = Object.keys(simulation.request.contextVariables);
  // runSimulation silently keeps only the first element of an array given for a single-valued
  // key: refuse that instead, the recorder has a bug.
  const typeErrors = [];
  for (const [key, value] of Object.entries(simulation.request.contextVariables)) {
    let type;
    try { type = await sim.typeForContextKey(key); } catch { continue; } // unknown keys: reported as ignored
    if (Array.isArray(value) !== sim.isConditionKeyArray(type)) typeErrors.push(`${key} is ${type}, got ${Array.isArray(value) ? 'an array' : 'a string'}`);
  }
  if (typeErrors.length) return { id: req.id, decision: 'Error', errors: { message: 'context.type', details: typeErrors } };
  const res = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (res.resultType === 'error') return { id: req.id, decision: 'Error', errors: res.errors };
  // A wildcard in the resource of an action that has resource-level permissions makes the
  // simulator answer "is there ANY resource the policies allow?" (Allowed if one pattern is):
  // not what AWS does with a concrete call. The recorder must give the concrete ARN.
  if (res.resultType === 'wildcard' && !(await sim.isWildcardOnlyAction(...req.action.split(':')))) {
    return { id: req.id, decision: 'Error', errors: { message: 'wildcard.resource', details: [`${req.action} on ${req.resource}: give the concrete resource ARN`] } };
  }
  const results = res.resultType === 'single' ? [res.result] : res.results;
  const verdict = { id: req.id, decision: res.overallResult, identityDecision: undefined, allowedBy: [], deniedBy: [], ignoredContextKeys: [], failedConditions: [] };
  for (const r of results) {
    // what the identity policies alone decide (the overall decision also needs, e.g., a KMS key policy)
    verdict.identityDecision = r.analysis.identityAnalysis?.result;
    for (const g of getGrantReasons(r.analysis)) verdict.allowedBy.push({ policyType: g.policyType, policy: g.policyIdentifier, sid: g.statementId, index: g.statementIndex });
    verdict.deniedBy.push(...getDenialReasons(r.analysis));
    verdict.ignoredContextKeys.push(...(r.ignoredContextKeys ?? []));
    verdict.failedConditions.push(...conditionProblems(r.analysis));
    if (explain) (verdict.analysis ??= []).push(r.analysis);
  }
  return verdict;
}

// A request the shim exists for: Secrets Manager decrypting for the caller with the secret's ARN as
// encryption context. If the evaluator's internals move, this stops being Allowed.
async function selfCheck() {
  const account = '111122223333';
  const secret = `arn:aws:secretsmanager:us-east-1:${account}:secret:canary-AbCdEf`;
  const key = `arn:aws:kms:us-east-1:${account}:key/00000000-0000-0000-0000-000000000001`;
  const policies = {
    role: { Version: '2012-10-17', Statement: [{ Sid: 'Canary', Effect: 'Allow', Action: 'kms:Decrypt', Resource: key,
      Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:SecretARN': `arn:aws:secretsmanager:us-east-1:${account}:secret:*` } } }] },
    key: { Version: '2012-10-17', Statement: [{ Sid: 'EnableIamPolicies', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }] },
  };
  const request = (context) => ({ id: 'canary', principal: `arn:aws:iam::${account}:role/canary`, action: 'kms:Decrypt', resource: key,
    accountId: account, context, identityPolicies: ['role'], resourcePolicy: 'key' });
  const allowed = await evaluateOne(policies, request({ 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com', 'kms:EncryptionContext:SecretARN': secret }), false);
  const denied = await evaluateOne(policies, request({ 'kms:ViaService': 'ssm.us-east-1.amazonaws.com', 'kms:EncryptionContext:SecretARN': secret }), false);
  const ok = allowed.decision === 'Allowed' && allowed.ignoredContextKeys.length === 0 && denied.decision === 'ImplicitlyDenied';
  console.log(`iam-simulate self-check: ${ok ? 'ok' : 'FAILED'} (via Secrets Manager: ${allowed.decision}, via SSM: ${denied.decision})`);
  if (!ok) process.exitCode = 1;
}

async function main() {
  const [file, flag] = process.argv.slice(2);
  if (file === '--self-check') return selfCheck();
  const input = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = [];
  for (const req of input.requests) out.push(await evaluateOne(input.policies, req, flag === '--explain'));
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  if (out.some((v) => v.decision === 'Error')) process.exitCode = 2;
}
main().catch((e) => { console.error(e); process.exit(1); });
