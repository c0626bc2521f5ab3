"""Shell sessions against the real tool server: state kept across commands, long commands, kill, stdin."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

import httpx

from sandbox_server.shell import group_members
from tests.integration.sandbox_server.harness import ToolServer, call, error


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def wait_for_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def process_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    return True  # dead, waiting for its reaper
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def group_runs(pgid: int, commands: list[str], timeout: float = 10) -> None:
    """Wait until the process group's processes other than its leader (the shell) have exec'd
    `commands` (as /proc/<pid>/comm names them), in any order."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for pid in group_members(pgid):
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{pid}/comm").read_text().strip())
        if sorted(found) == sorted(commands):
            return
        assert time.monotonic() < deadline, f"group {pgid} runs {found}, not {commands}"
        time.sleep(0.02)


def test_a_session_keeps_its_directory_and_exported_variables(client: httpx.Client, workspace: Path) -> None:
    s = sid()
    first = call(
        client, "/shell/exec", session_id=s, command="mkdir -p deep/er && cd deep/er && export GREETING=hi"
    )
    assert first["status"] == "completed"
    assert first["exit_code"] == 0

    second = call(client, "/shell/exec", session_id=s, command='pwd; echo "$GREETING"; exit 7')

    assert second["exit_code"] == 7
    assert second["output"] == f"{workspace}/deep/er\nhi\n"
    assert [c["command"] for c in second["console"]][-1] == 'pwd; echo "$GREETING"; exit 7'
    assert second["console"][-1]["ps1"].endswith(":~/deep/er $")
    other = call(client, "/shell/exec", session_id=sid(), command='pwd; echo "[$GREETING]"')
    assert other["output"] == f"{workspace}\n[]\n"


def test_stderr_is_merged_and_exec_dir_applies(client: httpx.Client, workspace: Path) -> None:
    (workspace / "elsewhere").mkdir(exist_ok=True)
    result = call(client, "/shell/exec", session_id=sid(), command="pwd; echo oops >&2", exec_dir="elsewhere")
    assert result["output"] == f"{workspace}/elsewhere\noops\n"


def test_a_long_command_keeps_running_and_wait_collects_it(client: httpx.Client) -> None:
    s = sid()
    started = call(
        client, "/shell/exec", session_id=s, command="echo begin; sleep 1.5; echo end", timeout=0.2
    )
    assert started["status"] == "running"
    assert started["exit_code"] is None
    assert error(client, "/shell/exec", session_id=s, command="true") == (409, "busy")

    done = call(client, "/shell/wait", session_id=s, timeout=20)

    assert done["status"] == "completed"
    assert done["exit_code"] == 0
    assert done["output"] == "begin\nend\n"
    viewed = call(client, "/shell/view", session_id=s)
    assert "begin\nend" in viewed["output"]
    assert viewed["console"][-1]["output"] == "begin\nend\n"


def test_kill_stops_the_whole_process_group_including_children(client: httpx.Client, workspace: Path) -> None:
    s = sid()
    pidfile = workspace / f"{s}.pid"
    call(
        client, "/shell/exec", session_id=s, command=f"sleep 300 & echo $! > {pidfile}; sleep 300", wait=False
    )
    child = int(wait_for_file(pidfile))
    # Kill once the shell waits on its foreground sleep: a SIGTERM that lands while bash forks it can
    # reach the child before it has exec'd sleep (and be lost), and bash then waits on a sleep that
    # ignored it until the SIGKILL (137, which the next test covers).
    group_runs(os.getpgid(child), ["sleep", "sleep"])

    killed = call(client, "/shell/kill", session_id=s)

    assert killed == {"session_id": s, "status": "completed", "exit_code": 143}
    assert process_gone(child), "the background child survived the kill"
    assert call(client, "/shell/exec", session_id=s, command="echo again")["output"] == "again\n"


def test_kill_escalates_to_sigkill_when_sigterm_is_ignored(client: httpx.Client, workspace: Path) -> None:
    s = sid()
    pidfile = workspace / f"{s}.pid"
    command = f"trap '' TERM; sleep 300 & echo $! > {pidfile}; wait; wait"
    call(client, "/shell/exec", session_id=s, command=command, wait=False)
    child = int(wait_for_file(pidfile))

    killed = call(client, "/shell/kill", session_id=s)

    assert killed["status"] == "completed"
    assert killed["exit_code"] == 137
    assert process_gone(child)


def test_write_feeds_the_running_commands_stdin(client: httpx.Client) -> None:
    s = sid()
    call(
        client,
        "/shell/exec",
        session_id=s,
        command="read name; echo hello $name; read x; echo $x",
        wait=False,
    )

    call(client, "/shell/write", session_id=s, input="riadex", press_enter=True)
    call(client, "/shell/write", session_id=s, input="par", press_enter=False)
    done = call(client, "/shell/write", session_id=s, input="tial", press_enter=True)
    done = call(client, "/shell/wait", session_id=s, timeout=10)

    assert done["output"] == "hello riadex\npartial\n"
    assert done["exit_code"] == 0
    assert error(client, "/shell/write", session_id=s, input="late") == (409, "not_running")


def test_output_is_capped_keeping_the_tail(client: httpx.Client) -> None:
    command = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo THE-END"
    result = call(client, "/shell/exec", session_id=sid(), command=command)

    output = result["output"]
    assert output.startswith("[... ")
    assert "characters truncated ...]\n" in output
    assert output.endswith("x\nTHE-END\n")
    kept = output.split("...]\n", 1)[1]
    assert len(kept) == 64 * 1024
    dropped = int(output[len("[... ") :].split(" ", 1)[0])
    assert dropped + len(kept) == 100000 + len("\nTHE-END\n")


def test_commands_do_not_see_the_servers_secret(client: httpx.Client, tool_server: ToolServer) -> None:
    result = call(client, "/shell/exec", session_id=sid(), command="env")
    assert tool_server.secret not in result["output"]
    assert "SANDBOX_" not in result["output"]


def test_bad_requests_are_clear_errors(client: httpx.Client) -> None:
    assert error(client, "/shell/view", session_id="never-used") == (404, "not_found")
    assert error(client, "/shell/kill", session_id="never-used") == (404, "not_found")
    assert error(client, "/shell/exec", session_id="bad id!", command="true") == (400, "invalid_input")
    assert error(client, "/shell/exec", session_id=sid()) == (400, "invalid_input")
    assert error(client, "/shell/exec", session_id=sid(), command="true", exec_dir="/etc") == (
        403,
        "outside_workspace",
    )
    response = client.post("/shell/exec", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_processes_run_in_their_own_process_group(client: httpx.Client) -> None:
    result = call(client, "/shell/exec", session_id=sid(), command="cut -d' ' -f5 /proc/$$/stat; echo $$")
    pgid, pid = result["output"].split()
    assert pgid == pid
    assert int(pgid) != os.getpgid(0)


def test_a_background_child_does_not_keep_the_command_running(client: httpx.Client, workspace: Path) -> None:
    s = sid()
    result = call(client, "/shell/exec", session_id=s, command=f"sleep 300 & echo $! > {s}.pid; echo started")
    assert result["status"] == "completed"
    assert result["output"] == "started\n"
    child = int((workspace / f"{s}.pid").read_text())
    assert call(client, "/shell/kill", session_id=s)["status"] == "completed"
    assert process_gone(child), "kill should also reach a finished command's lingering background child"
