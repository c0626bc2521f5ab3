"""The properties every run keeps, whatever ended it (docs/api.md, "Events"), checked on every run the
suites wait for: `check_run(events, run_id)` after the run's `done`.

- the session's `seq` is 1, 2, 3, … with no gap, and the run's events are one contiguous stretch of it;
- the run opens with `run{queued}` and the user's message, and ends with exactly one `done`, last;
- every `tool{calling}` is closed by exactly one `called`/`failed` with its `tool_call_id`, after it
  (a client's spinner always stops: cancel, failure, timeout, a lost sandbox and the finalizer included);
- every `step{started}` is closed by one `completed`/`failed`, whatever ended the run;
- a `completed` run has a final assistant message.

Events are given as `Event` objects (read from the log) or as the dicts of the wire (a stream, GET).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class _E(NamedTuple):
    seq: int
    run_id: str | None
    type: str
    data: Mapping[str, Any]


def _norm(event: Any) -> _E:
    if isinstance(event, Mapping):
        return _E(int(event["seq"]), event.get("run_id"), str(event["type"]), event.get("data") or {})
    return _E(int(event.seq), event.run_id, str(event.type), event.data or {})


def _show(events: Sequence[_E]) -> str:
    def label(e: _E) -> str:
        d = e.data
        if e.type == "tool":
            return f"{d.get('function')}:{d.get('status')}:{d.get('tool_call_id')}"
        return str(d.get("status") or d.get("role") or "")

    return "\n".join(f"  {e.seq} {e.type} {label(e)}" for e in events)


def check_run(events: Sequence[Any], run_id: str, *, whole_log: bool = True) -> list[Any]:
    """Assert the run's invariants; returns the run's events (in the caller's own type), in order.

    `whole_log`: the events are the session's log from seq 1 (then its seqs must be gap-free)."""
    originals = sorted(events, key=lambda e: _norm(e).seq)
    log = [_norm(e) for e in originals]
    if whole_log:
        assert [e.seq for e in log] == list(range(1, len(log) + 1)), "seq has gaps:\n" + _show(log)
    indexes = [i for i, e in enumerate(log) if e.run_id == run_id]
    assert indexes, f"no event of {run_id}"
    mine = [log[i] for i in indexes]
    shown = _show(mine)
    seqs = [e.seq for e in mine]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the run's events are not contiguous:\n" + shown
    first = (mine[0].type, mine[0].data.get("status"))
    assert first == ("run", "queued"), "first is not run{queued}:\n" + shown
    dones = [e for e in mine if e.type == "done"]
    assert len(dones) == 1, f"{len(dones)} done events:\n" + shown
    assert mine[-1].type == "done", "done is not the run's last event:\n" + shown
    status = dones[0].data.get("status")

    open_calls: dict[str, int] = {}
    closed: set[str] = set()
    for e in mine:
        if e.type != "tool":
            continue
        call_id = str(e.data.get("tool_call_id"))
        if e.data.get("status") == "calling":
            assert call_id not in open_calls, f"{call_id} called twice:\n" + shown
            assert call_id not in closed, f"{call_id} called twice:\n" + shown
            open_calls[call_id] = e.seq
        else:
            assert e.data.get("status") in {"called", "failed"}, shown
            assert call_id in open_calls, f"a result for {call_id} without its calling before it:\n" + shown
            del open_calls[call_id]
            closed.add(call_id)
    assert not open_calls, f"tool calls never closed ({status}): {sorted(open_calls)}\n" + shown

    steps: dict[str, str] = {}
    for e in mine:
        if e.type == "step":
            steps[str(e.data.get("id"))] = str(e.data.get("status"))
    unfinished = [step for step, s in steps.items() if s == "started"]
    assert not unfinished, f"steps left started ({status}): {unfinished}\n" + shown
    if status == "completed":
        replies = [e for e in mine if e.type == "message" and e.data.get("role") == "assistant"]
        assert replies, "a completed run without a reply:\n" + shown
    return [originals[i] for i in indexes]
