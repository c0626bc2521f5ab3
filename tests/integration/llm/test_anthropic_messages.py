"""The real `anthropic` SDK, through our adapter, against a local server speaking the Messages events."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from riadex.adapters.llm.anthropic_messages import AnthropicChatModel
from riadex.application.llm import ChatMessage, ModelError, ToolCall, ToolSpec
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.llm_script import Failure, Reply, ScriptedToolCall

SHELL = ToolSpec(
    "shell_exec",
    "Run a command.",
    {"type": "object", "properties": {"command": {"type": "string"}, "session_id": {"type": "string"}}},
)
ASK = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hello")]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def model(fake: FakeAnthropic, retries: int = 0, key: str = "sk-ant-test") -> AnthropicChatModel:
    return AnthropicChatModel(model="claude-test", api_key=key, base_url=fake.base_url, max_retries=retries)


def test_text_deltas_and_usage(fake: FakeAnthropic) -> None:
    fake.script.enqueue(Reply(text="Bonjour, le monde", text_chunk=3, input_tokens=40, output_tokens=12))
    chunks: list[str] = []
    reply = model(fake).complete(ASK, [], on_text=chunks.append)
    assert len(chunks) == 6
    assert "".join(chunks) == reply.text == "Bonjour, le monde"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (40, 12)
    assert reply.stop_reason == "end"
    assert reply.message_id.startswith("msg_")
    request = fake.script.requests[0]
    assert request["system"] == "be brief"
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert request["max_tokens"] == 4096
    assert "tools" not in request
    headers = fake.script.headers[0]  # older SDKs send x-api-key, this one a bearer token
    assert "sk-ant-test" in {
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    }


def test_tool_use_input_json_deltas_are_assembled(fake: FakeAnthropic) -> None:
    calls = [
        ScriptedToolCall("shell_exec", {"command": "ls -la /tmp", "session_id": "default"}, id="toolu_1"),
        ScriptedToolCall("shell_exec", {"command": "echo 'é'", "session_id": "default"}, id="toolu_2"),
    ]
    fake.script.enqueue(Reply(text="Looking.", tool_calls=calls, argument_pieces=5))
    reply = model(fake).complete(ASK, [SHELL], tool_choice="required")
    assert reply.text == "Looking."
    assert reply.tool_calls == (
        ToolCall("toolu_1", "shell_exec", {"command": "ls -la /tmp", "session_id": "default"}),
        ToolCall("toolu_2", "shell_exec", {"command": "echo 'é'", "session_id": "default"}),
    )
    assert reply.stop_reason == "tool_calls"
    request = fake.script.requests[0]
    assert request["tools"] == [
        {"name": "shell_exec", "description": "Run a command.", "input_schema": SHELL.parameters}
    ]
    assert request["tool_choice"] == {"type": "any"}


def test_history_with_tool_results_goes_out_as_alternating_blocks(fake: FakeAnthropic) -> None:
    first = ToolCall("toolu_a", "shell_exec", {"command": "pwd"})
    second = ToolCall("toolu_b", "shell_exec", {"command": "id"})
    history = [
        ChatMessage(role="system", content="rules"),
        ChatMessage(role="user", content="where am I?"),
        ChatMessage(role="assistant", content="Checking.", tool_calls=(first, second)),
        ChatMessage(role="tool", content="/workspace", tool_call_id="toolu_a"),
        ChatMessage(role="tool", content="", tool_call_id="toolu_b"),
        ChatMessage(role="user", content="and?"),
    ]
    model(fake).complete(history, [SHELL], tool_choice="none")
    request = fake.script.requests[0]
    assert request["tool_choice"] == {"type": "none"}
    assert request["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "where am I?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_a", "name": "shell_exec", "input": {"command": "pwd"}},
                {"type": "tool_use", "id": "toolu_b", "name": "shell_exec", "input": {"command": "id"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "/workspace"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "(no output)"},
                {"type": "text", "text": "and?"},
            ],
        },
    ]


def test_429_then_success_with_the_sdk_retry_count(fake: FakeAnthropic) -> None:
    fake.script.enqueue(
        Failure(429, "Number of requests has exceeded your rate limit", headers={"retry-after-ms": "10"}),
        Reply(text="fine"),
    )
    assert model(fake, retries=1).complete(ASK, []).text == "fine"
    assert len(fake.script.requests) == 2


def test_401_is_an_auth_error_that_names_the_key_to_fix(fake: FakeAnthropic) -> None:
    fake.script.enqueue(Failure(401, "invalid x-api-key"))
    with pytest.raises(ModelError) as caught:
        model(fake, retries=2, key="bad").complete(ASK, [])
    error = caught.value
    assert (error.kind, error.retryable, error.status) == ("auth", False, 401)
    assert error.message == "Anthropic rejected the API key (401): check ANTHROPIC_API_KEY: invalid x-api-key"
    assert len(fake.script.requests) == 1


@pytest.mark.parametrize(
    ("failure", "kind", "retryable"),
    [
        (Failure(529, "Overloaded"), "overloaded", True),
        (Failure(429, "rate limited"), "rate_limit", True),
        (Failure(400, "prompt is too long: 210000 tokens > 200000 maximum"), "context_length", False),
        (Failure(413, "Request exceeds the maximum allowed number of bytes."), "context_length", False),
        (Failure(404, "model: claude-nope"), "invalid_request", False),
        (Failure(500, "Internal server error"), "server", True),
    ],
)
def test_status_errors_are_classified(
    fake: FakeAnthropic, failure: Failure, kind: str, retryable: bool
) -> None:
    fake.script.enqueue(failure)
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [])
    assert (caught.value.kind, caught.value.retryable) == (kind, retryable)


def test_cancel_mid_stream_closes_the_stream(fake: FakeAnthropic) -> None:
    fake.script.enqueue(Reply(text="token " * 200, text_chunk=6, delay=0.02))
    received: list[str] = []
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [], on_text=received.append, should_stop=lambda: len(received) >= 2)
    assert caught.value.kind == "cancelled"
    assert len(received) == 2
    deadline = time.monotonic() + 10
    while not fake.script.aborted.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.script.aborted.is_set()
    assert fake.script.completed_streams == 0


def test_an_overloaded_error_event_mid_stream_is_retryable(fake: FakeAnthropic) -> None:
    fake.script.enqueue(Reply(text="partial answer", error_after=4))
    chunks: list[str] = []
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [], on_text=chunks.append)
    assert (caught.value.kind, caught.value.retryable) == ("overloaded", True)
    assert chunks  # some text had arrived before the error
