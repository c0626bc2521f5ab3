"""Sandboxes through the local stack started as `make dev` starts it: an upload starts a jailed sandbox,
the views and the VNC WebSocket reach it over real HTTP, and a restart finds it gone and replaces it."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.stack import running_stack
from tests.integration.sandboxes.conftest import server_dir  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_upload_views_vnc_and_a_restart(tmp_path: Path, server_dir: Path) -> None:  # noqa: F811
    vnc = shutil.which("Xvfb") is not None and shutil.which("x11vnc") is not None
    extra = {"SANDBOX_SERVER_DIR": str(server_dir), "SANDBOX_VNC": "1" if vnc else "0"}
    with running_stack(tmp_path, **extra) as stack, httpx.Client(base_url=stack.url, timeout=30) as api:
        token = api.post("/api/v1/users", json={"name": "ada"}).json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sid = api.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]

        sent = api.post(
            f"/api/v1/sessions/{sid}/files",
            headers=auth,
            files={"file": ("a.txt", b"from e2e\n", "text/plain")},
        )
        assert sent.status_code == 200, sent.text
        viewed = api.post(f"/api/v1/sessions/{sid}/file", headers=auth, json={"file": "uploads/a.txt"})
        assert viewed.json()["data"]["content"] == "from e2e\n"
        assert api.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]["sandbox"]["status"] == "ready"

        if vnc:
            url = api.get(f"/api/v1/sessions/{sid}/vnc", headers=auth).json()["data"]["url"]
            with connect(url, subprotocols=["binary"], open_timeout=10) as ws:  # type: ignore[list-item]
                assert ws.recv(timeout=10)[:12] == b"RFB 003.008\n"
        assert stack.stop() == 0, "".join(stack.output)
    assert list((tmp_path / "sandboxes").iterdir()) == []  # released on shutdown

    with running_stack(tmp_path, **extra) as stack, httpx.Client(base_url=stack.url, timeout=30) as api:
        # The sandbox died with the last server; the views say so, and the next use replaces it.
        view = api.post(f"/api/v1/sessions/{sid}/file", headers=auth, json={"file": "uploads/a.txt"})
        assert view.status_code == 409
        assert api.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]["sandbox"]["status"] == "lost"
        again = api.post(
            f"/api/v1/sessions/{sid}/files", headers=auth, files={"file": ("b.txt", b"again\n", "text/plain")}
        )
        assert again.status_code == 200, again.text
        fresh = api.post(f"/api/v1/sessions/{sid}/file", headers=auth, json={"file": "uploads/b.txt"})
        assert fresh.json()["data"]["content"] == "again\n"
        assert api.delete(f"/api/v1/sessions/{sid}", headers=auth).status_code == 200
