"""Keep events small: tool output over the inline limit goes to the object store (docs/api.md).

DynamoDB caps an item at 400 KB and every stream reader pays for every byte it polls, so a `tool`
event carries at most `inline_limit` characters of content; the full output is stored as text and the
event points at it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from riadex.application.ports import ObjectStore

TRUNCATION_MARK = "…[truncated]"


def _shorten(value: Any, budget: int) -> Any:
    if isinstance(value, str) and len(value) > budget:
        return value[:budget] + TRUNCATION_MARK
    if isinstance(value, dict):
        return {k: _shorten(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, budget) for v in value]
    return value


def bound_tool_output(
    session_id: str, key: str, data: dict[str, Any], store: ObjectStore, inline_limit: int
) -> dict[str, Any]:
    """The event data to store: unchanged if its content fits, else truncated with a pointer."""
    if "content" not in data:
        return data
    full = json.dumps(data["content"], ensure_ascii=False, separators=(",", ":"))
    if len(full) <= inline_limit:
        return data
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    ref = store.put_text(f"sessions/{session_id}/outputs/{name}.json", full)
    content = data["content"]
    budget = inline_limit
    shortened = _shorten(content, budget)
    # Many medium strings can still add up: halve the per-string budget until the whole fits.
    while len(json.dumps(shortened, ensure_ascii=False)) > inline_limit and budget > 64:
        budget //= 2
        shortened = _shorten(content, budget)
    if len(json.dumps(shortened, ensure_ascii=False)) > inline_limit:
        shortened = full[:inline_limit] + TRUNCATION_MARK
    return {**data, "content": shortened, "truncated": {"ref": ref, "chars": len(full)}}
