"""`make dev`: the whole stack on one machine, no account and no key."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from types import FrameType

import uvicorn

from riadex.bootstrap import bootstrap
from riadex.config import Settings
from riadex.entrypoints.local import checks
from riadex.entrypoints.local.stack import LocalStack, PortInUse, ensure_port_free
from riadex.entrypoints.local.web import mount_web
from riadex.entrypoints.scheduled.reaper import PeriodicReaper


def _ready_line(host: str, port: int, dynamodb: str | None = None, web: bool = False) -> str:
    url = f"http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{port}"
    line = f"Riadex is ready on {url} (API docs: {url}/docs). Get a token: "
    body = '{"name": "me"}'
    line += f"curl -s -X POST {url}/api/v1/users -H 'Content-Type: application/json' -d '{body}'"
    if web:
        line += f"\n  web client: {url}/   CLI: riadex login (RIADEX_URL={url})"
    if dynamodb:
        line += f"\n  DynamoDB (the stored events, README: Look at the stored events): {dynamodb}"
    return line


class _Server(uvicorn.Server):
    """uvicorn's server, announcing readiness once it really listens."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self.ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_line, flush=True)


class _Stopped(Exception):
    """SIGTERM, re-raised by uvicorn once it has shut down gracefully."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def main() -> int:
    settings = Settings()
    try:
        ensure_port_free(settings.host, settings.port)
    except PortInUse as exc:
        print(
            f"riadex: {exc} (is another `make dev` running?). "
            "Stop it, or choose another port: PORT=8001 make dev",
            file=sys.stderr,
        )
        return 2
    stack = LocalStack(settings)
    reaper: PeriodicReaper | None = None
    container = None
    try:
        settings = stack.start()
        container = stack.container or bootstrap(settings)
        gateway = stack.http_app()  # the API and stream functions' apps (local/gateway.py)
        for note in checks.unavailable(settings):
            print(f"riadex: {note}", flush=True)
        # Sandboxes that did not survive the restart are marked lost now, not at their next use.
        lost = container.sandboxes.sweep_dead()
        if lost:
            print(f"riadex: {len(lost)} sandbox(es) of the last run did not survive the restart: marked lost")
        reaper = PeriodicReaper(
            container.sandboxes, settings.sandbox_idle_timeout, settings.sandbox_reap_every
        )
        reaper.start()
        has_web = mount_web(gateway.api, settings)
        config = uvicorn.Config(
            gateway, host=settings.host, port=settings.port, log_level="warning", lifespan="off"
        )
        ready = _ready_line(settings.host, settings.port, settings.dynamodb_endpoint, has_web)
        server = _Server(config, ready)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal; ending here
        # (rather than dying) lets the finally clause write the snapshot.
        signal.signal(signal.SIGTERM, _on_sigterm)
        with contextlib.suppress(KeyboardInterrupt, _Stopped):
            server.run()
        if not server.started:
            print(f"riadex: could not listen on {settings.host}:{settings.port}", file=sys.stderr)
            return 2
    finally:
        if reaper is not None:
            reaper.stop()
        if container is not None:
            # Sandboxes of this process die with it (process backend); containers are removed.
            release_all = getattr(container.sandbox_provider, "release_all", None)
            if release_all is not None:
                release_all()
        stack.stop()
    print("riadex: stopped; data kept in", settings.data_dir, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
