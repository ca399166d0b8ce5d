"""Lambda beside Secrets Manager rotation, as a test that deploys rotation functions needs it: the
package of a deployed function can be downloaded from GetFunction's Code.Location, RotateSecret
stages a rotation as the service does when the call returns and runs nothing (the test plays the
service's invocation of the four steps), and no function code ever runs in this server: moto never
tries Docker here.

emulator_server.py (moto's server, which the test kit starts) imports this module and calls
install() after managed_redis_emulator.install(): the routes below are answered first and any other
`/_emulator/` path goes on to that module. moto keeps parsing and serialising the Lambda and Secrets
Manager calls (REST-JSON and JSON 1.1, from the botocore models), so every answer keeps its wire
protocol; this module changes what three of moto's functions do.

EMULATED
- GetFunction: for a function whose package is a zip (Code.RepositoryType S3: created or updated
  with ZipFile, or from an S3 object), Code.Location is
  `http://<the request's Host>/_emulator/lambda-code/<account>/<region>/<function name>`, with
  `?Qualifier=<q>` when the call named a qualifier, and that URL serves the bytes moto stored for
  the package (application/zip): the bytes CodeSha256 and CodeSize describe. The service answers a
  presigned S3 URL valid for 10 minutes; moto answers an `awslambda-<region>-tasks` bucket URL that
  resolves nowhere. GetFunctionConfiguration has no Code and is moto's.
- RotateSecret on a secret whose rotation function moto knows (RotationLambdaARN names a function
  created here): the state the service leaves when RotateSecret returns, its asynchronous
  invocation of the function not yet run. That is moto's own staging: RotationLambdaARN and
  RotationRules stored, rotation enabled (AutomaticallyAfterDays > 0), a new version (id = the
  ClientRequestToken, else a fresh UUID) labelled AWSPENDING (the label taken off any other
  version), empty with RotateImmediately true (the default); the answer's VersionId is that
  version. Then nothing is invoked: moto would invoke the function (createSecret .. finishSecret)
  and move the secret's default version to the pending one as if finishSecret had run, so that a
  plain GetSecretValue failed on the empty version; here the default version stays the AWSCURRENT
  one, as in the service, where only finishSecret moves AWSCURRENT.
  Each such call is recorded (GET /_emulator/rotations below): the test finds the token there and
  invokes the steps itself, as the service would.
- RotateSecret without RotationLambdaARN on a secret that has one configured: the configured
  function (the service "starts a rotation with the values already stored in the secret"; moto
  would forget the function and label the empty pending version AWSCURRENT). The rules are kept.
- RotateImmediately false: the service "tests the rotation configuration by running the testSecret
  step of the Lambda rotation function. The test creates an AWSPENDING version of the secret and
  then removes it." Here moto's staging for it (the AWSPENDING version holds a copy of the
  AWSCURRENT value; the default version, and the answer's VersionId, stay AWSCURRENT's), recorded
  with rotate_immediately false, and nothing invoked, so the label stays: a test that plays the
  service invokes testSecret with the recorded token, then removes AWSPENDING
  (UpdateSecretVersionStage).
- RotateSecret with a function moto does not know: moto's behaviour, unchanged (the test kit relies
  on it, see UNKNOWN_ROTATION_LAMBDA in emulator.rs): rotation enabled, the empty AWSPENDING
  version staged, then ResourceNotFoundException. Not recorded.
- No Docker: every path by which moto runs a function's code (Invoke, and the events of SQS, SNS,
  DynamoDB and Kinesis streams, CloudWatch Logs subscriptions, EventBridge) ends in
  LambdaFunction._invoke_lambda, the only place moto's Lambda creates its Docker client. Here it
  starts nothing: the invocation is recorded (GET /_emulator/lambda-invocations) and answered as a
  function error, `{"errorType": "EmulatorRunsNoCode", "errorMessage": ...}` (Invoke: HTTP 200 with
  X-Amz-Function-Error, as moto answers any failed run). During RotateSecret the backend's invoke
  itself is skipped, so a staged rotation records no invocation. (moto's /moto-api/config
  `lambda.use_docker: false` would switch to moto's LambdaSimpleBackend, which runs nothing either
  and answers its canned results; RotateSecret skips its invoke too.)

NOT EMULATED
- Running a function: a test runs the function's bootstrap from the downloaded package under its
  own Lambda Runtime API.
- The service's asynchronous invocation of the rotation steps, its retries, and its removal of
  AWSPENDING after the RotateImmediately false test.
- Code.Location of image functions (RepositoryType ECR: ImageUri, moto's) and of layers
  (GetLayerVersion's Content.Location, moto's); the expiry of Location; any check of who
  downloads (moto checks no signature anyway). A package moto could not read (S3Bucket/S3Key of a
  missing object, accepted when moto's S3 validation is off) answers 404 on the code route.
- RotateSecret on a secret with no version at all fails as moto fails it (HTTP 500); moto's
  "Previous rotation request is still in progress" check is moto's.
- /moto-api/reset clears moto's backends, not the two lists below.

ROUTES (the emulator's own, not AWS APIs; GET or HEAD, else 405)
  GET /_emulator/lambda-code/<account>/<region>/<function name>[?Qualifier=<q>]
      200 application/zip with the package's bytes; 404 JSON {"error"} for an unknown function.
  GET /_emulator/rotations
      200 JSON list of {"secret_arn", "function_arn", "token", "rotate_immediately"}: every
      rotation staged above since the server started, most recent last. One server serves every
      test of a process: find yours by secret_arn or token.
  GET /_emulator/lambda-invocations
      200 JSON list of {"function_arn", "step"}: every invocation that reached a function's code
      (and was answered with the error above), most recent last; step is the event's "Step" when
      the event is a JSON object with one (a rotation step), else null. No payload is kept.
"""

