"""The real `openai` SDK, through our adapter, against a local server speaking the streaming wire format."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from riadex.adapters.llm.openai_chat import OpenAIChatModel
from riadex.application.llm import ChatMessage, ModelError, ToolCall, ToolSpec
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Failure, Reply, ScriptedToolCall

WRITE = ToolSpec(
    "file_write",
    "Write a file.",
    {"type": "object", "properties": {"file": {"type": "string"}, "content": {"type": "string"}}},
)
ASK = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hello")]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def model(fake: FakeOpenAI, retries: int = 0, key: str = "sk-test") -> OpenAIChatModel:
    return OpenAIChatModel(model="gpt-test", api_key=key, base_url=fake.base_url, max_retries=retries)


def test_text_streams_in_deltas_and_usage_is_reported(fake: FakeOpenAI) -> None:
    # Given a reply of 22 characters sent 4 at a time
    fake.script.enqueue(Reply(text="Hello there, traveller", text_chunk=4, input_tokens=31, output_tokens=9))
    chunks: list[str] = []
    # When the adapter streams it
    reply = model(fake).complete(ASK, [], on_text=chunks.append)
    # Then the text arrives in several chunks that add up to the reply, with the usage of the last chunk
    assert len(chunks) == 6
    assert "".join(chunks) == reply.text == "Hello there, traveller"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (31, 9)
    assert reply.stop_reason == "end"
    assert reply.tool_calls == ()
    assert reply.message_id.startswith("chatcmpl-")
    # and the request asked for usage in the stream, with the messages in OpenAI's shape and no tools
    request = fake.script.requests[0]
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert request["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert "tools" not in request
    assert "tool_choice" not in request
    assert fake.script.headers[0]["authorization"] == "Bearer sk-test"


def test_tool_calls_split_across_chunks_are_assembled(fake: FakeOpenAI) -> None:
    calls = [
        ScriptedToolCall("file_write", {"file": "a.txt", "content": "x" * 50}, id="call_a"),
        ScriptedToolCall("file_write", {"file": "b.txt", "content": "ünïcode"}, id="call_b"),
    ]
    fake.script.enqueue(Reply(text="Writing.", tool_calls=calls, argument_pieces=7))
    reply = model(fake).complete(ASK, [WRITE], tool_choice="file_write")
    assert reply.tool_calls == (
        ToolCall("call_a", "file_write", {"file": "a.txt", "content": "x" * 50}),
        ToolCall("call_b", "file_write", {"file": "b.txt", "content": "ünïcode"}),
    )
    assert reply.text == "Writing."
    assert reply.stop_reason == "tool_calls"
    request = fake.script.requests[0]
    assert request["tools"][0]["function"]["name"] == "file_write"
    assert request["tool_choice"] == {"type": "function", "function": {"name": "file_write"}}


def test_a_conversation_with_tool_results_goes_out_in_openai_shape(fake: FakeOpenAI) -> None:
    call = ToolCall("call_1", "file_write", {"file": "a.txt", "content": "hi"})
    history = [
        ChatMessage(role="user", content="write a file"),
        ChatMessage(role="assistant", content="", tool_calls=(call,)),
        ChatMessage(role="tool", content='{"size":2}', tool_call_id="call_1"),
    ]
    model(fake).complete(history, [WRITE])
    sent = fake.script.requests[0]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "file_write", "arguments": '{"file": "a.txt", "content": "hi"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": '{"size":2}'}
    assert fake.script.requests[0]["tool_choice"] == "auto"


def test_arguments_that_are_not_json_reach_the_caller_marked(fake: FakeOpenAI) -> None:
    fake.script.enqueue(Reply(tool_calls=[ScriptedToolCall("file_write", '{"file": "a.txt", ')]))
    reply = model(fake).complete(ASK, [WRITE])
    assert reply.tool_calls[0].arguments == {"_invalid_json": '{"file": "a.txt", '}


def test_429_then_success_with_the_sdk_retry_count(fake: FakeOpenAI) -> None:
    fake.script.enqueue(
        Failure(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"retry-after-ms": "10"}),
        Reply(text="after the wait"),
    )
    reply = model(fake, retries=1).complete(ASK, [])
    assert reply.text == "after the wait"
    assert len(fake.script.requests) == 2


def test_429_and_503_without_sdk_retries_are_retryable_errors_and_the_next_call_succeeds(
    fake: FakeOpenAI,
) -> None:
    fake.script.enqueue(Failure(429, "Rate limit reached", "requests", "rate_limit_exceeded"))
    chat = model(fake, retries=0)
    with pytest.raises(ModelError) as caught:
        chat.complete(ASK, [])
    assert caught.value.kind == "rate_limit"
    assert caught.value.retryable
    assert caught.value.status == 429
    fake.script.enqueue(Failure(503, "upstream unavailable", "server_error"), Reply(text="ok now"))
    with pytest.raises(ModelError) as unavailable:
        chat.complete(ASK, [])
    assert (unavailable.value.kind, unavailable.value.retryable) == ("server", True)
    # The state machine retries a retryable failure by calling again (the fault suite drives that end
    # to end): the same client's next call gets the next answer.
    assert chat.complete(ASK, []).text == "ok now"
    assert len(fake.script.requests) == 3


def test_401_is_an_auth_error_that_names_the_key_to_fix(fake: FakeOpenAI) -> None:
    fake.script.enqueue(
        Failure(401, "Incorrect API key provided: sk-wrong.", "invalid_request_error", "invalid_api_key")
    )
    with pytest.raises(ModelError) as caught:
        model(fake, retries=2, key="sk-wrong").complete(ASK, [])
    error = caught.value
    assert error.kind == "auth"
    assert not error.retryable
    assert error.status == 401
    assert "OpenAI rejected the API key (401): check OPENAI_API_KEY" in error.message
    assert "Incorrect API key" in error.message
    assert len(fake.script.requests) == 1  # the SDK does not retry a 401


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (
            Failure(
                400, "This model's maximum context length is 128000 tokens.", code="context_length_exceeded"
            ),
            "context_length",
        ),
        (Failure(404, "The model `gpt-nope` does not exist", code="model_not_found"), "invalid_request"),
        (Failure(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"), "auth"),
        (Failure(500, "The server had an error", "server_error"), "server"),
    ],
)
def test_status_errors_are_classified(fake: FakeOpenAI, failure: Failure, kind: str) -> None:
    fake.script.enqueue(failure)
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [])
    assert caught.value.kind == kind
    assert caught.value.status == failure.status


def test_unreachable_server_is_a_retryable_error() -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    chat = OpenAIChatModel(model="m", api_key="k", base_url=url, max_retries=0, timeout_seconds=5)
    with pytest.raises(ModelError) as caught:
        chat.complete(ASK, [])
    assert caught.value.kind == "server"
    assert caught.value.retryable
    assert "could not reach OpenAI" in caught.value.message


def test_cancel_mid_stream_closes_the_stream(fake: FakeOpenAI) -> None:
    # Given a slow reply of 200 chunks
    fake.script.enqueue(Reply(text="word " * 200, text_chunk=5, delay=0.02))
    received: list[str] = []
    # When the caller asks to stop after the third chunk
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [], on_text=received.append, should_stop=lambda: len(received) >= 3)
    # Then the call ends as cancelled, and the server sees the client go away before the end
    assert caught.value.kind == "cancelled"
    assert not caught.value.retryable
    assert len(received) == 3
    deadline = time.monotonic() + 10
    while not fake.script.aborted.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.script.aborted.is_set()
    assert fake.script.completed_streams == 0


def test_a_stop_requested_before_the_call_sends_nothing(fake: FakeOpenAI) -> None:
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [], should_stop=lambda: True)
    assert caught.value.kind == "cancelled"
    assert fake.script.requests == []


def test_tool_calls_without_index_are_told_apart_by_id(fake: FakeOpenAI) -> None:
    calls = [
        ScriptedToolCall("file_write", {"file": "a"}, id="c1"),
        ScriptedToolCall("file_write", {"file": "b"}, id="c2"),
    ]
    fake.script.enqueue(Reply(tool_calls=calls, indexed_tool_calls=False))
    reply = model(fake).complete(ASK, [WRITE])
    assert [(c.id, c.arguments) for c in reply.tool_calls] == [("c1", {"file": "a"}), ("c2", {"file": "b"})]


def test_an_error_in_the_middle_of_the_stream_is_a_retryable_server_error(fake: FakeOpenAI) -> None:
    fake.script.enqueue(Reply(text="partial answer", error_after=3, error_type="server_error"))
    with pytest.raises(ModelError) as caught:
        model(fake).complete(ASK, [])
    assert (caught.value.kind, caught.value.retryable) == ("server", True)
    assert "The server had an error" in caught.value.message
