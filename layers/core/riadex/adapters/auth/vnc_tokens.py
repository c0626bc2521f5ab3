"""Short-lived tokens for the VNC WebSocket: a browser cannot set headers on a WebSocket, so the URL
carries a token bound to one user and one session, valid for about a minute (docs/api.md).

A different issuer and audience from the bearer tokens: a VNC token can never be used as a login.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from riadex.domain.errors import Unauthorized
from riadex.domain.models import utcnow

_ISSUER = "riadex-vnc"
_AUDIENCE = "riadex-vnc"
_ALGORITHM = "HS256"


class VncTokens:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)

    def issue(self, owner_id: str, session_id: str) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + self._ttl
        claims = {
            "sub": owner_id,
            "sid": session_id,
            "iss": _ISSUER,
            "aud": _AUDIENCE,
            "iat": now,
            "exp": expires,
        }
        import jwt  # PyJWT pulls http.client and ssl (its JWKS client): only where tokens are signed

        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expires

    def verify(self, token: str, session_id: str) -> str:
        """The owner the token was issued to, if it is for this session and still valid."""
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                audience=_AUDIENCE,
                options={"require": ["sub", "sid", "exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("VNC token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid VNC token") from None
        if claims.get("sid") != session_id or not isinstance(claims.get("sub"), str):
            raise Unauthorized("invalid VNC token")
        return str(claims["sub"])
