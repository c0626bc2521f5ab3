"""Choose the search API from SEARCH_PROVIDER; unconfigured search answers every query with an error
that says how to configure it (the model reads it as the tool's result and can carry on without)."""

from __future__ import annotations

from riadex.adapters.aws_parameters import resolve_secret
from riadex.application.search import NOT_CONFIGURED, SearchError, SearchProvider, SearchResult
from riadex.config import Settings


class UnconfiguredSearch:
    name = "unconfigured"

    def __init__(self, reason: str = NOT_CONFIGURED) -> None:
        self.reason = reason

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        raise SearchError("not_configured", self.reason)


def make_search_provider(settings: Settings) -> SearchProvider:
    provider = settings.search_provider
    if provider is None:
        return UnconfiguredSearch()
    key = resolve_secret(settings.search_api_key, settings.search_api_key_param)
    timeout = settings.search_timeout_seconds
    if provider == "searxng":
        from riadex.adapters.search.searxng import SearxngSearch

        if not settings.search_base_url:
            return UnconfiguredSearch(
                "web search is not configured: SEARCH_PROVIDER=searxng needs SEARCH_BASE_URL"
            )
        return SearxngSearch(settings.search_base_url, api_key=key, timeout_seconds=timeout)
    if key is None:
        return UnconfiguredSearch(
            f"web search is not configured: SEARCH_PROVIDER={provider} needs SEARCH_API_KEY"
        )
    if provider == "tavily":
        from riadex.adapters.search.tavily import TavilySearch

        return TavilySearch(key, base_url=settings.search_base_url, timeout_seconds=timeout)
    from riadex.adapters.search.brave import BraveSearch

    return BraveSearch(key, base_url=settings.search_base_url, timeout_seconds=timeout)
