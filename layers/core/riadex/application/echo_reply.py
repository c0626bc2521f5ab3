"""The reply of a turn, for now: the scripted model's echo (SPEC §5, a message with no directive).

Kept in its own module so the agent loop (LLM providers, tools) can replace it without touching how
runs start, finish or stream.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelFailed(Exception):
    """The model call failed for good (SPEC §5 `!fail <text>`): not retried, the run fails."""


@dataclass(frozen=True)
class Reply:
    content: str
    input_tokens: int
    output_tokens: int


def echo(message: str) -> Reply:
    """One assistant message echoing the user's; tokens counted as whitespace-separated words."""
    for line in message.splitlines():
        if line.startswith("!fail"):
            raise ModelFailed(line.removeprefix("!fail").strip() or "the model failed")
    words = len(message.split())
    return Reply(content=message, input_tokens=words, output_tokens=words)
