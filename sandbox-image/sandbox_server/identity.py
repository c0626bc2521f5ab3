"""Who the agent's processes run as, when that is not the server's own user (SANDBOX_RUN_AS=uid:gid).

The server keeps what only it may know (the bearer secret's digest, its environment) under its own
uid; every shell command starts as the agent's user with no capabilities and no way to gain any
(setpriv: reuid/regid, no supplementary groups, empty inheritable/ambient/bounding sets,
no_new_privs), so it can read neither the server's /proc entries nor its memory. Files the server
creates in the workspace are handed to the agent's user, so the agent can edit, chmod and delete them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

RunAs = tuple[int, int]


def parse(raw: str | None) -> RunAs | None:
    if not raw:
        return None
    uid, _, gid = raw.partition(":")
    if not uid.isdigit() or not (gid or uid).isdigit():
        raise ValueError(f"SANDBOX_RUN_AS must look like 1000:1000, got {raw!r}")
    return int(uid), int(gid or uid)


def drop_prefix(run_as: RunAs | None) -> list[str]:
    """The argv prefix that starts a command as the agent's user, or [] when it is the server's own."""
    if run_as is None or run_as == (os.geteuid(), os.getegid()):
        return []
    uid, gid = run_as
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def missing_parents(path: Path) -> list[Path]:
    """The ancestors of `path` that do not exist yet, outermost first (to hand over once created)."""
    found: list[Path] = []
    for parent in path.parents:
        if parent.exists():
            break
        found.append(parent)
    return found[::-1]


def hand_over(paths: list[Path], run_as: RunAs | None, workspace: Path) -> None:
    """chown what the server created inside the workspace to the agent's user (best effort)."""
    if run_as is None or os.geteuid() == run_as[0]:
        return
    for path in paths:
        if path == workspace or workspace not in path.parents:
            continue
        with contextlib.suppress(OSError):
            os.chown(path, *run_as, follow_symlinks=False)
