"""What every fault case ends with: the session's log gap-free and duplicate-free, the run's one `done`
(last, with the expected status), and the session taking the next message to completion."""

from __future__ import annotations

from fastapi.testclient import TestClient

from riadex.bootstrap import Container
from riadex.domain.models import Event
from tests.integration.agent.events import check_invariants, send, wait_for_done


def ended(container: Container, sid: str, run_id: str, status: str) -> list[Event]:
    """The run's events once it has settled, checked: gap-free, contiguous, one done last, no tool
    event twice, and the done's status."""
    mine = check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)
    keys = [(e.type, e.data.get("tool_call_id"), e.data.get("status")) for e in mine if e.type == "tool"]
    assert len(keys) == len(set(keys)), f"a tool event twice: {keys}"
    assert mine[-1].data["status"] == status, mine[-1].data
    return mine


def takes_the_next_message(container: Container, client: TestClient, auth: dict[str, str], sid: str) -> None:
    following = send(client, auth, sid, "one more thing")["run_id"]
    ended(container, sid, following, "completed")
