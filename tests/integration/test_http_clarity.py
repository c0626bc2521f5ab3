"""The natural mistakes of a first hour answer with what is wrong and how to fix it, and write nothing:
a body without its JSON content type, a token without `Bearer`, `?access_token=` on a JSON route, an
empty message, VNC asked while it is off."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from riadex.adapters.dynamodb.tables import ALL_TABLES
from riadex.bootstrap import Container, bootstrap
from riadex.entrypoints.http.app import create_app
from tests.conftest import make_settings


def _items() -> int:
    return sum(model.count() for model in ALL_TABLES)


def _token(client: TestClient) -> str:
    response = client.post("/api/v1/users", json={"name": "ada"})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["token"])


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "msg", "data"}
    assert body["code"] == status
    assert "Traceback" not in response.text
    return str(body["msg"])


def test_a_body_without_the_json_content_type_is_415_naming_the_header(client: TestClient) -> None:
    token = _token(client)
    before = _items()
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
        headers = {"Authorization": f"Bearer {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        msg = _error(client.put("/api/v1/sessions", content=b'{"title": "t"}', headers=headers), 415)
        assert "Content-Type: application/json" in msg, content_type
    users = client.post("/api/v1/users", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"})
    assert "Content-Type: application/json" in _error(users, 415)
    assert _items() == before


def test_json_content_types_and_bodiless_posts_pass(client: TestClient) -> None:
    token = _token(client)
    auth = {"Authorization": f"Bearer {token}"}
    for content_type in ("application/json", "application/json; charset=utf-8", "application/merge+json"):
        response = client.put(
            "/api/v1/sessions", content=b'{"title": "t"}', headers={**auth, "Content-Type": content_type}
        )
        assert response.status_code == 200, (content_type, response.text)
    sid = response.json()["data"]["session_id"]
    assert client.post(f"/api/v1/sessions/{sid}/stop", headers=auth).status_code == 200
    assert client.put("/api/v1/sessions", headers=auth).status_code == 200


def test_a_token_without_bearer_says_what_is_wrong(client: TestClient) -> None:
    token = _token(client)
    for header, expected in (
        ("{token}", "Bearer scheme"),
        ("Token {token}", "uses the Token scheme"),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "uses the Basic scheme"),
        ("Bearer ", "Bearer"),
    ):
        response = client.get("/api/v1/sessions", headers={"Authorization": header.format(token=token)})
        msg = _error(response, 401)
        assert expected in msg, header
        assert "Authorization: Bearer <token>" in msg or "no token" in msg
        assert response.headers["www-authenticate"] == "Bearer"
    lowercase = client.get("/api/v1/sessions", headers={"Authorization": f"bearer {token}"})
    assert lowercase.status_code == 200, lowercase.text


def test_no_token_at_all_names_the_header(client: TestClient) -> None:
    assert "Authorization: Bearer <token>" in _error(client.get("/api/v1/sessions"), 401)


def test_access_token_is_accepted_on_streams_only(client: TestClient) -> None:
    token = _token(client)
    auth = {"Authorization": f"Bearer {token}"}
    sid = client.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
    msg = _error(client.get(f"/api/v1/sessions/{sid}?access_token={token}"), 401)
    assert "only on event streams and VNC" in msg
    _error(client.post(f"/api/v1/sessions/{sid}/stop?access_token={token}"), 401)
    # A stream with ?after= at the head of an empty session: the cursor 0 is valid; 401 would be auth.
    stream_msg = _error(client.get(f"/api/v1/sessions/{sid}/events?after=5&access_token={token}"), 400)
    assert "beyond" in stream_msg
    assert "or ?access_token=<token>" in _error(client.get(f"/api/v1/sessions/{sid}/events"), 401)


def test_an_empty_message_is_422_and_writes_nothing(client: TestClient) -> None:
    token = _token(client)
    auth = {"Authorization": f"Bearer {token}"}
    sid = client.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
    before = _items()
    for message in ("", "   ", "\n\t"):
        response = client.post(f"/api/v1/sessions/{sid}/messages", json={"message": message}, headers=auth)
        assert "message must not be empty" in str(response.json()["data"])
        _error(response, 422)
        chat = client.post(f"/api/v1/sessions/{sid}/chat", json={"message": message}, headers=auth)
        _error(chat, 422)
    assert _items() == before


def test_vnc_while_off_is_409_saying_how_to_turn_it_on(moto_endpoint: str) -> None:
    container: Container = bootstrap(make_settings(moto_endpoint, sandbox_vnc=False))
    from riadex.adapters.dynamodb import tables

    tables.create_all()
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        token = _token(client)
        auth = {"Authorization": f"Bearer {token}"}
        sid = client.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
        msg = _error(client.get(f"/api/v1/sessions/{sid}/vnc", headers=auth), 409)
        assert "SANDBOX_VNC=true" in msg
        # The VNC URL is one of the two places that take ?access_token= (a browser opens it).
        assert "SANDBOX_VNC=true" in _error(
            client.get(f"/api/v1/sessions/{sid}/vnc?access_token={token}"), 409
        )


def test_the_docs_page_loads_its_assets_from_the_server_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text
    scripts = re.findall(r'src="([^"]+\.js)"', page.text)
    styles = re.findall(r'href="([^"]+\.css)"', page.text)
    assert scripts
    assert styles
    for asset in [*scripts, *styles]:
        assert asset.startswith("/"), asset  # served here
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 1000
    assert client.get("/openapi.json").json()["info"]["title"] == "Riadex"
