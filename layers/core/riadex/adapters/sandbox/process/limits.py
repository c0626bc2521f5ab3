"""Memory and process-count limits for a process sandbox, through cgroups (v1 or v2) when writable.

rlimits are no substitute here: RLIMIT_NPROC counts every process of the uid on the machine (root's,
locally) and RLIMIT_AS breaks Chromium, which reserves huge address ranges. A cgroup limits exactly
the sandbox's processes, and lets release kill every one of them, even daemonised ones.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroups:
    """The directories of one sandbox's cgroups; `join_script` moves a shell into all of them."""

    dirs: tuple[Path, ...]

    def join_script(self) -> str:
        return "; ".join(f'echo $$ > "{d}/cgroup.procs"' for d in self.dirs)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs:
            try:
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
            except OSError:
                continue
        return found

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        for directory in self.dirs:
            with contextlib.suppress(OSError):
                directory.rmdir()


def create(name: str, memory_bytes: int, pids_max: int) -> Cgroups | None:
    """Make the cgroups for one sandbox, or None when this machine does not let us (then no limits)."""
    try:
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2, unified
            directory = CGROUP_ROOT / "riadex" / name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "memory.max").write_text(str(memory_bytes))
            (directory / "pids.max").write_text(str(pids_max))
            return Cgroups((directory,))
        memory = CGROUP_ROOT / "memory" / "riadex" / name
        pids = CGROUP_ROOT / "pids" / "riadex" / name
        memory.mkdir(parents=True, exist_ok=True)
        pids.mkdir(parents=True, exist_ok=True)
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        (pids / "pids.max").write_text(str(pids_max))
        return Cgroups((memory, pids))
    except OSError:
        return None
