"""Redis users of Amazon ElastiCache and Amazon MemoryDB, and the AUTH tokens of ElastiCache
replication groups, changed through their control-plane APIs and applied to real redis-servers: the
test foundation of rotating such credentials. The API facts it follows, with their sources:
docs/research/managed-redis-control-plane.md.

emulator_server.py (moto's server, which the test kit starts) imports this module and calls
install(). moto parses each request and serialises each answer, result or error, from the botocore
service model the AWS SDKs are generated from, so every call below answers in its real wire
protocol:
- ElastiCache, AWS Query: form body (`Passwords.member.N`, `AuthenticationMode.Passwords.member.N`),
  `<XResponse><XResult>` XML, errors as `<ErrorResponse><Error><Type/><Code/><Message/>` with the
  error shape's HTTP status (UserNotFound and ReplicationGroupNotFoundFault 404, the others 400);
  list members as the model names them (`<member>`, but `<ReplicationGroup>` in ReplicationGroups).
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
- ElastiCache AUTH tokens (clusters without RBAC), on replication groups:
  CreateReplicationGroup is moto's (which builds the group: members, endpoints, ARN
  `arn:aws:elasticache:<region>:<account>:replicationgroup:<id>`) behind this module's checks: an
  AuthToken follows the token rules below and needs TransitEncryptionEnabled true
  (InvalidParameterCombination); UserGroupIds are refused (InvalidParameterValue). The group is
  `creating` for `modifying_seconds`, then its `default` user is on the nodes and it is `available`.
  ModifyReplicationGroup (moto has none) takes only ReplicationGroupId, AuthToken,
  AuthTokenUpdateStrategy and ApplyImmediately (any other field: InvalidParameterValue naming it):
    ROTATE (the default when AuthToken comes alone): the new token joins the newest one held; if two
      are held the oldest is removed, so at most the two most recent are valid. On a group without
      a token it is accepted and unauthenticated access keeps working until SET.
    SET: allowed only when the group holds two tokens, or one from a ROTATE of a group without a
      token (else InvalidParameterCombination); the token must equal the last one rotated in (else
      InvalidParameterValue); afterwards only that token works and AUTH is required.
    Tokens: 16-128 printable ASCII characters, none of / " @ % (InvalidParameterValue). A group
      without TransitEncryptionEnabled takes no token (InvalidParameterCombination).
  The change leaves the group `modifying`, with PendingModifiedValues.AuthTokenStatus ROTATING or
  SETTING, for `modifying_seconds`; any ModifyReplicationGroup while the group is not `available`
  fails with InvalidReplicationGroupState (HTTP 400). When the change reaches every node the group
  turns `available`, AuthTokenEnabled (true while it holds a token) and AuthTokenLastModifiedDate
  are updated; until then they show the previous state.
  DescribeReplicationGroups is moto's lookup (all groups of the account and region, or one by
  ReplicationGroupId, else ReplicationGroupNotFoundFault 404; MaxRecords/Marker) with this status.
- Applying a token change: the tokens are the passwords of the nodes' `default` user, one command
  per node as the scope's admin user, like the users' changes (applied when the change completes,
  retried every second on failure, logged without any secret):
  CreateReplicationGroup  ACL SETUSER default reset on ~* &* +@all resetpass >t (or nopass)
  ROTATE / SET            ACL SETUSER default resetpass >t1 [>t2]
  While unauthenticated access must keep working (a group without a token, or ROTATEd from none
  and not SET yet) the user is `resetpass nopass` instead: Redis holds either passwords or nopass,
  never both (`>` clears nopass), so on the nodes every password then logs in as `default`, a
  wrong one too, where the service would presumably refuse a wrong token.
- Injected throttling: the next N calls of the operations above fail with Throttling
  ("Rate exceeded", HTTP 400; ElastiCache) / ThrottlingException (HTTP 400; MemoryDB). The Rust SDK
  retries both codes by itself.
- Injected invalid state: the next N changes of an existing user or group (ElastiCache ModifyUser,
  DeleteUser, ModifyReplicationGroup; MemoryDB UpdateUser, DeleteUser) that pass their checks up
  to the state check fail as if another change were under way: InvalidUserState /
  InvalidUserStateFault / InvalidReplicationGroupState, while DescribeUsers/ReplicationGroups
  still show `active` / `available` (the other change is invisible). The SDK does not retry these.
- DescribeUsers: by UserId / UserName, by Engine (ElastiCache), paginated with
  MaxRecords/Marker (ElastiCache) or MaxResults/NextToken (MemoryDB).

NOT EMULATED
- User groups (CreateUserGroup, ModifyUserGroup, DescribeUserGroups; UserGroupIds is always empty)
  and MemoryDB ACLs (CreateACL, UpdateACL; ACLNames is always empty).
- Serverless caches; clusters; replication groups beyond the AUTH tokens above
  (DeleteReplicationGroup and the rest are moto's and change no node; a deleted group stays
  `deleting`); RBAC on replication groups; AuthTokenUpdateStrategy DELETE (refused with
  InvalidParameterValue: it only serves a move to RBAC); ApplyImmediately false or omitted
  (refused with InvalidParameterValue: the service would keep the change pending until the next
  maintenance window, which never comes here; a rotation function must send true); TLS on the
  nodes (TransitEncryptionEnabled is a flag; the test chooses); ReplicationGroupId rules (moto's:
  as given, not lowercased).
- The nodes' `default` user has one owner per scope: the tokens of a replication group and
  ElastiCache ModifyUser of the built-in `default` user both rewrite it, so a test uses one or the
  other in a scope. Every group of a scope applies to all of the scope's nodes.
- IAM authentication (Type iam: refused with InvalidParameterValue[Exception] saying so), IAM
  authorisation and signature checks (moto checks neither), tags on users (Tags are accepted and
  dropped), DescribeUsers Filters (refused, saying so), quotas (UserQuotaExceeded),
  ServiceLinkedRoleNotFoundFault.
- Persistence on the nodes, unless a node is configured with "persist": true (then each change is
  followed by ACL SAVE, or CONFIG REWRITE when the server has no aclfile, in the same connection,
  so that a restarted node keeps what the service would keep); TLS requirements (MemoryDB requires
  TLS for password users; here the test chooses), existing connections (kept, as the services keep
  them: a password change never disconnects anyone).
- Real timing (minutes) and real messages: error codes and HTTP statuses are the models', the
  messages are moto's or this module's. Where AWS does not document the behaviour this module
  chooses, and says so: more than two passwords, a duplicate password or an empty list is refused
  with InvalidParameterValue[Exception]; a call that changes nothing is refused with
  InvalidParameterCombination[Exception]; access strings must not hold password rules
  (`>`, `<`, `#`, `!`, nopass, resetpass, reset); the `default` user cannot be deleted;
  `creating` lasts as long as `modifying`. For AUTH tokens: a ROTATE with a token the group already
  holds counts as a new token (of two held, the oldest is dropped: [a, b] + ROTATE b leaves [b]), so
  a function that blindly re-sends its ROTATE is caught; AuthTokenEnabled is true from the first
  ROTATE on (while access is still open too); SET refused for the group's state is
  InvalidParameterCombination, SET of another value InvalidParameterValue; AuthToken without TLS
  InvalidParameterCombination; a strategy without AuthToken, or a call with no AuthToken at all,
  InvalidParameterCombination.

CONFIGURATION (the emulator's own private endpoint, not an AWS API)
  POST /_emulator/managed-redis  {"scope": "AKID...", "nodes": [{"host": "127.0.0.1", "port": 6379,
      "username": "admin", "password": "...", "tls": false, "ca_file": null, "persist": false}],
      "modifying_seconds": 0.3, "throttle_next": 0, "invalid_state_next": 0, "reset_calls": false}
  GET  /_emulator/managed-redis?scope=AKID...
A scope is the access key id of the calling SDK client ("*": any key without a scope of its own),
so parallel tests with different keys never share nodes, timing, injected faults or call counts. A
change goes to the nodes of the scope of the call that made it, as configured when the change
completes (so a test can repair a wrong admin credential and watch a pending change land). A POST
replaces the fields it names and keeps the others; throttle_next counts down the scope's calls,
invalid_state_next its changes refused for state; reset_calls true empties the call counts. Both
answer the scope's settings without passwords, its call counts `"calls": {"<service>.<Action>": n}`
(e.g. "elasticache.ModifyUser", "memorydb.DescribeUsers", "elasticache.ModifyReplicationGroup":
every call of the operations above that reached the scope, throttled and refused ones included,
each SDK retry counting), and its last events (what was applied where: {"service", "user" or
"replication_group", "action", "nodes", "result"[, "errors"]}).
The admin credentials of the redis-servers come only from this configuration, never from an API
call, and no secret value is ever logged or answered.
"""

