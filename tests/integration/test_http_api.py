"""The JSON API over moto-backed DynamoDB: the happy path, isolation, and bad input that writes nothing."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from riadex.adapters.dynamodb.tables import ALL_TABLES
from riadex.bootstrap import Container
from riadex.domain import ids


def _items() -> int:
    return sum(model.count() for model in ALL_TABLES)


def _user(client: TestClient, name: str = "ada") -> dict[str, str]:
    response = client.post("/api/v1/users", json={"name": name})
    assert response.status_code == 200, response.text
    data: dict[str, str] = response.json()["data"]
    return {"Authorization": f"Bearer {data['token']}"}


def _assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "msg", "data"}
    assert body["code"] == status
    assert body["msg"]
    assert "Traceback" not in response.text
    return body


def test_health_needs_no_auth(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["code"] == 0
    assert body["data"]["status"] == "ok"
    assert body["data"]["version"]


def test_session_lifecycle(client: TestClient) -> None:
    auth = _user(client)
    created = client.put("/api/v1/sessions", json={"title": "first"}, headers=auth).json()["data"]
    assert created["title"] == "first"
    assert created["status"] == "idle"
    assert created["active_run_id"] is None
    assert created["sandbox"] is None
    untitled = client.put("/api/v1/sessions", headers=auth).json()["data"]

    listed = client.get("/api/v1/sessions", headers=auth).json()["data"]
    assert [s["session_id"] for s in listed["sessions"]] == [untitled["session_id"], created["session_id"]]
    assert listed["next_cursor"] is None

    got = client.get(f"/api/v1/sessions/{created['session_id']}", headers=auth).json()["data"]
    assert got["events"] == []
    assert got["title"] == "first"

    stopped = client.post(f"/api/v1/sessions/{created['session_id']}/stop", headers=auth)
    assert stopped.json()["data"]["session_id"] == created["session_id"]

    deleted = client.delete(f"/api/v1/sessions/{created['session_id']}", headers=auth)
    assert deleted.json() == {"code": 0, "msg": "success", "data": {}}
    _assert_error(client.get(f"/api/v1/sessions/{created['session_id']}", headers=auth), 404)


def test_list_pages_with_cursor(client: TestClient) -> None:
    auth = _user(client)
    made = [
        client.put("/api/v1/sessions", json={"title": f"s{i}"}, headers=auth).json()["data"] for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/sessions", params=params, headers=auth).json()["data"]
        seen += [s["session_id"] for s in page["sessions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [s["session_id"] for s in reversed(made)]


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/stop")], ids=["get", "delete", "stop"]
)
def test_another_users_session_is_not_found(client: TestClient, method: str, suffix: str) -> None:
    alice, bob = _user(client, "alice"), _user(client, "bob")
    sid = client.put("/api/v1/sessions", headers=alice).json()["data"]["session_id"]
    _assert_error(client.request(method, f"/api/v1/sessions/{sid}{suffix}", headers=bob), 404)
    assert client.get(f"/api/v1/sessions/{sid}", headers=alice).status_code == 200
    assert client.get("/api/v1/sessions", headers=bob).json()["data"]["sessions"] == []


class TestBadInputWritesNothing:
    def test_malformed_json(self, client: TestClient) -> None:
        auth = _user(client)
        before = _items()
        response = client.put(
            "/api/v1/sessions", content=b'{"title": ', headers={**auth, "Content-Type": "application/json"}
        )
        _assert_error(response, 400)
        _assert_error(
            client.post("/api/v1/users", content=b"{nope", headers={"Content-Type": "application/json"}), 400
        )
        assert _items() == before

    @pytest.mark.parametrize(
        "body", [{"title": 42}, {"title": ["a"]}, {"title": "x" * 201}, {"unknown": 1}, [1, 2]], ids=str
    )
    def test_wrong_types(self, client: TestClient, body: Any) -> None:
        auth = _user(client)
        before = _items()
        body_out = _assert_error(client.put("/api/v1/sessions", json=body, headers=auth), 422)
        assert isinstance(body_out["data"], list)
        assert _items() == before

    @pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": 5}, {"name": "x" * 101}], ids=str)
    def test_bad_user(self, client: TestClient, body: Any) -> None:
        before = _items()
        _assert_error(client.post("/api/v1/users", json=body), 422)
        assert _items() == before

    @pytest.mark.parametrize("query", ["limit=0", "limit=1000", "limit=abc", "limit=-1"])
    def test_limit_out_of_range(self, client: TestClient, query: str) -> None:
        auth = _user(client)
        _assert_error(client.get(f"/api/v1/sessions?{query}", headers=auth), 422)

    def test_bad_cursor(self, client: TestClient) -> None:
        auth = _user(client)
        _assert_error(client.get("/api/v1/sessions?cursor=garbage", headers=auth), 400)

    @pytest.mark.parametrize("sid", [ids.new_id("ses"), "nope", "ses_../../x", ids.new_id("usr"), "a" * 300])
    def test_unknown_or_malformed_session(self, client: TestClient, sid: str) -> None:
        auth = _user(client)
        before = _items()
        _assert_error(client.get(f"/api/v1/sessions/{sid}", headers=auth), 404)
        _assert_error(client.delete(f"/api/v1/sessions/{sid}", headers=auth), 404)
        _assert_error(client.post(f"/api/v1/sessions/{sid}/stop", headers=auth), 404)
        assert _items() == before

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer not-a-jwt"},
            {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
            {
                "Authorization": "Bearer "
                + jwt.encode({"sub": "usr_x", "iss": "riadex-local", "exp": 9999999999}, "x" * 40)
            },
        ],
        ids=["missing", "empty", "garbage", "basic", "forged"],
    )
    def test_missing_or_forged_token(self, client: TestClient, headers: dict[str, str]) -> None:
        before = _items()
        for response in (
            client.put("/api/v1/sessions", headers=headers),
            client.get("/api/v1/sessions", headers=headers),
        ):
            body = _assert_error(response, 401)
            assert body["data"] is None
            assert response.headers["www-authenticate"] == "Bearer"
        assert _items() == before

    def test_expired_token(self, client: TestClient, container: Container) -> None:
        token = jwt.encode(
            {"sub": "usr_x", "iss": "riadex-local", "exp": 1000},
            container.settings.auth_secret,
            algorithm="HS256",
        )
        body = _assert_error(
            client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}), 401
        )
        assert "expired" in body["msg"]

    def test_oversize_body(self, client: TestClient, container: Container) -> None:
        auth = _user(client)
        before = _items()
        big = b'{"title": "' + b"x" * container.settings.max_body_bytes + b'"}'
        response = client.put(
            "/api/v1/sessions", content=big, headers={**auth, "Content-Type": "application/json"}
        )
        _assert_error(response, 413)

        def chunks() -> Any:
            yield b'{"title": "'
            for _ in range(container.settings.max_body_bytes // 1024 + 1):
                yield b"x" * 1024
            yield b'"}'

        streamed = client.put(
            "/api/v1/sessions", content=chunks(), headers={**auth, "Content-Type": "application/json"}
        )
        _assert_error(streamed, 413)
        assert _items() == before

    def test_unknown_route_and_method(self, client: TestClient) -> None:
        _assert_error(client.get("/api/v1/nope"), 404)
        _assert_error(client.patch("/api/v1/health"), 405)

    def test_access_token_query_is_refused_on_json_routes(self, client: TestClient) -> None:
        # Only streams and VNC take ?access_token= (tests/integration/test_http_clarity.py).
        auth = _user(client)
        token = auth["Authorization"].removeprefix("Bearer ")
        body = _assert_error(client.get(f"/api/v1/sessions?access_token={token}"), 401)
        assert "only on event streams" in body["msg"]
