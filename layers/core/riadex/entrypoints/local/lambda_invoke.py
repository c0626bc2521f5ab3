"""A local Lambda Invoke endpoint: the state machine's tasks run our real handlers, in this process.

moto's Step Functions executes the deployed ASL and calls Lambda for each task. This server speaks
the Invoke API (`POST /2015-03-31/functions/{name}/invocations`): it finds the handler registered under
the function name (or the name inside an ARN), calls it with the payload and answers with the result,
or with `X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}` as Lambda does, so Retry
and Catch see the same error names as in AWS. An asynchronous invoke (`X-Amz-Invocation-Type: Event`,
the state machine's StartSandbox) is answered 202 at once and run on a thread of its own; a failure is
logged, as Lambda would (no retry here: the next tool call starts the sandbox).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger

Handler = Callable[[dict[str, Any], Any], Any]


class RuntimeExited(Exception):
    """The function's process died before it returned (killed, out of memory): Lambda reports
    `Runtime.ExitError`, which the state machine retries. Raised by fault-injecting tests."""


class FunctionError(Exception):
    """A function that ran elsewhere (sam local start-lambda) failed with this Lambda error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


_PREFIX = "/2015-03-31/functions/"
_SUFFIX = "/invocations"
logger = Logger(service="riadex-local-lambda")


def function_name(path_part: str) -> str:
    """`riadex-start-run`, from itself, a function ARN or a qualified ARN."""
    name = unquote(path_part)
    if ":function:" in name:
        name = name.split(":function:", 1)[1].split(":", 1)[0]
    return name


def _invoke_async(name: str, handler: Handler, raw: bytes, running: set[threading.Thread]) -> None:
    try:
        handler(json.loads(raw) if raw else {}, None)
    except Exception as exc:
        logger.warning("asynchronous task failed", extra={"function": name, "error": type(exc).__name__})
    finally:
        running.discard(threading.current_thread())


class LambdaInvokeServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.handlers: dict[str, Handler] = {}
        registry = self.handlers
        self._background: set[threading.Thread] = set()
        background = self._background

        class _Request(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
                    self._answer(404, {"message": "unknown route"})
                    return
                name = function_name(path[len(_PREFIX) : -len(_SUFFIX)])
                handler = registry.get(name)
                if handler is None:
                    self._answer(404, {"Type": "User", "message": f"Function not found: {name}"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("X-Amz-Invocation-Type") == "Event":
                    worker = threading.Thread(
                        target=_invoke_async, args=(name, handler, raw, background), daemon=True
                    )
                    background.add(worker)
                    worker.start()
                    self._answer(202, None, empty=True)
                    return
                try:
                    event = json.loads(raw) if raw else {}
                    result = handler(event, None)
                except Exception as exc:
                    if isinstance(exc, FunctionError):
                        error_type = exc.error_type
                    elif isinstance(exc, RuntimeExited):
                        error_type = "Runtime.ExitError"
                    else:
                        error_type = type(exc).__name__
                    logger.info("task failed", extra={"function": name, "error": error_type})
                    self._answer(
                        200,
                        {"errorType": error_type, "errorMessage": str(exc)},
                        {"X-Amz-Function-Error": "Unhandled"},
                    )
                    return
                self._answer(200, result)

            def _answer(
                self, status: int, body: Any, headers: dict[str, str] | None = None, empty: bool = False
            ) -> None:
                payload = b"" if empty else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Amz-Executed-Version", "$LATEST")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), _Request)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-invoke", daemon=True)

    def busy(self) -> bool:
        """Whether an asynchronous invocation is still running (tests wait for none before checking
        that nothing more is written)."""
        return any(worker.is_alive() for worker in list(self._background))

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