import copy
import hmac
import json
import re
import socket
import ssl
import sys
import threading
import urllib.parse
import warnings

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, PaginatedResult
from moto.core.utils import utcnow
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
        "group_not_found": "ReplicationGroupNotFoundFault",
        "group_state": "InvalidReplicationGroupState",
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
FORBIDDEN_TOKEN_CHARACTERS = '/"@%'
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

    def __init__(self, host, port, username, password, tls, ca_file, persist=False):
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls = tls
        self.ca_file = ca_file
        self.persist = persist  # save the ACL after each change, so a restart keeps it

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
            "persist": self.persist,
        }

    def secret(self):
        return self._password


class Scope:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.modifying_seconds = DEFAULT_MODIFYING_SECONDS
        self.throttle_next = 0
        self.invalid_state_next = 0
        self.events = []
        self.calls = {}  # "<service>.<Action>" -> calls received, throttled and refused ones too

    def view(self):
        return {
            "scope": self.name,
            "nodes": [node.view() for node in self.nodes],
            "modifying_seconds": self.modifying_seconds,
            "throttle_next": self.throttle_next,
            "invalid_state_next": self.invalid_state_next,
            "calls": dict(sorted(self.calls.items())),
            "events": list(self.events),
        }

    def count(self, service, action):
        name = f"{service}.{action}"
        self.calls[name] = self.calls.get(name, 0) + 1

    def record(self, event):
        self.events.append(event)
        del self.events[:-MAX_EVENTS]


