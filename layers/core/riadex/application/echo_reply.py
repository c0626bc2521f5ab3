"""The reply of a turn, for now: the scripted model's echo (SPEC §5, a message with no directive).

Kept in its own module so the agent loop (LLM providers, tools) can replace it without touching how
runs start, finish or stream.
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelFailed(Exception):
    """The model call failed for good (SPEC §5 `!fail <text>`): not retried, the run fails."""


MAX_PAUSE_SECONDS = 60.0


@dataclass(frozen=True)
class Reply:
    content: str
    input_tokens: int
    output_tokens: int
    pause_seconds: float = 0.0
    """`!sleep <seconds>`: the turn takes that long (cancel tests); the shell tool replaces this."""


def echo(message: str) -> Reply:
    """One assistant message echoing the user's; tokens counted as whitespace-separated words."""
    pause = 0.0
    for line in message.splitlines():
        if line.startswith("!fail"):
            raise ModelFailed(line.removeprefix("!fail").strip() or "the model failed")
        if line.startswith("!sleep"):
            try:
                pause += float(line.removeprefix("!sleep").strip() or 0)
            except ValueError:
                continue
    words = len(message.split())
    return Reply(
        content=message,
        input_tokens=words,
        output_tokens=words,
        pause_seconds=min(max(pause, 0.0), MAX_PAUSE_SECONDS),
    )
