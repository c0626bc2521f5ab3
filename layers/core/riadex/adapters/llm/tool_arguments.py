"""A tool call's arguments as the model streamed them (JSON text) turned into a dict, forgivingly.

Arguments that are not a JSON object are passed on as {"_invalid_json": text}: the tool adapter then
rejects the call with an error the model reads and can correct, instead of the whole run failing.
"""

from __future__ import annotations

import json
from typing import Any


def parse_arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"_invalid_json": text}
    return value if isinstance(value, dict) else {"_invalid_json": text}
