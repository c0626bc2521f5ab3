"""The `riadex` CLI end to end: the real command (as the console script runs it) against the local
stack started as `make dev` starts it; Ctrl-C is a real SIGINT to the process, answers go through stdin."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STREAM_MAX_SECONDS, Stack
from tests.e2e.stack import ROOT, free_port

pytestmark = pytest.mark.e2e

COMMAND = [sys.executable, "-m", "riadex.entrypoints.cli"]
DEADLINE_S = 60


@dataclass
class Cli:
    env: dict[str, str]
    config_home: Path

    def run(self, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, *args],
            cwd=ROOT,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"riadex {args} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *args: str) -> Running:
        process = subprocess.Popen(
            [*COMMAND, *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # The tests press Ctrl-C (a real SIGINT): the CLI must not inherit an ignored SIGINT from
            # whatever started pytest (a background job of a non-interactive shell, nohup), as a
            # terminal's foreground process never does.
            preexec_fn=_default_sigint,
        )
        return Running(process)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Running:
    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, sink in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line)

    def wait_for(self, condition: Callable[[str], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if condition("".join(self.out)):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} in the output:\n{''.join(self.out)}\n{''.join(self.err)}")

    def finish(self) -> int:
        try:
            return self.process.wait(timeout=DEADLINE_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def _make_cli(stack: Stack, config_home: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIADEX_", "XDG_")) and k != "COLUMNS"}
    env.update(
        {
            "PYTHONPATH": str(ROOT / "layers" / "core"),
            "RIADEX_URL": stack.base,
            "XDG_CONFIG_HOME": str(config_home),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "120",
        }
    )
    made = Cli(env, config_home)
    made.ok("login", "--name", "cli-user")
    return made


@pytest.fixture(scope="module")
def cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One signed-in user for the module's runs (each test works in sessions of its own)."""
    return _make_cli(stack, tmp_path_factory.mktemp("cli") / "config")


@pytest.fixture
def fresh_cli(stack: Stack, tmp_path: Path) -> Cli:
    """A user of its own, for the test that lists every session of its user."""
    return _make_cli(stack, tmp_path / "config")


