"""The one error type routes raise, and the one place errors become `{"ok": false, ...}` responses."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("sandbox_server")


class ToolError(Exception):
    """A failure with an HTTP status and a stable snake_case code (see API.md)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": {"code": code, "message": message}}, status_code=status)


async def _on_tool_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ToolError)
    return error_response(exc.status, exc.code, exc.message)


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "no_such_route", "no such route")
    if exc.status_code == 405:
        return error_response(405, "method_not_allowed", "method not allowed")
    return error_response(exc.status_code, "http_error", str(exc.detail))


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", f"{type(exc).__name__}: {exc}"[:500])


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ToolError: _on_tool_error,
    HTTPException: _on_http,
    Exception: _on_unexpected,
}
