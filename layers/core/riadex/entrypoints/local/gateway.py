"""API Gateway, locally: one ASGI app for one uvicorn server, routing each request as the template's REST
API does. The streaming function's routes (its `Api` events in template.yaml: the SSE streams and the
chat) go to the app its `run.sh` serves (functions/stream/app.py); everything else goes to the API
function's app (functions/api/handler.py's `app`, the object Mangum wraps in Lambda). Paths are the
deployed ones, so the web client, the CLI and the tests use the same URLs against both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from riadex.bootstrap import FunctionEnvironment
from riadex.entrypoints.local.functions import TEMPLATE, LocalFunction, read_template

API_FUNCTION = "api"
STREAM_FUNCTION = "stream"


def _route_pattern(path: str) -> re.Pattern[str]:
    """`/api/v1/runs/{run_id}/events` as a regular expression (`{proxy+}` spans segments)."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "".join(
            (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
            for part in parts
        )
    )


class LocalGateway:
    def __init__(self, api: FastAPI, stream: ASGIApp, stream_routes: Sequence[tuple[str, str]]) -> None:
        self.api = api
        self.stream = stream
        self.stream_routes = [(method, _route_pattern(path)) for method, path in stream_routes]

    def serves_stream(self, method: str, path: str) -> bool:
        return any(method == m and pattern.fullmatch(path) for m, pattern in self.stream_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.serves_stream(scope["method"], scope["path"]):
            await self.stream(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def local_gateway(environment: FunctionEnvironment, template: Path = TEMPLATE) -> LocalGateway:
    """The API and stream functions' apps, each imported from its file in its own environment (sharing
    `environment`'s settings and bell: an append by a task wakes the streams at once)."""
    found = read_template(template)
    api_code, stream_code = found.functions[API_FUNCTION], found.functions[STREAM_FUNCTION]
    api = getattr(LocalFunction(api_code, environment.sibling()).load(), "app", None)
    if not isinstance(api, FastAPI):
        raise TypeError(f"{api_code.path} has no FastAPI `app` (the one its handler wraps)")
    stream: ASGIApp = getattr(LocalFunction(stream_code, environment.sibling()).load(), stream_code.attribute)
    return LocalGateway(api, stream, found.stream_routes)
