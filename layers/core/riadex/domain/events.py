"""Event types of the session log (docs/api.md) and the append keys that make each write happen once.

An append key names one logical write of a run ("the run's done", "the reply to the message"): a
worker that crashes and is retried writes with the same key, and the log stores it once.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    RUN = "run"
    MESSAGE = "message"
    DELTA = "delta"
    TITLE = "title"
    PLAN = "plan"
    STEP = "step"
    TOOL = "tool"
    WAIT = "wait"
    SANDBOX = "sandbox"
    TAKEOVER = "takeover"
    ERROR = "error"
    DONE = "done"


def append_key(run_id: str, name: str) -> str:
    return f"{run_id}/{name}"


def empty_usage() -> dict[str, int]:
    return {"input_tokens": 0, "output_tokens": 0, "tool_calls": 0, "steps": 0}
