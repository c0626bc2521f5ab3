"""Where a path may point: inside the workspace after resolving `..` and symlinks, unless allowed out."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox_server.errors import ToolError


def resolve(workspace: Path, raw: str, allow_outside: bool = False) -> Path:
    if not raw or "\x00" in raw:
        raise ToolError(400, "invalid_input", "path must be a non-empty string without NUL")
    path = Path(raw)
    if not path.is_absolute():
        path = workspace / path
    real = Path(os.path.realpath(path))
    if not allow_outside and real != workspace and workspace not in real.parents:
        raise ToolError(
            403,
            "outside_workspace",
            f"{raw!r} resolves outside the workspace {workspace} (allow_outside not set)",
        )
    return real


def display(workspace: Path, path: Path) -> str:
    """A prompt-style rendering: `~` for the workspace, like a shell shows HOME."""
    if path == workspace:
        return "~"
    if workspace in path.parents:
        return "~/" + str(path.relative_to(workspace))
    return str(path)
