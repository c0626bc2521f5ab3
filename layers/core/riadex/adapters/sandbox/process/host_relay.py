"""Host side of a jailed sandbox: a TCP port on 127.0.0.1 that forwards to the jail's unix socket.

Every client of a sandbox (tool calls, health, the VNC proxy) speaks to `http://127.0.0.1:<port>`
whatever the backend, so this keeps the process backend's endpoint an ordinary URL. One asyncio loop
in a daemon thread serves every relay of the process.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class HostRelays:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._servers: dict[str, asyncio.base_events.Server] = {}

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sandbox-relays", daemon=True).start()
                self._loop = loop
            return self._loop

    def open(self, key: str, socket_path: Path) -> int:
        """Listen on a free 127.0.0.1 port forwarding to `socket_path`; returns the port."""

        async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(str(socket_path))
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(connect, host="127.0.0.1", port=0)

        server = asyncio.run_coroutine_threadsafe(start(), self._running_loop()).result(timeout=10)
        self._servers[key] = server
        port: int = server.sockets[0].getsockname()[1]
        return port

    def close(self, key: str) -> None:
        server = self._servers.pop(key, None)
        if server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(server.close)
