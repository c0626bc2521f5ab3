"""`LLMAgentModel` over the real openai and anthropic SDKs: plan → act → summarize on local servers."""

from __future__ import annotations

import json

from riadex.adapters.llm.anthropic_messages import AnthropicChatModel
from riadex.adapters.llm.openai_chat import OpenAIChatModel
from riadex.application import tool_catalog as tc
from riadex.application.llm import ChatMessage, ToolSpec
from riadex.application.llm_agent import LLMAgentModel
from tests.support.agent_responders import write_then_read
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Reply, ScriptedToolCall

TOOLS = [
    ToolSpec(tc.FILE_WRITE, "Write a file.", {"type": "object", "properties": {"file": {}, "content": {}}}),
    ToolSpec(tc.FILE_READ, "Read a file.", {"type": "object", "properties": {"file": {}}}),
    *tc.CONTROL_PLANE_TOOLS,
]


def test_a_whole_run_against_an_openai_compatible_server() -> None:
    with FakeOpenAI(responder=write_then_read("notes.txt", "riadex was here")) as fake:
        agent = LLMAgentModel(OpenAIChatModel(model="m", api_key="k", base_url=fake.base_url))
        conversation = [ChatMessage("user", "Write 'riadex was here' to notes.txt and read it back")]
        plan = agent.plan(conversation, TOOLS)
        assert plan.title == "Write and read a file"
        assert plan.steps == ("Write notes.txt", "Read notes.txt back")
        assert plan.tools is None  # the model did not say which tools: the loop assumes the sandbox
        assert plan.usage.input_tokens > 0
        store = {}
        for index in range(len(plan.steps)):
            for _ in range(5):
                reply = agent.act(conversation, plan, index, TOOLS)
                if not reply.tool_calls:
                    conversation.append(reply.as_message())  # the loop stores the step's closing note
                    break
                conversation.append(reply.as_message())
                for call in reply.tool_calls:  # a stand-in for the sandbox: a dict of files
                    if call.name == tc.FILE_WRITE:
                        store[call.arguments["file"]] = call.arguments["content"]
                        result = json.dumps({"file": call.arguments["file"], "size": 15})
                    else:
                        result = json.dumps(
                            {"file": call.arguments["file"], "content": store[call.arguments["file"]]}
                        )
                    conversation.append(ChatMessage("tool", result, tool_call_id=call.id))
            assert reply.text == "Step done."
        chunks: list[str] = []
        final = agent.summarize(conversation, plan, TOOLS, on_text=chunks.append)
        assert final.text == "The file notes.txt says: riadex was here"
        assert "".join(chunks) == final.text
        requests = fake.script.requests
        assert requests[0]["tool_choice"] == {"type": "function", "function": {"name": "submit_plan"}}
        assert {t["function"]["name"] for t in requests[0]["tools"]} >= {"submit_plan", "web_search"}
        assert "step 2 of 2: Read notes.txt back" in requests[3]["messages"][0]["content"]
        assert requests[-1]["tool_choice"] == "none"


def test_a_model_that_will_not_plan_gets_a_plan_without_steps() -> None:
    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(text="Hi! How can I help?"))
        agent = LLMAgentModel(OpenAIChatModel(model="m", api_key="k", base_url=fake.base_url))
        plan = agent.plan([ChatMessage("user", "hello there")], TOOLS)
    assert plan.steps == ()
    assert plan.title == "hello there"


def test_plan_through_anthropic_forces_the_submit_plan_tool() -> None:
    with FakeAnthropic() as fake:
        steps = ["Search the web", "  Summarise   the findings ", ""]
        fake.script.enqueue(
            Reply(
                tool_calls=[
                    ScriptedToolCall(
                        "submit_plan", {"title": "Research", "steps": steps, "tools": ["web_search", " "]}
                    )
                ]
            )
        )
        agent = LLMAgentModel(AnthropicChatModel(model="m", api_key="k", base_url=fake.base_url))
        plan = agent.plan([ChatMessage("user", "research X")], TOOLS)
        request = fake.script.requests[0]
    assert plan.steps == ("Search the web", "Summarise the findings")
    assert plan.tools == {"search"}  # no sandbox tool: the run starts no sandbox ahead
    assert request["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert "submit_plan" in request["system"]
