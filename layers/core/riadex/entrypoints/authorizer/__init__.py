"""The Lambda REQUEST authorizer of the stream routes (see adapters/auth/cognito_jwt.py for why)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riadex.adapters.auth.cognito_jwt import CognitoJwtVerifier, issuer_for
from riadex.config import Settings
from riadex.domain.errors import Unauthorized


class Denied(Exception):
    """API Gateway answers 401 when a Lambda authorizer raises with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def build_verifier(settings: Settings) -> CognitoJwtVerifier:
    if not settings.cognito_user_pool_id and not settings.cognito_issuer:
        raise ValueError("COGNITO_USER_POOL_ID (or COGNITO_ISSUER) must be set for the authorizer")
    issuer = settings.cognito_issuer or issuer_for(settings.aws_region, str(settings.cognito_user_pool_id))
    client_ids = [c.strip() for c in settings.cognito_client_ids.split(",") if c.strip()]
    return CognitoJwtVerifier(issuer, client_ids, settings.cognito_jwks_url)


def token_of(event: Mapping[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme, _, credentials = str(headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    token = (event.get("queryStringParameters") or {}).get("access_token")
    return str(token) if token else None


def authorize(event: Mapping[str, Any], verifier: CognitoJwtVerifier) -> dict[str, Any]:
    """An Allow policy for this method with the subject in the context; Denied (401) otherwise."""
    token = token_of(event)
    if token is None:
        raise Denied
    try:
        subject = verifier.verify(token)
    except Unauthorized:
        raise Denied from None
    return {
        "principalId": subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"sub": subject},
    }
