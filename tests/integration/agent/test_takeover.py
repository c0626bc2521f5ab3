"""Taking over the sandbox (docs/api.md, "Take over") on the deployed ASL executed by moto, with a real
`process` sandbox: the run pauses at its next step boundary on the AskUser wait, `resume` hands control
back with a note the agent's next model call reads, and cancel, the wait timeout and another user's
requests behave as the contract says."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riadex.application.conversation import conversation_from_events
from riadex.bootstrap import Container
from riadex.domain.models import Event
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import (
    check_invariants,
    describe,
    new_session,
    new_user,
    send,
    wait_for_done,
    wait_until,
    without_sandbox,
)
from tests.integration.runs.helpers import stream
from tests.integration.sandbox_server.pages import Site
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Item, Reply, ScriptedToolCall

API = "/api/v1"
CHROMIUM = "/usr/bin/chromium"


def _post(client: TestClient, auth: dict[str, str], path: str, body: Any = None) -> Any:
    return client.post(f"{API}{path}", json=body, headers=auth)


def _paused(events: list[Event]) -> bool:
    return any(e.type == "run" and e.data["status"] == "waiting" for e in events)


def _calling(events: list[Event], command: str) -> bool:
    return any(
        e.type == "tool" and e.data["status"] == "calling" and e.data["args"].get("command") == command
        for e in events
    )


def _take_over_during_the_first_step(
    container: Container,
    client: TestClient,
    auth: dict[str, str],
    sid: str,
    run_id: str,
    timeout: float = 60,
) -> dict[str, Any]:
    """Take over while the `sleep 1.5` step runs; returns the session the takeover answered."""
    wait_until(container, sid, lambda es: _calling(es, "sleep 1.5"), timeout)
    taken = _post(client, auth, f"/sessions/{sid}/takeover")
    assert taken.status_code == 200, taken.text
    session: dict[str, Any] = taken.json()["data"]
    assert session["takeover"] is not None
    assert session["active_run_id"] == run_id
    return session


def test_a_takeover_pauses_the_run_at_the_next_step_and_resume_goes_on(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 1.5\n!shell echo after the takeover")["run_id"]
    session = _take_over_during_the_first_step(container, client, auth, sid, run_id)

    events = wait_until(container, sid, _paused)
    assert not _calling(events, "echo after the takeover"), describe(events)  # paused before step 2
    wait = next(e for e in events if e.type == "wait")
    assert wait.run_id == run_id
    assert wait.data["reason"] == "takeover"
    assert wait.data["tool_call_id"] is None
    assert client.get(f"{API}/runs/{run_id}", headers=auth).json()["data"]["status"] == "waiting"
    shown = client.get(f"{API}/sessions/{sid}", headers=auth).json()["data"]
    assert shown["status"] == "waiting"
    assert shown["takeover"] == session["takeover"]

    # Taking over again changes nothing; a message waits for the resume (409, nothing written).
    again = _post(client, auth, f"/sessions/{sid}/takeover")
    assert again.status_code == 200
    assert again.json()["data"]["takeover"] == session["takeover"]
    before = len(container.events.read(sid, 0, None))
    refused = _post(client, auth, f"/sessions/{sid}/messages", {"message": "carry on"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["data"] == {"takeover": True}
    assert "resume" in refused.json()["msg"]
    assert len(container.events.read(sid, 0, None)) == before

    resumed = _post(client, auth, f"/sessions/{sid}/resume", {"note": "I accepted the cookie banner"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["data"]["takeover"] is None
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    assert mine[-1].data["status"] == "completed"
    assert without_sandbox(mine) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "running"),
        ("title", ""),
        ("plan", ""),
        ("step", "started"),
        ("tool", "shell_exec:calling"),
        ("takeover", ""),  # the user took control while the command ran
        ("tool", "shell_exec:called"),
        ("message", "assistant"),
        ("step", "completed"),
        ("plan", ""),
        ("step", "started"),
        ("wait", ""),  # the step boundary: paused before step 2's first model call
        ("run", "waiting"),
        ("takeover", ""),  # and gave it back
        ("run", "running"),
        ("tool", "shell_exec:calling"),
        ("tool", "shell_exec:called"),
        ("message", "assistant"),
        ("step", "completed"),
        ("plan", ""),
        ("message", "assistant"),
        ("run", "completed"),
        ("done", "completed"),
    ]
    takeovers = [e.data for e in mine if e.type == "takeover"]
    assert [t["status"] for t in takeovers] == ["started", "ended"]
    assert takeovers[1]["note"] == "I accepted the cookie banner"
    # What the agent's next step read: the takeover and the note, as a user turn.
    turns = [m.content for m in conversation_from_events(mine) if m.role == "user"]
    assert "took control of the sandbox" in turns[-1]
    assert "I accepted the cookie banner" in turns[-1]
    assert _post(client, auth, f"/sessions/{sid}/resume").status_code == 409  # not taken over any more
    # A client that dropped just before the takeover resumes exactly: every later seq once, in order.
    cut = next(e.seq for e in mine if e.type == "takeover") - 1
    resumed_stream = stream(client, f"{API}/runs/{run_id}/events", auth, **{"Last-Event-ID": str(cut)})
    assert [int(i) for i, _, _ in resumed_stream] == [e.seq for e in mine if e.seq > cut]
    assert [kind for _, kind, _ in resumed_stream][:1] == ["takeover"]


def _two_shell_steps(body: dict[str, Any]) -> Item:
    """A model that plans two shell steps; step 1 sleeps long enough to be taken over."""
    messages = body["messages"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function", {}).get("name") == "submit_plan":
        steps = ["Wait a moment", "Say hello"]
        return Reply(tool_calls=[ScriptedToolCall("submit_plan", {"title": "Two steps", "steps": steps})])
    if choice == "none":
        return Reply(text="All done.")
    if messages[-1]["role"] == "tool":
        return Reply(text="Step done.")
    command = "sleep 1.5" if "step 1 of" in messages[0]["content"] else "echo hello"
    return Reply(tool_calls=[ScriptedToolCall("shell_exec", {"command": command, "session_id": "default"})])


def test_the_next_model_call_after_a_resume_reads_the_note(agent_stack: AgentFactory) -> None:
    with FakeOpenAI(responder=_two_shell_steps) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url)
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "wait, then greet")["run_id"]
        _take_over_during_the_first_step(container, client, auth, sid, run_id)
        wait_until(container, sid, _paused)
        asked_before_resume = len(fake.script.requests)
        assert _post(client, auth, f"/sessions/{sid}/resume", {"note": "logged in as ada"}).status_code == 200
        mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
        requests = list(fake.script.requests)
    assert mine[-1].data["status"] == "completed"
    before, after = requests[:asked_before_resume], requests[asked_before_resume:]
    assert not any("logged in as ada" in str(r) for r in before)
    first_after = after[0]["messages"]
    assert "step 2 of" in first_after[0]["content"]
    notes = [m for m in first_after if m["role"] == "user" and "logged in as ada" in str(m["content"])]
    assert len(notes) == 1
    assert "took control of the sandbox" in str(notes[0]["content"])


def test_cancel_during_a_takeover_ends_the_run_cancelled_and_the_sandbox_stays_yours(
    agent_stack: AgentFactory,
) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 1.5\n!shell echo never")["run_id"]
    _take_over_during_the_first_step(container, client, auth, sid, run_id)
    wait_until(container, sid, _paused)

    cancelled = _post(client, auth, f"/runs/{run_id}/cancel")
    assert cancelled.json()["data"]["status"] == "cancelled"
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    assert [t for t, _ in without_sandbox(mine)][-7:] == ["wait", "run", "run", "step", "plan", "run", "done"]
    assert mine[-1].data["status"] == "cancelled"
    assert not _calling(mine, "echo never")
    # The run is over; the sandbox is still the user's until they resume, then a message runs.
    assert client.get(f"{API}/sessions/{sid}", headers=auth).json()["data"]["takeover"] is not None
    assert _post(client, auth, f"/sessions/{sid}/messages", {"message": "hi"}).status_code == 409
    assert _post(client, auth, f"/sessions/{sid}/resume").status_code == 200
    ended = container.events.read(sid, 0, None)[-1]
    assert (ended.type, ended.run_id, ended.data["status"]) == ("takeover", None, "ended")
    again = send(client, auth, sid, "!shell echo back")
    assert (
        check_invariants(wait_for_done(container, sid, again["run_id"]), again["run_id"])[-1].data["status"]
        == "completed"
    )


def test_a_takeover_not_handed_back_in_time_ends_the_run_timed_out(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(run_ask_timeout_seconds=1)
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 1.5\n!shell echo never")["run_id"]
    _take_over_during_the_first_step(container, client, auth, sid, run_id)
    mine = check_invariants(wait_for_done(container, sid, run_id, timeout=30), run_id)
    assert mine[-1].data["status"] == "timed_out"
    assert "did not hand the sandbox back within 1 s" in mine[-1].data["reason"]


def test_a_takeover_with_no_run_then_a_message(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    taken = _post(client, auth, f"/sessions/{sid}/takeover")
    assert taken.status_code == 200, taken.text
    assert taken.json()["data"]["status"] == "idle"
    refused = _post(client, auth, f"/sessions/{sid}/messages", {"message": "!shell echo hi"})
    assert refused.status_code == 409
    assert refused.json()["data"] == {"takeover": True}
    assert _post(client, auth, f"/sessions/{sid}/resume", {"note": "  opened the docs  "}).status_code == 200
    session_level = container.events.read(sid, 0, None)
    assert [(e.type, e.run_id, e.data["status"]) for e in session_level] == [
        ("takeover", None, "started"),
        ("takeover", None, "ended"),
    ]
    assert session_level[1].data["note"] == "opened the docs"

    run_id = send(client, auth, sid, "!shell echo hi")["run_id"]
    events = wait_for_done(container, sid, run_id)
    assert check_invariants(events, run_id)[-1].data["status"] == "completed"
    users = [m.content for m in conversation_from_events(events) if m.role == "user"]
    assert "opened the docs" in users[-2]  # the next run's conversation: the note, then the message
    assert users[-1] == "!shell echo hi"


def test_takeover_and_resume_are_the_owners_only_and_say_what_is_wrong(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    ada, bob = new_user(client), new_user(client, "bob")
    sid = new_session(client, ada)
    for path in ("takeover", "resume"):
        other = _post(client, bob, f"/sessions/{sid}/{path}")
        assert other.status_code == 404, other.text
        assert _post(client, ada, f"/sessions/ses_nope/{path}").status_code == 404
    not_taken = _post(client, ada, f"/sessions/{sid}/resume")
    assert not_taken.status_code == 409
    assert "not taken over" in not_taken.json()["msg"]
    assert _post(client, ada, f"/sessions/{sid}/takeover").status_code == 200
    for bad in ({"note": 5}, {"notes": "x"}, {"note": "x" * (container.settings.max_message_chars + 1)}):
        refused = _post(client, ada, f"/sessions/{sid}/resume", bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert "Traceback" not in refused.text
    assert _post(client, bob, f"/sessions/{sid}/takeover").status_code == 404
    assert client.get(f"{API}/sessions/{sid}", headers=ada).json()["data"]["takeover"] is not None
    assert [e.data["status"] for e in container.events.read(sid, 0, None)] == ["started"]


class _Rfb:
    """The user's side of the VNC view, as noVNC speaks it (RFB 3.8 over the API's WebSocket): just
    enough to send a pointer move and key strokes to the sandbox's display."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.buffer = b""

    def read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.buffer += self.ws.receive_bytes()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def handshake(self) -> None:
        assert self.read(12) == b"RFB 003.008\n"
        self.ws.send_bytes(b"RFB 003.008\n")
        offered = self.read(self.read(1)[0])
        assert 1 in offered  # "None": the WebSocket's token is the lock
        self.ws.send_bytes(bytes([1]))
        assert self.read(4) == b"\0\0\0\0"  # security result: OK
        self.ws.send_bytes(bytes([1]))  # ClientInit, shared
        header = self.read(24)  # width, height, pixel format, name length
        self.read(int.from_bytes(header[20:24], "big"))

    def point(self, x: int, y: int) -> None:
        self.ws.send_bytes(bytes([5, 0]) + x.to_bytes(2, "big") + y.to_bytes(2, "big"))

    def key(self, keysym: int, down: bool) -> None:
        self.ws.send_bytes(bytes([4, int(down), 0, 0]) + keysym.to_bytes(4, "big"))

    def press(self, *keysyms: int) -> None:
        for keysym in keysyms:
            self.key(keysym, True)
        for keysym in reversed(keysyms):
            self.key(keysym, False)

    def type(self, text: str) -> None:
        for char in text:
            self.press(ord(char))  # Latin-1 keysyms are the characters' code points


