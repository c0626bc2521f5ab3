"""One contract, every local backend: the process backend (bubblewrap jail) and the docker backend
(the docker SDK on podman's Docker API), both running the real tool server.

Given a sandbox acquired for a session, it runs commands and files in its own workspace, answers only
its own secret, shows nothing of the host's environment, survives a fork storm and a memory hog inside
it, and is gone once released.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.application.sandbox_ports import SandboxProvider
from riadex.domain import ids
from riadex.domain.errors import DomainError
from riadex.domain.sandboxes import SandboxHandle
from tests.integration.sandboxes.conftest import TEST_MEMORY_BYTES, TEST_PIDS_MAX, process_sandboxes

tools = HttpToolGateway()
FORK_STORM = """
import os, sys, time
for n in range(300):
    try:
        pid = os.fork()
    except OSError:
        print("fork refused after", n, flush=True)
        sys.exit(0)
    if pid == 0:
        time.sleep(60)
        os._exit(0)
print("never refused", flush=True)
"""


@pytest.fixture(params=["process", "docker"])
def provider(request: pytest.FixtureRequest, server_dir: Path, tmp_path: Path) -> Iterator[SandboxProvider]:
    if request.param == "process":
        made: Any = process_sandboxes(server_dir, tmp_path / "sandboxes")
    else:
        docker_host, image = request.getfixturevalue("podman_image")
        import docker

        from riadex.adapters.sandbox.docker.provider import DockerSandboxes

        made = DockerSandboxes(
            client=docker.DockerClient(base_url=docker_host, timeout=60),
            image=image,
            memory_bytes=TEST_MEMORY_BYTES,
            pids_max=TEST_PIDS_MAX,
        )
    yield made
    made.release_all()


def acquire(provider: SandboxProvider) -> SandboxHandle:
    return provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))


def shell(handle: SandboxHandle, command: str, timeout: float = 30) -> dict[str, Any]:
    return tools.call(handle, "shell_exec", {"session_id": "t", "command": command, "timeout": timeout})


def test_runs_commands_and_files_in_its_own_workspace(provider: SandboxProvider) -> None:
    handle = acquire(provider)
    assert provider.healthy(handle)
    done = shell(handle, "echo hello > note.txt && pwd")
    assert done["exit_code"] == 0
    workspace = done["output"].strip()
    read = tools.call(handle, "file_read", {"file": "note.txt"})
    assert read["content"] == "hello\n"
    assert read["file"] == f"{workspace}/note.txt"
    uploaded = tools.upload(handle, "uploads/data.bin", "data.bin", b"\x00\x01binary")
    assert uploaded["file"] == f"{workspace}/uploads/data.bin"
    assert shell(handle, "wc -c < uploads/data.bin")["output"].strip() == "8"


def test_released_sandboxes_are_gone(provider: SandboxProvider) -> None:
    handle = acquire(provider)
    provider.release(handle)
    assert not provider.healthy(handle)
    provider.release(handle)  # idempotent
    with pytest.raises(httpx.TransportError):
        httpx.get(
            f"{handle.endpoint}/health", headers={"Authorization": f"Bearer {handle.secret}"}, timeout=3
        )


def test_only_its_own_secret_opens_it(provider: SandboxProvider) -> None:
    first, second = acquire(provider), acquire(provider)
    health = f"{first.endpoint}/health"
    assert httpx.get(health, timeout=5).status_code == 401
    assert httpx.get(health, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    crossed = httpx.get(health, headers={"Authorization": f"Bearer {second.secret}"}, timeout=5)
    assert crossed.status_code == 401
    assert crossed.json()["ok"] is False
    own = httpx.get(health, headers={"Authorization": f"Bearer {first.secret}"}, timeout=5)
    assert own.status_code == 200


def test_sees_nothing_of_the_host_environment(
    provider: SandboxProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-secret-4711")
    monkeypatch.setenv("RIADEX_CANARY", "canary-env-4711")
    canary_file = tmp_path / "host-only.txt"
    canary_file.write_text("canary-file-4711")
    handle = acquire(provider)
    seen = shell(handle, f"env; cat {canary_file} 2>&1; cat ~/.aws/credentials 2>&1; echo done")["output"]
    assert "done" in seen
    for canary in ("canary-secret-4711", "canary-env-4711", "canary-file-4711"):
        assert canary not in seen
    assert "SANDBOX_SECRET" not in seen
    assert handle.secret not in seen


def test_a_fork_storm_hits_the_pid_limit_and_the_server_stays_up(provider: SandboxProvider) -> None:
    handle = acquire(provider)
    # Bounded on purpose: 300 sleeping children would pass unnoticed on a machine without limits.
    storm = shell(handle, f"python3 -c '{FORK_STORM}'; echo stormed", timeout=60)
    assert "fork refused after" in storm["output"], storm
    refused_after = int(storm["output"].split("fork refused after")[1].split()[0])
    assert refused_after < TEST_PIDS_MAX
    tools.call(handle, "shell_kill", {"session_id": "t"})
    assert provider.healthy(handle)
    after = tools.call(handle, "shell_exec", {"session_id": "after", "command": "echo alive", "timeout": 30})
    assert after["output"].strip() == "alive"


def test_a_memory_hog_is_killed_and_the_server_stays_up(provider: SandboxProvider) -> None:
    handle = acquire(provider)
    hog = shell(handle, "python3 -c 'x = bytearray(1024 * 1024 * 1024); print(len(x))'", timeout=60)
    assert hog["exit_code"] == 137, hog
    assert provider.healthy(handle)
    assert shell(handle, "echo alive")["output"].strip() == "alive"


def test_runs_without_privileges(provider: SandboxProvider) -> None:
    handle = acquire(provider)
    status = shell(handle, "grep -E '^(CapEff|NoNewPrivs|Uid)' /proc/self/status; id -u")["output"]
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert int(fields["CapEff"].strip(), 16) == 0, status
    assert fields["Uid"].split()[0] != "0"
    assert status.splitlines()[-1].strip() != "0"


def test_one_sandbox_cannot_read_or_list_anothers_workspace(provider: SandboxProvider) -> None:
    """Two sessions' sandboxes: B's shell and B's file tool find nothing of A's workspace, whether by
    A's path inside its sandbox, A's directory on the host, a listing, a search of the whole file
    system, or another process's /proc entries."""
    first, second = acquire(provider), acquire(provider)
    canary = f"canary-{ids.new_id('x')}"
    made = shell(first, f"mkdir -p private && echo {canary}-content > private/{canary}.txt && pwd")
    inside = f"{made['output'].strip()}/private/{canary}.txt"
    assert tools.call(first, "file_read", {"file": inside})["content"] == f"{canary}-content\n"  # it is there
    guesses = [inside]
    root = getattr(provider, "root", None)  # the process backend: where sandboxes live on the host
    if root is not None:
        guesses.append(f"{root}/{first.sandbox_id}/workspace/private/{canary}.txt")

    # Reading by path: never the content.
    reads = [f"cat {path}" for path in guesses]
    reads.append(f"cat /proc/[0-9]*/cwd/private/{canary}.txt /proc/[0-9]*/root/*/private/{canary}.txt")
    read = shell(second, "; ".join(f"{command} 2>&1" for command in reads) + "; echo looked")
    assert read["output"].rstrip().endswith("looked"), read
    assert f"{canary}-content" not in read["output"], read["output"]
    # Listing and searching: never the name.
    listings = [f"ls -la {Path(path).parent}" for path in guesses]
    if root is not None:
        listings.append(f"ls -la {root} {root}/{first.sandbox_id}")
    prune = "\\( -path /proc -o -path /sys -o -path /dev \\) -prune"
    listings.append(f"find / {prune} -o -name '{canary}*' -print")
    listed = shell(second, "; ".join(f"{command} 2>&1" for command in listings) + "; echo listed", 120)
    assert listed["output"].rstrip().endswith("listed"), listed
    assert canary not in listed["output"], listed["output"]
    for path in guesses:
        with pytest.raises(DomainError):
            tools.call(second, "file_read", {"file": path})
