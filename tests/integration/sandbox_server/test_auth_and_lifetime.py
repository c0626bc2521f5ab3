"""The secret guards every route; an idle server exits by itself; a disabled browser says so."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.integration.sandbox_server.harness import ToolServer, call, error

ROUTES = [
    ("GET", "/health"),
    ("POST", "/shell/exec"),
    ("POST", "/file/read"),
    ("POST", "/file/upload"),
    ("GET", "/file/download?file=x"),
    ("POST", "/browser/navigate"),
    ("GET", "/no/such/route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong-secret-0123456789", "Basic abc", "Bearer"])
def test_requests_without_the_right_secret_are_refused(
    tool_server: ToolServer, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.request(method, tool_server.url + path, headers=headers, json={"session_id": "x"})
    assert response.status_code == 401
    presented = header is not None and header.startswith("Bearer ") and header != "Bearer "
    message = "wrong bearer secret" if presented else "missing bearer secret"
    assert response.json() == {"ok": False, "error": {"code": "unauthorized", "message": message}}


def test_a_refused_request_runs_nothing(tool_server: ToolServer, workspace: Path) -> None:
    with tool_server.client(secret="not-the-secret-0123456789") as wrong:
        response = wrong.post("/file/write", json={"file": "should-not-exist", "content": "x"})
    assert response.status_code == 401
    assert not (workspace / "should-not-exist").exists()


def test_the_vnc_websocket_refuses_a_wrong_token(tool_server: ToolServer) -> None:
    base = tool_server.url.replace("http://", "ws://")
    for url in (f"{base}/vnc", f"{base}/vnc?token=wrong"):
        with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=10):
            pass
        assert refused.value.response.status_code == 401


def test_vnc_off_and_browser_off_answer_503(tool_server: ToolServer, client: httpx.Client) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(
            tool_server.url.replace("http://", "ws://") + f"/vnc?token={tool_server.secret}", open_timeout=10
        ),
    ):
        pass
    assert refused.value.response.status_code == 503
    assert error(client, "/browser/navigate", url="http://127.0.0.1:9/") == (503, "browser_disabled")
    health = client.get("/health").json()["data"]
    assert health["browser"] is False
    assert health["vnc"] is False


def test_health_reports_the_server(tool_server: ToolServer, client: httpx.Client) -> None:
    health = client.get("/health").json()["data"]
    assert health["status"] == "ok"
    assert health["workspace"] == str(tool_server.workspace)
    assert health["uptime_s"] >= health["idle_s"] >= 0


def test_an_idle_server_exits_even_while_health_is_polled(tmp_path: Path) -> None:
    server = ToolServer(tmp_path / "ws", SANDBOX_IDLE_TIMEOUT="1.5").start()
    try:
        with server.client() as client:
            call(client, "/shell/exec", session_id="bg", command="sleep 300 & echo $! > pid", wait=True)
            child = int((server.workspace / "pid").read_text())
            call(client, "/shell/exec", session_id="fg", command="sleep 300", wait=False)
            assert server.process is not None
            deadline = time.monotonic() + 30
            while server.process.poll() is None and time.monotonic() < deadline:
                try:
                    client.get("/health")
                except httpx.TransportError:
                    break
                time.sleep(0.2)
            assert server.process.wait(30) == 0, server.log()
        assert "idle for" in server.log()
        assert not Path(f"/proc/{child}").exists() or "State:\tZ" in Path(f"/proc/{child}/status").read_text()
    finally:
        server.stop()


def test_it_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    server = ToolServer(tmp_path / "ws", SANDBOX_SECRET="")
    with pytest.raises(RuntimeError, match="did not start"):
        server.start(timeout=20)
    assert "SANDBOX_SECRET must be set" in server.log()
