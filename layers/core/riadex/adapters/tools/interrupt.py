"""Stop what a tool call started in a sandbox, for a cancel (SPEC §4): the shell command's process
group (`/shell/kill`) or the in-flight browser action (`/browser/stop`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from riadex.adapters.tools import server
from riadex.application.sandboxes import Sandboxes
from riadex.application.tool_catalog import DEFAULT_SHELL_SESSION

logger = Logger(service="riadex")
INTERRUPT_TIMEOUT_SECONDS = 10.0


class SandboxInterrupts:
    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes

    def interrupt(self, session_id: str, function: str, args: dict[str, Any]) -> None:
        try:
            record = self.sandboxes.records.get(session_id)
            if record is None or record.handle is None:
                return
            if function.startswith("shell_"):
                shell = str(args.get("session_id") or DEFAULT_SHELL_SESSION)
                server.request(
                    record.handle,
                    "POST",
                    "/shell/kill",
                    json={"session_id": shell},
                    timeout=INTERRUPT_TIMEOUT_SECONDS,
                )
            elif function.startswith("browser_"):
                server.request(
                    record.handle, "POST", "/browser/stop", json={}, timeout=INTERRUPT_TIMEOUT_SECONDS
                )
        except Exception:  # best effort: the cancel itself has already ended the run
            logger.exception("interrupting a tool call failed", extra={"session_id": session_id})
