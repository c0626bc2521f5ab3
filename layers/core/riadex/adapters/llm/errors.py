"""From a provider's HTTP answer to a `ModelError` a user can act on.

Both SDKs raise the same shapes (status errors with the decoded body, timeouts, connection errors), so
the adapters extract the facts and this module decides the kind and writes the message:
401/403 (and 402, and OpenAI's 429 `insufficient_quota`) → auth; 400/404/422 and other 4xx →
invalid_request, unless the provider says the prompt is too long (413 too) → context_length;
408 → timeout; 429 → rate_limit; 529 or an `overloaded_error` → overloaded; other 5xx → server.
"""

from __future__ import annotations

import re
from typing import Any

from riadex.application.llm import ModelError

_CONTEXT = re.compile(
    r"context.length|context.window|maximum context|too many tokens|prompt is too long|"
    r"reduce the length|input is too long|exceeds the (model|token)",
    re.IGNORECASE,
)
_DETAIL_CHARS = 300


def error_detail(body: object) -> tuple[str, str]:
    """(message, code or type) from an error body in either provider's shape."""
    if isinstance(body, dict):
        inner: Any = body.get("error", body)
        if isinstance(inner, dict):
            message = str(inner.get("message") or "")
            code = str(inner.get("code") or inner.get("type") or "")
            return message, code
        return str(inner), ""
    return ("" if body is None else str(body)), ""


def from_status(provider: str, status: int | None, body: object, *, key_env: str, model: str) -> ModelError:
    message, code = error_detail(body)
    detail = f": {message[:_DETAIL_CHARS]}" if message else ""
    shown = f" ({status})" if status else ""
    if status in {401, 403}:
        return ModelError(
            "auth",
            f"{provider} rejected the API key{shown}: check {key_env}{detail}",
            status=status,
        )
    if status == 402 or code == "insufficient_quota":
        return ModelError(
            "auth",
            f"{provider} refused the request for billing reasons{shown}: check the account's plan and "
            f"credit for {key_env}{detail}",
            status=status,
        )
    if status == 413 or code == "context_length_exceeded" or _CONTEXT.search(message):
        return ModelError(
            "context_length",
            f"the conversation is too long for {provider} model {model}{shown}; start a new session or "
            f"use a model with a larger context{detail}",
            status=status,
        )
    if status == 429 or code in {"rate_limit_error", "rate_limit_exceeded"}:
        return ModelError(
            "rate_limit", f"{provider} rate limit reached{shown}; retrying later{detail}", status=status
        )
    if status == 529 or code == "overloaded_error":
        return ModelError(
            "overloaded", f"{provider} is overloaded{shown}; retrying later{detail}", status=status
        )
    if status == 408:
        return ModelError("timeout", f"{provider} timed out the request{shown}{detail}", status=status)
    if status == 404:
        return ModelError(
            "invalid_request",
            f"{provider} does not know model {model!r} or the endpoint{shown}: check LLM_MODEL and the "
            f"base URL{detail}",
            status=status,
        )
    if status is not None and 400 <= status < 500 and status != 409:
        return ModelError("invalid_request", f"{provider} rejected the request{shown}{detail}", status=status)
    return ModelError("server", f"{provider} failed to answer{shown}; retrying later{detail}", status=status)


def timed_out(provider: str) -> ModelError:
    return ModelError("timeout", f"{provider} did not answer in time; retrying later")


def unreachable(provider: str, base_url: str, reason: str) -> ModelError:
    return ModelError(
        "server",
        f"could not reach {provider} at {base_url} ({reason}); check the network and the base URL",
    )


def cancelled() -> ModelError:
    return ModelError("cancelled", "the model call was cancelled")
