"""What the crash-safe local store costs (riadex/entrypoints/local/journal.py).

Every DynamoDB write the local stack acknowledges is appended to the journal and fsync'd first. Measured
on the local stack: the time of one event append (a transaction: the event item and the session's
counter) with the journal on and off, p50/p99 over 300 appends each, and how long a restart takes to
replay the journal those appends left (no snapshot in between).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from riadex.config import Settings
from riadex.domain.models import Session, utcnow
from riadex.entrypoints.local import moto_fidelity
from riadex.entrypoints.local.journal import Journal
from riadex.entrypoints.local.stack import LocalStack

APPENDS = 300


def _appends(container: Any, sid: str, count: int) -> list[float]:
    took = []
    for n in range(count):
        started = time.perf_counter()
        container.events.append(
            sid, "message", {"role": "assistant", "content": f"event {n}"}, key=f"bench-{time.time_ns()}"
        )
        took.append((time.perf_counter() - started) * 1000)
    return took


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(RIADEX_DATA_DIR=data_dir, auth_secret="b" * 48, snapshot_interval_seconds=0)
        stack = LocalStack(settings)
        stack.start()
        assert stack.container is not None
        assert stack.journal is not None
        container, journal = stack.container, stack.journal
        now = utcnow()
        session = Session(
            session_id="ses_bench", owner_id="usr_bench", title="bench", created_at=now, updated_at=now
        )
        container.sessions.add(session)
        _appends(container, session.session_id, 20)  # warm up
        moto_fidelity.on_write(None)
        off = _appends(container, session.session_id, APPENDS)
        moto_fidelity.on_write(journal.record)
        before = journal.writes
        on = _appends(container, session.session_id, APPENDS)
        journaled = journal.writes - before
        journal_bytes = journal.path.stat().st_size
        # A crash: moto's memory is gone (reset; it is in this process) and no final snapshot is written.
        httpx.post(f"{stack.endpoint}/moto-api/reset", timeout=30).raise_for_status()
        stack.moto.stop()  # type: ignore[union-attr]
        stack.moto = None
        stack.stop()
        replays: list[float] = []
        replay = Journal.replay

        def timed(journal: Journal, backend: Any) -> int:
            started = time.perf_counter()
            try:
                return replay(journal, backend)
            finally:
                replays.append(time.perf_counter() - started)

        Journal.replay = timed  # type: ignore[method-assign]
        restarted = LocalStack(settings)
        started = time.perf_counter()
        try:
            restarted.start()
        finally:
            Journal.replay = replay  # type: ignore[method-assign]
        restart_s = time.perf_counter() - started
        assert restarted.container is not None
        kept = len(restarted.container.events.read(session.session_id, 0, None))
        restarted.stop()
    return {
        "append_ms_p50_journal_off": _pct(off, 0.5),
        "append_ms_p99_journal_off": _pct(off, 0.99),
        "append_ms_p50_journal_on": _pct(on, 0.5),
        "append_ms_p99_journal_on": _pct(on, 0.99),
        "journal_cost_ms_per_append_mean": round(statistics.mean(on) - statistics.mean(off), 2),
        "journal_lines_per_append": round(journaled / APPENDS, 2),
        "journal_bytes_per_append": round(journal_bytes / max(1, journaled + 20), 1),
        "replay_s": round(replays[0], 2),
        "replay_ms_per_write": round(replays[0] * 1000 / max(1, journaled + 20), 2),
        "restart_s": round(restart_s, 2),
        "events_kept_after_crash": kept,
        "events_expected": 20 + APPENDS,  # the appends made with the journal off are lost, as they should be
    }