LOCK = threading.RLock()
SCOPES = {}
# (service, account, region) -> {key: User}; key is the UserId (ElastiCache) or the name (MemoryDB).
USERS = {}
# (account, region, ReplicationGroupId) -> Group: the AUTH tokens of the groups moto holds.
GROUPS = {}


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
        persist = item.get("persist", False)
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
        if not isinstance(persist, bool):
            raise ValueError(f"nodes[{index}].persist must be a boolean")
        nodes.append(Node(host, port, username, password, tls, ca_file, persist))
    return nodes


def configure(body):
    """Applies a POSTed configuration; returns the scope. Raises ValueError naming a field."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    fields = {
        "scope",
        "nodes",
        "modifying_seconds",
        "throttle_next",
        "invalid_state_next",
        "reset_calls",
    }
    unknown = set(body) - fields
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
    throttle = _count_field(body, "throttle_next")
    invalid_state = _count_field(body, "invalid_state_next")
    reset_calls = body.get("reset_calls", False)
    if not isinstance(reset_calls, bool):
        raise ValueError("reset_calls must be a boolean")
    with LOCK:
        scope = scope_named(name)
        if nodes is not None:
            scope.nodes = nodes
        if seconds is not None:
            scope.modifying_seconds = float(seconds)
        if throttle is not None:
            scope.throttle_next = throttle
        if invalid_state is not None:
            scope.invalid_state_next = invalid_state
        if reset_calls:
            scope.calls = {}
        log(
            f"scope {name}: {len(scope.nodes)} node(s) "
            f"[{', '.join(node.address() for node in scope.nodes)}], "
            f"modifying {scope.modifying_seconds}s, throttle next {scope.throttle_next}, "
            f"invalid state next {scope.invalid_state_next}"
        )
        return scope


def _count_field(body, name):
    """A non-negative integer field of the configuration, or None when absent."""
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer")
    return value


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
    """Logs in as the node's admin and runs `command` (then saves the ACL if the node persists);
    returns the command's reply or raises."""
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
            reply = _read_reply(stream)
            if node.persist:
                _save_acl(sock, stream)
            return reply
    finally:
        sock.close()
        raw.close()


def _save_acl(sock, stream):
    """Persists the users where the server keeps them: its aclfile (ACL SAVE) or, without one,
    its config file (CONFIG REWRITE writes the `user` lines)."""
    sock.sendall(_encode(["CONFIG", "GET", "aclfile"]))
    reply = _read_reply(stream)
    aclfile = reply[1] if isinstance(reply, list) and len(reply) == 2 else b""
    sock.sendall(_encode(["ACL", "SAVE"] if aclfile else ["CONFIG", "REWRITE"]))
    _read_reply(stream)


def _redacted(text, secrets):
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text[:300]


# ---------------------------------------------------------------------------------------------
# Users, replication groups and their status machine.


