"""The sandbox shell's kill against real bash processes, in process (no HTTP between the command's
start and the kill): a SIGTERM that lands while bash forks the command is not lost."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from sandbox_server.shell import KILL_GRACE_S, ShellSession


async def _kill_as_the_command_forks(workspace: Path) -> tuple[int | None, float]:
    session = ShellSession("s", workspace, dict(os.environ), 10_000)
    pidfile = workspace / "bg.pid"
    pidfile.unlink(missing_ok=True)
    try:
        await session.start(f"sleep 300 & echo $! > {pidfile}; sleep 300", None)
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text().strip()):  # no sleep: the kill lands at once
            assert time.monotonic() < deadline, "the command never started"
            await asyncio.sleep(0)
        began = time.monotonic()
        await session.kill()
        assert session.current is not None
        return session.current.exit_code, time.monotonic() - began
    finally:
        await session.close()


@pytest.mark.skipif(sys.platform != "linux", reason="the kill reads /proc (Linux)")
def test_a_kill_right_as_bash_forks_the_command_ends_it_by_sigterm(tmp_path: Path) -> None:
    """Killed right after its first line, bash is often forking `sleep 300`: the forked child took the
    SIGTERM before exec'ing sleep and lost it, and bash waited on that sleep until the SIGKILL (137
    after the whole grace, in half of the tries). The kill repeats SIGTERM to the command's processes,
    so every try ends by SIGTERM (143) well inside the grace."""
    for _ in range(20):
        exit_code, took = asyncio.run(_kill_as_the_command_forks(tmp_path))
        assert exit_code == 143
        assert took < KILL_GRACE_S