import json
import threading
import urllib.parse

from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.secretsmanager.models import SecretsManagerBackend

CODE_PATH = "/_emulator/lambda-code/"
ROTATIONS_PATH = "/_emulator/rotations"
INVOCATIONS_PATH = "/_emulator/lambda-invocations"
NO_CODE_ERROR = "EmulatorRunsNoCode"

LOCK = threading.Lock()
ROTATIONS = []
INVOCATIONS = []
# Set on the thread serving a RotateSecret: the backend's invoke is skipped while it is.
_STAGING = threading.local()


# ---------------------------------------------------------------------------------------------
# GetFunction: a Code.Location this server serves.


def _code_location(response, fn, qualifier):
    url = urllib.parse.urlsplit(getattr(response, "uri", "") or "")
    host = response.headers.get("Host") or url.netloc
    scheme = url.scheme or "http"
    path = CODE_PATH + "/".join(
        urllib.parse.quote(part, safe="") for part in (fn.account_id, fn.region, fn.function_name)
    )
    location = f"{scheme}://{host}{path}"
    if qualifier:
        location += "?" + urllib.parse.urlencode({"Qualifier": qualifier})
    return location


def _wrap_get_function(moto_get_function):
    def get_function(self):
        answer = moto_get_function(self)
        out = json.loads(answer)
        code = out.get("Code")
        if not isinstance(code, dict) or code.get("RepositoryType") != "S3":
            return answer
        name = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
        qualifier = self._get_param("Qualifier", None)
        fn = self.backend.get_function(name, qualifier)
        code["Location"] = _code_location(self, fn, qualifier)
        return json.dumps(out)

    return get_function


def _package(account, region, name, qualifier):
    """The stored package of a function, or None."""
    try:
        return get_backend(account, region).get_function(name, qualifier).code_bytes
    except Exception:  # unknown account, region, function or qualifier; no stored bytes
        return None


# ---------------------------------------------------------------------------------------------
# RotateSecret: moto's staging, nothing invoked.


