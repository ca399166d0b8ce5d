"""Redis users of Amazon ElastiCache and Amazon MemoryDB, changed through their control-plane APIs and
applied to real redis-servers: the test foundation of rotating such users. The API facts it follows,
with their sources: docs/research/managed-redis-control-plane.md.

emulator_server.py (moto's server, which the test kit starts) imports this module and calls
install(). moto parses each request and serialises each answer, result or error, from the botocore
service model the AWS SDKs are generated from, so every call below answers in its real wire
protocol:
- ElastiCache, AWS Query: form body (`Passwords.member.N`, `AuthenticationMode.Passwords.member.N`),
  `<XResponse><XResult>` XML, errors as `<ErrorResponse><Error><Type/><Code/><Message/>` with the
  error shape's HTTP status (UserNotFound 404, the others 400).
- MemoryDB, JSON 1.1: `X-Amz-Target: AmazonMemoryDB.X`, errors as HTTP 400 with `__type` (the
  error shape's name) and the `X-Amzn-Errortype` header.

EMULATED
- ElastiCache CreateUser, DescribeUsers, ModifyUser, DeleteUser. They replace moto's own (whose
  users are always `active` and which has no ModifyUser).
- MemoryDB CreateUser, DescribeUsers, UpdateUser, DeleteUser (moto has no MemoryDB users).
- Per account and region, a built-in `default` user (no password, `on ~* +@all` / `on ~* &* +@all`),
  as the services have.
- Status: a change leaves the user `creating` (CreateUser), `modifying` (ModifyUser, UpdateUser) or
  `deleting` (DeleteUser) for `modifying_seconds`; then the change is applied to every configured
  redis-server and the user becomes `active` (or is gone). Any change while the user is not
  `active` fails with InvalidUserState (ElastiCache) / InvalidUserStateFault (MemoryDB). The API
  shows the new values at once (ModifyUser's own answer already carries the new PasswordCount and
  status `modifying`); the servers get them only when the change completes.
- Passwords: the list sent is the user's whole password set (replace semantics), 1 or 2
  passwords, each 16-128 printable ASCII characters without `,` `"` `/` `@`. Refused with
  InvalidParameterValue / InvalidParameterValueException. Both `Passwords` and
  `AuthenticationMode.Passwords` in one ElastiCache call: InvalidParameterCombination.
  DescribeUsers shows only Authentication{Type, PasswordCount}, never which passwords.
- ElastiCache ModifyUser also takes AccessString, AppendAccessString, NoPasswordRequired,
  AuthenticationMode{Type: password | no-password-required}, Engine; MemoryDB UpdateUser takes
  AuthenticationMode{Type: password, Passwords} and AccessString. UserId is stored lowercase
  (ElastiCache); UserName must be unique except `default` (DuplicateUserName).
- Applying a change: one command per node, as the configured admin user:
  CreateUser      ACL SETUSER <login> reset <access string rules> resetpass >p1 [>p2] (or nopass)
  new passwords   ACL SETUSER <login> resetpass >p1 [>p2]        (the user's other rules kept)
  AccessString    ACL SETUSER <login> off resetkeys resetchannels clearselectors -@all <rules>
                  (passwords kept; with new passwords too, `resetpass >p..` follow in the same command)
  AppendAccessString  ACL SETUSER <login> <rules>
  DeleteUser      ACL DELUSER <login>
  Every user counts as a member of a user group (ElastiCache) / ACL (MemoryDB) attached to all
  the nodes configured for the caller's scope. A failed apply (node down, admin refused) leaves the
  status as it is and is retried every second; it is logged without any secret.
- Injected throttling: the next N calls of the operations above fail with Throttling
  ("Rate exceeded", HTTP 400; ElastiCache) / ThrottlingException (HTTP 400; MemoryDB). The Rust SDK
  retries both codes by itself.
- DescribeUsers: by UserId / UserName, by Engine (ElastiCache), paginated with
  MaxRecords/Marker (ElastiCache) or MaxResults/NextToken (MemoryDB).

NOT EMULATED
- User groups (CreateUserGroup, ModifyUserGroup, DescribeUserGroups; UserGroupIds is always empty)
  and MemoryDB ACLs (CreateACL, UpdateACL; ACLNames is always empty).
- Serverless caches; clusters and replication groups beyond moto's own; AUTH tokens
  (ModifyReplicationGroup with AuthToken / AuthTokenUpdateStrategy ROTATE | SET | DELETE).
- IAM authentication (Type iam: refused with InvalidParameterValue[Exception] saying so), IAM
  authorisation and signature checks (moto checks neither), tags on users (Tags are accepted and
  dropped), DescribeUsers Filters (refused, saying so), quotas (UserQuotaExceeded),
  ServiceLinkedRoleNotFoundFault.
- Persistence on the nodes (no ACL SAVE, no CONFIG REWRITE), TLS requirements (MemoryDB requires
  TLS for password users; here the test chooses), existing connections (kept, as the services keep
  them: a password change never disconnects anyone).
- Real timing (minutes) and real messages: error codes and HTTP statuses are the models', the
  messages are moto's or this module's. Where AWS does not document the behaviour this module
  chooses, and says so: more than two passwords, a duplicate password or an empty list is refused
  with InvalidParameterValue[Exception]; a call that changes nothing is refused with
  InvalidParameterCombination[Exception]; access strings must not hold password rules
  (`>`, `<`, `#`, `!`, nopass, resetpass, reset); the `default` user cannot be deleted;
  `creating` lasts as long as `modifying`.

CONFIGURATION (the emulator's own private endpoint, not an AWS API)
  POST /_emulator/managed-redis  {"scope": "AKID...", "nodes": [{"host": "127.0.0.1", "port": 6379,
      "username": "admin", "password": "...", "tls": false, "ca_file": null}],
      "modifying_seconds": 0.3, "throttle_next": 0}
  GET  /_emulator/managed-redis?scope=AKID...
A scope is the access key id of the calling SDK client ("*": any key without a scope of its own),
so parallel tests with different keys never share nodes, timing or injected faults. A change goes
to the nodes of the scope of the call that made it, as configured when the change completes (so a
test can repair a wrong admin credential and watch a pending change land). A POST
replaces the fields it names and keeps the others; throttle_next counts down the scope's calls.
Both answer the scope's settings without passwords, and its last events (what was applied where).
The admin credentials of the redis-servers come only from this configuration, never from an API
call, and no secret value is ever logged or answered.
"""

