"""Nothing fails silently on the local stack (`make dev`): it says at start which tools cannot work and
why; a call to such a tool is a failed result that says so (and its step is failed); the expected end of
a failing run is the product's own log line, not an interpreter's exception dump; and a restart, even
after a crash, keeps the object store's bytes and marks lost, at once, the sandboxes that did not
survive it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.stack import executions_ended, running_stack
from tests.support.invariants import check_run

pytestmark = pytest.mark.e2e


def _chat(api: httpx.Client, auth: dict[str, str], sid: str, message: str) -> list[dict[str, Any]]:
    """Send and stream until the run's done (the chat route closes there)."""
    events = []
    with api.stream(
        "POST", f"/api/v1/sessions/{sid}/chat", json={"message": message}, headers=auth, timeout=60
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_unavailable_tools_failures_and_a_restart_are_all_said(tmp_path: Path) -> None:
    with (
        running_stack(tmp_path, SEARCH_PROVIDER="", SEARCH_API_KEY="") as stack,
        httpx.Client(base_url=stack.url, timeout=10) as api,
    ):
        said = "".join(stack.output)
        assert "riadex: !search (web_search): unavailable — no search provider; set SEARCH_PROVIDER" in said

        token = api.post("/api/v1/users", json={"name": "newcomer"}).json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sid = api.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
        uploaded = api.post(
            f"/api/v1/sessions/{sid}/files",
            headers=auth,
            files={"file": ("notes.txt", b"kept\n", "text/plain")},
        ).json()["data"]

        searched = _chat(api, auth, sid, "Look it up\n!search riadex\n!shell echo after")
        mine = check_run(searched, searched[-1]["run_id"], whole_log=False)
        failed = [e["data"] for e in mine if e["type"] == "tool" and e["data"]["status"] == "failed"]
        assert [f["function"] for f in failed] == ["web_search"]
        assert "search is not configured" in json.dumps(failed[0]["content"])
        steps = [
            e["data"]["status"] for e in mine if e["type"] == "step" and e["data"]["status"] != "started"
        ]
        assert steps == ["failed", "completed"]  # the step whose only call failed says so
        assert mine[-1]["data"]["status"] == "completed"

        failing = _chat(api, auth, sid, "!fail on purpose")
        assert failing[-1]["data"]["status"] == "failed"
        # The workflow's own end (its Fail state, which moto logs) comes after the done.
        assert executions_ended(stack.output, failing[-1]["run_id"]) == {failing[-1]["run_id"]: "FAILED"}
        late = {"file": ("late.txt", b"written just before the crash\n", "text/plain")}
        crashed = api.post(f"/api/v1/sessions/{sid}/files", headers=auth, files=late).json()["data"]
        stack.process.kill()  # SIGKILL: no snapshot, no clean shutdown
        stack.process.wait()
        log = stack.whole_output()
        assert "Exception=FailureEventException" not in log  # moto's dump of an expected failure
        assert "task failed" in log  # the product's own line stays

    with running_stack(tmp_path) as stack, httpx.Client(base_url=stack.url, timeout=10) as api:
        assert "did not survive the restart: marked lost" in "".join(stack.output)
        session = api.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]
        assert session["sandbox"]["status"] == "lost"  # at once, not at its next use
        assert session["events"][-1]["type"] == "sandbox"
        assert session["events"][-1]["data"]["status"] == "lost"
        download = api.get(f"/api/v1/sessions/{sid}/files/{uploaded['file_id']}", headers=auth)
        assert download.status_code == 200, download.text
        assert download.content == b"kept\n"  # the bytes survived with the record
        late_bytes = api.get(f"/api/v1/sessions/{sid}/files/{crashed['file_id']}", headers=auth)
        assert late_bytes.content == b"written just before the crash\n"  # written through, not at a snapshot
