"""The whole loop (moto's Step Functions, the task handlers, the real SDKs) against local fake provider
servers that behave like models people use: Gemini's OpenAI-compatible endpoint ignoring a forced
tool choice and answering empty, an OpenAI-compatible server that never writes a final answer, and
Anthropic's Messages API. A run is either recovered — the recovery shown as `error` events with
`retryable: true` — or `failed` with a readable error; never `completed` without a reply."""

from __future__ import annotations

from typing import Any

from riadex.application import tool_catalog as tc
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import check_invariants, new_session, new_user, send, wait_for_done
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Item, Reply, ScriptedToolCall


def _system(body: dict[str, Any]) -> str:
    system = body.get("system")  # Anthropic: top level, a string or text blocks
    if isinstance(system, list):
        return " ".join(str(block.get("text", "")) for block in system)
    if isinstance(system, str):
        return system
    first = body["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


def _has_tool_result(body: dict[str, Any]) -> bool:
    for message in body["messages"]:
        if message["role"] == "tool":
            return True
        content = message.get("content")
        if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
            return True
    return False


def _notify_then_done() -> Item:
    return Reply(tool_calls=[ScriptedToolCall(tc.MESSAGE_NOTIFY_USER, {"text": "working on it"})])


def _mine(container: Any, client: Any, message: str) -> list[Any]:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, message)["run_id"]
    return check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)


def _recovered(events: list[Any]) -> list[str]:
    return [e.data["code"] for e in events if e.type == "error" and e.data.get("retryable")]


def test_gemini_ignoring_the_plan_tool_and_answering_empty_is_recovered(agent_stack: AgentFactory) -> None:
    summaries: list[int] = []

    def gemini(body: dict[str, Any]) -> Item:
        system = _system(body)
        if "plan how to answer" in system:  # the forced plan call and the plan asked in the prompt
            return _notify_then_done()
        if "The work is finished" in system:
            summaries.append(1)
            return Reply(text="" if len(summaries) == 1 else "I told you I was working on it.")
        return Reply(text="Step done.") if _has_tool_result(body) else _notify_then_done()

    with FakeOpenAI(responder=gemini) as fake:
        container, client = agent_stack(
            llm_provider="gemini", gemini_api_key="k", gemini_base_url=fake.base_url
        )
        mine = _mine(container, client, "Tell me you are working on it")
    assert _recovered(mine) == ["plan_in_prompt", "plan_fallback", "empty_reply"]
    plan = next(e for e in mine if e.type == "plan")
    assert [s["description"] for s in plan.data["steps"]] == ["Tell me you are working on it"]
    tools = [(e.data["function"], e.data["status"]) for e in mine if e.type == "tool"]
    assert tools == [(tc.MESSAGE_NOTIFY_USER, "calling"), (tc.MESSAGE_NOTIFY_USER, "called")]
    replies = [e.data["content"] for e in mine if e.type == "message" and e.data["role"] == "assistant"]
    assert replies[-1] == "I told you I was working on it."
    assert mine[-1].data["status"] == "completed"


def test_a_model_that_never_answers_fails_the_run_with_a_readable_error(agent_stack: AgentFactory) -> None:
    def mute(body: dict[str, Any]) -> Item:
        if "plan how to answer" in _system(body):
            return Reply(tool_calls=[ScriptedToolCall("submit_plan", {"title": "Mute", "steps": []})])
        return Reply(text="")

    with FakeOpenAI(responder=mute) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url)
        mine = _mine(container, client, "hello")
    errors = [e.data for e in mine if e.type == "error"]
    assert errors[0]["code"] == "empty_reply"
    assert errors[0]["retryable"] is True  # asked again
    assert errors[-1] == {
        "code": "empty_reply",
        "message": "the model gave no final answer (its reply was empty, twice)",
        "retryable": False,
    }
    assert mine[-1].data["status"] == "failed"
    assert not any(e.type == "message" and e.data["role"] == "assistant" for e in mine)


def test_a_run_end_to_end_through_the_anthropic_adapter(agent_stack: AgentFactory) -> None:
    def claude(body: dict[str, Any]) -> Item:
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool" and choice.get("name") == "submit_plan":
            steps = ["Tell the user you are on it"]
            return Reply(tool_calls=[ScriptedToolCall("submit_plan", {"title": "On it", "steps": steps})])
        if choice.get("type") == "none" or "The work is finished" in _system(body):
            return Reply(text="Done: you were told.")
        return Reply(text="Step done.") if _has_tool_result(body) else _notify_then_done()

    with FakeAnthropic(responder=claude) as fake:
        container, client = agent_stack(
            llm_provider="anthropic", anthropic_api_key="k", anthropic_base_url=fake.base_url
        )
        mine = _mine(container, client, "Tell me you are on it")
        requests = fake.script.requests
    assert _recovered(mine) == []
    titles = [e.data["title"] for e in mine if e.type == "title"]
    assert titles == ["On it"]
    steps = [(e.data["id"], e.data["status"]) for e in mine if e.type == "step"]
    assert steps == [("1", "started"), ("1", "completed")]
    replies = [e.data["content"] for e in mine if e.type == "message" and e.data["role"] == "assistant"]
    assert replies == ["Step done.", "Done: you were told."]
    assert mine[-1].data["status"] == "completed"
    assert len(requests) == 4  # plan, act (a call), act (the step is done), summarize
    assert any(b.get("type") == "tool_result" for b in requests[2]["messages"][-1]["content"])
