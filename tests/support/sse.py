"""Writing a Server-Sent Events body from a stdlib handler, noticing a client that went away."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.llm_script import Script


def start_stream(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")  # the body ends when the connection closes
    handler.end_headers()
    handler.close_connection = True


def send_events(
    handler: BaseHTTPRequestHandler, script: Script, events: list[tuple[str | None, Any]], delay: float
) -> None:
    """Each (event name or None, data: dict or literal str) as one SSE frame, flushed one by one."""
    try:
        for number, (name, data) in enumerate(events):
            if delay and number:
                time.sleep(delay)
            payload = data if isinstance(data, str) else json.dumps(data)
            frame = (f"event: {name}\n" if name else "") + f"data: {payload}\n\n"
            handler.wfile.write(frame.encode())
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        script.aborted.set()
        return
    script.completed_streams += 1
