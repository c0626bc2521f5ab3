"""The one place where errors become HTTP responses, always in the envelope, never with a trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from riadex.domain.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidValue,
    NotFound,
    QuotaExceeded,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedType,
)
from riadex.entrypoints.observability import logger

_STATUS_BY_ERROR: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidValue, 422),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (IdempotencyKeyReused, 422),
    (UnsupportedType, 415),
    (QuotaExceeded, 429),
    (Unavailable, 503),
)


def error_response(
    status: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": status, "msg": msg, "data": data}, status_code=status, headers=headers)


def _status_of(exc: DomainError) -> int:
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 400


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = _status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, QuotaExceeded):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, exc.message, exc.details, headers)


def _describe(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without the input echo (it may be large or secret)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "request body is not valid JSON")
    return error_response(422, "request is invalid", _describe(errors))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    msg = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(exc.status_code, msg, None, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
    return error_response(500, "internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
