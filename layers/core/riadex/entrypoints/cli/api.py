"""The CLI's HTTP side: httpx for the JSON API, httpx-sse for the streams, errors turned into advice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from httpx_sse import SSEError, connect_sse

API_PREFIX = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, read=60.0)
STREAM_TIMEOUT = httpx.Timeout(30.0, read=45.0)
"""Streams send a ping at least every 15 s: a read idle for 45 s is a dead connection."""


class ApiError(click.ClickException):
    def __init__(self, message: str, status: int = 0, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.data = data


@dataclass(frozen=True)
class StreamEvent:
    """One SSE message: a stored event (`seq` set, `data` the event object) or a control line."""

    kind: str
    seq: int | None
    event: dict[str, Any]


class Api:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- JSON -------------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method in ("POST", "PUT") and "files" not in kwargs and "json" not in kwargs:
            kwargs["json"] = {}  # the API wants JSON bodies declared as such, even empty ones
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        return self.unwrap(response)

    def unreachable(self, exc: Exception) -> ApiError:
        return ApiError(
            f"cannot reach the Riadex server at {self.url} ({exc.__class__.__name__}: {exc}). "
            "Is it running (`make dev`)? Set RIADEX_URL or --url to point elsewhere."
        )

    def unwrap(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict) and body.get("code") == 0:
            return body.get("data")
        msg = body.get("msg") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        raise self.error(response.status_code, msg or response.reason_phrase or "error", data)

    def error(self, status: int, msg: str, data: Any) -> ApiError:
        if status == 401:
            hint = "not signed in, or the token expired: run `riadex login`"
            return ApiError(f"{msg} ({hint})", status, data)
        if status == 409 and isinstance(data, dict) and data.get("active_run_id"):
            return ApiError(
                f"{msg}: a run is active ({data['active_run_id']}). Follow it with "
                "`riadex tail SESSION_ID`, or stop it with Ctrl-C there.",
                status,
                data,
            )
        if status == 404:
            return ApiError(f"{msg} (404: no such item, or it is not yours)", status, data)
        return ApiError(f"{msg} (HTTP {status})", status, data)

    # --- streams ----------------------------------------------------------------------------------

    def stream(self, path: str, after: int | None) -> Iterator[StreamEvent]:
        """One SSE connection: yields its events until the server closes it or it drops.

        Raises ApiError for a refused stream (401, 404, 400); httpx/SSE errors for a dropped one.
        """
        headers = {"Accept": "text/event-stream"}
        if after is not None:
            headers["Last-Event-ID"] = str(after)
        with connect_sse(self.http, "GET", path, headers=headers, timeout=STREAM_TIMEOUT) as source:
            response = source.response
            if not response.is_success:
                response.read()
                self.unwrap(response)
            for sse in source.iter_sse():
                if sse.event in ("reconnect", "resync") or not sse.data:
                    yield StreamEvent(sse.event, None, {})
                    continue
                event = json.loads(sse.data)
                yield StreamEvent(sse.event, int(event["seq"]), event)

    # --- files ------------------------------------------------------------------------------------

    def download(self, path: str, target: Path | None) -> Path:
        try:
            with self.http.stream("GET", path) as response:
                if not response.is_success:
                    response.read()
                    self.unwrap(response)
                name = target or Path(_filename(response) or "download")
                with name.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                return name
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None


STREAM_ERRORS = (httpx.TransportError, SSEError)


def _filename(response: httpx.Response) -> str | None:
    """The name from `Content-Disposition` (RFC 6266, `filename*` included), never a path."""
    from email.message import Message

    disposition = response.headers.get("content-disposition")
    if not disposition:
        return None
    message = Message()
    message["content-disposition"] = disposition
    raw = message.get_filename()
    return Path(raw).name or None if raw else None
