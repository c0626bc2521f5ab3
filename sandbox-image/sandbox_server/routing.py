"""Routes as plain Starlette endpoints: a JSON body validated by its pydantic model, query values
parsed on demand, a dict answered as JSON.

Starlette rather than FastAPI: FastAPI's import and its per-route models cost an idle server 8 MiB
of its own memory (a quarter of it), for an OpenAPI schema nobody reads here; every sandbox pays it
while it waits (docs/sandboxes.md, "What an idle sandbox costs"). What FastAPI did for these routes
is the little below: a sync endpoint still runs in the thread pool, a bad body is still a 400
`invalid_input` naming the field.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from sandbox_server.errors import ToolError

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[..., Any]
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def describe(exc: ValidationError) -> str:
    """A validation error as one line: `field: what is wrong; ...` (at most five)."""
    parts = []
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":
            return "the body is not valid JSON"
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def body_of(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if not raw.strip():
        raise ToolError(400, "invalid_input", "body: a JSON object is required")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ToolError(400, "invalid_input", "the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ToolError(400, "invalid_input", describe(exc)) from None


def query_text(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise ToolError(400, "invalid_input", f"query.{name}: Field required")
    return value


def query_flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in TRUE | FALSE:
        raise ToolError(400, "invalid_input", f"query.{name}: Input should be a valid boolean")
    return value in TRUE


def query_int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ToolError(400, "invalid_input", f"query.{name}: Input should be a valid integer") from None


class Routes:
    """`@routes.post(path, Model)`: the endpoint gets the validated body; with no model, the request."""

    def __init__(self) -> None:
        self.routes: list[BaseRoute] = []

    def get(self, path: str, model: type[BaseModel] | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._add(path, "GET", model)

    def post(self, path: str, model: type[BaseModel] | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._add(path, "POST", model)

    def put(self, path: str, model: type[BaseModel] | None = None) -> Callable[[Endpoint], Endpoint]:
        return self._add(path, "PUT", model)

    def websocket(self, path: str) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.routes.append(WebSocketRoute(path, endpoint))
            return endpoint

        return register

    def _add(self, path: str, method: str, model: type[BaseModel] | None) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            is_async = inspect.iscoroutinefunction(endpoint)

            async def handle(request: Request) -> Response:
                argument: Any = request if model is None else await body_of(request, model)
                if is_async:
                    result = await endpoint(argument)
                else:  # blocking work (files, archives) stays off the event loop
                    result = await run_in_threadpool(endpoint, argument)
                return result if isinstance(result, Response) else JSONResponse(result)

            self.routes.append(Route(path, handle, methods=[method]))
            return endpoint

        return register
