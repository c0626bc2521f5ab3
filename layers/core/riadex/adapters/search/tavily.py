"""Tavily (`POST /search`, bearer key): built for agents, returns page extracts as `content`."""

from __future__ import annotations

import httpx

from riadex.adapters.search.http import clamp, request_json
from riadex.application.search import SearchResult

DEFAULT_BASE_URL = "https://api.tavily.com"


class TavilySearch:
    name = "tavily"

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout_seconds: float = 15.0) -> None:
        self._client = httpx.Client(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_seconds,
        )

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        body = request_json(
            self._client,
            "Tavily",
            "POST",
            "/search",
            json={"query": query, "max_results": clamp(max_results), "search_depth": "basic"},
        )
        items = body.get("results", []) if isinstance(body, dict) else []
        return [
            SearchResult(str(i.get("title", "")), str(i.get("url", "")), str(i.get("content", "")))
            for i in items[: clamp(max_results)]
            if isinstance(i, dict)
        ]
