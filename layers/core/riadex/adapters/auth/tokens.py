"""Local-mode bearer tokens: HS256 JWTs signed with the configured secret (docs/api.md)."""

from __future__ import annotations

from datetime import timedelta

from riadex.domain.errors import Unauthorized
from riadex.domain.models import User, utcnow

_ISSUER = "riadex-local"
_ALGORITHM = "HS256"


class HS256Tokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        if len(secret) < 32:
            raise ValueError("AUTH_SECRET must be at least 32 characters")
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)

    def issue(self, user: User) -> str:
        now = utcnow()
        claims = {"sub": user.user_id, "name": user.name, "iss": _ISSUER, "iat": now, "exp": now + self._ttl}
        import jwt  # PyJWT pulls http.client and ssl (its JWKS client): only where tokens are signed

        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> str:
        """The user id the token was issued to; Unauthorized if it is forged, expired or malformed."""
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("invalid token")
        return subject
