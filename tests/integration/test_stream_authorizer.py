"""The SSE routes' Lambda authorizer: real RS256 JWTs checked against a JWKS served on localhost."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
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


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        _token(key=OTHER_KEY),
        _token(kid="unknown"),
        _token(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        _token(aud="another-client"),
        _token(exp=int(time.time()) - 10),
        _token(token_use="refresh"),
        _token(token_use=None),
        jwt.encode(
            {"sub": "x", "iss": ISSUER, "token_use": "id", "aud": CLIENT, "exp": 9999999999}, "k" * 32
        ),
    ],
    ids=[
        "none",
        "garbage",
        "wrong-key",
        "unknown-kid",
        "wrong-issuer",
        "wrong-client",
        "expired",
        "refresh",
        "no-token-use",
        "hs256",
    ],
)
def test_refused_with_401(jwks_url: str, token: str | None) -> None:
    with pytest.raises(Denied, match=r"^Unauthorized$"):
        authorize(_event(token), CognitoJwtVerifier(ISSUER, [CLIENT], jwks_url))


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
