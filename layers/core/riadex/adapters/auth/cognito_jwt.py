"""Verifying Cognito user-pool JWTs ourselves, for the stream routes' Lambda authorizer.

API Gateway's Cognito authorizer reads only a header, and a browser's EventSource cannot send one, so
the SSE routes sit behind a REQUEST authorizer that accepts the token from `Authorization` or from
`?access_token=` and checks it here: RS256 signature against the pool's JWKS (cached across warm
invocations), issuer, expiry, token_use, and the app client (`aud` on ID tokens, `client_id` on access
tokens).
"""

from __future__ import annotations

from collections.abc import Collection

import jwt

from riadex.domain.errors import Unauthorized


def issuer_for(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoJwtVerifier:
    def __init__(self, issuer: str, client_ids: Collection[str], jwks_url: str | None = None) -> None:
        if not client_ids:
            raise ValueError("at least one Cognito app client id is needed")
        self.issuer = issuer
        self.client_ids = frozenset(client_ids)
        self._jwks = jwt.PyJWKClient(
            jwks_url or f"{issuer}/.well-known/jwks.json", cache_keys=True, lifespan=3600, timeout=5
        )

    def verify(self, token: str) -> str:
        """The token's subject (`sub`); Unauthorized naming what failed for anything that does not verify."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key
        except jwt.DecodeError:
            raise Unauthorized("malformed token") from None
        except jwt.PyJWKClientError:
            raise Unauthorized("unknown signing key") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["sub", "exp", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("bad signature") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthorized("algorithm not allowed") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"missing claim {exc.claim}") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        client_claim = {"id": "aud", "access": "client_id"}.get(claims["token_use"])
        if client_claim is None:
            raise Unauthorized("token_use must be id or access")
        client = claims.get(client_claim)
        if client not in self.client_ids:
            raise Unauthorized("token of another app client")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("invalid token")
        return subject