def _session_id(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("session "):
            return line.split()[1]
    raise AssertionError(f"no session id printed:\n{output}")


def test_login_keeps_the_token_private_and_sessions_are_managed(fresh_cli: Cli, stack: Stack) -> None:
    cli = fresh_cli
    config = cli.config_home / "riadex" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    token = json.loads(config.read_text())["servers"][stack.base]["token"]
    assert httpx.get(f"{stack.base}/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}).is_success

    sid = cli.ok("new", "--title", "Quarterly numbers").strip()
    listed = json.loads(cli.ok("sessions", "--json"))
    assert [s["session_id"] for s in listed] == [sid]
    assert "Quarterly numbers" in cli.ok("sessions")
    assert "Quarterly numbers" in cli.ok("show", sid)
    cli.ok("rm", sid)
    assert json.loads(cli.ok("sessions", "--json")) == []
    missing = cli.run("show", sid)
    assert missing.returncode == 1
    assert "404" in missing.stderr


def test_errors_say_what_to_do(cli: Cli) -> None:
    bad = cli.run("sessions", RIADEX_TOKEN="not-a-token")
    assert bad.returncode == 1
    assert "riadex login" in bad.stderr
    assert "Traceback" not in bad.stderr
    nowhere = cli.run("login", RIADEX_URL=f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 1
    assert "cannot reach the Riadex server" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr


def test_chat_streams_the_run_and_tail_replays_it_exactly_once(cli: Cli) -> None:
    done = cli.run(
        "chat", "Check the box\n!shell echo cli-$((6 * 7))\n!write notes.txt kept\n!read notes.txt"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    sid = _session_id(out)
    for expected in ("plan", "$ echo cli-$((6 * 7))", "cli-42", "notes.txt", "kept", "■ completed"):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    assert "tool calls" in out  # the usage line

    lines = cli.ok("tail", sid, "--json", "--until-done").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "done"
    assert events[-1]["data"]["status"] == "completed"

    # A second message in the same session; busy-session errors name the way out.
    assert cli.run("chat", sid, "!shell echo again").returncode == 0
    later = cli.ok("tail", sid, "--json", "--until-done", "--after", str(events[-1]["seq"])).splitlines()
    assert json.loads(later[0])["seq"] == events[-1]["seq"] + 1


def test_chat_asks_the_agents_question_on_stdin(cli: Cli) -> None:
    done = cli.run("chat", "!ask Which colour?\n!shell echo painted", input="teal\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Which colour?" in done.stdout
    assert "painted" in done.stdout
    sid = _session_id(done.stdout)
    history = json.loads(cli.ok("show", sid, "--json"))["events"]
    answers = [
        e["data"]["content"] for e in history if e["type"] == "message" and e["data"]["role"] == "user"
    ]
    assert answers[-1] == "teal"


def test_chat_without_an_answer_leaves_the_run_waiting(cli: Cli) -> None:
    done = cli.run("chat", "!ask Anyone there?", input="")
    assert done.returncode == 3
    assert "No answer given" in done.stderr
    sid = _session_id(done.stdout)
    history = json.loads(cli.ok("show", sid, "--json"))["events"]
    assert [e["data"]["status"] for e in history if e["type"] == "run"][-1] == "waiting"
    cli.ok("stop", sid)


def test_ctrl_c_cancels_the_run(cli: Cli) -> None:
    running = cli.start("chat", "!sleep 30")
    running.wait_for(lambda out: "$ sleep 30" in out, "shell call")
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 130
    out = "".join(running.out)
    assert "cancelling the run" in out
    assert "■ cancelled" in out


def test_a_second_ctrl_c_detaches_and_the_run_goes_on(cli: Cli, stack: Stack) -> None:
    running = cli.start("chat", "!sleep 30")
    running.wait_for(lambda out: "$ sleep 30" in out, "shell call")
    running.process.send_signal(signal.SIGINT)
    running.wait_for(lambda out: "cancelling the run" in out, "cancel notice")
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 3
    assert "Detached" in "".join(running.err)
    assert "■ cancelled" not in "".join(running.out)
    # The run went on without the client; its cancel (asked by the first Ctrl-C) still ends it.
    sid = _session_id("".join(running.out))
    tailed = cli.run("tail", sid, "--json", "--until-done")
    assert tailed.returncode == 130  # tail --until-done exits with the run's code: cancelled
    done = json.loads(tailed.stdout.splitlines()[-1])
    assert done["type"] == "done"
    assert done["data"]["status"] == "cancelled"


def test_streams_resume_across_server_reconnects(cli: Cli) -> None:
    # The run outlives the stack's stream limit: both the chat's run stream and tail's session stream
    # are closed by the server with `reconnect` and resume after the last seq they showed.
    seconds = STREAM_MAX_SECONDS + 2
    sid = cli.ok("new").strip()
    tail = cli.start("tail", sid, "--json", "--until-done")
    done = cli.run("chat", sid, f"!sleep {seconds}\n!shell echo after-the-sleep")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("after-the-sleep\n") >= 1
    assert done.stdout.count("■ completed") == 1
    assert tail.finish() == 0
    events = [json.loads(line) for line in tail.out]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "done"


def test_upload_then_read_and_download(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "report.csv"
    source.write_text("name,score\nada,42\n")
    sid = cli.ok("new").strip()
    uploaded = cli.ok("upload", sid, str(source))
    assert "report.csv" in uploaded
    file_id = uploaded.split()[-1]
    path = uploaded.split("→")[1].split()[0]
    done = cli.run("chat", sid, f"!read {path}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ada,42" in done.stdout
    target = tmp_path / "back.csv"
    cli.ok("download", sid, file_id, "-o", str(target))
    assert target.read_text() == source.read_text()
