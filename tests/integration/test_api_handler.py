"""functions/api/handler.py fed API Gateway REST proxy events with Cognito claims (tests/events/)."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from riadex.adapters.dynamodb import tables
from riadex.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


class LambdaContext:
    function_name = "riadex-api"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:riadex-api"
    aws_request_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


@pytest.fixture
def handler(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The handler module loaded the way Lambda loads it: settings from the environment only."""
    monkeypatch.setenv("AUTH_MODE", "cognito")
    monkeypatch.delenv("AUTH_SECRET", raising=False)
    for key in ("users_table", "sessions_table", "runs_table", "events_table", "dynamodb_endpoint"):
        monkeypatch.setenv(key.upper(), str(getattr(settings, key)))
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location("api_handler", ROOT / "functions" / "api" / "handler.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables.create_all()
    yield module
    get_settings.cache_clear()


def _call(handler: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler.handler(event, LambdaContext())
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_create_and_list_sessions_as_the_cognito_user(handler: ModuleType) -> None:
    status, body = _call(handler, _event("apigw_put_session"))
    assert status == 200
    assert body["code"] == 0
    assert body["msg"] == "success"
    assert body["data"]["title"] == "from the handler"
    assert body["data"]["session_id"].startswith("ses_")

    status, listed = _call(handler, _event("apigw_list_sessions"))
    assert status == 200
    assert [s["session_id"] for s in listed["data"]["sessions"]] == [body["data"]["session_id"]]


def test_sessions_belong_to_the_claims_subject(handler: ModuleType) -> None:
    _call(handler, _event("apigw_put_session"))
    other = _event("apigw_list_sessions")
    other["requestContext"]["authorizer"]["claims"]["sub"] = "someone-else"
    status, body = _call(handler, other)
    assert status == 200
    assert body["data"]["sessions"] == []


def test_no_claims_is_401_in_the_envelope(handler: ModuleType) -> None:
    event = copy.deepcopy(_event("apigw_list_sessions"))
    del event["requestContext"]["authorizer"]
    status, body = _call(handler, event)
    assert status == 401
    assert body == {"code": 401, "msg": "no verified identity on the request", "data": None}


def test_users_route_is_not_served_in_cognito_mode(handler: ModuleType) -> None:
    event = _event("apigw_put_session")
    event.update(path="/api/v1/users", httpMethod="POST", body='{"name": "x"}')
    status, body = _call(handler, event)
    assert (status, body) == (404, {"code": 404, "msg": "Not Found", "data": None})


def test_health(handler: ModuleType) -> None:
    status, body = _call(handler, _event("apigw_health"))
    assert status == 200
    assert body["data"]["status"] == "ok"
