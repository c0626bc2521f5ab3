"""Bad bodies over HTTP, on the routes that start work or read the sandbox: each is a clear 4xx in the
envelope (docs/api.md: 400 not JSON, 422 wrong values), and nothing is written (no run, no event, no
execution). Another user's session is a 404."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from riadex.bootstrap import Container
from tests.integration.runs.helpers import new_session, new_user

MESSAGES_BAD: list[tuple[str, dict[str, Any], int]] = [
    (
        "malformed-json",
        {"content": b'{"message": "hi"', "headers": {"Content-Type": "application/json"}},
        400,
    ),
    ("not-an-object", {"json": ["hi"]}, 422),
    ("message-a-number", {"json": {"message": 123}}, 422),
    ("message-missing", {"json": {}}, 422),
    ("message-blank", {"json": {"message": "   "}}, 422),
    ("attachments-not-a-list", {"json": {"message": "hi", "attachments": "fil_1"}}, 422),
    ("attachment-not-a-file-id", {"json": {"message": "hi", "attachments": ["../etc/passwd"]}}, 422),
    ("too-many-attachments", {"json": {"message": "hi", "attachments": [f"fil_{'a' * 32}"] * 21}}, 422),
    ("idempotency-key-too-long", {"json": {"message": "hi"}, "headers": {"Idempotency-Key": "k" * 201}}, 422),
    (
        "idempotency-key-not-printable",
        {"json": {"message": "hi"}, "headers": {"Idempotency-Key": "a\tb"}},
        422,
    ),
]


def _nothing_written(container: Container, sid: str) -> None:
    assert container.runs.list_for_session(sid) == []
    assert container.events.read(sid, 0, None) == []
    session = container.sessions.get(sid)
    assert session is not None
    assert (session.active_run_id, session.last_seq) == (None, 0)


def _executions(container: Container) -> int:
    arn = container.settings.state_machine_arn
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return len(sfn.list_executions(stateMachineArn=arn)["executions"])


@pytest.mark.parametrize(("case", "request_kwargs", "status"), MESSAGES_BAD, ids=[c[0] for c in MESSAGES_BAD])
def test_bad_message_bodies_are_4xx_and_write_nothing(
    client: TestClient, container: Container, case: str, request_kwargs: dict[str, Any], status: int
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    executions = _executions(container)
    headers = {**auth, **request_kwargs.pop("headers", {})}
    for route in ("messages", "chat"):
        if route == "chat" and "attachments" in str(request_kwargs):
            continue  # /chat takes no attachments
        response = client.post(f"/api/v1/sessions/{sid}/{route}", headers=headers, **request_kwargs)
        assert response.status_code == status, (route, response.text)
        body = response.json()
        assert set(body) == {"code", "msg", "data"}
        assert body["code"] == status
        assert body["msg"]
        assert "Traceback" not in response.text
    _nothing_written(container, sid)
    assert _executions(container) == executions


def test_another_users_session_is_404_on_messages_chat_and_the_views(
    client: TestClient, container: Container
) -> None:
    auth, eve = new_user(client), new_user(client, "eve")
    sid = new_session(client, auth)
    for method, path, body in (
        ("POST", f"/api/v1/sessions/{sid}/messages", {"message": "mine now?"}),
        ("POST", f"/api/v1/sessions/{sid}/chat", {"message": "mine now?"}),
        ("POST", f"/api/v1/sessions/{sid}/file", {"file": "notes.txt"}),
        ("POST", f"/api/v1/sessions/{sid}/shell", {"session_id": "default"}),
    ):
        response = client.request(method, path, json=body, headers=eve)
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"code": 404, "msg": "session not found", "data": None}
    _nothing_written(container, sid)


@pytest.mark.parametrize(
    ("path", "body"),
    [("file", {"file": 5}), ("file", {}), ("shell", {"session_id": ["x"]})],
)
def test_bad_view_bodies_are_4xx_and_start_no_sandbox(
    client: TestClient, container: Container, path: str, body: dict[str, Any]
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    response = client.post(f"/api/v1/sessions/{sid}/{path}", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"code", "msg", "data"}
    assert container.sessions.get(sid).sandbox is None  # type: ignore[union-attr]
    _nothing_written(container, sid)
