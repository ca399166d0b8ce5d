"""moto's server, with one difference from Secrets Manager taken out.

Secrets Manager never changes a version once it has a value: PutSecretValue with a token whose
version already holds other data fails with ResourceExistsException. moto lets any version labelled
AWSPENDING be overwritten, which would hide whether a retried createSecret keeps its first value.
Here only the empty version RotateSecret makes may be filled; anything else defers to moto.

It also serves the Redis users of ElastiCache and MemoryDB through their control-plane APIs,
applied to real redis-servers: managed_redis_emulator.py beside this file says what is emulated.
lambda_emulator.py beside it serves deployed functions' packages and stages RotateSecret without
running any function (never Docker). iam_call_recorder.py records the calls the project's own
processes make, for the IAM proof.
Arguments are moto_server's, plus `--iam-call-log PATH` for the recorder.
"""

import sys

import iam_call_recorder
import lambda_emulator
import managed_redis_emulator
from moto.secretsmanager import models
from moto.secretsmanager.exceptions import ResourceExistsException
from moto.server import main

_moto_check = models.SecretsManagerBackend._check_with_existing_secrets_and_versions


def _stored_versions_are_immutable(
    self, secret_name, client_request_token, secret_string, secret_binary, on_create=False
):
    if client_request_token and secret_name in self.secrets.keys():
        secret = self.secrets[secret_name]
        version = getattr(secret, "versions", {}).get(client_request_token)
        has_value = version is not None and (
            version.get("secret_string") is not None or version.get("secret_binary") is not None
        )
        if has_value:
            if (version.get("secret_string"), version.get("secret_binary")) == (
                secret_string,
                secret_binary,
            ):
                return secret
            raise ResourceExistsException(
                f"You can't use ClientRequestToken {client_request_token} because that value "
                f"is already in use for a version of secret {secret.arn}."
            )
    return _moto_check(
        self, secret_name, client_request_token, secret_string, secret_binary, on_create
    )


models.SecretsManagerBackend._check_with_existing_secrets_and_versions = (
    _stored_versions_are_immutable
)

managed_redis_emulator.install()
# After the others: its /_emulator/ routes come first, the rest go on to theirs.
lambda_emulator.install()
# Last: it sees every request before the others do.
ARGS = iam_call_recorder.install(sys.argv[1:])

if __name__ == "__main__":
    sys.exit(main(ARGS))
