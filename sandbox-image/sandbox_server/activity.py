"""The idle clock: when nothing but health checks touched the server for long enough, it exits."""

from __future__ import annotations

import time


class Activity:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = self.started

    def touch(self) -> None:
        self.last = time.monotonic()

    def idle_s(self) -> float:
        return time.monotonic() - self.last

    def uptime_s(self) -> float:
        return time.monotonic() - self.started
