"""The assistant's text as it streams, written as `delta` events in batches (docs/api.md).

One event per token would cost a write (and every stream reader a read) per token; a batch goes out
once it holds 64 characters or 100 ms have passed since the last one was written, whichever comes
first. The full
`message` follows the deltas, so a client that ignores them misses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_CHARS = 64
MIN_SECONDS = 0.1


class DeltaBatcher:
    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        min_chars: int = MIN_CHARS,
        min_seconds: float = MIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._min_chars = min_chars
        self._min_seconds = min_seconds
        self._clock = clock
        self._buffer: list[str] = []
        self._size = 0
        self._last = clock()
        self.batches = 0

    def __call__(self, text: str) -> None:
        if not text:
            return
        self._buffer.append(text)
        self._size += len(text)
        if self._size >= self._min_chars or self._clock() - self._last >= self._min_seconds:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        self.batches += 1
        self._emit(text)
        # The 100 ms count from the end of the write: a slow write (a loaded store) must not make every
        # following chunk a batch of its own, the moment it is slowest to take more events.
        self._last = self._clock()