class Managed:
    """What a change can be pending on (a user, a replication group): the ACL command the nodes
    still have to receive, the scope whose nodes get it, and a generation that tells a timer
    whether its change is still the current one."""

    def __init__(self):
        self.pending = None
        self.pending_action = None
        self.scope = DEFAULT_SCOPE
        self.generation = 0

    def mark(self, status):
        raise NotImplementedError

    def label(self):
        """How the log names it."""
        raise NotImplementedError

    def subject(self):
        """The fields naming it in the scope's events."""
        raise NotImplementedError

    def secrets(self):
        """Its secret values, redacted from any error text that is logged."""
        raise NotImplementedError

    def finish(self):
        """Called under LOCK once the change reached every node; returns the log's ending."""
        raise NotImplementedError


class User(Managed):
    def __init__(self, service, account, region, key, login, engine, access_string):
        super().__init__()
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

    def mark(self, status):
        self.status = status

    def label(self):
        return f"{self.service} user {self.key}"

    def subject(self):
        return {"service": self.service, "user": self.key}

    def secrets(self):
        return list(self.passwords)

    def finish(self):
        if self.status == "deleting":
            users_of(self.service, self.account, self.region).pop(self.key, None)
            return "the user is gone"
        self.status = "active"
        return "active"

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


class Group(Managed):
    """The AUTH tokens of one ElastiCache replication group. moto's ReplicationGroup (`model`)
    keeps every other field and what DescribeReplicationGroups shows; it never holds a token."""

    def __init__(self, model, account, region, token):
        super().__init__()
        self.model = model
        self.account = account
        self.region = region
        self.key = model.replication_group_id
        self.tokens = [token] if token else []  # the valid tokens, oldest first, at most 2
        # Unauthenticated access works: the group has no token, or gained its first by ROTATE and
        # has had no SET since.
        self.open = not token

    def mark(self, status):
        self.model.status = status

    def label(self):
        return f"elasticache replication group {self.key}"

    def subject(self):
        return {"service": ELASTICACHE, "replication_group": self.key}

    def secrets(self):
        return list(self.tokens)

    def finish(self):
        if self.pending_action in ("rotate", "set"):
            self.model.auth_token_enabled = bool(self.tokens)
            self.model.auth_token_last_modified_date = utcnow()
        self.model.pending_modified_values = None
        self.model.status = "available"
        return f"available, {len(self.tokens)} token(s)" + (", open" if self.open else "")

    def rotate(self, token):
        """ROTATE: the token joins the newest one; of two held, the oldest goes. A token already
        held counts as a new one (AWS is silent): a blind re-send drops the oldest."""
        kept = self.tokens[1:] if len(self.tokens) == 2 else self.tokens
        self.tokens = [held for held in kept if held != token] + [token]

    def set(self, token):
        """SET: only the last token stays valid, and authentication becomes required."""
        service = ELASTICACHE
        one_rotated_in = len(self.tokens) == 1 and self.open
        if len(self.tokens) != 2 and not one_rotated_in:
            raise _error(
                service,
                "combination",
                "AuthTokenUpdateStrategy SET is allowed only when the replication group holds two "
                "AUTH tokens, or one from a ROTATE of a group without a token.",
            )
        if not hmac.compare_digest(token.encode(), self.tokens[-1].encode()):
            raise _error(service, "value", "SET must pass the AUTH token most recently rotated in.")
        self.tokens = [token]
        self.open = False


def check_token(token):
    """An AUTH token as the model's AuthToken documentation allows it."""
    service = ELASTICACHE
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        raise _error(service, "value", "The AUTH token must be 16 to 128 characters long.")
    if any(not 32 <= ord(c) <= 126 or c in FORBIDDEN_TOKEN_CHARACTERS for c in token):
        raise _error(
            service,
            "value",
            'The AUTH token must be printable ASCII characters other than / " @ %.',
        )
    return token


def _default_user_command(group, create=False):
    """The nodes' `default` user as the group's tokens make it: its passwords are the tokens.
    Creating the group also defines the user's rules (the kit's servers start with it off)."""
    command = ["ACL", "SETUSER", "default"]
    if create:
        command += ["reset", "on", "~*", "&*", "+@all"]
    if group.open:
        # Redis holds either passwords or nopass (`>` clears nopass, nopass drops the passwords):
        # while unauthenticated access must keep working, every password is accepted.
        return command + ["resetpass", "nopass"]
    return command + ["resetpass", *_password_rules(group.tokens)]


