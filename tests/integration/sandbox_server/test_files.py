"""File operations against the real tool server, including every way out of the workspace."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.sandbox_server.harness import call, error


@pytest.fixture
def name() -> str:
    return f"f-{uuid.uuid4().hex[:8]}"


def test_write_then_read_with_line_ranges(client: httpx.Client, workspace: Path, name: str) -> None:
    written = call(client, "/file/write", file=f"{name}/notes.txt", content="one\ntwo\nthree\nfour\n")
    assert written == {"file": str(workspace / name / "notes.txt"), "size": 19}

    whole = call(client, "/file/read", file=f"{name}/notes.txt")
    middle = call(client, "/file/read", file=str(workspace / name / "notes.txt"), start_line=1, end_line=3)
    last = call(client, "/file/read", file=f"{name}/notes.txt", start_line=-1)

    assert whole["content"] == "one\ntwo\nthree\nfour\n"
    assert whole["total_lines"] == 4
    assert middle["content"] == "two\nthree\n"
    assert middle["total_lines"] == 4
    assert last["content"] == "four\n"
    assert whole["truncated"] is False


def test_append_and_newline_flags(client: httpx.Client, workspace: Path, name: str) -> None:
    call(client, "/file/write", file=name, content="a")
    call(client, "/file/write", file=name, content="b", append=True, leading_newline=True)
    result = call(client, "/file/write", file=name, content="c", append=True, trailing_newline=True)
    assert (workspace / name).read_text() == "a\nbc\n"
    assert result["size"] == 5


def test_replace_counts_every_occurrence(client: httpx.Client, workspace: Path, name: str) -> None:
    (workspace / name).write_text("cat dog cat\ncat\n")
    assert call(client, "/file/replace", file=name, old_str="cat", new_str="owl")["replaced"] == 3
    assert (workspace / name).read_text() == "owl dog owl\nowl\n"
    assert call(client, "/file/replace", file=name, old_str="zebra", new_str="x")["replaced"] == 0
    assert error(client, "/file/replace", file=name, old_str="", new_str="x") == (400, "invalid_input")


def test_find_by_glob(client: httpx.Client, workspace: Path, name: str) -> None:
    for rel in ("a.py", "pkg/b.py", "pkg/deep/c.py", "pkg/readme.md"):
        (workspace / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name / rel).write_text("x")
    found = call(client, "/file/find", path=name, glob="**/*.py")["files"]
    assert found == sorted(str(workspace / name / rel) for rel in ("a.py", "pkg/b.py", "pkg/deep/c.py"))
    assert call(client, "/file/find", path=name, glob="*.md")["files"] == []
    assert error(client, "/file/find", path=name, glob="../*") == (400, "invalid_input")


def test_search_a_file_and_a_tree_by_regex(client: httpx.Client, workspace: Path, name: str) -> None:
    root = workspace / name
    (root / "sub").mkdir(parents=True)
    (root / "one.txt").write_text("alpha\nTODO: fix\nomega\n")
    (root / "sub" / "two.py").write_text("x = 1  # TODO later\n")
    (root / "blob.bin").write_bytes(b"TODO\0binary")

    in_file = call(client, "/file/search", file=f"{name}/one.txt", regex=r"^TODO")
    in_tree = call(client, "/file/search", path=name, regex=r"TODO\b")

    assert in_file["matches"] == [{"file": str(root / "one.txt"), "line": 2, "text": "TODO: fix"}]
    assert in_tree["matches"] == [
        {"file": str(root / "one.txt"), "line": 2, "text": "TODO: fix"},
        {"file": str(root / "sub" / "two.py"), "line": 1, "text": "x = 1  # TODO later"},
    ]
    assert error(client, "/file/search", path=name, regex="(unclosed") == (400, "invalid_input")
    assert error(client, "/file/search", regex="x") == (400, "invalid_input")


def test_search_and_find_stay_inside_the_workspace(client: httpx.Client, workspace: Path, name: str) -> None:
    outside = workspace.parent / f"outside-{name}"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOKEN=outside\n")
    root = workspace / name
    root.mkdir()
    (root / "in.txt").write_text("TOKEN=inside\n")
    (root / "link").symlink_to(outside, target_is_directory=True)

    for glob in ("../*.txt", f"../../outside-{name}/*.txt", "/etc/*"):
        assert error(client, "/file/search", path=name, regex="TOKEN", glob=glob) == (400, "invalid_input")
    through_link = call(client, "/file/search", path=name, regex="TOKEN", glob="**/*.txt")
    assert [m["text"] for m in through_link["matches"]] == ["TOKEN=inside"]
    found = call(client, "/file/find", path=name, glob="**/*.txt")["files"]
    assert found == [str(root / "in.txt")]


def test_upload_and_download_round_trip_bytes(client: httpx.Client, workspace: Path, name: str) -> None:
    payload = os.urandom(200_000)
    up = client.post("/file/upload", files={"file": ("data.bin", payload)}, data={"path": f"{name}/up.bin"})
    assert up.status_code == 200, up.text
    assert up.json()["data"] == {"file": str(workspace / name / "up.bin"), "size": len(payload)}

    (workspace / name / "dir").mkdir()
    into_dir = client.post(
        "/file/upload", files={"file": ("keep-name.txt", b"hi")}, data={"path": f"{name}/dir"}
    )
    assert into_dir.json()["data"]["file"] == str(workspace / name / "dir" / "keep-name.txt")

    down = client.get("/file/download", params={"file": f"{name}/up.bin"})
    assert down.status_code == 200
    assert down.headers["content-type"] == "application/octet-stream"
    assert down.content == payload


def test_upload_over_the_limit_is_413_and_leaves_nothing(
    client: httpx.Client, workspace: Path, name: str
) -> None:
    big = client.post("/file/upload", files={"file": ("big", b"x" * 2_000_000)}, data={"path": name})
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"
    assert not (workspace / name).exists()
    missing = client.post("/file/upload", files={"file": ("a", b"a")}, data={})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("route", ["/file/read", "/file/write", "/file/replace"])
def test_escapes_from_the_workspace_are_refused(
    client: httpx.Client, workspace: Path, tmp_path: Path, route: str
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    link = workspace / f"link-{uuid.uuid4().hex[:6]}"
    link.symlink_to(tmp_path)
    extra = {"content": "pwned", "old_str": "top", "new_str": "pwned"}
    body = {k: v for k, v in extra.items() if route != "/file/read"}
    if route == "/file/write":
        body.pop("old_str"), body.pop("new_str")
    if route == "/file/replace":
        body.pop("content")

    for attempt in ("../../secret.txt", str(outside), f"{link.name}/secret.txt", f"sub/../../{outside.name}"):
        assert error(client, route, file=attempt, **body) == (403, "outside_workspace"), attempt
    assert outside.read_text() == "top secret"


def test_allow_outside_lifts_the_rule_for_reading(client: httpx.Client, tmp_path: Path) -> None:
    outside = tmp_path / "visible.txt"
    outside.write_text("readable\n")
    assert error(client, "/file/read", file=str(outside)) == (403, "outside_workspace")
    assert call(client, "/file/read", file=str(outside), allow_outside=True)["content"] == "readable\n"
    down = client.get("/file/download", params={"file": str(outside)})
    assert down.status_code == 403
    down = client.get("/file/download", params={"file": str(outside), "allow_outside": "true"})
    assert down.content == b"readable\n"


def test_missing_files_and_directories_are_clear_errors(
    client: httpx.Client, workspace: Path, name: str
) -> None:
    (workspace / name).mkdir()
    assert error(client, "/file/read", file=f"{name}/nope") == (404, "not_found")
    assert error(client, "/file/read", file=name) == (400, "not_a_file")
    assert error(client, "/file/find", path=f"{name}/nope", glob="*") == (400, "not_a_directory")
    assert client.get("/file/download", params={"file": name}).status_code == 400
    assert client.get("/file/download", params={"file": f"{name}/nope"}).status_code == 404
    assert error(client, "/file/read") == (400, "invalid_input")
