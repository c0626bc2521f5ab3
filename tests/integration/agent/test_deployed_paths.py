"""Paths the deployed stack splits across functions, run end to end (the template tier checks each
function's rights and reach on what these record): a user answers a paused run through the streaming
`POST /chat`, and the scheduled reaper releases an idle sandbox and writes its event."""

from __future__ import annotations

from riadex.entrypoints.scheduled.reaper import reap
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import (
    check_invariants,
    new_session,
    new_user,
    send,
    wait_for_done,
    wait_until,
)


def test_an_answer_through_chat_resumes_the_waiting_run(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!ask Which colour?")["run_id"]
    wait_until(container, sid, lambda es: any(e.type == "run" and e.data["status"] == "waiting" for e in es))

    with client.stream("POST", f"/api/v1/sessions/{sid}/chat", json={"message": "blue"}, headers=auth) as r:
        assert r.status_code == 200
        body = "".join(r.iter_text())
    assert "event: done" in body  # the stream followed the resumed run to its end
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    answered = [e for e in mine if e.type == "tool" and e.data["status"] == "called"]
    assert answered[0].data["function"] == "message_ask_user"
    assert answered[0].data["content"] == "blue"
    assert mine[-1].data["status"] == "completed"


def test_the_reaper_releases_an_idle_sandbox_and_logs_it(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!shell echo hi")["run_id"]
    wait_for_done(container, sid, run_id)

    assert reap(container.sandboxes, idle_seconds=0) == [sid]
    events = container.events.read(sid, 0, None)
    assert events[-1].type == "sandbox"
    assert events[-1].data["status"] == "released"
