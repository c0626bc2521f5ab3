from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from riadex.adapters.auth.cognito import subject_from_scope
from riadex.adapters.auth.tokens import HS256Tokens
from riadex.config import Settings
from riadex.domain.errors import Unauthorized
from riadex.domain.models import User

SECRET = "s" * 40
USER = User(user_id="usr_" + "a" * 32, name="ada", created_at=datetime.now(UTC))


class TestLocalTokens:
    def test_round_trip(self) -> None:
        tokens = HS256Tokens(SECRET, 60)
        assert tokens.verify(tokens.issue(USER)) == USER.user_id

    def test_token_is_signed_not_the_id_in_clear(self) -> None:
        token = HS256Tokens(SECRET, 60).issue(USER)
        assert token != USER.user_id
        assert jwt.get_unverified_header(token)["alg"] == "HS256"

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "abc.def.ghi",
            jwt.encode(
                {"sub": "usr_x", "iss": "riadex-local", "exp": 9999999999}, "other" * 10, algorithm="HS256"
            ),
            jwt.encode({"sub": "usr_x", "exp": 9999999999}, SECRET, algorithm="HS256"),
            jwt.encode({"sub": "usr_x", "iss": "riadex-local"}, SECRET, algorithm="HS256"),
            jwt.encode({"sub": "usr_x", "iss": "riadex-local", "exp": 9999999999}, None, algorithm="none"),
        ],
        ids=["empty", "garbage", "other-secret", "no-issuer", "no-expiry", "alg-none"],
    )
    def test_refused(self, token: str) -> None:
        with pytest.raises(Unauthorized):
            HS256Tokens(SECRET, 60).verify(token)

    def test_expired(self) -> None:
        token = HS256Tokens(SECRET, 1).issue(USER)
        with pytest.raises(Unauthorized, match="expired"):
            HS256Tokens(SECRET, 1).verify(_expired(token))

    def test_short_secret_is_refused(self) -> None:
        with pytest.raises(ValueError, match="32"):
            HS256Tokens("short", 60)


def _expired(token: str) -> str:
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    claims["exp"] = 1000
    return jwt.encode(claims, SECRET, algorithm="HS256")


class TestCognito:
    CONTEXT = {"authorizer": {"claims": {"sub": "cognito-sub-1"}}}

    def test_from_mangum_scope(self) -> None:
        assert subject_from_scope({"aws.event": {"requestContext": self.CONTEXT}}, {}) == "cognito-sub-1"

    def test_from_lambda_web_adapter_header(self) -> None:
        headers = {"x-amzn-request-context": json.dumps(self.CONTEXT)}
        assert subject_from_scope({}, headers) == "cognito-sub-1"

    @pytest.mark.parametrize(
        ("scope", "headers"),
        [
            ({}, {}),
            ({"aws.event": {"requestContext": {}}}, {}),
            ({"aws.event": {"requestContext": {"authorizer": {"claims": {"sub": ""}}}}}, {}),
            ({}, {"x-amzn-request-context": "not json"}),
        ],
    )
    def test_no_identity(self, scope: dict[str, object], headers: dict[str, str]) -> None:
        with pytest.raises(Unauthorized):
            subject_from_scope(scope, headers)


class TestSecret:
    def test_generated_once_and_kept(self, tmp_path: Path) -> None:
        settings = Settings.model_validate({"RIADEX_DATA_DIR": tmp_path})
        first = settings.resolved_auth_secret()
        assert len(first) >= 32
        assert Settings.model_validate({"RIADEX_DATA_DIR": tmp_path}).resolved_auth_secret() == first
        assert (tmp_path / "auth_secret").stat().st_mode & 0o777 == 0o600

    def test_configured_secret_wins(self, tmp_path: Path) -> None:
        settings = Settings.model_validate({"RIADEX_DATA_DIR": tmp_path, "auth_secret": SECRET})
        assert settings.resolved_auth_secret() == SECRET
        assert not (tmp_path / "auth_secret").exists()