def begin_change(item, status, action, command, scope):
    """Marks `item` (a User or a Group) `status` until `command` has reached every node of
    `scope`."""
    with LOCK:
        item.mark(status)
        item.pending = command
        item.pending_action = action
        item.scope = scope.name
        item.generation += 1
        generation = item.generation
        delay = scope.modifying_seconds
    _schedule(item, generation, delay)


def _schedule(item, generation, delay):
    timer = threading.Timer(delay, _complete, args=(item, generation))
    timer.daemon = True
    timer.start()


def _complete(item, generation):
    with LOCK:
        if item.generation != generation or item.pending is None:
            return
        command = list(item.pending)
        action = item.pending_action
        scope = scope_named(item.scope)
        nodes = list(scope.nodes)
        secrets = item.secrets() + [node.secret() for node in nodes]
        label = f"{item.label()} ({action})"
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
        if item.generation != generation:
            return
        event = {**item.subject(), "action": action, "nodes": addresses}
        if failures:
            log(f"{label}: not applied, retrying in {RETRY_SECONDS}s: {'; '.join(failures)}")
            scope.record({**event, "result": "failed", "errors": failures})
            _schedule(item, generation, RETRY_SECONDS)
            return
        scope.record({**event, "result": "applied"})
        outcome = item.finish()
        item.pending = None
        item.pending_action = None
        log(f"{label}: applied to [{', '.join(addresses)}]; {outcome}")


# ---------------------------------------------------------------------------------------------
# The API operations, shared by both services where they agree.

CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/")


def _access_key(response):
    match = CREDENTIAL.search(response.headers.get("Authorization", "") or "")
    return match.group(1) if match else ""


def _admit(response, service, action):
    """The caller's scope, after counting the call and any injected throttling. Counted first, so
    that the throttled calls and those refused later count too."""
    scope = scope_for_key(_access_key(response))
    with LOCK:
        scope.count(service, action)
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


def _injected_busy(scope):
    """Whether an injected invalid state refuses this change (counted down per change refused)."""
    with LOCK:
        if scope.invalid_state_next <= 0:
            return False
        scope.invalid_state_next -= 1
    log(f"injected an invalid state into one change (scope {scope.name})")
    return True


def _require_active(service, user, scope):
    if user.status != "active" or _injected_busy(scope):
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
    scope = _admit(self, service, "CreateUser")
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
    scope = _admit(self, service, "ModifyUser")
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
        _require_active(service, user, scope)
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
    _admit(self, service, "DescribeUsers")
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
    scope = _admit(self, service, "DeleteUser")
    params = self._get_params()
    key = str(_require(service, params, "UserId")).lower()
    with LOCK:
        user = _find(service, _ec_store(self), key)
        if key == "default":
            raise _error(service, "value", "The default user cannot be deleted.")
        _require_active(service, user, scope)
        begin_change(user, "deleting", "delete", ["ACL", "DELUSER", user.login], scope)
        log(f"{service}: DeleteUser {key}")
        return ActionResult(user.view())


# ElastiCache replication groups: AUTH tokens --------------------------------------------------

# moto's own handler, which builds the group's model (members, endpoints, ARN) from the request.
_MOTO_CREATE_REPLICATION_GROUP = ElastiCacheResponse.create_replication_group

# What ModifyReplicationGroup may carry here: AUTH token changes only.
TOKEN_MODIFICATION = {
    "ReplicationGroupId",
    "AuthToken",
    "AuthTokenUpdateStrategy",
    "ApplyImmediately",
}


def _find_group(response, group_id):
    group = GROUPS.get((response.current_account, response.region, group_id))
    if group is None:
        raise _error(ELASTICACHE, "group_not_found", f"ReplicationGroup {group_id} not found.")
    return group


def _strategy(params):
    """The AuthTokenUpdateStrategy, checked against what is emulated; ROTATE when omitted."""
    service = ELASTICACHE
    strategy = params.get("AuthTokenUpdateStrategy")
    if params.get("AuthToken") is None:
        if strategy is not None:
            raise _error(service, "combination", "AuthTokenUpdateStrategy requires AuthToken.")
        raise _error(
            service, "combination", "No modifications were requested (only AuthToken is emulated)."
        )
    strategy = strategy or "ROTATE"
    if strategy == "DELETE":
        raise _error(service, "value", "AuthTokenUpdateStrategy DELETE is not emulated.")
    if strategy not in ("ROTATE", "SET"):
        raise _error(
            service, "value", f"Invalid AuthTokenUpdateStrategy {strategy}: use ROTATE or SET."
        )
    return strategy


