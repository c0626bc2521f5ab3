"""SandboxEvents until the event log's append lands (branch `runs`): kept in memory and logged.

The lead wires `SandboxEvents.emit` to `EventLog.append` at merge; this keeps the last events per
session so tests and the local stack can see them meanwhile.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from aws_lambda_powertools import Logger

from riadex.domain.sandboxes import SandboxStatus

logger = Logger(service="riadex")


class RecordingSandboxEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.emitted: dict[str, list[dict[str, str]]] = defaultdict(list)

    def emit(self, session_id: str, status: SandboxStatus, backend: str) -> None:
        data = {"status": status.value, "backend": backend}
        with self._lock:
            self.emitted[session_id].append(data)
        logger.info("sandbox", extra={"session_id": session_id, **data})

    def statuses(self, session_id: str) -> list[str]:
        with self._lock:
            return [event["status"] for event in self.emitted.get(session_id, [])]