import json
import re
import socket
import ssl
import sys
import threading
import urllib.parse
import warnings

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.elasticache.responses import ElastiCacheResponse
from moto.memorydb.responses import MemoryDBResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

ADMIN_PATH = "/_emulator/managed-redis"
DEFAULT_SCOPE = "*"
DEFAULT_MODIFYING_SECONDS = 0.3
RETRY_SECONDS = 1.0
MAX_EVENTS = 200
REDIS_TIMEOUT_SECONDS = 5.0

ELASTICACHE = "elasticache"
MEMORYDB = "memorydb"

# Per service, the error codes this module raises (the models' codes for the query protocol, the
# shape names for JSON 1.1).
CODES = {
    ELASTICACHE: {
        "not_found": "UserNotFound",
        "state": "InvalidUserState",
        "value": "InvalidParameterValue",
        "combination": "InvalidParameterCombination",
        "exists": "UserAlreadyExists",
        "duplicate_name": "DuplicateUserName",
        "throttling": "Throttling",
        "missing": "MissingParameter",
    },
    MEMORYDB: {
        "not_found": "UserNotFoundFault",
        "state": "InvalidUserStateFault",
        "value": "InvalidParameterValueException",
        "combination": "InvalidParameterCombinationException",
        "exists": "UserAlreadyExistsFault",
        "duplicate_name": "DuplicateUserNameFault",
        "throttling": "ThrottlingException",
        "missing": "InvalidParameterValueException",
    },
}

NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-]*$")
FORBIDDEN_PASSWORD_CHARACTERS = ',"/@'
PASSWORD_RULE_TOKENS = {"nopass", "resetpass", "reset"}

# moto warns once for an error code its models do not hold: the throttling codes and
# MissingParameter are common errors, not in the models.
warnings.filterwarnings(
    "ignore",
    message=r".*with code (Throttling|ThrottlingException|MissingParameter) does not match",
)


