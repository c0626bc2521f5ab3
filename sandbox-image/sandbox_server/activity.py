"""The idle clock: when no request but health checks arrived for long enough, the server exits.

A request in flight (a long `/shell/wait`, an open VNC WebSocket) counts as activity for its whole
duration, not just at its start.
"""

from __future__ import annotations

import time


class Activity:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = self.started
        self.in_flight = 0

    def touch(self) -> None:
        self.last = time.monotonic()

    def begin(self) -> None:
        self.in_flight += 1
        self.touch()

    def end(self) -> None:
        self.in_flight -= 1
        self.touch()

    def idle_s(self) -> float:
        return 0.0 if self.in_flight else time.monotonic() - self.last

    def uptime_s(self) -> float:
        return time.monotonic() - self.started
