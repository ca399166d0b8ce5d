"""Records the AWS calls the project's own processes make, for the IAM proof (tests/src/iam.rs).

A process the test kit starts as a function or as rotationctl carries a session token
`iam-principal:<program>:<name>` (Lambda gives every function a session token; the kit's own
calls carry none and are not recorded). For each such request one JSON line is appended to the
file given by `--iam-call-log PATH`: who called, the service and action, the resource the call
names as an ARN, and what IAM conditions read that the request itself does not carry (the secret's
rotation function and KMS key, resolved here from the emulator's state before the call). Only
identifiers are written: never a secret value, a password or a token.
"""

import io
import json
import re
import threading
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

PRINCIPAL = "iam-principal:"
SCOPE = re.compile(r"Credential=[^/\s,]+/\d+/([^/]+)/([^/]+)/aws4_request")
_lock = threading.Lock()
_path = None


def _secret_facts(region, secret_id):
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region].secrets.get(secret_id)
    if secret is None:
        return {"resource": None, "unresolved": secret_id}
    kms = secret.kms_key_id or ""
    if kms and not kms.startswith("arn:") and not kms.startswith("alias/"):
        kms = f"arn:aws:kms:{region}:{DEFAULT_ACCOUNT_ID}:key/{kms}"
    return {
        "resource": secret.arn,
        "rotation_lambda_arn": secret.rotation_lambda_arn or None,
        "kms_key_arn": kms or None,
    }


def _arn(service, region, kind, name):
    if name.startswith("arn:"):
        return name
    sep = "/" if service == "memorydb" else ":"
    return f"arn:aws:{service}:{region}:{DEFAULT_ACCOUNT_ID}:{kind}{sep}{name}"


def _describe(service, region, action, params):
    """The resource (and condition facts) one call names; `*` when it names none."""
    if service == "secretsmanager":
        if "SecretId" in params:
            facts = _secret_facts(region, params["SecretId"])
            if action == "UntagResource":
                facts["tag_keys"] = sorted(params.get("TagKeys") or [])
            if action == "TagResource":
                facts["tag_keys"] = sorted(t.get("Key", "") for t in params.get("Tags") or [])
            if params.get("RotationLambdaARN"):
                facts["requested_rotation_lambda_arn"] = params["RotationLambdaARN"]
            return facts
        return {"resource": "*"}
    if service == "elasticache":
        if params.get("UserId"):
            return {"resource": _arn(service, region, "user", params["UserId"])}
        if params.get("ReplicationGroupId"):
            return {"resource": _arn(service, region, "replicationgroup", params["ReplicationGroupId"])}
        return {"resource": "*"}
    if service == "memorydb":
        if params.get("UserName"):
            return {"resource": _arn(service, region, "user", params["UserName"])}
        return {"resource": "*"}
    if service == "rds":
        if params.get("DBInstanceIdentifier"):
            return {"resource": _arn(service, region, "db", params["DBInstanceIdentifier"])}
        if params.get("DBClusterIdentifier"):
            return {"resource": _arn(service, region, "cluster", params["DBClusterIdentifier"])}
        return {"resource": "*"}
    return {"resource": "*"}


def _params(environ, body):
    if environ.get("HTTP_X_AMZ_TARGET"):
        try:
            parsed = json.loads(body or b"{}")
            return parsed if isinstance(parsed, dict) else {}
        except ValueError:
            return {}
    # The Query protocol: a form; list members as `TagKeys.member.1`, which no rule here reads.
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _record(environ, body):
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
    scope = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not token.startswith(PRINCIPAL) or scope is None:
        return None
    region, service = scope.group(1), scope.group(2)
    params = _params(environ, body)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    action = target.rsplit(".", 1)[-1] if target else params.get("Action", "")
    line = {"principal": token[len(PRINCIPAL):], "service": service, "action": action, "region": region}
    try:
        line.update(_describe(service, region, action, params))
    except Exception as error:  # noqa: BLE001 — an unresolvable call is recorded as such, never dropped
        line.update({"resource": None, "unresolved": f"{type(error).__name__}"})
    return line


def install(argv):
    """Takes `--iam-call-log PATH` out of `argv` (moto's own arguments stay) and, when given,
    records as described above. Call it last: it wraps whatever the other modules installed."""
    global _path
    if "--iam-call-log" not in argv:
        return argv
    at = argv.index("--iam-call-log")
    _path = argv[at + 1]
    rest = argv[:at] + argv[at + 2 :]
    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        # Everything but the project's own processes' calls passes untouched.
        if not environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "").startswith(PRINCIPAL):
            return dispatch(self, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        line = _record(environ, body)
        seen = {}

        def remember(status, headers, *rest):
            seen["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, *rest)

        result = dispatch(self, environ, remember if line else start_response)
        if line is not None:
            line["status"] = seen.get("status")
            with _lock, open(_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, sort_keys=True) + "\n")
        return result

    DomainDispatcherApplication.__call__ = call
    return rest
