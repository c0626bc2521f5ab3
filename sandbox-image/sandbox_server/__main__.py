"""`python -m sandbox_server`: serve until SIGTERM or until idle for SANDBOX_IDLE_TIMEOUT seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys

import uvicorn

from sandbox_server.activity import Activity
from sandbox_server.app import create_app
from sandbox_server.config import Config, ConfigError

log = logging.getLogger("sandbox_server")


async def _watch_idle(server: uvicorn.Server, config: Config, activity: Activity) -> None:
    step = min(1.0, max(0.05, config.idle_timeout / 10))
    while not server.should_exit:
        await asyncio.sleep(step)
        if activity.idle_s() >= config.idle_timeout:
            log.warning("idle for %.0f s (SANDBOX_IDLE_TIMEOUT): exiting", activity.idle_s())
            server.should_exit = True


async def _announce(server: uvicorn.Server, where: str) -> None:
    while not server.started and not server.should_exit:  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.01)
    if server.started:
        print(f"SANDBOX_READY {where}", flush=True)


def _listen(config: Config) -> tuple[socket.socket, str]:
    if config.socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(config.socket)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(config.socket)
        return sock, f"socket={config.socket}"
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when it is set, and
    # without it every response waits out a 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    return sock, f"port={int(sock.getsockname()[1])}"


async def serve(config: Config) -> None:
    sock, where = _listen(config)
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            timeout_graceful_shutdown=3,
            lifespan="on",
        )
    )
    tasks = [asyncio.create_task(_announce(server, where))]
    if config.idle_timeout > 0:
        tasks.append(asyncio.create_task(_watch_idle(server, config, app.state.sandbox.activity)))
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in tasks:
            task.cancel()
    if not server.started:
        raise SystemExit(1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"sandbox_server: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
