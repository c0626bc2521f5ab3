"""Host side of a jailed sandbox: a TCP port on 127.0.0.1 that forwards to the jail's unix socket.

Every client of a sandbox (tool calls, health, the VNC proxy) speaks to `http://127.0.0.1:<port>`
whatever the backend, so this keeps the process backend's endpoint an ordinary URL. One asyncio loop
in a daemon thread serves every relay of the process.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

UNIX_PATH_MAX = 100
"""AF_UNIX paths stop at 108 bytes; a data dir deep in a tree (or pytest's tmp) goes past that."""


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
        self._dir_fds: dict[str, int] = {}

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="sandbox-relays", daemon=True).start()
                self._loop = loop
            return self._loop

    def open(self, key: str, socket_path: Path) -> int:
        """Listen on a free 127.0.0.1 port forwarding to `socket_path`; returns the port."""
        target = str(socket_path)
        if len(target) > UNIX_PATH_MAX:
            # Reach it through an open handle on its directory: /proc/self/fd/N/<name> is short.
            fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY)
            self._dir_fds[key] = fd
            target = f"/proc/self/fd/{fd}/{socket_path.name}"

        async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(target)
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
        fd = self._dir_fds.pop(key, None)
        if fd is not None:
            os.close(fd)
