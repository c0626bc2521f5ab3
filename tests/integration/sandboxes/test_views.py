"""The sandbox views and file routes over HTTP, on the real parts: the app, DynamoDB and S3 (moto), the
process backend running the real tool server (VNC included: Xvfb + x11vnc inside the jail)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riadex.adapters.dynamodb import tables
from riadex.application.files import export_file
from riadex.bootstrap import Container, bootstrap
from riadex.domain.errors import NotFound
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.local.agent_workflow import ensure_bucket
from tests.conftest import make_settings

API = "/api/v1"
MAX_UPLOAD = 4096


@pytest.fixture
def app_container(moto_endpoint: str, server_dir: Path, tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(
        moto_endpoint,
        sandbox_server_dir=server_dir,
        data_dir=tmp_path / "data",
        sandbox_memory_mb=512,
        max_upload_bytes=MAX_UPLOAD,
        sandbox_vnc=shutil.which("Xvfb") is not None and shutil.which("x11vnc") is not None,
    )
    container = bootstrap(settings)
    tables.create_all()
    ensure_bucket(settings.aws_region, settings.objects_bucket)
    yield container
    container.sandbox_provider.release_all()  # type: ignore[attr-defined]


@pytest.fixture
def api(app_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app_container), raise_server_exceptions=False) as client:
        yield client


def user(api: TestClient, name: str) -> dict[str, str]:
    token = api.post(f"{API}/users", json={"name": name}).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def session(api: TestClient, headers: dict[str, str]) -> str:
    sid: str = api.put(f"{API}/sessions", headers=headers, json={}).json()["data"]["session_id"]
    return sid


def upload(
    api: TestClient, headers: dict[str, str], sid: str, name: str, data: bytes, kind: str = "text/plain"
) -> Any:
    return api.post(f"{API}/sessions/{sid}/files", headers=headers, files={"file": (name, data, kind)})


def test_views_upload_download_and_isolation(api: TestClient, app_container: Container) -> None:
    alice, bob = user(api, "alice"), user(api, "bob")
    sid = session(api, alice)

    # Given a session with no sandbox yet: the views say so, and start nothing.
    for path, body in (("shell", {"session_id": "default"}), ("file", {"file": "x.txt"})):
        refused = api.post(f"{API}/sessions/{sid}/{path}", headers=alice, json=body)
        assert refused.status_code == 409
        assert "no sandbox yet" in refused.json()["msg"]
    assert api.get(f"{API}/sessions/{sid}/vnc", headers=alice).status_code == 409
    assert api.get(f"{API}/sessions/{sid}", headers=alice).json()["data"]["sandbox"] is None

    # When Alice uploads a file: it lands in the object store and in a sandbox started for it.
    sent = upload(api, alice, sid, "notes.txt", b"first line\nsecond line\n")
    assert sent.status_code == 200, sent.json()
    file = sent.json()["data"]
    assert file["name"] == "notes.txt"
    assert file["size"] == 23
    assert file["path"].endswith("/uploads/notes.txt")
    assert file["file_id"].startswith("fil_")
    seen = api.get(f"{API}/sessions/{sid}", headers=alice).json()["data"]
    assert seen["sandbox"] == {"status": "ready", "backend": "process"}
    # The sandbox's life is in the session's event log, like everything else (docs/api.md).
    assert [e["data"] for e in seen["events"] if e["type"] == "sandbox"] == [
        {"status": "provisioning", "backend": "process"},
        {"status": "ready", "backend": "process"},
    ]

    # Then the file view reads it, relative to the workspace as the tools resolve it.
    viewed = api.post(f"{API}/sessions/{sid}/file", headers=alice, json={"file": "uploads/notes.txt"})
    assert viewed.status_code == 200
    assert viewed.json()["data"] == {"file": file["path"], "content": "first line\nsecond line\n"}
    missing = api.post(f"{API}/sessions/{sid}/file", headers=alice, json={"file": "nope.txt"})
    assert missing.status_code == 404

    # And the shell view shows what the agent ran.
    app_container.sandboxes.call_tool(
        sid, "unused", "shell_exec", {"session_id": "default", "command": "wc -l uploads/notes.txt"}
    )
    shell = api.post(f"{API}/sessions/{sid}/shell", headers=alice, json={"session_id": "default"})
    assert shell.status_code == 200
    console = shell.json()["data"]["console"]
    assert console[-1]["command"] == "wc -l uploads/notes.txt"
    assert "2 uploads/notes.txt" in console[-1]["output"]
    assert "2 uploads/notes.txt" in shell.json()["data"]["output"]
    assert (
        api.post(f"{API}/sessions/{sid}/shell", headers=alice, json={"session_id": "other"}).status_code
        == 404
    )

    # The download is the same bytes, with the uploaded type.
    got = api.get(f"{API}/sessions/{sid}/files/{file['file_id']}", headers=alice)
    assert got.status_code == 200
    assert got.content == b"first line\nsecond line\n"
    assert got.headers["content-type"].startswith("text/plain")
    assert "notes.txt" in got.headers["content-disposition"]

    # A file the agent wrote is exported to the object store and downloads the same way.
    app_container.sandboxes.call_tool(
        sid, "unused", "file_write", {"file": "out/report.csv", "content": "a,b\n1,2\n"}
    )
    exporting: dict[str, Any] = {
        "policy": app_container.upload_policy,
        "sessions": app_container.sessions,
        "files": app_container.files,
        "store": app_container.file_store,
        "sandboxes": app_container.sandboxes,
    }
    with pytest.raises(NotFound):
        export_file("usr_" + "0" * 32, sid, "out/report.csv", **exporting)
    owner = app_container.sessions.get(sid)
    assert owner is not None
    report = export_file(owner.owner_id, sid, "out/report.csv", **exporting)
    with pytest.raises(NotFound):
        export_file(owner.owner_id, sid, "out/missing.csv", **exporting)
    fetched = api.get(f"{API}/sessions/{sid}/files/{report.file_id}", headers=alice)
    assert fetched.status_code == 200
    assert fetched.content == b"a,b\n1,2\n"
    assert fetched.headers["content-type"].startswith("text/csv")

    # Bob sees none of it: every route answers 404, as if the session did not exist.
    assert (
        api.post(f"{API}/sessions/{sid}/shell", headers=bob, json={"session_id": "default"}).status_code
        == 404
    )
    assert (
        api.post(f"{API}/sessions/{sid}/file", headers=bob, json={"file": "uploads/notes.txt"}).status_code
        == 404
    )
    assert api.get(f"{API}/sessions/{sid}/vnc", headers=bob).status_code == 404
    assert api.get(f"{API}/sessions/{sid}/files/{file['file_id']}", headers=bob).status_code == 404
    assert upload(api, bob, sid, "evil.txt", b"x").status_code == 404
    bobs = session(api, bob)
    assert api.get(f"{API}/sessions/{bobs}/files/{file['file_id']}", headers=bob).status_code == 404
    assert api.get(f"{API}/sessions/{sid}/files/fil_{'0' * 32}", headers=alice).status_code == 404

    # Deleting the session releases its sandbox and removes its files.
    handle = app_container.sandboxes.records.get(sid)
    assert handle is not None
    assert handle.handle is not None
    assert api.delete(f"{API}/sessions/{sid}", headers=alice).status_code == 200
    assert not app_container.sandbox_provider.healthy(handle.handle)
    assert app_container.files.list_for_session(sid) == []
    assert api.get(f"{API}/sessions/{sid}/files/{file['file_id']}", headers=alice).status_code == 404


def test_uploads_over_the_limit_or_of_refused_types_are_refused_in_the_envelope(
    api: TestClient, app_container: Container
) -> None:
    alice = user(api, "alice")
    sid = session(api, alice)

    too_large = upload(api, alice, sid, "big.txt", b"x" * (MAX_UPLOAD + 1))
    assert too_large.status_code == 413
    assert too_large.json()["code"] == 413
    assert str(MAX_UPLOAD) in too_large.json()["msg"]

    # Far over: refused by the body cap before anything is read (the JSON cap is not the upload cap).
    huge = upload(api, alice, sid, "huge.bin", b"x" * (app_container.settings.max_body_bytes * 2))
    assert huge.status_code == 413
    assert huge.json()["code"] == 413

    refused = upload(api, alice, sid, "setup.exe", b"MZ", kind="application/x-msdownload")
    assert refused.status_code == 415
    assert "application/x-msdownload" in refused.json()["msg"]

    no_file = api.post(f"{API}/sessions/{sid}/files", headers=alice, data={"x": "y"})
    assert no_file.status_code == 422

    # Nothing was written, and no sandbox was started for the refused uploads.
    assert app_container.files.list_for_session(sid) == []
    assert api.get(f"{API}/sessions/{sid}", headers=alice).json()["data"]["sandbox"] is None


def test_the_vnc_proxy_delivers_the_rfb_handshake(api: TestClient, app_container: Container) -> None:
    if not app_container.settings.sandbox_vnc:
        pytest.skip("VNC needs Xvfb and x11vnc: apt-get install xvfb x11vnc")
    alice, bob = user(api, "alice"), user(api, "bob")
    sid = session(api, alice)
    app_container.sandboxes.ensure(sid, "unused")

    answer = api.get(f"{API}/sessions/{sid}/vnc", headers=alice)
    assert answer.status_code == 200, answer.json()
    url = answer.json()["data"]["url"]
    assert url.startswith("ws://")
    assert f"/sessions/{sid}/vnc?token=" in url
    path = url.split("://", 1)[1].split("/", 1)[1]

    with api.websocket_connect(f"/{path}", subprotocols=["binary"]) as ws:
        banner = ws.receive_bytes()
        assert banner.startswith(b"RFB 003.008")

    # A token for this session opens no other session, and a bad token opens nothing.
    other = session(api, bob)
    app_container.sandboxes.ensure(other, "unused")
    token = url.split("token=", 1)[1]
    from starlette.websockets import WebSocketDisconnect

    for bad in (f"/api/v1/sessions/{other}/vnc?token={token}", f"/api/v1/sessions/{sid}/vnc?token=forged"):
        with pytest.raises(WebSocketDisconnect), api.websocket_connect(bad) as ws:
            ws.receive_bytes()


def test_where_sandboxes_start_slowly_an_upload_waits_for_the_sandbox(
    moto_endpoint: str, server_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(
        moto_endpoint, sandbox_server_dir=server_dir, data_dir=tmp_path / "data", upload_starts_sandbox=False
    )
    container = bootstrap(settings)
    tables.create_all()
    ensure_bucket(settings.aws_region, settings.objects_bucket)
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as api:
            alice = user(api, "alice")
            sid = session(api, alice)
            sent = upload(api, alice, sid, "early.txt", b"before the sandbox\n")
            assert sent.status_code == 200
            assert sent.json()["data"]["path"] == "uploads/early.txt"
            assert api.get(f"{API}/sessions/{sid}", headers=alice).json()["data"]["sandbox"] is None
            (waiting,) = container.files.list_for_session(sid)
            assert waiting.placed is False

            # The first tool use starts the sandbox; the upload is in it by the time the call runs.
            out = container.sandboxes.call_tool(
                sid, "unused", "shell_exec", {"session_id": "default", "command": "cat uploads/early.txt"}
            )
            assert out["output"] == "before the sandbox\n"
            (placed,) = container.files.list_for_session(sid)
            assert placed.placed is True
            assert placed.path.endswith("/uploads/early.txt")

            # With the sandbox ready, the next upload goes straight in.
            later = upload(api, alice, sid, "later.txt", b"after\n").json()["data"]
            assert later["path"].endswith("/uploads/later.txt")
    finally:
        container.sandbox_provider.release_all()  # type: ignore[attr-defined]
