"""The offline scripted model (docs/api.md): each directive, and the plan → act → act → summarize sequence."""

from __future__ import annotations

from typing import Any

import pytest

from riadex.adapters.llm.scripted import ScriptedAgentModel, parse_directives
from riadex.application.agent_model import Plan
from riadex.application.llm import ChatMessage, ModelError, ModelReply
from riadex.application.tool_catalog import tool_of

MODEL = ScriptedAgentModel()


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def run_step(conversation: list[ChatMessage], plan: Plan, index: int, result: str) -> ModelReply:
    """Act on a step, answer its tool call with `result`, act again: the step must then be done."""
    first = MODEL.act(conversation, plan, index, [])
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    conversation += [first.as_message(), ChatMessage(role="tool", content=result, tool_call_id=call.id)]
    done = MODEL.act(conversation, plan, index, [])
    assert done.tool_calls == ()
    assert done.text
    return first


@pytest.mark.parametrize(
    ("line", "function", "arguments"),
    [
        ("!shell echo hi && ls", "shell_exec", {"command": "echo hi && ls", "session_id": "default"}),
        ("!write notes/a.txt hello world", "file_write", {"file": "notes/a.txt", "content": "hello world"}),
        ("!write a.py print(1)\\nprint(2)", "file_write", {"file": "a.py", "content": "print(1)\nprint(2)"}),
        ("!write empty.txt", "file_write", {"file": "empty.txt", "content": ""}),
        ("!read notes/a.txt", "file_read", {"file": "notes/a.txt"}),
        (
            "!browse http://127.0.0.1:9/page",
            "browser_navigate",
            {"url": "http://127.0.0.1:9/page", "screenshot": True},
        ),
        ("!view", "browser_view", {}),
        ("!search riadex serverless agents", "web_search", {"query": "riadex serverless agents"}),
        ("!ask Which colour?", "message_ask_user", {"question": "Which colour?"}),
        ("!sleep 30", "shell_exec", {"command": "sleep 30", "session_id": "default"}),
        ("!sleep 0.5", "shell_exec", {"command": "sleep 0.5", "session_id": "default"}),
    ],
)
def test_each_directive_is_one_step_with_one_tool_call(
    line: str, function: str, arguments: dict[str, Any]
) -> None:
    conversation = [user(f"Please do this\n{line}")]
    plan = MODEL.plan(conversation, [])
    assert plan.steps == (line,)
    reply = MODEL.act(conversation, plan, 0, [])
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [(function, arguments)]
    assert reply.stop_reason == "tool_calls"


@pytest.mark.parametrize(
    "line", ["!shell", "!sleep soon", "!sleep -1", "!dance now", "! shell ls", "shell ls"]
)
def test_lines_that_are_not_complete_directives_are_text(line: str) -> None:
    assert parse_directives(line) == []


def test_the_full_sequence_plan_act_act_summarize() -> None:
    message = "Build me a file and show it\n!write out.txt 42 apples\n!read out.txt\n!shell wc -c out.txt"
    conversation = [user(message)]
    plan = MODEL.plan(conversation, [])
    assert plan.title == "Build me a file and show it !write out.t"
    assert len(plan.title) == 40
    assert plan.steps == ("!write out.txt 42 apples", "!read out.txt", "!shell wc -c out.txt")
    assert plan.tools == {"file", "shell"}
    assert MODEL.plan([user("!search a\n!ask b?\n!fail c")], []).tools == {"search", "message"}
    assert plan.usage.input_tokens > 0
    run_step(conversation, plan, 0, '{"file":"/w/out.txt","size":9}')
    run_step(conversation, plan, 1, "42 apples")
    run_step(conversation, plan, 2, "9 out.txt")
    chunks: list[str] = []
    final = MODEL.summarize(conversation, plan, [], on_text=chunks.append)
    assert final.tool_calls == ()
    assert "".join(chunks) == final.text
    assert len(chunks) > 1
    assert "1. !write out.txt 42 apples\n" in final.text
    assert "42 apples" in final.text
    assert "9 out.txt" in final.text
    assert "Wrote 9 bytes to /w/out.txt." in final.text
    assert final.text.index("Wrote 9 bytes") < final.text.index("9 out.txt")
    assert "{" not in final.text  # readable text, not the JSON the model reads
    assert final.usage.output_tokens > 0


