"""File operations on already-resolved paths (see paths.py); blocking, so routes run them in a thread."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox_server.errors import ToolError

MAX_RESULTS = 1000
MAX_SEARCH_FILE = 10 * 1024 * 1024
MAX_MATCH_TEXT = 500


@contextlib.contextmanager
def os_errors(path: Path) -> Iterator[None]:
    """Turn the OS's refusals into the API's codes instead of a 500."""
    try:
        yield
    except FileNotFoundError as exc:
        raise ToolError(404, "not_found", f"{path}: no such file or directory") from exc
    except IsADirectoryError as exc:
        raise ToolError(400, "not_a_file", f"{path} is a directory") from exc
    except NotADirectoryError as exc:
        raise ToolError(400, "not_a_directory", f"a component of {path} is not a directory") from exc
    except PermissionError as exc:
        raise ToolError(403, "permission_denied", f"{path}: permission denied") from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise ToolError(400, "invalid_input", f"{path}: name too long") from exc
        raise ToolError(500, "internal", f"{path}: {exc.strerror or exc}") from exc


def _read_bytes(path: Path, sudo: bool) -> bytes:
    if sudo and os.geteuid() != 0:
        sudo_bin = shutil.which("sudo")
        if sudo_bin is None:
            raise ToolError(403, "permission_denied", "sudo is not available in this sandbox")
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sudo_bin, "-n", "cat", "--", str(path)], capture_output=True, timeout=30, check=False
        )
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip()[:300]
            raise ToolError(403, "permission_denied", f"sudo read of {path} failed: {reason}")
        return done.stdout
    with os_errors(path):
        return path.read_bytes()


def read(path: Path, start_line: int | None, end_line: int | None, sudo: bool, cap: int) -> dict[str, Any]:
    text = _read_bytes(path, sudo).decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if start_line is not None or end_line is not None:
        text = "".join(lines[start_line:end_line])
    truncated = len(text) > cap
    return {"file": str(path), "content": text[:cap], "total_lines": len(lines), "truncated": truncated}


def write(
    path: Path, content: str, append: bool, leading_newline: bool, trailing_newline: bool
) -> dict[str, Any]:
    if leading_newline:
        content = "\n" + content
    if trailing_newline:
        content = content + "\n"
    with os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
        return {"file": str(path), "size": path.stat().st_size}


def replace(path: Path, old: str, new: str) -> dict[str, Any]:
    if not old:
        raise ToolError(400, "invalid_input", "old_str must not be empty")
    with os_errors(path):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        count = text.count(old)
        if count:
            path.write_text(text.replace(old, new), encoding="utf-8", errors="surrogateescape")
    return {"file": str(path), "replaced": count}


def _check_glob(pattern: str) -> None:
    if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ToolError(400, "invalid_input", "glob must be a relative pattern without '..'")


def _inside(path: Path, confine: Path | None) -> bool:
    """A match reached through a symlink may lie outside the workspace: it is left out."""
    if confine is None:
        return True
    real = Path(os.path.realpath(path))
    return real == confine or confine in real.parents


def find(root: Path, pattern: str, confine: Path | None = None) -> dict[str, Any]:
    _check_glob(pattern)
    with os_errors(root):
        if not root.is_dir():
            raise ToolError(400, "not_a_directory", f"{root} is not a directory")
        found: list[str] = []
        truncated = False
        for match in root.glob(pattern):
            if not _inside(match, confine):
                continue
            if len(found) >= MAX_RESULTS:
                truncated = True
                break
            found.append(str(match))
    return {"files": sorted(found), "truncated": truncated}


def _is_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\0" in handle.read(8192)


def search(target: Path, regex: str, pattern: str, confine: Path | None = None) -> dict[str, Any]:
    """Lines matching `regex` in a file, or in the files of a tree matching `pattern` (a relative glob
    without `..`; with `confine`, matches resolving outside it are left out)."""
    _check_glob(pattern)
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ToolError(400, "invalid_input", f"bad regex: {exc}") from exc
    with os_errors(target):
        if target.is_dir():
            candidates: Iterator[Path] = (
                p for p in sorted(target.glob(pattern)) if p.is_file() and _inside(p, confine)
            )
        elif target.exists():
            candidates = iter([target])
        else:
            raise FileNotFoundError(target)
        matches: list[dict[str, Any]] = []
        for path in candidates:
            try:
                if path.stat().st_size > MAX_SEARCH_FILE or _is_binary(path):
                    continue
                with path.open(encoding="utf-8", errors="replace") as handle:
                    for number, line in enumerate(handle, start=1):
                        if compiled.search(line):
                            if len(matches) >= MAX_RESULTS:
                                return {"matches": matches, "truncated": True}
                            text = line.rstrip("\n")[:MAX_MATCH_TEXT]
                            matches.append({"file": str(path), "line": number, "text": text})
            except OSError:
                if path == target:
                    raise
                continue  # an unreadable file in a tree does not fail the whole search
    return {"matches": matches, "truncated": False}
