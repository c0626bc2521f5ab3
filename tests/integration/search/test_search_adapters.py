"""The search adapters over httpx against a local server speaking Tavily's, Brave's and SearXNG's JSON."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from riadex.adapters.search.factory import make_search_provider
from riadex.application.search import NOT_CONFIGURED, SearchError, SearchResult
from riadex.config import Settings
from tests.support.fake_search import KEY, FakeSearch

RESULTS = [
    ("Riadex docs", "https://example.test/docs", "How the agent loop works."),
    ("Step Functions", "https://example.test/sfn", "Standard workflows, retries."),
    ("SSE", "https://example.test/sse", "Server-Sent Events."),
]


@pytest.fixture
def fake() -> Iterator[FakeSearch]:
    with FakeSearch(RESULTS) as server:
        yield server


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"search_provider": None, "search_api_key": None, "search_base_url": None}
    return Settings.model_validate({**base, **values})


@pytest.mark.parametrize("provider", ["tavily", "brave", "searxng"])
def test_each_api_returns_results(fake: FakeSearch, provider: str) -> None:
    search = make_search_provider(
        settings(search_provider=provider, search_api_key=KEY, search_base_url=fake.url)
    )
    results = search.search("agent loop", max_results=2)
    assert results[0] == SearchResult("Riadex docs", "https://example.test/docs", "How the agent loop works.")
    assert len(results) == 2
    sent = fake.requests[0]
    query = sent["body"]["query"] if provider == "tavily" else sent["query"]["q"]
    assert query == "agent loop"


@pytest.mark.parametrize("provider", ["tavily", "brave"])
def test_a_wrong_key_is_an_auth_error_naming_the_setting(fake: FakeSearch, provider: str) -> None:
    search = make_search_provider(
        settings(search_provider=provider, search_api_key="nope", search_base_url=fake.url)
    )
    with pytest.raises(SearchError) as caught:
        search.search("x")
    assert caught.value.kind == "auth"
    assert "check SEARCH_API_KEY" in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize(("status", "kind"), [(429, "rate_limit"), (502, "server"), (400, "invalid_request")])
def test_http_failures_are_classified(fake: FakeSearch, status: int, kind: str) -> None:
    fake.fail_status = status
    search = make_search_provider(
        settings(search_provider="brave", search_api_key=KEY, search_base_url=fake.url)
    )
    with pytest.raises(SearchError) as caught:
        search.search("x")
    assert caught.value.kind == kind


def test_unconfigured_search_says_how_to_configure_it() -> None:
    with pytest.raises(SearchError) as caught:
        make_search_provider(settings()).search("x")
    assert caught.value.kind == "not_configured"
    assert (
        caught.value.message
        == NOT_CONFIGURED
        == ("web search is not configured: set SEARCH_PROVIDER and SEARCH_API_KEY")
    )
    with pytest.raises(SearchError, match="needs SEARCH_API_KEY"):
        make_search_provider(settings(search_provider="tavily")).search("x")
    with pytest.raises(SearchError, match="needs SEARCH_BASE_URL"):
        make_search_provider(settings(search_provider="searxng")).search("x")
