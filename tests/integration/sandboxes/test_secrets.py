"""Inside a jailed process sandbox, the agent's shell can read nothing that holds the sandbox's secret.

The agent runs as uid 1000, the tool server as its user namespace's root (another unprivileged uid of
the host); the secret reaches the server through a pipe (SANDBOX_SECRET_FD) and the server keeps only
its digest. The test has the agent collect everything it can read where a secret could be — every
process's command line and environment, `ps`, its own environment, the workspace, /tmp, /run, /dev/shm —
into a file, and finds the secret nowhere in it (the test reads the file from the host side: the
secret itself never enters the sandbox through the test).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.domain import ids
from tests.integration.sandboxes.conftest import process_sandboxes

tools = HttpToolGateway()

COLLECT = r"""
{
  echo "== id"; id
  echo "== ps"; ps -eo pid,user,args
  for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
    echo "== $f"; tr '\0' '\n' < "$f" 2>&1
  done
  echo "== env"; env
  echo "== files"
  find /workspace /tmp /run /dev/shm "$HOME" -xdev -type f -readable ! -name seen.txt 2>/dev/null \
    | while read -r f; do echo "-- $f"; head -c 65536 "$f"; done
} > /workspace/seen.txt 2>&1
echo collected
"""


@pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="the jail needs bubblewrap: apt-get install bubblewrap"
)
def test_the_agent_reads_no_secret(server_dir: Path, tmp_path: Path) -> None:
    provider = process_sandboxes(server_dir, tmp_path / "sandboxes", network="none")
    try:
        handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        tools.call(handle, "file_write", {"file": "notes/hello.txt", "content": "hi"})
        result = tools.call(handle, "shell_exec", {"session_id": "t", "command": COLLECT, "timeout": 60})
        assert "collected" in result["output"]
        seen = (tmp_path / "sandboxes" / handle.sandbox_id / "workspace" / "seen.txt").read_text(
            errors="replace"
        )

        assert "uid=1000" in seen  # the agent's user ...
        assert "sandbox_server" in seen  # ... sees the server's process (the dump is real) ...
        assert "--clearenv" in seen  # ... and the jail's command line, where the secret once was ...
        assert "Permission denied" in seen  # ... but not its environment
        assert handle.secret not in seen
        assert "SANDBOX_SECRET=" not in seen

        # A file the server wrote belongs to the agent, who can chmod and remove it.
        out = tools.call(
            handle,
            "shell_exec",
            {
                "session_id": "t",
                "command": "chmod +x notes/hello.txt && stat -c %u notes/hello.txt && rm -r notes",
            },
        )["output"]
        assert "1000" in out
    finally:
        provider.release_all()
