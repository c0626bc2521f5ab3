"""One local server that answers as Tavily (`POST /search`), Brave (`GET /res/v1/web/search`) and
SearXNG (`GET /search?format=json`), from a list of (title, url, snippet), checking each API's auth."""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http_server import LocalHTTPServer, QuietHandler

KEY = "search-key"


class _Handler(QuietHandler):
    def _fake(self) -> FakeSearch:
        return self.server.owner  # type: ignore[attr-defined, no-any-return]

    def _fail_or_none(self) -> bool:
        fake = self._fake()
        if fake.fail_status:
            self.send_json(fake.fail_status, {"error": "scripted failure"})
            return True
        return False

    def do_POST(self) -> None:  # Tavily
        fake = self._fake()
        body = self.read_json()
        fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers.items())})
        if self._fail_or_none():
            return
        if self.path != "/search" or self.headers.get("Authorization") != f"Bearer {KEY}":
            self.send_json(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
            return
        results = [{"title": t, "url": u, "content": s, "score": 0.9} for t, u, s in fake.results]
        self.send_json(200, {"query": body["query"], "results": results[: body.get("max_results", 5)]})

    def do_GET(self) -> None:
        fake = self._fake()
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        fake.requests.append({"path": parts.path, "query": query, "headers": dict(self.headers.items())})
        if self._fail_or_none():
            return
        if parts.path == "/res/v1/web/search":  # Brave
            if self.headers.get("X-Subscription-Token") != KEY:
                self.send_json(
                    401, {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}
                )
                return
            items = [{"title": t, "url": u, "description": s} for t, u, s in fake.results]
            self.send_json(
                200, {"type": "search", "web": {"type": "search", "results": items[: int(query["count"])]}}
            )
        elif parts.path == "/search" and query.get("format") == "json":  # SearXNG
            items = [{"title": t, "url": u, "content": s, "engine": "fake"} for t, u, s in fake.results]
            self.send_json(200, {"query": query["q"], "number_of_results": len(items), "results": items})
        else:
            self.send_json(404, {"error": "no route"})


class FakeSearch:
    def __init__(self, results: list[tuple[str, str, str]]) -> None:
        self.results = results
        self.requests: list[dict[str, Any]] = []
        self.fail_status = 0
        self._server = LocalHTTPServer(_Handler, owner=self)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> FakeSearch:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
