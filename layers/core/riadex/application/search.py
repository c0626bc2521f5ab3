"""The web search port: a query in, a few results out, whichever API serves them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

SearchErrorKind = Literal["not_configured", "auth", "rate_limit", "invalid_request", "server", "timeout"]

NOT_CONFIGURED = "web search is not configured: set SEARCH_PROVIDER and SEARCH_API_KEY"


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


class SearchError(Exception):
    """A search that failed; the message is shown to the model (as the tool's result) and the user."""

    def __init__(self, kind: SearchErrorKind, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: SearchErrorKind = kind
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in {"rate_limit", "server", "timeout"}


class SearchProvider(Protocol):
    name: str

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]: ...


def search_tool_content(query: str, results: list[SearchResult]) -> dict[str, Any]:
    """The `content` of a `tool` event (docs/api.md) for a web search, also what the model reads."""
    return {"query": query, "results": [asdict(result) for result in results]}