def _require_apply_immediately(params):
    """The service keeps a change sent without ApplyImmediately (false by default) pending until
    the next maintenance window, which never comes here: refused, so that a caller that forgets
    it learns it at once."""
    if not _ec_bool(params.get("ApplyImmediately")):
        raise _error(
            ELASTICACHE,
            "value",
            "ApplyImmediately false is not emulated (the change would wait for the next "
            "maintenance window): send ApplyImmediately true.",
        )


def ec_create_replication_group(self):
    service = ELASTICACHE
    scope = _admit(self, service, "CreateReplicationGroup")
    params = self._get_params()
    group_id = _require(service, params, "ReplicationGroupId")
    token = params.get("AuthToken")
    if token is not None:
        check_token(token)
        if not _ec_bool(params.get("TransitEncryptionEnabled")):
            raise _error(
                service, "combination", "AuthToken requires TransitEncryptionEnabled true."
            )
    if params.get("UserGroupIds"):
        raise _error(service, "value", "User groups are not emulated.")
    with LOCK:
        _MOTO_CREATE_REPLICATION_GROUP(self)  # ReplicationGroupAlreadyExists from moto
        model = self.elasticache_backend.replication_groups[group_id]
        group = Group(model, self.current_account, self.region, token)
        GROUPS[(self.current_account, self.region, group_id)] = group
        begin_change(group, "creating", "create", _default_user_command(group, create=True), scope)
        log(f"{service}: CreateReplicationGroup {group_id} ({len(group.tokens)} AUTH token(s))")
        # A copy: the timer that completes the change must not alter the answer being serialised.
        return ActionResult({"ReplicationGroup": copy.copy(model)})


def ec_modify_replication_group(self):
    service = ELASTICACHE
    scope = _admit(self, service, "ModifyReplicationGroup")
    params = self._get_params()
    group_id = _require(service, params, "ReplicationGroupId")
    others = sorted(set(params) - TOKEN_MODIFICATION)
    if others:
        raise _error(
            service, "value", f"Only AUTH token changes are emulated, not {', '.join(others)}."
        )
    strategy = _strategy(params)
    token = check_token(params["AuthToken"])
    _require_apply_immediately(params)
    with LOCK:
        group = _find_group(self, group_id)
        if group.model.status != "available" or _injected_busy(scope):
            raise _error(
                service, "group_state", f"Replication group {group_id} is not in available state."
            )
        if not group.model.transit_encryption_enabled:
            raise _error(
                service, "combination", "AuthToken requires TransitEncryptionEnabled true."
            )
        if strategy == "ROTATE":
            group.rotate(token)
        else:
            group.set(token)
        group.model.pending_modified_values = {
            "AuthTokenStatus": "ROTATING" if strategy == "ROTATE" else "SETTING"
        }
        begin_change(group, "modifying", strategy.lower(), _default_user_command(group), scope)
        log(
            f"{service}: ModifyReplicationGroup {group_id} ({strategy}, "
            f"{len(group.tokens)} token(s) after)"
        )
        return ActionResult({"ReplicationGroup": copy.copy(group.model)})


def ec_describe_replication_groups(self):
    _admit(self, ELASTICACHE, "DescribeReplicationGroups")
    group_id = self._get_param("ReplicationGroupId")
    with LOCK:
        # moto's lookup (ReplicationGroupNotFoundFault, HTTP 404); copies, as in create.
        groups = self.elasticache_backend.describe_replication_groups(replication_group_id=group_id)
        return PaginatedResult({"ReplicationGroups": [copy.copy(g) for g in groups]})


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
    scope = _admit(self, service, "CreateUser")
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
    scope = _admit(self, service, "UpdateUser")
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
        _require_active(service, user, scope)
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
    _admit(self, service, "DescribeUsers")
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
    scope = _admit(self, service, "DeleteUser")
    params = _mdb_params(self)
    name = _require(service, params, "UserName")
    with LOCK:
        user = _find(service, _mdb_store(self), name)
        if name == "default":
            raise _error(service, "value", "The default user cannot be deleted.")
        _require_active(service, user, scope)
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
    ElastiCacheResponse.create_replication_group = ec_create_replication_group
    ElastiCacheResponse.modify_replication_group = ec_modify_replication_group
    ElastiCacheResponse.describe_replication_groups = ec_describe_replication_groups
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

