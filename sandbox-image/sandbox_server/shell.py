"""Named shell sessions: each command is its own `bash` in its own process group, state carried over.

Why not one long-lived interactive bash per session: killing "the running command" then means guessing
which processes belong to it, and a wedged prompt wedges the session. Here every command is a fresh
`bash -c` started with setsid, so `killpg` reaches it and every child it spawned, and the working
directory and exported environment are saved by an EXIT trap and restored for the next command.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import getpass
import os
import re
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox_server import identity
from sandbox_server.errors import ToolError
from sandbox_server.paths import display

SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CONSOLE_LENGTH = 100
KILL_GRACE_S = 2.0
#: How often the kill repeats SIGTERM to the command's processes during the grace (see kill).
TERM_REPEAT_S = 0.1
#: After bash exits, children it left in the background may still hold the pipe; read this long more.
DRAIN_GRACE_S = 0.2

# $1 = the command, $2 = the state directory. The trap saves cwd and environment however the command
# ends (normally, `exit N`, or a catchable signal), with builtins only (each fork costs a millisecond);
# an environment file without its end marker (killed mid-trap) is ignored, keeping the previous state.
WRAPPER = r"""
__riadex_cmd=$1
__riadex_state=$2
set --
trap '__riadex_rc=$?
printf "%s" "$PWD" > "$__riadex_state/cwd"
{ for __riadex_n in $(compgen -e); do printf "%s=%s\0" "$__riadex_n" "${!__riadex_n}"; done
  printf "__RIADEX_END=\0"; } > "$__riadex_state/env"
