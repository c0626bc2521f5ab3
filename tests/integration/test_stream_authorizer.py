"""The SSE routes' Lambda authorizer: real RS256 JWTs checked against a JWKS served on localhost."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from riadex.adapters.auth.cognito import subject_from_request_context
from riadex.adapters.auth.cognito_jwt import CognitoJwtVerifier
from riadex.config import get_settings
from riadex.domain.errors import Unauthorized
from riadex.entrypoints.authorizer import Denied, authorize

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
CLIENT = "client-abc"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    public = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def _token(key: Any = KEY, kid: str = "k1", **overrides: Any) -> str:
    claims = {
        "sub": "user-sub-1",
        "iss": ISSUER,
        "token_use": "id",
        "aud": CLIENT,
        "exp": int(time.time()) + 600,
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _event(token: str | None = None, header: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "tests/events/apigw_authorizer_request.json").read_text())
    event["queryStringParameters"] = {"access_token": token} if token else None
    if header:
        event["headers"]["Authorization"] = header
    return event


def test_query_token_is_allowed_with_the_subject(jwks_url: str) -> None:
    event = _event(_token())
    policy = authorize(event, CognitoJwtVerifier(ISSUER, [CLIENT], jwks_url))
    assert policy["principalId"] == "user-sub-1"
    assert policy["context"] == {"sub": "user-sub-1"}
    [statement] = policy["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    # What the stream function then reads from the request context API Gateway builds from it.
    assert subject_from_request_context(
        {"authorizer": {"principalId": "user-sub-1", "sub": "user-sub-1"}}
    ) == ("user-sub-1")


def test_header_token_and_access_tokens_are_allowed(jwks_url: str) -> None:
    verifier = CognitoJwtVerifier(ISSUER, [CLIENT], jwks_url)
    access = _token(token_use="access", aud=None, client_id=CLIENT)
    assert authorize(_event(header=f"Bearer {access}"), verifier)["principalId"] == "user-sub-1"


def _hs256() -> str:
    claims = {"sub": "x", "iss": ISSUER, "token_use": "id", "aud": CLIENT, "exp": int(time.time()) + 600}
    return jwt.encode(claims, "k" * 32, headers={"kid": "k1"})


# Each token is minted when its case runs (valid for 10 minutes from then), so only the one property
# under test is wrong, and the refusal must name that property.
REFUSED: dict[str, tuple[Callable[[], str], str]] = {
    "garbage": (lambda: "not-a-jwt", "malformed token"),
    "wrong-key": (lambda: _token(key=OTHER_KEY), "bad signature"),
    "unknown-kid": (lambda: _token(kid="unknown"), "unknown signing key"),
    "wrong-issuer": (
        lambda: _token(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        "wrong issuer",
    ),
    "wrong-client": (lambda: _token(aud="another-client"), "token of another app client"),
    "wrong-access-client": (
        lambda: _token(token_use="access", aud=None, client_id="another-client"),
        "token of another app client",
    ),
    "expired": (lambda: _token(exp=int(time.time()) - 10), "token has expired"),
    "refresh": (lambda: _token(token_use="refresh"), "token_use must be id or access"),
    "no-token-use": (lambda: _token(token_use=None), "missing claim token_use"),
    "hs256": (_hs256, "algorithm not allowed"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_with_401_for_the_right_reason(jwks_url: str, case: str) -> None:
    mint, reason = REFUSED[case]
    token = mint()
    verifier = CognitoJwtVerifier(ISSUER, [CLIENT], jwks_url)
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(token)
    assert str(refused.value) == reason
    with pytest.raises(Denied, match=r"^Unauthorized$"):  # API Gateway's 401 needs exactly this message
        authorize(_event(token), verifier)


def test_no_token_is_refused_with_401(jwks_url: str) -> None:
    with pytest.raises(Denied, match=r"^Unauthorized$"):
        authorize(_event(None), CognitoJwtVerifier(ISSUER, [CLIENT], jwks_url))


def test_the_function_entry_builds_from_its_environment(
    jwks_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_ISSUER", ISSUER)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", f"other, {CLIENT}")
    monkeypatch.setenv("COGNITO_JWKS_URL", jwks_url)
    get_settings.cache_clear()
    try:
        spec = importlib.util.spec_from_file_location("authorizer", ROOT / "functions/authorizer/handler.py")
        assert spec
        assert spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.handler(_event(_token()), object())["principalId"] == "user-sub-1"
    finally:
        get_settings.cache_clear()
