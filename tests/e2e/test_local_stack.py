"""The local stack, started as `make dev` starts it, driven over HTTP like a newcomer would."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import launch, running_stack

pytestmark = pytest.mark.e2e


def _user(api: httpx.Client, name: str) -> dict[str, str]:
    data = api.post("/api/v1/users", json={"name": name}).raise_for_status().json()["data"]
    assert data["name"] == name
    return {"Authorization": f"Bearer {data['token']}"}


def _session_ids(api: httpx.Client, auth: dict[str, str]) -> list[str]:
    body = api.get("/api/v1/sessions", headers=auth).raise_for_status().json()
    return [s["session_id"] for s in body["data"]["sessions"]]


def test_two_users_isolation_delete_and_restart(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack, httpx.Client(base_url=stack.url, timeout=10) as api:
        assert "http://localhost:" in "".join(stack.output)
        assert api.get("/docs").status_code == 200
        alice, bob = _user(api, "alice"), _user(api, "bob")
        a1 = api.put("/api/v1/sessions", json={"title": "a1"}, headers=alice).json()["data"]["session_id"]
        a2 = api.put("/api/v1/sessions", json={"title": "a2"}, headers=alice).json()["data"]["session_id"]
        b1 = api.put("/api/v1/sessions", json={"title": "b1"}, headers=bob).json()["data"]["session_id"]
        assert _session_ids(api, alice) == [a2, a1]
        assert _session_ids(api, bob) == [b1]

        for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/stop")):
            response = api.request(method, f"/api/v1/sessions/{a1}{path}", headers=bob)
            assert response.status_code == 404
            assert response.json() == {"code": 404, "msg": "session not found", "data": None}
        assert api.get(f"/api/v1/sessions/{a1}", headers=alice).status_code == 200

        assert api.delete(f"/api/v1/sessions/{a2}", headers=alice).json()["code"] == 0
        assert _session_ids(api, alice) == [a1]
        exit_code = stack.stop()
        assert exit_code == 0, "".join(stack.output)

    with running_stack(tmp_path) as stack, httpx.Client(base_url=stack.url, timeout=10) as api:
        # Same data and the same signing secret: yesterday's tokens still work.
        assert _session_ids(api, alice) == [a1]
        assert _session_ids(api, bob) == [b1]
        assert api.get(f"/api/v1/sessions/{a2}", headers=alice).status_code == 404
        assert api.get(f"/api/v1/sessions/{a1}", headers=alice).json()["data"]["title"] == "a1"


def test_second_stack_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with running_stack(tmp_path / "first") as stack:
        process, _ = launch(tmp_path / "second", port=stack.port)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 2
        assert f"port {stack.port}" in output
        assert "already in use" in output
        # The first stack is untouched.
        assert httpx.get(f"{stack.url}/api/v1/health").json()["data"]["status"] == "ok"


def test_sigterm_also_keeps_the_data(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack, httpx.Client(base_url=stack.url, timeout=10) as api:
        auth = _user(api, "carol")
        sid = api.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
        stack.process.terminate()
        assert stack.process.wait(timeout=30) == 0, "".join(stack.output)
    with running_stack(tmp_path) as stack, httpx.Client(base_url=stack.url, timeout=10) as api:
        assert _session_ids(api, auth) == [sid]
