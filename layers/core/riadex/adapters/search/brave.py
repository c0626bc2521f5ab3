"""Brave Search API (`GET /res/v1/web/search`, `X-Subscription-Token`)."""

from __future__ import annotations

import httpx

from riadex.adapters.search.http import clamp, request_json
from riadex.application.search import SearchResult

DEFAULT_BASE_URL = "https://api.search.brave.com"


class BraveSearch:
    name = "brave"

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout_seconds: float = 15.0) -> None:
        self._client = httpx.Client(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            headers={"X-Subscription-Token": api_key, "Accept": "application/json"},
            timeout=timeout_seconds,
        )

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        body = request_json(
            self._client,
            "Brave",
            "GET",
            "/res/v1/web/search",
            params={"q": query, "count": clamp(max_results)},
        )
        web = body.get("web", {}) if isinstance(body, dict) else {}
        items = web.get("results", []) if isinstance(web, dict) else []
        return [
            SearchResult(str(i.get("title", "")), str(i.get("url", "")), str(i.get("description", "")))
            for i in items[: clamp(max_results)]
            if isinstance(i, dict)
        ]