CONTROL_L, RETURN = 0xFFE3, 0xFF0D


def test_the_user_drives_the_browser_during_a_takeover_and_the_agent_sees_the_page_as_left(
    agent_stack: AgentFactory,
) -> None:
    missing = [
        name
        for name, path in (("chromium", CHROMIUM), ("Xvfb", None), ("x11vnc", None))
        if not _has(name, path)
    ]
    if missing:
        pytest.skip(f"needs {missing} (apt-get install chromium xvfb x11vnc; `make system-deps`)")
    # As in test_loop's browser tests: Chromium does not start in the bubblewrap jail here, and the host
    # network reaches the local site.
    container, client = agent_stack(
        sandbox_browser=True, sandbox_vnc=True, sandbox_network="host", sandbox_jail="none"
    )
    auth = new_user(client)
    sid = new_session(client, auth)
    with Site() as site:
        run_id = send(client, auth, sid, f"!browse {site.url}/\n!sleep 1.5\n!view")["run_id"]
        _take_over_during_the_first_step(container, client, auth, sid, run_id, timeout=90)
        wait_until(container, sid, _paused, timeout=30)
        url = client.get(f"{API}/sessions/{sid}/vnc", headers=auth).json()["data"]["url"]
        with client.websocket_connect(
            "/" + url.split("://", 1)[1].split("/", 1)[1], subprotocols=["binary"]
        ) as ws:
            rfb = _Rfb(ws)
            rfb.handshake()
            rfb.point(640, 500)  # over the browser window: the display's keyboard focus follows the pointer
            rfb.press(CONTROL_L, ord("l"))  # the address bar
            rfb.type(f"{site.url}/echo?q=by-hand")
            rfb.press(RETURN)
            rfb.point(640, 501)  # a last message, so the ones before it have been read off the socket
        resumed = _post(client, auth, f"/sessions/{sid}/resume", {"note": "I searched by hand"})
        assert resumed.status_code == 200
        mine = check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)
    assert mine[-1].data["status"] == "completed"
    [viewed] = [
        e.data
        for e in mine
        if e.type == "tool" and e.data["function"] == "browser_view" and e.data["status"] != "calling"
    ]
    assert viewed["status"] == "called", viewed
    assert viewed["content"]["title"] == "Echo", viewed["content"]
    assert "You searched for by-hand" in viewed["content"]["text"]


def _has(name: str, path: str | None) -> bool:
    return shutil.which(name) is not None or (path is not None and shutil.which(path) is not None)
