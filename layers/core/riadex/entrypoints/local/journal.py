"""The local stack's write-ahead journal: every DynamoDB write moto acknowledges is on disk first.

moto keeps its tables in memory and the stack writes a snapshot only every few seconds, so a crash
(SIGKILL, power loss) used to lose every write since the last snapshot. Now each write moto applies is
appended, as the post-images of the items it touched, to `dynamodb.journal` and fsync'd before moto
answers, one JSON line per write (a transaction is one line: all of it or, torn by a crash, none).

On start the stack loads the snapshot and replays the journal over it (post-images are idempotent, so
replaying entries the snapshot already holds changes nothing). A snapshot rotates the journal first:
writes from then on go to a new file while the old one is kept until the snapshot is safely renamed
into place, so some file always holds every write the last snapshot misses.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from riadex.entrypoints.local import moto_fidelity

Entry = tuple[str, dict[str, Any], dict[str, Any] | None]
"""(table name, key, the item after the write or None when it was deleted), in DynamoDB JSON."""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous = path.with_suffix(".journal.old")
        self._file: IO[bytes] | None = None
        self._guard = threading.Lock()
        self.writes = 0

    def replay(self, backend: Any) -> int:
        """Apply the kept journals (the older one first) to moto's DynamoDB backend, in this process (a
        request per entry over HTTP cost ~30x more); returns the entries applied."""
        applied = 0
        for path in (self.previous, self.path):
            for entries in _read(path):
                for table, key, item in entries:
                    if item is None:
                        backend.delete_item(table, key)
                    else:
                        backend.put_item(table, item)
                    applied += 1
        return applied

    def open(self) -> None:
        """Start journaling moto's writes (after the replay, so the replay itself is not journaled)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for the stack's lifetime
        _fsync_dir(self.path.parent)
        moto_fidelity.on_write(self.record)

    def record(self, entries: list[Entry]) -> None:
        """Called by moto_fidelity under its lock, before moto answers: durable when this returns."""
        line = json.dumps([list(entry) for entry in entries], separators=(",", ":")).encode() + b"\n"
        with self._guard:
            if self._file is None:
                return
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.writes += 1

    def rotate(self) -> None:
        """Before a snapshot: new writes go to a fresh file; the old one stays until `snapshot_saved`."""
        with moto_fidelity.writes_paused(), self._guard:
            if self._file is None:
                return
            self._file.close()
            if self.previous.exists():  # a snapshot that failed last time: keep both files' writes
                with open(self.previous, "ab") as older, open(self.path, "rb") as newer:
                    older.write(newer.read())
                    older.flush()
                    os.fsync(older.fileno())
                self.path.unlink()
            else:
                os.replace(self.path, self.previous)
            self._file = open(self.path, "ab")  # noqa: SIM115
            _fsync_dir(self.path.parent)

    def snapshot_saved(self) -> None:
        """The snapshot taken after `rotate` is in place: the older journal is no longer needed."""
        self.previous.unlink(missing_ok=True)
        _fsync_dir(self.path.parent)

    def close(self, *, snapshot_saved: bool) -> None:
        moto_fidelity.on_write(None)
        with self._guard:
            if self._file is not None:
                self._file.close()
                self._file = None
        if snapshot_saved:  # a clean stop: the final snapshot holds everything
            self.previous.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)


def _read(path: Path) -> list[list[Entry]]:
    if not path.exists():
        return []
    batches: list[list[Entry]] = []
    for raw in path.read_bytes().splitlines():
        try:
            entries = json.loads(raw)
        except ValueError:
            break  # a line torn by the crash: that write was never acknowledged
        batches.append([(str(t), dict(k), dict(i) if i is not None else None) for t, k, i in entries])
    return batches


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
