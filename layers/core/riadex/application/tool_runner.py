"""Run one tool call the model asked for, and say how it went as a `tool` event's data (docs/api.md).

Sandbox tools (shell, file, browser) go to the session's sandbox, `web_search` to the search provider,
`message_notify_user` is its own result; `message_ask_user` is not run here (the loop pauses for it).

A tool that refuses (a missing file, a bad argument, a search error) is a `failed` result the model
reads and can recover from; only a sandbox that vanished is raised (`Unavailable`, retryable: the next
attempt gets a fresh sandbox). While a call runs, a watcher re-reads the run's status; when a cancel
has moved it on, the sandbox is told to kill the shell command's process group or stop the browser
action (docs/api.md), until the call returns, so it returns promptly and nothing keeps running for a
cancelled run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from riadex.application import telemetry
from riadex.application import tool_catalog as tc
from riadex.application.llm import ToolCall
from riadex.application.ports import RunRepository
from riadex.application.screenshots import Screenshots
from riadex.application.search import SearchError, SearchProvider, search_tool_content
from riadex.domain.errors import DomainError, Unavailable
from riadex.domain.models import Run, RunStatus

logger = logging.getLogger(__name__)
SANDBOX_TOOLS = frozenset({tc.SHELL, tc.FILE, tc.BROWSER})
DEFAULT_SEARCH_RESULTS = 5


class SandboxTools(Protocol):
    """What the loop uses of riadex.application.sandboxes.Sandboxes."""

    def ensure(self, session_id: str, owner_id: str, run_id: str | None = None) -> object: ...

    def call_tool(
        self, session_id: str, owner_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]: ...

    def call_existing(
        self, session_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]: ...

    def save_workspace(self, session_id: str, run_id: str | None = None) -> object: ...


@dataclass(frozen=True)
class ToolOutcome:
    status: str
    """"called" or "failed"."""
    content: Any
    duration_ms: int


class ToolRunner:
    def __init__(
        self,
        sandbox: Callable[[], SandboxTools],
        search: Callable[[], SearchProvider],
        runs: RunRepository,
        *,
        cancel_poll_seconds: float = 0.5,
        screenshots: Screenshots | None = None,
    ) -> None:
        self._screenshots = screenshots
        self._sandbox = sandbox
        self._search = search
        self._runs = runs
        self._poll = cancel_poll_seconds

    def prepare(self, run: Run) -> None:
        """Start (or find) the session's sandbox ahead of the first tool call."""
        self._sandbox().ensure(run.session_id, run.owner_id, run.run_id)

    def checkpoint(self, run: Run) -> None:
        """Save the session's workspace if the calls just made changed it (the tool server's stamp
        says), so a sandbox lost later, or reaped, gives its files to the next one. Never fails a run."""
        try:
            self._sandbox().save_workspace(run.session_id, run.run_id)
        except Exception:
            logger.exception("workspace checkpoint failed", extra={"run_id": run.run_id})

    def run(self, run: Run, call: ToolCall) -> ToolOutcome:
        started = time.monotonic()
        status, content = self._dispatch(run, call)
        telemetry.emit("ToolCalls", 1, tool=call.name, outcome=status)
        return ToolOutcome(status, content, int((time.monotonic() - started) * 1000))

    def _dispatch(self, run: Run, call: ToolCall) -> tuple[str, Any]:
        tool = tc.tool_of(call.name)
        try:
            if tool in SANDBOX_TOOLS:
                return "called", self._in_sandbox(run, call)
            if call.name == tc.WEB_SEARCH:
                return "called", self._web_search(call.arguments)
            if call.name == tc.MESSAGE_NOTIFY_USER:
                return "called", {"text": str(call.arguments.get("text", ""))}
        except Unavailable as exc:
            if exc.retryable:
                raise
            return "failed", {"error": exc.message}
        except SearchError as exc:
            return "failed", {"error": exc.message}
        except DomainError as exc:
            return "failed", {"error": exc.message}
        return "failed", {"error": f"unknown function {call.name!r}: use one of the functions you were given"}

    def _web_search(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query") or "").strip()
        if not query:
            return {"error": "web_search needs a query"}
        wanted = args.get("max_results")
        count = wanted if isinstance(wanted, int) and 1 <= wanted <= 20 else DEFAULT_SEARCH_RESULTS
        return search_tool_content(query, self._search().search(query, count))

    def _in_sandbox(self, run: Run, call: ToolCall) -> dict[str, Any]:
        done = threading.Event()
        watcher = threading.Thread(
            target=self._watch, args=(run, call, done), name=f"cancel-watch-{call.id}", daemon=True
        )
        watcher.start()
        try:
            data = self._sandbox().call_tool(
                run.session_id, run.owner_id, call.name, dict(call.arguments), run.run_id
            )
        finally:
            done.set()
            watcher.join(timeout=self._poll * 4)
        return _tool_content(data, run.session_id, self._screenshots)

    def _watch(self, run: Run, call: ToolCall, done: threading.Event) -> None:
        """Once the run has moved on, interrupt the call, and again at every poll until it returns: a
        cancel that lands before the sandbox has started the command (a sandbox still starting, on a
        busy machine) finds nothing to kill, and the command would then run its whole course."""
        moved_on = False
        while not done.wait(self._poll):
            if not moved_on:
                try:
                    current = self._runs.get(run.run_id)
                except Exception:  # noqa: S112 - a failed read is not a cancel; the next poll reads again
                    continue
                moved_on = current is None or current.status is not RunStatus.RUNNING
            if moved_on:
                self._interrupt(run, call)

    def _interrupt(self, run: Run, call: ToolCall) -> None:
        """Kill the shell command's process group, or stop the browser action; never start a sandbox
        for it (call_existing) and never fail the cancel over it."""
        if call.name.startswith("shell_"):
            function = "shell_kill"
            shell = str(call.arguments.get("session_id") or tc.DEFAULT_SHELL_SESSION)
            args: dict[str, Any] = {"session_id": shell}
        elif call.name.startswith("browser_"):
            function, args = "browser_stop", {}
        else:
            return
        try:
            self._sandbox().call_existing(run.session_id, function, args)
        except DomainError as exc:
            logger.warning("could not interrupt %s: %s", call.name, exc.message)


def _tool_content(data: dict[str, Any], session_id: str, screenshots: Screenshots | None) -> dict[str, Any]:
    """The tool server's data as event content: a browser screenshot is not inlined (its base64 would
    crowd out the page text); it goes to the object store and the event carries its URL."""
    if "screenshot_png_b64" in data:
        png = data["screenshot_png_b64"]
        data = {k: v for k, v in data.items() if k != "screenshot_png_b64"}
        data["screenshot"] = "taken"
        if screenshots is not None and isinstance(png, str):
            try:
                data.update(screenshots.keep(session_id, png))
            except Exception:
                logger.exception("screenshot not stored", extra={"session_id": session_id})
    return data