def _wrap_rotate_secret(moto_rotate_secret):
    def rotate_secret(
        self,
        secret_id,
        client_request_token=None,
        rotation_lambda_arn=None,
        rotation_rules=None,
        rotate_immediately=True,
    ):
        secret = self.secrets[secret_id] if self._is_valid_identifier(secret_id) else None
        if not rotation_lambda_arn and secret is not None:
            rotation_lambda_arn = getattr(secret, "rotation_lambda_arn", "") or None
        default_before = getattr(secret, "default_version_id", None)
        _STAGING.active = True
        try:
            answer = moto_rotate_secret(
                self,
                secret_id,
                client_request_token,
                rotation_lambda_arn,
                rotation_rules,
                rotate_immediately,
            )
        finally:
            _STAGING.active = False
        if not secret.rotation_lambda_arn:
            return answer  # no function: moto's own path, which invokes nothing
        # moto moved the default version to the pending one as if finishSecret had run.
        secret.set_default_version_id(default_before)
        token = next(
            (
                version_id
                for version_id, version in secret.versions.items()
                if "AWSPENDING" in version["version_stages"]
            ),
            None,
        )
        with LOCK:
            ROTATIONS.append(
                {
                    "secret_arn": secret.arn,
                    "function_arn": secret.rotation_lambda_arn,
                    "token": token,
                    "rotate_immediately": bool(rotate_immediately),
                }
            )
        return answer

    return rotate_secret


def _wrap_backend_invoke(moto_invoke):
    def invoke(self, function_name, qualifier, body, headers, response_headers):
        if getattr(_STAGING, "active", False):
            return b""  # RotateSecret: the test invokes the steps itself
        return moto_invoke(self, function_name, qualifier, body, headers, response_headers)

    return invoke


# ---------------------------------------------------------------------------------------------
# No function code runs here, so moto never reaches Docker.


def _step_of(event):
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except ValueError:
            return None
    if isinstance(event, dict) and isinstance(event.get("Step"), str):
        return event["Step"]
    return None


def _invoke_lambda(self, event=None):
    with LOCK:
        INVOCATIONS.append({"function_arn": self.function_arn, "step": _step_of(event)})
    error = {
        "errorType": NO_CODE_ERROR,
        "errorMessage": "this emulator runs no function code: run the function's bootstrap from "
        "its package (GetFunction's Code.Location) under a Lambda Runtime API",
    }
    # moto's own answer for a run that failed: (payload, errored, logs).
    return json.dumps(error), True, ""


# ---------------------------------------------------------------------------------------------
# The routes, in front of moto's dispatcher.


def _answer(environ, start_response, status, content_type, body):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _json(environ, start_response, status, payload):
    body = json.dumps(payload).encode()
    return _answer(environ, start_response, status, "application/json", body)


def _serve(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return _json(environ, start_response, "405 Method Not Allowed", {"error": "use GET"})
    if path == ROTATIONS_PATH:
        with LOCK:
            rotations = list(ROTATIONS)
        return _json(environ, start_response, "200 OK", rotations)
    if path == INVOCATIONS_PATH:
        with LOCK:
            invocations = list(INVOCATIONS)
        return _json(environ, start_response, "200 OK", invocations)
    parts = path[len(CODE_PATH) :].split("/")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    qualifier = query.get("Qualifier", [None])[0]
    package = None
    if len(parts) == 3 and all(parts):
        package = _package(*parts, qualifier)
    if package is None:
        return _json(environ, start_response, "404 Not Found", {"error": "no such function"})
    return _answer(environ, start_response, "200 OK", "application/zip", package)


def _is_ours(path):
    return path.startswith(CODE_PATH) or path in (ROTATIONS_PATH, INVOCATIONS_PATH)


def install():
    """Patches moto's Lambda and Secrets Manager as described above and adds the routes to its
    server, in front of whatever handles the other paths (call it after the other modules'
    install())."""
    LambdaResponse.get_function = _wrap_get_function(LambdaResponse.get_function)
    SecretsManagerBackend.rotate_secret = _wrap_rotate_secret(SecretsManagerBackend.rotate_secret)
    LambdaBackend.invoke = _wrap_backend_invoke(LambdaBackend.invoke)
    LambdaSimpleBackend.invoke = _wrap_backend_invoke(LambdaSimpleBackend.invoke)
    LambdaFunction._invoke_lambda = _invoke_lambda

    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if _is_ours(environ.get("PATH_INFO", "")):
            return _serve(environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = call
