"""The sandbox reaper: releases sandboxes idle longer than SANDBOX_IDLE_TIMEOUT, and keeps the warm
pool (fargate with SANDBOX_POOL_SIZE: renews, drops the dead, stops extras, refills).

In AWS an EventBridge schedule invokes `handler`; the local stack runs `PeriodicReaper` in a thread.
The tool server's own idle timer is the backstop for both (a sandbox stops itself even if this never
runs), and this is what keeps the session records honest and frees Fargate tasks promptly.
"""

from __future__ import annotations

import threading
from typing import Any

from riadex.adapters import call_record
from riadex.application.sandbox_ports import SandboxPool
from riadex.application.sandboxes import Sandboxes
from riadex.entrypoints.observability import logger


def reap(sandboxes: Sandboxes, idle_seconds: float) -> list[str]:
    """Release the idle sandboxes, then mark lost the ready ones that stopped answering."""
    with call_record.entry(f"module:{__name__}"):
        reaped = sandboxes.reap_idle(idle_seconds)
        if reaped:
            logger.info("reaped idle sandboxes", extra={"sessions": reaped})
        dead = sandboxes.sweep_dead()
        provider = sandboxes.provider
        pool = provider.maintain() if isinstance(provider, SandboxPool) else {}
    if dead:
        logger.info("found dead sandboxes", extra={"sessions": dead})
    if any(pool.get(k) for k in ("dropped", "stopped_extra", "started")):
        logger.info("kept the warm pool", extra={"pool": pool})
    return reaped


def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from riadex.application import telemetry
    from riadex.bootstrap import bootstrap

    container = bootstrap()
    reaped = reap(container.sandboxes, container.settings.sandbox_idle_timeout)
    telemetry.emit("SandboxesReaped", len(reaped))
    return {"reaped": len(reaped)}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from riadex.entrypoints.observability import instrument

    result: dict[str, Any] = instrument("reaper", _handler)(event, context)
    return result


class PeriodicReaper:
    def __init__(self, sandboxes: Sandboxes, idle_seconds: float, every_seconds: float) -> None:
        self._sandboxes = sandboxes
        self._idle = idle_seconds
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                reap(self._sandboxes, self._idle)
            except Exception:
                logger.exception("sandbox reaper round failed")
