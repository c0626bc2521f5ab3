"""Opaque, prefixed identifiers.

The prefix tells a human what an id names in a log line; the random part is 128 bits, so ids cannot be
guessed. `is_valid` lets entrypoints reject a malformed id before any lookup.
"""

from __future__ import annotations

import re
import uuid

_PATTERN = re.compile(r"^(usr|ses|run|fil|sbx|upl|shot)_[0-9a-f]{32}$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def is_valid(value: str, prefix: str) -> bool:
    match = _PATTERN.match(value)
    return match is not None and match.group(1) == prefix