class AwsError(ServiceException):
    """An API error with its code; moto serialises it in the service's protocol."""

    def __init__(self, code, message):
        super().__init__(code, message)


def _error(service, kind, message):
    return AwsError(CODES[service][kind], message)


def log(message):
    """One line on stderr (the emulator's log). Callers pass no secret value."""
    print(f"managed-redis: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Configuration: scopes of nodes, timing and injected faults.


class Node:
    """A redis-server and the admin credential that changes it. The password never leaves this
    object except on the wire to its server."""

    def __init__(self, host, port, username, password, tls, ca_file):
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls = tls
        self.ca_file = ca_file

    def __repr__(self):
        return f"Node({self.address()})"

    def address(self):
        return f"{self.host}:{self.port}"

    def view(self):
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "tls": self.tls,
        }

    def secret(self):
        return self._password


class Scope:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.modifying_seconds = DEFAULT_MODIFYING_SECONDS
        self.throttle_next = 0
        self.events = []

    def view(self):
        return {
            "scope": self.name,
            "nodes": [node.view() for node in self.nodes],
            "modifying_seconds": self.modifying_seconds,
            "throttle_next": self.throttle_next,
            "events": list(self.events),
        }

    def record(self, event):
        self.events.append(event)
        del self.events[:-MAX_EVENTS]


LOCK = threading.RLock()
SCOPES = {}
# (service, account, region) -> {key: User}; key is the UserId (ElastiCache) or the name (MemoryDB).
USERS = {}


def scope_named(name):
    with LOCK:
        scope = SCOPES.get(name)
        if scope is None:
            scope = SCOPES[name] = Scope(name)
        return scope


def scope_for_key(access_key):
    """The scope of a caller: its access key's own, else the default one."""
    with LOCK:
        if access_key in SCOPES:
            return SCOPES[access_key]
        return scope_named(DEFAULT_SCOPE)


def _parse_nodes(raw):
    if not isinstance(raw, list):
        raise ValueError("nodes must be a list")
    nodes = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"nodes[{index}] must be an object")
        host = item.get("host")
        port = item.get("port")
        username = item.get("username")
        password = item.get("password")
        tls = item.get("tls", False)
        ca_file = item.get("ca_file")
        if not isinstance(host, str) or not host:
            raise ValueError(f"nodes[{index}].host must be a non-empty string")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"nodes[{index}].port must be a port number")
        if username is not None and not isinstance(username, str):
            raise ValueError(f"nodes[{index}].username must be a string")
        if not isinstance(password, str) or not password:
            raise ValueError(f"nodes[{index}].password must be a non-empty string")
        if not isinstance(tls, bool):
            raise ValueError(f"nodes[{index}].tls must be a boolean")
        if ca_file is not None and not isinstance(ca_file, str):
            raise ValueError(f"nodes[{index}].ca_file must be a string")
        nodes.append(Node(host, port, username, password, tls, ca_file))
    return nodes


