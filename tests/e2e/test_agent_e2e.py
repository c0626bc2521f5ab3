"""The agent loop end to end: the local stack started as `make dev` starts it, with the real `openai`
SDK pointed (OPENAI_BASE_URL) at a local OpenAI-compatible server that answers with tool calls, a real
`process` sandbox, and the run followed over SSE like a client would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.e2e.stack import running_stack
from tests.support.agent_responders import write_then_read
from tests.support.fake_openai import FakeOpenAI
from tests.support.invariants import check_run

pytestmark = pytest.mark.e2e

TEXT = "Riadex wrote this line at 42 degrees."


def test_the_agent_writes_a_file_reads_it_back_and_quotes_it(tmp_path: Path) -> None:
    with (
        FakeOpenAI(responder=write_then_read("notes/hello.txt", TEXT)) as fake,
        running_stack(tmp_path, LLM_PROVIDER="openai", OPENAI_BASE_URL=fake.base_url) as stack,
        httpx.Client(base_url=stack.url, timeout=30) as api,
    ):
        token = api.post("/api/v1/users", json={"name": "ada"}).json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sid = api.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
        sent = api.post(
            f"/api/v1/sessions/{sid}/messages", json={"message": "Write a note, read it back"}, headers=auth
        )
        assert sent.status_code == 202, sent.text
        run_id = sent.json()["data"]["run_id"]

        events: list[dict[str, object]] = []
        with connect_sse(api, "GET", f"/api/v1/runs/{run_id}/events", headers=auth, timeout=90) as source:
            for sse in source.iter_sse():
                events.append(json.loads(sse.data))
        requests = len(fake.script.requests)
        file_view = api.post(f"/api/v1/sessions/{sid}/file", json={"file": "notes/hello.txt"}, headers=auth)
        session = api.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]

    check_run(events, run_id, whole_log=False)
    seqs = [int(str(e["seq"])) for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gap-free, in order, each once
    types = [e["type"] for e in events]
    assert types.count("done") == 1
    assert types[-1] == "done"
    done = events[-1]["data"]
    assert isinstance(done, dict)
    assert done["status"] == "completed", events
    tools = [e["data"] for e in events if e["type"] == "tool"]
    assert [(t["function"], t["status"]) for t in tools] == [  # type: ignore[index]
        ("file_write", "calling"),
        ("file_write", "called"),
        ("file_read", "calling"),
        ("file_read", "called"),
    ]
    read = tools[-1]
    assert read["content"]["content"] == TEXT  # type: ignore[index]
    final = [e["data"] for e in events if e["type"] == "message"][-1]
    assert final["role"] == "assistant"  # type: ignore[index]
    assert TEXT in final["content"]  # type: ignore[index]
    assert [e["data"]["title"] for e in events if e["type"] == "title"] == ["Write and read a file"]  # type: ignore[index]
    assert [s["status"] for s in [e for e in events if e["type"] == "plan"][-1]["data"]["steps"]] == [  # type: ignore[index]
        "completed",
        "completed",
    ]
    usage = done["usage"]
    assert isinstance(usage, dict)
    assert usage["tool_calls"] == 2
    assert usage["steps"] == 2
    assert usage["input_tokens"] == 11 * requests  # the fake reports 11 in, 7 out per call
    assert usage["output_tokens"] == 7 * requests
    assert file_view.json()["data"]["content"] == TEXT
    assert session["title"] == "Write and read a file"
    assert session["status"] == "idle"
