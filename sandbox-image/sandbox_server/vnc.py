"""`/vnc`: binary WebSocket frames in and out of x11vnc's RFB port, one TCP connection per client.

Done here rather than with websockify so VNC shares the server's port and auth and there is no
second listener to supervise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

CONNECT_TIMEOUT_S = 10.0


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_TIMEOUT_S
    while True:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def bridge(websocket: WebSocket, port: int, on_traffic: Callable[[], None]) -> None:
    offered = websocket.scope.get("subprotocols") or []
    try:
        reader, writer = await _connect(port)
    except OSError:
        await websocket.close(code=1011, reason="vnc server unreachable")
        return
    await websocket.accept(subprotocol="binary" if "binary" in offered else None)

    async def to_client() -> None:
        while data := await reader.read(65536):
            on_traffic()
            await websocket.send_bytes(data)

    async def to_server() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            on_traffic()
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.create_task(to_client()), asyncio.create_task(to_server())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
                await task
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close()