def configure(body):
    """Applies a POSTed configuration; returns the scope. Raises ValueError naming a field."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"scope", "nodes", "modifying_seconds", "throttle_next"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    name = body.get("scope", DEFAULT_SCOPE)
    if not isinstance(name, str) or not name:
        raise ValueError("scope must be a non-empty string")
    nodes = _parse_nodes(body["nodes"]) if "nodes" in body else None
    seconds = body.get("modifying_seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 600
    ):
        raise ValueError("modifying_seconds must be a number from 0 to 600")
    throttle = body.get("throttle_next")
    if throttle is not None and (
        isinstance(throttle, bool) or not isinstance(throttle, int) or throttle < 0
    ):
        raise ValueError("throttle_next must be a non-negative integer")
    with LOCK:
        scope = scope_named(name)
        if nodes is not None:
            scope.nodes = nodes
        if seconds is not None:
            scope.modifying_seconds = float(seconds)
        if throttle is not None:
            scope.throttle_next = throttle
        log(
            f"scope {name}: {len(scope.nodes)} node(s) "
            f"[{', '.join(node.address() for node in scope.nodes)}], "
            f"modifying {scope.modifying_seconds}s, throttle next {scope.throttle_next}"
        )
        return scope


# ---------------------------------------------------------------------------------------------
# A minimal Redis client (RESP2) for the admin's commands.


class RedisError(Exception):
    pass


def _encode(args):
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _read_reply(stream):
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise RedisError("the connection closed before a reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode(errors="replace")
    if kind == b"-":
        raise RedisError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data = stream.read(length + 2)
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(stream) for _ in range(count)]
    raise RedisError("an unexpected reply type")


def _run_on_node(node, command):
    """Logs in as the node's admin and runs `command`; returns its reply or raises."""
    raw = socket.create_connection((node.host, node.port), timeout=REDIS_TIMEOUT_SECONDS)
    sock = raw
    try:
        if node.tls:
            context = ssl.create_default_context(cafile=node.ca_file)
            sock = context.wrap_socket(raw, server_hostname=node.host)
        with sock.makefile("rb") as stream:
            auth = ["AUTH", node.secret()]
            if node.username:
                auth.insert(1, node.username)
            sock.sendall(_encode(auth))
            _read_reply(stream)
            sock.sendall(_encode(command))
            return _read_reply(stream)
    finally:
        sock.close()
        raw.close()


def _redacted(text, secrets):
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text[:300]


# ---------------------------------------------------------------------------------------------
# Users and their status machine.


class User:
    def __init__(self, service, account, region, key, login, engine, access_string):
        self.service = service
        self.account = account
        self.region = region
        self.key = key
        self.login = login
        self.engine = engine
        self.access_string = access_string
        self.auth_type = "no-password"
        self.passwords = []
        self.status = "active"
        self.pending = None  # the ACL command the servers still have to receive
        self.pending_action = None
        self.scope = DEFAULT_SCOPE
        self.generation = 0

    @property
    def arn(self):
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        if self.service == ELASTICACHE:
            return f"arn:{partition}:elasticache:{self.region}:{self.account}:user:{self.key}"
        return f"arn:{partition}:memorydb:{self.region}:{self.account}:user/{self.key}"

    def authentication(self):
        auth = {"Type": self.auth_type}
        if self.auth_type == "password":
            auth["PasswordCount"] = len(self.passwords)
        return auth

    def view(self):
        if self.service == ELASTICACHE:
            return {
                "UserId": self.key,
                "UserName": self.login,
                "Status": self.status,
                "Engine": self.engine,
                "MinimumEngineVersion": "6.0",
                "AccessString": self.access_string,
                "UserGroupIds": [],
                "Authentication": self.authentication(),
                "ARN": self.arn,
            }
        return {
            "Name": self.login,
            "Status": self.status,
            "AccessString": self.access_string,
            "ACLNames": [],
            "MinimumEngineVersion": "6.2",
            "Authentication": self.authentication(),
            "ARN": self.arn,
        }


def users_of(service, account, region):
    """The users of one account and region, with the built-in `default` user."""
    with LOCK:
        store = USERS.get((service, account, region))
        if store is None:
            access = "on ~* +@all" if service == ELASTICACHE else "on ~* &* +@all"
            default = User(service, account, region, "default", "default", "redis", access)
            store = USERS[(service, account, region)] = {"default": default}
        return store


def _password_rules(passwords):
    return [">" + password for password in passwords]


def _access_rules(service, access_string):
    if not isinstance(access_string, str) or not access_string.strip():
        raise _error(service, "value", "The access string must not be empty.")
    rules = access_string.split()
    for rule in rules:
        if rule[0] in "><#!" or rule.lower() in PASSWORD_RULE_TOKENS:
            raise _error(
                service,
                "value",
                "Access strings must not hold password rules (>, <, #, !, nopass, resetpass, reset).",
            )
    return rules


