"""A browser screenshot goes to the object store and its `tool` event carries a URL its owner can
fetch: the deployed ASL on moto, the scripted model's `!browse`, a real sandbox with Chromium."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import check_invariants, new_session, new_user, send, wait_for_done
from tests.integration.sandbox_server.pages import Site

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="the browser needs Chromium: apt-get install chromium"
)
def test_a_screenshot_is_fetched_from_the_url_in_its_tool_event(agent_stack: AgentFactory) -> None:
    # The site is on the host's loopback: the sandbox needs the host's network to reach it.
    container, client = agent_stack(sandbox_browser=True, sandbox_network="host", sandbox_jail="none")
    auth = new_user(client)
    sid = new_session(client, auth)
    with Site() as site:
        run = send(client, auth, sid, f"!browse {site.url}/second")
        mine = check_invariants(wait_for_done(container, sid, run["run_id"], timeout=90), run["run_id"])
    called = [e.data for e in mine if e.type == "tool" and e.data["status"] == "called"]
    content = called[0]["content"]
    assert "screenshot_png_b64" not in content
    url = content["screenshot_url"]
    assert url == f"/api/v1/sessions/{sid}/screenshots/{content['screenshot_id']}"

    shot = client.get(url, headers=auth)
    assert shot.status_code == 200, shot.text
    assert shot.headers["content-type"] == "image/png"
    assert shot.content.startswith(PNG_MAGIC)

    other = new_user(client, "eve")
    assert client.get(url, headers=other).status_code == 404  # only the session's owner
    assert (
        client.get(url.replace(content["screenshot_id"], "shot_" + "0" * 32), headers=auth).status_code == 404
    )
    assert client.get(url.rsplit("/", 1)[0] + "/..%2Fworkspace", headers=auth).status_code == 404
