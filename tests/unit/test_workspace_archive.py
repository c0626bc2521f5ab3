"""The tool server's workspace archive: a round trip keeps files, modes and links; an archive that
reaches outside the workspace, or carries devices, is refused — with tarfile's `data` filter and with
the check used where Python has none (Debian bookworm's 3.11.2, the local image's)."""

from __future__ import annotations

import io
import os
import socket
import tarfile
from pathlib import Path

import pytest

from sandbox_server import workspace
from sandbox_server.errors import ToolError


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o4755 if name.endswith(".sh") else 0o644
    return info, (data if kind == tarfile.REGTYPE else None)


@pytest.fixture(params=["data_filter", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile data filter")
    return str(request.param)


def test_a_round_trip_keeps_files_modes_and_links(tmp_path: Path, mode: str) -> None:
    source = tmp_path / "a"
    (source / "src").mkdir(parents=True)
    (source / "src" / "run.sh").write_text("echo hi\n")
    (source / "src" / "run.sh").chmod(0o755)
    (source / "link").symlink_to("src/run.sh")
    archive, made = workspace.archive(source, 1 << 20)
    assert made["files"] == 2
    restored = workspace.restore(tmp_path / "b", archive, None)
    assert restored["files"] == 1
    assert (tmp_path / "b" / "src" / "run.sh").read_text() == "echo hi\n"
    assert (tmp_path / "b" / "src" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "b" / "link").readlink() == Path("src/run.sh")
    before = workspace.stamp(source)["stamp"]
    (source / "src" / "run.sh").write_text("echo changed\n")
    assert workspace.stamp(source)["stamp"] != before


def test_a_fifo_or_socket_in_the_workspace_is_left_out_and_the_rest_restores(
    tmp_path: Path, mode: str
) -> None:
    source = tmp_path / "a"
    source.mkdir()
    (source / "notes.txt").write_text("kept\n")
    os.mkfifo(source / "pipe")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(source / "sock"))
        archive, made = workspace.archive(source, 1 << 20)
    assert made["files"] == 1
    workspace.restore(tmp_path / "b", archive, None)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["notes.txt"]
    assert (tmp_path / "b" / "notes.txt").read_text() == "kept\n"


@pytest.mark.parametrize(
    "entry",
    [
        _info("../escape.txt", data=b"x"),
        _info("/abs.txt", data=b"x"),
        _info("up", tarfile.SYMTYPE, link="../../etc"),
        _info("abs", tarfile.SYMTYPE, link="/etc/passwd"),
        _info("hard", tarfile.LNKTYPE, link="../outside"),
        _info("dev", tarfile.CHRTYPE),
        _info("fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "symlink-up", "symlink-absolute", "hardlink-up", "device", "fifo"],
)
def test_an_archive_reaching_outside_is_refused(
    tmp_path: Path, mode: str, entry: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    status = 200
    try:
        workspace.restore(tmp_path / "ws", _tar(entry), None)
    except ToolError as refused:
        status = refused.status
    if status == 200:
        # Only the data filter keeps an absolute name, as a relative one inside the workspace.
        assert entry[0].name == "/abs.txt"
        assert (tmp_path / "ws" / "abs.txt").is_file()
    else:
        assert status == 400
    assert not (tmp_path / "escape.txt").exists()
    assert not Path("/abs.txt").exists()


def test_setuid_bits_are_dropped(tmp_path: Path, mode: str) -> None:
    workspace.restore(tmp_path / "ws", _tar(_info("tool.sh", data=b"echo\n")), None)
    assert (tmp_path / "ws" / "tool.sh").stat().st_mode & 0o7000 == 0


def test_over_the_cap_is_a_413(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 2048)
    with pytest.raises(ToolError) as refused:
        workspace.archive(tmp_path, 1024)
    assert refused.value.status == 413