def check_passwords(service, passwords):
    if not isinstance(passwords, list) or not passwords:
        raise _error(service, "value", "At least one password is required.")
    if len(passwords) > 2:
        raise _error(service, "value", "A user can have at most 2 passwords.")
    for password in passwords:
        if not isinstance(password, str) or not 16 <= len(password) <= 128:
            raise _error(service, "value", "Passwords length must be between 16-128 characters.")
        if any(not 32 <= ord(c) <= 126 or c in FORBIDDEN_PASSWORD_CHARACTERS for c in password):
            raise _error(
                service,
                "value",
                'Passwords must be printable ASCII characters other than , " / @.',
            )
    if len(set(passwords)) != len(passwords):
        raise _error(service, "value", "The passwords of a user must be distinct.")
    return list(passwords)


def begin_change(user, status, action, command, scope):
    """Marks the user `status` until `command` has reached every node of `scope`."""
    with LOCK:
        user.status = status
        user.pending = command
        user.pending_action = action
        user.scope = scope.name
        user.generation += 1
        generation = user.generation
        delay = scope.modifying_seconds
    _schedule(user, generation, delay)


def _schedule(user, generation, delay):
    timer = threading.Timer(delay, _complete, args=(user, generation))
    timer.daemon = True
    timer.start()


def _complete(user, generation):
    with LOCK:
        if user.generation != generation or user.pending is None:
            return
        command = list(user.pending)
        action = user.pending_action
        scope = scope_named(user.scope)
        nodes = list(scope.nodes)
        secrets = list(user.passwords) + [node.secret() for node in nodes]
        label = f"{user.service} user {user.key} ({action})"
    failures = []
    for node in nodes:
        try:
            _run_on_node(node, command)
        except (OSError, RedisError, ssl.SSLError) as error:
            failures.append(
                f"{node.address()}: {type(error).__name__}: {_redacted(str(error), secrets)}"
            )
    addresses = [node.address() for node in nodes]
    with LOCK:
        if user.generation != generation:
            return
        if failures:
            log(f"{label}: not applied, retrying in {RETRY_SECONDS}s: {'; '.join(failures)}")
            scope.record(
                {"service": user.service, "user": user.key, "action": action,
                 "nodes": addresses, "result": "failed", "errors": failures}
            )
            _schedule(user, generation, RETRY_SECONDS)
            return
        scope.record(
            {"service": user.service, "user": user.key, "action": action,
             "nodes": addresses, "result": "applied"}
        )
        user.pending = None
        user.pending_action = None
        if user.status == "deleting":
            users_of(user.service, user.account, user.region).pop(user.key, None)
            log(f"{label}: applied to [{', '.join(addresses)}]; the user is gone")
        else:
            user.status = "active"
            log(f"{label}: applied to [{', '.join(addresses)}]; active")


# ---------------------------------------------------------------------------------------------
# The API operations, shared by both services where they agree.

CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/")


def _access_key(response):
    match = CREDENTIAL.search(response.headers.get("Authorization", "") or "")
    return match.group(1) if match else ""


def _admit(response, service):
    """The caller's scope, after any injected throttling."""
    scope = scope_for_key(_access_key(response))
    with LOCK:
        if scope.throttle_next > 0:
            scope.throttle_next -= 1
            throttled = True
        else:
            throttled = False
    if throttled:
        log(f"{service}: throttled one call (scope {scope.name})")
        raise _error(service, "throttling", "Rate exceeded")
    return scope


def _require(service, params, name):
    value = params.get(name)
    if value is None or value == "":
        raise _error(service, "missing", f"The request must contain the parameter {name}.")
    return value


def _find(service, store, key):
    user = store.get(key)
    if user is None:
        raise _error(service, "not_found", f"User {key} not found.")
    return user


def _require_active(service, user):
    if user.status != "active":
        raise _error(service, "state", "The user is not in active state.")


def _paginate(service, users, limit, token):
    try:
        start = int(token) if token else 0
    except ValueError:
        raise _error(service, "value", "Invalid pagination token.") from None
    if limit is None:
        limit = 100
    if not isinstance(limit, int) or limit < 1:
        raise _error(service, "value", "The page size must be a positive integer.")
    page = users[start : start + limit]
    following = str(start + limit) if start + limit < len(users) else None
    return page, following


def _create_command(login, rules, passwords):
    credentials = ["resetpass", *_password_rules(passwords)] if passwords else ["nopass"]
    return ["ACL", "SETUSER", login, "reset", *rules, *credentials]