def test_the_summary_reads_as_text_for_every_kind_of_result() -> None:
    message = "!shell ls\n!read a.txt\n!search cats\n!browse http://x\n!shell false"
    conversation = [user(message)]
    plan = MODEL.plan(conversation, [])
    run_step(conversation, plan, 0, '{"status":"completed","exit_code":0,"output":"a.txt\\n","console":[]}')
    run_step(conversation, plan, 1, '{"file":"/w/a.txt","content":"hello"}')
    run_step(conversation, plan, 2, '{"query":"cats","results":[{"title":"Cats","url":"https://c.example"}]}')
    run_step(conversation, plan, 3, 'The tool call failed: {"error":"search is not configured"}')
    run_step(conversation, plan, 4, '{"status":"completed","exit_code":1,"output":""}')
    text = MODEL.summarize(conversation, plan, []).text
    assert "1. !shell ls\nOutput (exit code 0):\na.txt" in text
    assert "2. !read a.txt\n/w/a.txt:\nhello" in text
    assert "- Cats <https://c.example>" in text
    assert "4. !browse http://x\nFailed: search is not configured" in text
    assert "5. !shell false\nNo output (exit code 1)." in text
    assert "{" not in text


def test_a_message_without_directive_gets_no_steps_and_an_echo() -> None:
    conversation = [user("Just saying hello!")]
    plan = MODEL.plan(conversation, [])
    assert plan == Plan("Just saying hello!", (), plan.usage, tools=frozenset())
    assert MODEL.summarize(conversation, plan, []).text == "Just saying hello!"


def test_the_title_comes_from_the_first_message_of_the_session() -> None:
    conversation = [
        user("First message of the session"),
        ChatMessage(role="assistant", content="ok"),
        user("!read a"),
    ]
    plan = MODEL.plan(conversation, [])
    assert plan.title == "First message of the session"
    assert plan.steps == ("!read a",)


def test_fail_raises_a_non_retryable_provider_error_when_its_step_is_reached() -> None:
    conversation = [user("!shell echo before\n!fail the provider said no")]
    plan = MODEL.plan(conversation, [])
    run_step(conversation, plan, 0, "before")
    with pytest.raises(ModelError) as caught:
        MODEL.act(conversation, plan, 1, [])
    assert caught.value.kind == "invalid_request"
    assert not caught.value.retryable
    assert "the provider said no" in caught.value.message


def test_a_previous_run_with_the_same_message_does_not_count_as_done() -> None:
    conversation = [user("!shell date")]
    plan = MODEL.plan(conversation, [])
    run_step(conversation, plan, 0, "Mon")
    conversation += [ChatMessage(role="assistant", content="Done."), user("!shell date")]
    again = MODEL.plan(conversation, [])
    reply = MODEL.act(conversation, again, 0, [])
    assert len(reply.tool_calls) == 1
    first_ids = {c.id for m in conversation for c in m.tool_calls}
    assert reply.tool_calls[0].id not in first_ids


def test_ask_then_the_answer_finishes_the_step() -> None:
    conversation = [user("!ask Red or blue?\n!write colour.txt chosen")]
    plan = MODEL.plan(conversation, [])
    asked = MODEL.act(conversation, plan, 0, [])
    call = asked.tool_calls[0]
    # the answer is the tool's result; the loop may also store it as a user message after it
    conversation += [
        asked.as_message(),
        ChatMessage(role="tool", content="blue", tool_call_id=call.id),
        user("blue"),
    ]
    assert MODEL.act(conversation, plan, 0, []).tool_calls == ()
    assert MODEL.act(conversation, plan, 1, []).tool_calls[0].name == "file_write"


def test_should_stop_cancels_the_summary_stream() -> None:
    conversation = [user("a long message " * 20)]
    plan = MODEL.plan(conversation, [])
    chunks: list[str] = []
    with pytest.raises(ModelError) as caught:
        MODEL.summarize(conversation, plan, [], on_text=chunks.append, should_stop=lambda: len(chunks) >= 3)
    assert caught.value.kind == "cancelled"
    assert len(chunks) == 3


def test_a_step_outside_the_plan_is_an_error() -> None:
    plan = MODEL.plan([user("!read a")], [])
    with pytest.raises(ModelError):
        MODEL.act([user("!read a")], plan, 1, [])


@pytest.mark.parametrize(
    ("function", "tool"),
    [
        ("shell_exec", "shell"),
        ("file_write", "file"),
        ("file_read", "file"),
        ("browser_navigate", "browser"),
        ("web_search", "search"),
        ("message_ask_user", "message"),
        ("message_notify_user", "message"),
    ],
)
def test_each_function_belongs_to_its_tool(function: str, tool: str) -> None:
    assert tool_of(function) == tool
