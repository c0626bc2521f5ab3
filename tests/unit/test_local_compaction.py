"""The local stack's snapshot compacts the journal (entrypoints/local/stack.py): taken once the journal
holds as many writes as the snapshot holds items (and COMPACT_MIN_WRITES), never on a timer alone,
so its cost, a scan of every table, stays a constant share of the writes however much is stored."""

from __future__ import annotations

from pathlib import Path

from riadex.config import Settings
from riadex.entrypoints.local.journal import Journal
from riadex.entrypoints.local.stack import COMPACT_MIN_WRITES, LocalStack


def _stack(tmp_path: Path, snapshot_items: int, journaled_at_snapshot: int = 0) -> LocalStack:
    stack = LocalStack(Settings(RIADEX_DATA_DIR=tmp_path))
    stack.journal = Journal(tmp_path / "dynamodb.journal")
    stack._snapshot_items = snapshot_items
    stack._journaled_at_snapshot = journaled_at_snapshot
    return stack


def test_a_big_store_is_snapshot_only_after_as_many_writes_as_it_holds(tmp_path: Path) -> None:
    stack = _stack(tmp_path, snapshot_items=50_000)
    assert stack.journal is not None
    stack.journal.writes = 49_999
    assert not stack.compaction_due()
    stack.journal.writes = 50_000
    assert stack.compaction_due()


def test_a_small_store_waits_for_the_minimum(tmp_path: Path) -> None:
    stack = _stack(tmp_path, snapshot_items=10)
    assert stack.journal is not None
    stack.journal.writes = COMPACT_MIN_WRITES - 1
    assert not stack.compaction_due()
    stack.journal.writes = COMPACT_MIN_WRITES
    assert stack.compaction_due()


def test_writes_replayed_at_start_count_and_a_snapshot_starts_the_count_again(tmp_path: Path) -> None:
    # 3,000 writes replayed from the journal at start, over a snapshot of 4,000 items.
    stack = _stack(tmp_path, snapshot_items=4_000, journaled_at_snapshot=-3_000)
    assert stack.journal is not None
    stack.journal.writes = 999
    assert not stack.compaction_due()
    stack.journal.writes = 1_000
    assert stack.compaction_due()
    stack._journaled_at_snapshot = stack.journal.writes  # what save() records when it rotates
    assert not stack.compaction_due()
