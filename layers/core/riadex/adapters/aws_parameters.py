"""Secrets that live in SSM Parameter Store or Secrets Manager in AWS, read through Powertools.

Locally a key comes from the environment (`OPENAI_API_KEY`); in AWS the template passes the name of a
parameter instead (`OPENAI_API_KEY_PARAM`), so the key never sits in a function's configuration.
Powertools caches the value for `max_age` seconds across warm invocations. Powertools and boto3 are
imported on first use only.

`param` forms: an SSM parameter name (`/riadex/<stack>/openai-api-key`, SecureString decrypted), a Secrets
Manager ARN (`arn:aws:secretsmanager:...`) or `secretsmanager:<secret name>`.
"""

from __future__ import annotations

from pydantic import SecretStr

DEFAULT_MAX_AGE_SECONDS = 300
_SECRETS_PREFIX = "secretsmanager:"


def read_parameter(param: str, *, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> str:
    from aws_lambda_powertools.utilities import parameters

    if param.startswith("arn:aws:secretsmanager:") or param.startswith(_SECRETS_PREFIX):
        value = parameters.get_secret(param.removeprefix(_SECRETS_PREFIX), max_age=max_age)
    else:
        value = parameters.get_parameter(param, decrypt=True, max_age=max_age)
    return str(value)


def resolve_secret(
    value: SecretStr | None, param: str | None, *, max_age: int = DEFAULT_MAX_AGE_SECONDS
) -> str | None:
    """The secret given directly, else the one stored under `param`, else None."""
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if param:
        return read_parameter(param, max_age=max_age).strip() or None
    return None