def _modify_command(login, rules, append_rules, passwords, no_password):
    command = ["ACL", "SETUSER", login]
    if rules is not None:
        command += ["off", "resetkeys", "resetchannels", "clearselectors", "-@all", *rules]
    if append_rules is not None:
        command += append_rules
    if passwords is not None:
        command += ["resetpass", *_password_rules(passwords)]
    if no_password:
        command += ["resetpass", "nopass"]
    return command


# ElastiCache (AWS Query) ---------------------------------------------------------------------


def _ec_store(response):
    return users_of(ELASTICACHE, response.current_account, response.region)


def _ec_bool(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _ec_passwords(params):
    """(passwords or None, no_password) from Passwords, AuthenticationMode, NoPasswordRequired."""
    service = ELASTICACHE
    passwords = params.get("Passwords")
    mode = params.get("AuthenticationMode")
    no_password = _ec_bool(params.get("NoPasswordRequired"))
    if mode:
        mode_passwords = mode.get("Passwords")
        if passwords is not None and mode_passwords is not None:
            raise _error(
                service,
                "combination",
                "Passwords provided via multiple arguments. Use only one argument",
            )
        kind = mode.get("Type")
        if kind == "iam":
            raise _error(service, "value", "IAM authentication is not emulated.")
        if kind == "no-password-required":
            if mode_passwords or passwords:
                raise _error(
                    service,
                    "combination",
                    "Password field is not allowed with authentication type: no-password-required",
                )
            no_password = True
        elif kind in ("password", None):
            passwords = passwords if passwords is not None else mode_passwords
            if kind == "password" and passwords is None:
                raise _error(
                    service,
                    "combination",
                    "A user with Authentication Mode: password, must have at least one password",
                )
        else:
            raise _error(
                service,
                "value",
                f"Input Authentication type: {kind} is not in the allowed list: "
                "[password,no-password-required,iam]",
            )
    if no_password and passwords:
        raise _error(
            service,
            "combination",
            "No password required flag is true but passwords were provided",
        )
    if passwords is not None:
        passwords = check_passwords(service, passwords)
    return passwords, bool(no_password)


def ec_create_user(self):
    service = ELASTICACHE
    scope = _admit(self, service)
    params = self._get_params()
    user_id = _require(service, params, "UserId")
    login = _require(service, params, "UserName")
    engine = str(_require(service, params, "Engine")).lower()
    access_string = _require(service, params, "AccessString")
    if not NAME_PATTERN.match(user_id):
        raise _error(
            service, "value", "The UserId must begin with a letter and hold only letters, digits and hyphens."
        )
    if engine not in ("redis", "valkey"):
        raise _error(
            service, "value", f'Unknown parameter for Engine: "{engine}", must be one of: redis, valkey'
        )
    rules = _access_rules(service, access_string)
    passwords, no_password = _ec_passwords(params)
    if not passwords and not no_password:
        raise _error(
            service,
            "value",
            "No password was provided. If you want to create/update the user without password, "
            "please use the NoPasswordRequired flag.",
        )
    key = user_id.lower()
    with LOCK:
        store = _ec_store(self)
        if key in store:
            raise _error(service, "exists", f"User {key} already exists.")
        if login != "default" and any(u.login == login for u in store.values()):
            raise _error(service, "duplicate_name", f"User name {login} already exists.")
        user = User(service, self.current_account, self.region, key, login, engine, access_string)
        user.auth_type = "password" if passwords else "no-password"
        user.passwords = passwords or []
        store[key] = user
        begin_change(user, "creating", "create", _create_command(login, rules, passwords), scope)
        log(f"{service}: CreateUser {key} (login {login}, {len(user.passwords)} password(s))")
        return ActionResult(user.view())


def ec_modify_user(self):
    service = ELASTICACHE
    scope = _admit(self, service)
    params = self._get_params()
    key = str(_require(service, params, "UserId")).lower()
    access_string = params.get("AccessString")
    append = params.get("AppendAccessString")
    engine = params.get("Engine")
    if access_string is not None and append is not None:
        raise _error(service, "combination", "Use either AccessString or AppendAccessString.")
    rules = _access_rules(service, access_string) if access_string is not None else None
    append_rules = _access_rules(service, append) if append is not None else None
    passwords, no_password = _ec_passwords(params)
    if engine is not None and str(engine).lower() not in ("redis", "valkey"):
        raise _error(
            service, "value", f'Unknown parameter for Engine: "{engine}", must be one of: redis, valkey'
        )
    unchanged = rules is None and append_rules is None and passwords is None
    if unchanged and not no_password and engine is None:
        raise _error(service, "combination", "No modifications were requested.")
    with LOCK:
        user = _find(service, _ec_store(self), key)
        _require_active(service, user)
        if access_string is not None:
            user.access_string = access_string
        if append is not None:
            user.access_string = f"{user.access_string} {append}"
        if engine is not None:
            user.engine = str(engine).lower()
        if passwords is not None:
            user.passwords = passwords
            user.auth_type = "password"
        if no_password:
            user.passwords = []
            user.auth_type = "no-password"
        command = _modify_command(user.login, rules, append_rules, passwords, no_password)
        begin_change(user, "modifying", "modify", command, scope)
        log(
            f"{service}: ModifyUser {key}"
            + (f" ({len(passwords)} password(s))" if passwords is not None else "")
            + (" (access string)" if rules is not None or append_rules is not None else "")
        )
        return ActionResult(user.view())


def ec_describe_users(self):
    service = ELASTICACHE
    _admit(self, service)
    params = self._get_params()
    if params.get("Filters"):
        raise _error(service, "value", "DescribeUsers Filters are not emulated.")
    user_id = params.get("UserId")
    engine = params.get("Engine")
    with LOCK:
        store = _ec_store(self)
        if user_id:
            users = [_find(service, store, str(user_id).lower())]
        else:
            users = list(store.values())
        if engine:
            users = [u for u in users if u.engine == str(engine).lower()]
        page, marker = _paginate(service, users, params.get("MaxRecords"), params.get("Marker"))
        result = {"Users": [u.view() for u in page]}
        if marker is not None:
            result["Marker"] = marker
        return ActionResult(result)


def ec_delete_user(self):
    service = ELASTICACHE
    scope = _admit(self, service)
    params = self._get_params()
    key = str(_require(service, params, "UserId")).lower()
    with LOCK:
        user = _find(service, _ec_store(self), key)
        if key == "default":
            raise _error(service, "value", "The default user cannot be deleted.")
        _require_active(service, user)
        begin_change(user, "deleting", "delete", ["ACL", "DELUSER", user.login], scope)
        log(f"{service}: DeleteUser {key}")
        return ActionResult(user.view())


# MemoryDB (JSON 1.1) -------------------------------------------------------------------------


def _mdb_params(response):
    service = MEMORYDB
    try:
        params = json.loads(response.body or "{}")
    except ValueError:
        raise _error(service, "value", "The request body is not JSON.") from None
    if not isinstance(params, dict):
        raise _error(service, "value", "The request body is not a JSON object.")
    return params


def _mdb_store(response):
    return users_of(MEMORYDB, response.current_account, response.region)


def _mdb_passwords(mode):
    service = MEMORYDB
    if not isinstance(mode, dict):
        raise _error(service, "value", "AuthenticationMode must be an object.")
    kind = mode.get("Type", "password")
    if kind == "iam":
        raise _error(service, "value", "IAM authentication is not emulated.")
    if kind != "password":
        raise _error(service, "value", f"Invalid authentication type {kind}: use password or iam.")
    passwords = mode.get("Passwords")
    if passwords is None:
        raise _error(service, "value", "Passwords are required for authentication type password.")
    return check_passwords(service, passwords)


def mdb_create_user(self):
    service = MEMORYDB
    scope = _admit(self, service)
    params = _mdb_params(self)
    name = _require(service, params, "UserName")
    access_string = _require(service, params, "AccessString")
    mode = _require(service, params, "AuthenticationMode")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _error(
            service, "value", "The UserName must begin with a letter and hold only letters, digits and hyphens."
        )
    rules = _access_rules(service, access_string)
    passwords = _mdb_passwords(mode)
    with LOCK:
        store = _mdb_store(self)
        if name in store:
            raise _error(service, "exists", f"User {name} already exists.")
        user = User(service, self.current_account, self.region, name, name, "redis", access_string)
        user.auth_type = "password"
        user.passwords = passwords
        store[name] = user
        begin_change(user, "creating", "create", _create_command(name, rules, passwords), scope)
        log(f"{service}: CreateUser {name} ({len(passwords)} password(s))")
        return ActionResult({"User": user.view()})


def mdb_update_user(self):
    service = MEMORYDB
    scope = _admit(self, service)
    params = _mdb_params(self)
    name = _require(service, params, "UserName")
    access_string = params.get("AccessString")
    mode = params.get("AuthenticationMode")
    rules = _access_rules(service, access_string) if access_string is not None else None
    passwords = _mdb_passwords(mode) if mode is not None else None
    if rules is None and passwords is None:
        raise _error(service, "combination", "No modifications were requested.")
    with LOCK:
        user = _find(service, _mdb_store(self), name)
        _require_active(service, user)
        if access_string is not None:
            user.access_string = access_string
        if passwords is not None:
            user.passwords = passwords
            user.auth_type = "password"
        command = _modify_command(user.login, rules, None, passwords, False)
        begin_change(user, "modifying", "modify", command, scope)
        log(
            f"{service}: UpdateUser {name}"
            + (f" ({len(passwords)} password(s))" if passwords is not None else "")
            + (" (access string)" if rules is not None else "")
        )
        return ActionResult({"User": user.view()})


def mdb_describe_users(self):
    service = MEMORYDB
    _admit(self, service)
    params = _mdb_params(self)
    if params.get("Filters"):
        raise _error(service, "value", "DescribeUsers Filters are not emulated.")
    name = params.get("UserName")
    with LOCK:
        store = _mdb_store(self)
        users = [_find(service, store, name)] if name else list(store.values())
        page, token = _paginate(service, users, params.get("MaxResults"), params.get("NextToken"))
        result = {"Users": [u.view() for u in page]}
        if token is not None:
            result["NextToken"] = token
        return ActionResult(result)


def mdb_delete_user(self):
    service = MEMORYDB
    scope = _admit(self, service)
    params = _mdb_params(self)
    name = _require(service, params, "UserName")
    with LOCK:
        user = _find(service, _mdb_store(self), name)
        if name == "default":
            raise _error(service, "value", "The default user cannot be deleted.")
        _require_active(service, user)
        begin_change(user, "deleting", "delete", ["ACL", "DELUSER", user.login], scope)
        log(f"{service}: DeleteUser {name}")
        return ActionResult({"User": user.view()})


# ---------------------------------------------------------------------------------------------
# The configuration endpoint, in front of moto's dispatcher.


def _answer(start_response, status, payload):
    body = json.dumps(payload).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def admin_app(environ, start_response):
    if environ.get("PATH_INFO") != ADMIN_PATH:
        return _answer(start_response, "404 Not Found", {"error": "no such path"})
    method = environ.get("REQUEST_METHOD")
    if method == "GET":
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        name = query.get("scope", [DEFAULT_SCOPE])[0]
        with LOCK:
            return _answer(start_response, "200 OK", scope_named(name).view())
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            scope = configure(body)
        except ValueError as error:
            # json's messages quote no input; configure's name fields only.
            return _answer(start_response, "400 Bad Request", {"error": str(error)})
        with LOCK:
            return _answer(start_response, "200 OK", scope.view())
    return _answer(start_response, "405 Method Not Allowed", {"error": "use GET or POST"})


def install():
    """Adds the operations to moto's ElastiCache and MemoryDB handlers and the configuration
    endpoint to its server."""
    ElastiCacheResponse.create_user = ec_create_user
    ElastiCacheResponse.modify_user = ec_modify_user
    ElastiCacheResponse.describe_users = ec_describe_users
    ElastiCacheResponse.delete_user = ec_delete_user
    MemoryDBResponse.create_user = mdb_create_user
    MemoryDBResponse.update_user = mdb_update_user
    MemoryDBResponse.describe_users = mdb_describe_users
    MemoryDBResponse.delete_user = mdb_delete_user

    dispatch = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_emulator/"):
            return admin_app(environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = call

