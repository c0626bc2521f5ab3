"""What real models and OpenAI-compatible servers do that the plan/act/summarize protocol does not
expect, through the real openai SDK against the fake server: each is worked around and said
(`Recovery`), or left for the loop to fail the run (an empty final answer)."""

from __future__ import annotations

import json

import pytest

from riadex.adapters.llm.openai_chat import OpenAIChatModel
from riadex.application import tool_catalog as tc
from riadex.application.agent_model import Plan
from riadex.application.llm import ChatMessage, ModelError, ToolSpec
from riadex.application.llm_agent import LLMAgentModel
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Failure, Reply, ScriptedToolCall

TOOLS = [
    ToolSpec(tc.SHELL_EXEC, "Run a command.", {"type": "object", "properties": {"command": {}}}),
    *tc.CONTROL_PLANE_TOOLS,
]
ASK = [ChatMessage("user", "List the files in the workspace")]
PLAN_JSON = {"title": "List files", "steps": ["Run ls", "Report the files"]}


def _agent(fake: FakeOpenAI) -> LLMAgentModel:
    return LLMAgentModel(OpenAIChatModel(model="m", api_key="k", base_url=fake.base_url))


def _codes(plan: Plan) -> list[str]:
    return [r.code for r in plan.recovered]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(PLAN_JSON),
        f"Here is my plan:\n```json\n{json.dumps(PLAN_JSON, indent=2)}\n```\nShall I start?",
    ],
)
def test_a_plan_written_as_json_text_is_read_from_the_text(text: str) -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text=text))
        plan = _agent(fake).plan(ASK, TOOLS)
    assert plan.steps == ("Run ls", "Report the files")
    assert plan.title == "List files"
    assert _codes(plan) == ["plan_as_text"]
    assert len(fake.script.requests) == 1


def test_a_server_that_ignores_the_forced_tool_choice_is_asked_for_the_plan_in_the_prompt() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(
            Reply(tool_calls=[ScriptedToolCall(tc.SHELL_EXEC, {"command": "ls"})]),
            Reply(text=json.dumps(PLAN_JSON)),
        )
        plan = _agent(fake).plan(ASK, TOOLS)
    assert plan.steps == ("Run ls", "Report the files")
    assert _codes(plan) == ["plan_in_prompt"]
    assert "shell_exec" in plan.recovered[0].message
    second = fake.script.requests[1]
    assert second["tool_choice"] == "auto"
    assert '"steps"' in second["messages"][0]["content"]
    assert plan.usage.input_tokens == 22  # both calls counted


def test_a_server_that_refuses_tool_choice_gets_the_plan_asked_for_in_the_prompt() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(
            Failure(400, "tool_choice is not supported by this server"), Reply(text=json.dumps(PLAN_JSON))
        )
        plan = _agent(fake).plan(ASK, TOOLS)
    assert plan.steps == ("Run ls", "Report the files")
    assert _codes(plan) == ["tool_choice_unsupported"]
    assert "tool_choice is not supported" in plan.recovered[0].message


def test_no_plan_in_any_form_makes_the_request_itself_the_one_step() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(
            Reply(tool_calls=[ScriptedToolCall(tc.SHELL_EXEC, {"command": "ls"})]),
            Reply(tool_calls=[ScriptedToolCall(tc.SHELL_EXEC, {"command": "ls"})]),
        )
        plan = _agent(fake).plan(ASK, TOOLS)
    assert plan.steps == ("List the files in the workspace",)
    assert _codes(plan) == ["plan_in_prompt", "plan_fallback"]


def test_a_plain_text_answer_is_a_plan_with_no_steps_and_no_recovery() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text="Hello! How can I help?"))
        plan = _agent(fake).plan([ChatMessage("user", "hi")], TOOLS)
    assert plan.steps == ()
    assert plan.recovered == ()


def test_an_auth_failure_is_not_taken_for_an_unsupported_tool_choice() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Failure(401, "bad key", "authentication_error"))
        with pytest.raises(ModelError) as caught:
            _agent(fake).plan(ASK, TOOLS)
    assert caught.value.kind == "auth"
    assert len(fake.script.requests) == 1


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (Reply(text=""), "empty_reply"),
        (Reply(tool_calls=[ScriptedToolCall(tc.SHELL_EXEC, {"command": "ls"})]), "summary_tool_calls"),
    ],
)
def test_a_summary_with_no_text_is_asked_for_once_more(first: Reply, code: str) -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(first, Reply(text="The workspace holds notes.txt."))
        reply = _agent(fake).summarize(ASK, Plan("t", ("Run ls",)), TOOLS)
    assert reply.text == "The workspace holds notes.txt."
    assert reply.tool_calls == ()
    assert [r.code for r in reply.recovered] == [code]
    assert "without calling any tool" in fake.script.requests[1]["messages"][-1]["content"]


def test_a_summary_still_empty_after_the_second_ask_comes_back_empty() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text=""), Reply(text="  "))
        reply = _agent(fake).summarize(ASK, Plan("t", ("Run ls",)), TOOLS)
    assert not reply.text.strip()  # the loop fails the run (tests/integration/agent)
    assert [r.code for r in reply.recovered] == ["empty_reply"]
