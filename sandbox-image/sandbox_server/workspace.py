"""The whole workspace as one archive: saved by the control plane when a sandbox goes (and after the
steps that changed it), restored into the session's next sandbox.

- `stamp`: a digest of every entry's path, size, mode and mtime, with the total bytes — cheap, so the
  control plane can skip a save when nothing changed;
- `archive`: a gzip'd tar (fast compression level: the time goes to the bytes, not the ratio), spooled
  to disk past a few MiB; refused above a size cap (413), which the control plane reports;
- `restore`: extracts with tarfile's `data` filter (no absolute paths, no `..`, no links out, no
  devices, no setuid bits), then hands every entry to the agent's user (SANDBOX_RUN_AS).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from sandbox_server import identity
from sandbox_server.errors import ToolError

SPOOL_BYTES = 8 * 1024 * 1024
GZIP_LEVEL = 1


def _entries(root: Path) -> list[tuple[str, os.stat_result]]:
    """Directories, regular files and symlinks: a FIFO, a socket or a device is nothing to keep (and
    one in the archive would make the restore refuse it all)."""
    found: list[tuple[str, os.stat_result]] = []
    for directory, dirs, names in os.walk(root):
        dirs.sort()
        for name in [*dirs, *sorted(names)]:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                found.append((os.path.relpath(path, root), st))
    return found


def stamp(root: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    total = files = 0
    for rel, st in _entries(root):
        digest.update(
            f"{rel}\0{st.st_size}\0{st.st_mode}\0{st.st_mtime_ns}\n".encode(errors="surrogateescape")
        )
        if not os.path.isdir(root / rel):
            total += st.st_size
            files += 1
    return {"stamp": digest.hexdigest(), "bytes": total, "files": files}


def archive(root: Path, max_bytes: int) -> tuple[IO[bytes], dict[str, Any]]:
    """(a file positioned at 0 holding the .tar.gz, the stamp it was made at)."""
    current = stamp(root)
    if current["bytes"] > max_bytes:
        raise ToolError(
            413, "too_large", f"the workspace holds {current['bytes']} bytes, over the {max_bytes}-byte cap"
        )
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
        for rel, _ in _entries(root):
            try:
                tar.add(root / rel, arcname=rel, recursive=False)
            except OSError:
                continue  # vanished or unreadable mid-walk: the rest is still worth keeping
    out.seek(0)
    return out, current


def _inside(name: str) -> bool:
    normal = os.path.normpath(name)
    return not os.path.isabs(normal) and normal != ".." and not normal.startswith("../")


def _checked(members: list[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """tarfile's `data` filter for Pythons without it (Debian bookworm's 3.11.2): regular files,
    directories and links that stay inside, no devices or fifos, no setuid/setgid/sticky bits, no owner."""
    kept = []
    for member in members:
        if not _inside(member.name) or not (
            member.isfile() or member.isdir() or member.issym() or member.islnk()
        ):
            raise tarfile.TarError(f"refused entry {member.name!r}")
        if member.issym() and not _inside(os.path.join(os.path.dirname(member.name), member.linkname)):
            raise tarfile.TarError(f"refused link {member.name!r} -> {member.linkname!r}")
        if member.islnk() and not _inside(member.linkname):
            raise tarfile.TarError(f"refused link {member.name!r} -> {member.linkname!r}")
        member.mode &= 0o777
        member.uid = member.gid = os.getuid()
        member.uname = member.gname = ""
        kept.append(member)
    return kept


def restore(root: Path, source: IO[bytes], run_as: identity.RunAs | None) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=source, mode="r:gz") as tar:
            members = tar.getmembers()
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - depends on the image's Python
                tar.extractall(root, members=_checked(members))  # noqa: S202 - checked above
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ToolError(400, "invalid_input", f"not a workspace archive: {exc}") from exc
    identity.hand_over([root / m.name for m in members], run_as, root)
    return {
        "files": sum(1 for m in members if m.isfile()),
        "bytes": sum(m.size for m in members if m.isfile()),
    }