exit $__riadex_rc' EXIT
eval "$__riadex_cmd"
"""

#: Variables bash manages itself; carrying them over would make them drift (SHLVL grows by one a command).
_VOLATILE = frozenset({"SHLVL", "_", "PWD"})


def base_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The server's environment minus its own settings (the secret above all) plus shell-friendly values."""
    clean = {k: v for k, v in env.items() if not k.startswith("SANDBOX_")}
    clean.update({"PYTHONUNBUFFERED": "1", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat"})
    return clean


class Output:
    """A command's output, keeping only the last `cap` characters and counting what was dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.text = ""
        self.dropped = 0

    def append(self, chunk: str) -> None:
        self.text += chunk
        excess = len(self.text) - self.cap
        if excess > 0:
            self.dropped += excess
            self.text = self.text[excess:]

    def render(self) -> str:
        if self.dropped:
            return f"[... {self.dropped} characters truncated ...]\n{self.text}"
        return self.text


def tail(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return f"[... {len(text) - cap} characters truncated ...]\n{text[-cap:]}"


@dataclass
class Command:
    ps1: str
    command: str
    output: Output
    process: asyncio.subprocess.Process | None = None
    stdout: asyncio.StreamReader | None = None
    stdin: asyncio.StreamWriter | None = None
    exit_code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    collecting: bool = True
    #: True while a background child of a finished command still holds its output pipe.
    lingering: bool = False

    @property
    def status(self) -> str:
        return "completed" if self.done.is_set() else "running"

    def entry(self) -> dict[str, str]:
        return {"ps1": self.ps1, "command": self.command, "output": self.output.render()}


class ShellSession:
    def __init__(
        self,
        session_id: str,
        workspace: Path,
        env: dict[str, str],
        max_output: int,
        run_as: identity.RunAs | None = None,
    ) -> None:
        self.session_id = session_id
        self.run_as = run_as
        self.workspace = workspace
        self.max_output = max_output
        self.cwd = workspace
        self.env = dict(env)
        self.console: deque[Command] = deque(maxlen=CONSOLE_LENGTH)
        self.current: Command | None = None
        self.state_dir = Path(tempfile.mkdtemp(prefix="riadex-shell-"))
        if run_as is not None and run_as != (os.geteuid(), os.getegid()):
            os.chown(self.state_dir, *run_as)  # the command's EXIT trap writes its state there
        self._tasks: set[asyncio.Task[None]] = set()
        self._start_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self.current is not None and not self.current.done.is_set()

    def result(self) -> dict[str, Any]:
        cmd = self.current
        return {
            "session_id": self.session_id,
            "status": cmd.status if cmd else "completed",
            "exit_code": cmd.exit_code if cmd else None,
            "output": cmd.output.render() if cmd else "",
            "console": [c.entry() for c in self.console],
        }

    def view(self) -> dict[str, Any]:
        console = [c.entry() for c in self.console]
        text = "\n".join(f"{e['ps1']} {e['command']}\n{e['output']}" for e in console)
        cmd = self.current
        return {
            "session_id": self.session_id,
            "status": cmd.status if cmd else "completed",
            "exit_code": cmd.exit_code if cmd else None,
            "output": tail(text, self.max_output),
            "console": console,
        }

    async def start(self, command: str, exec_dir: Path | None) -> Command:
        async with self._start_lock:
            if self.running:
                raise ToolError(409, "busy", f"shell session {self.session_id!r} is still running a command")
            cwd = exec_dir if exec_dir is not None else self.cwd
            if not cwd.is_dir():
                if exec_dir is not None:
                    raise ToolError(400, "not_a_directory", f"exec_dir {str(cwd)!r} is not a directory")
                cwd = self.workspace
            cmd = Command(
                ps1=f"{_user()}@sandbox:{display(self.workspace, cwd)} $",
                command=command,
                output=Output(self.max_output),
            )
            # Our own pipes, not asyncio's PIPE: Process.wait() would otherwise also wait for every
            # background child that inherited stdout to close it, and `sleep 300 &` would hang the command.
            out_r, out_w = os.pipe()
            in_r, in_w = os.pipe()
            try:
                cmd.process = await asyncio.create_subprocess_exec(
                    *identity.drop_prefix(self.run_as),
                    "bash",
                    "-c",
                    WRAPPER,
                    "riadex-shell",
                    command,
                    str(self.state_dir),
                    stdin=in_r,
                    stdout=out_w,
                    stderr=out_w,
                    cwd=str(cwd),
                    env=self.env,
                    start_new_session=True,
                )
            except BaseException:
                os.close(out_r)
                os.close(in_w)
                raise
            finally:
                os.close(out_w)
                os.close(in_r)
            cmd.stdout, cmd.stdin = await _connect_pipes(out_r, in_w)
            self.current = cmd
            self.console.append(cmd)
            self._spawn(self._supervise(cmd))
            return cmd

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self, cmd: Command) -> None:
        assert cmd.process is not None
        assert cmd.stdout is not None
        reader = asyncio.create_task(self._read(cmd, cmd.stdout))
        code = await cmd.process.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE_S)
        cmd.collecting = False
        cmd.exit_code = 128 - code if code < 0 else code
        if cmd.stdin is not None:
            cmd.stdin.close()
        self._load_state()
        cmd.done.set()
        if not reader.done():
            # A background child still holds the pipe: keep draining (so it never blocks) but stop recording.
            cmd.lingering = True
            self._tasks.add(reader)
            reader.add_done_callback(self._tasks.discard)
            reader.add_done_callback(lambda _: setattr(cmd, "lingering", False))

    @staticmethod
    async def _read(cmd: Command, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await stream.read(65536):
            if cmd.collecting:
                cmd.output.append(decoder.decode(chunk))
        if cmd.collecting:
            cmd.output.append(decoder.decode(b"", final=True))

    def _load_state(self) -> None:
        with contextlib.suppress(OSError):
            cwd = Path((self.state_dir / "cwd").read_text().strip())
            if cwd.is_dir():
                self.cwd = cwd
        with contextlib.suppress(OSError):
            raw = (self.state_dir / "env").read_bytes()
            if not raw.endswith(b"\0__RIADEX_END=\0"):
                return
            env = {}
            for item in raw[: -len(b"__RIADEX_END=\0")].split(b"\0"):
                key, sep, value = item.decode("utf-8", "surrogateescape").partition("=")
                if sep and key and key not in _VOLATILE:
                    env[key] = value
            if env:
                self.env = env

    async def wait(self, seconds: float) -> None:
        cmd = self.current
        if cmd is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(cmd.done.wait()), seconds)

    async def write(self, data: str) -> None:
        cmd = self.current
        if cmd is None or cmd.done.is_set() or cmd.stdin is None:
            raise ToolError(409, "not_running", f"shell session {self.session_id!r} has no running command")
        try:
            cmd.stdin.write(data.encode())
            await cmd.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ToolError(409, "not_running", "the command closed its input") from exc

    async def kill(self) -> None:
        cmd = self.current
        if cmd is None or cmd.process is None or (cmd.done.is_set() and not cmd.lingering):
            return
        pgid = cmd.process.pid  # setsid made the shell the leader: its pid is the group id
        _signal_group(pgid, signal.SIGTERM)
        # The grace is for the shell's own exit, not for the output drain and state reload that follow
        # it (on a loaded machine those used to eat the grace, and a shell that had died of SIGTERM was
        # reported as SIGKILLed: 137 instead of 143).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KILL_GRACE_S
        while (left := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(asyncio.shield(cmd.process.wait()), min(TERM_REPEAT_S, left))
                break
            except TimeoutError:
                # A SIGTERM that lands while bash forks a command reaches the child before it has exec'd
                # the command and is lost there; bash then waits on a command that never got it (half the
                # time, when the kill came right after the command began). The command's group, not the
                # shell (which may be running its EXIT trap), gets it again.
                _signal_members(pgid, signal.SIGTERM)
        # Whatever ignored SIGTERM (or outlived the shell in the group) goes now.
        _signal_group(pgid, signal.SIGKILL)
        await cmd.done.wait()

    async def close(self) -> None:
        cmd = self.current
        if cmd is not None and cmd.process is not None:
            _signal_group(cmd.process.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(cmd.done.wait()), KILL_GRACE_S)
        for task in list(self._tasks):
            task.cancel()
        shutil.rmtree(self.state_dir, ignore_errors=True)


async def _connect_pipes(out_r: int, in_w: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(out_r, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(in_w, "wb", 0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, writer


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """The processes of a group other than its leader (read from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            # pgrp is the third field after the command name, which may itself hold ") "
            if int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[2]) == pgid:
                members.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return members


def _signal_members(pgid: int, sig: signal.Signals) -> None:
    """Signal the processes of a group other than its leader."""
    for pid in group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "sandbox"


class ShellManager:
    def __init__(
        self,
        workspace: Path,
        max_output: int,
        env: Mapping[str, str] | None = None,
        run_as: identity.RunAs | None = None,
    ) -> None:
        self.workspace = workspace
        self.run_as = run_as
        self.max_output = max_output
        self.env = base_environment(os.environ if env is None else env)
        self.sessions: dict[str, ShellSession] = {}

    def get(self, session_id: str) -> ShellSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise ToolError(404, "not_found", f"no shell session {session_id!r}")
        return session

    def get_or_create(self, session_id: str) -> ShellSession:
        if not SESSION_ID.match(session_id):
            raise ToolError(400, "invalid_input", "session_id must be 1-128 characters of [A-Za-z0-9_.:-]")
        if session_id not in self.sessions:
            self.sessions[session_id] = ShellSession(
                session_id, self.workspace, self.env, self.max_output, self.run_as
            )
        return self.sessions[session_id]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions.values()), return_exceptions=True)
        self.sessions.clear()
