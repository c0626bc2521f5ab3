"""Rebuilding the conversation from stored events, and fitting it to a context budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from riadex.application.conversation import (
    NO_RESULT,
    conversation_from_events,
    estimate_tokens,
    fit_to_budget,
)
from riadex.application.llm import ChatMessage, ToolCall
from riadex.domain.models import Event

TS = datetime(2026, 11, 21, tzinfo=UTC)


def events(*items: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event("ses_1", seq, "run_1", kind, TS, data) for seq, (kind, data) in enumerate(items, start=1)]


def message(role: str, content: str) -> tuple[str, dict[str, Any]]:
    return "message", {"role": role, "content": content}


def calling(call_id: str, function: str = "shell_exec", **args: Any) -> tuple[str, dict[str, Any]]:
    return "tool", {
        "tool_call_id": call_id,
        "name": "shell",
        "function": function,
        "args": args,
        "status": "calling",
    }


def called(call_id: str, content: Any, status: str = "called") -> tuple[str, dict[str, Any]]:
    return "tool", {
        "tool_call_id": call_id,
        "name": "shell",
        "function": "shell_exec",
        "status": status,
        "content": content,
    }


def test_messages_calls_and_results_in_provider_order() -> None:
    built = conversation_from_events(
        events(
            ("run", {"status": "queued"}),
            message("user", "list files"),
            ("plan", {"steps": []}),
            message("assistant", "Listing."),
            calling("c1", command="ls"),
            calling("c2", command="pwd"),
            called("c2", {"output": "/w"}),
            called("c1", "a.txt"),
            ("delta", {"message_id": "m", "text": "Do"}),
            message("assistant", "Done: a.txt"),
            ("done", {"status": "completed"}),
        )
    )
    assert built == [
        ChatMessage("user", "list files"),
        ChatMessage(
            "assistant",
            "Listing.",
            (
                ToolCall("c1", "shell_exec", {"command": "ls"}),
                ToolCall("c2", "shell_exec", {"command": "pwd"}),
            ),
        ),
        ChatMessage("tool", "a.txt", tool_call_id="c1"),
        ChatMessage("tool", '{"output":"/w"}', tool_call_id="c2"),
        ChatMessage("assistant", "Done: a.txt"),
    ]


def test_calls_made_one_after_another_are_separate_turns() -> None:
    built = conversation_from_events(
        events(
            message("user", "go"),
            calling("c1", command="a"),
            called("c1", "A"),
            calling("c2", command="b"),
            called("c2", "B"),
        )
    )
    assert [m.role for m in built] == ["user", "assistant", "tool", "assistant", "tool"]
    assert built[3].tool_calls[0].id == "c2"


def test_a_failed_call_says_so_and_a_call_without_result_is_answered() -> None:
    built = conversation_from_events(
        events(
            message("user", "go"),
            calling("c1", command="false"),
            called("c1", "exit 1", status="failed"),
            calling("c2", command="sleep 100"),
            ("done", {"status": "cancelled"}),
            message("user", "next request"),
        )
    )
    assert built[2] == ChatMessage("tool", "The tool call failed: exit 1", tool_call_id="c1")
    assert built[4] == ChatMessage("tool", NO_RESULT, tool_call_id="c2")
    assert built[5] == ChatMessage("user", "next request")


def test_a_new_run_closes_the_calls_a_cancelled_run_left_open() -> None:
    built = conversation_from_events(
        events(
            message("user", "!sleep 100"),
            calling("c1", command="sleep 100"),
            ("done", {"status": "cancelled"}),
            ("run", {"status": "queued"}),
            message("user", "!shell echo hi"),
            calling("c2", command="echo hi"),
            called("c2", "hi"),
        )
    )
    assert [(m.role, m.content, m.tool_call_id) for m in built] == [
        ("user", "!sleep 100", None),
        ("assistant", "", None),
        ("tool", NO_RESULT, "c1"),
        ("user", "!shell echo hi", None),
        ("assistant", "", None),
        ("tool", "hi", "c2"),
    ]
    assert [c.id for c in built[4].tool_calls] == ["c2"]


def test_a_user_message_stored_while_a_call_is_open_comes_after_its_result() -> None:
    built = conversation_from_events(
        events(
            message("user", "!ask colour?"),
            calling("c1", function="message_ask_user", question="colour?"),
            ("wait", {"question": "colour?", "tool_call_id": "c1"}),
            message("user", "blue"),
            called("c1", "blue"),
        )
    )
    assert [(m.role, m.content) for m in built] == [
        ("user", "!ask colour?"),
        ("assistant", ""),
        ("tool", "blue"),
        ("user", "blue"),
    ]


def turn(call_id: str, output: str) -> list[ChatMessage]:
    return [
        ChatMessage("assistant", "", (ToolCall(call_id, "shell_exec", {"command": "cat big"}),)),
        ChatMessage("tool", output, tool_call_id=call_id),
    ]


def test_a_conversation_within_budget_is_unchanged() -> None:
    conversation = [ChatMessage("user", "hi"), *turn("c1", "small")]
    assert fit_to_budget(conversation, 1000) == conversation


def test_a_huge_tool_output_is_cut_with_a_marker() -> None:
    conversation = [ChatMessage("user", "hi"), *turn("c1", "A" * 50_000 + "THE END")]
    fitted = fit_to_budget(conversation, 100_000, max_tool_chars=3000)
    output = fitted[2].content
    assert len(output) < 3200
    assert output.startswith("A" * 1000)
    assert output.endswith("THE END")
    assert "characters of this tool output were cut to fit the context budget" in output


def test_old_turns_are_dropped_whole_and_the_request_and_latest_turn_kept() -> None:
    conversation = [
        ChatMessage("system", "rules"),
        ChatMessage("user", "old request"),
        *turn("c1", "x" * 4000),
        ChatMessage("assistant", "old answer " * 200),
        ChatMessage("user", "new request"),
        *turn("c2", "y" * 1500),
        *turn("c3", "z" * 1500),
    ]
    fitted = fit_to_budget(conversation, 1200, max_tool_chars=20_000, old_tool_chars=1000)
    assert estimate_tokens(fitted) <= 1200
    assert fitted[0] == ChatMessage("system", "rules")
    assert "earlier messages were left out" in fitted[1].content
    assert ChatMessage("user", "new request") in fitted
    assert fitted[-2:] == turn("c3", "z" * 1500)  # the latest turn, untouched
    # never half a call: every tool result has its call in the message just before its group
    call_ids = {c.id for m in fitted for c in m.tool_calls}
    result_ids = {m.tool_call_id for m in fitted if m.role == "tool"}
    assert call_ids == result_ids


def test_older_tool_outputs_shrink_before_anything_is_dropped() -> None:
    conversation = [ChatMessage("user", "req"), *turn("c1", "x" * 8000), *turn("c2", "y" * 100)]
    fitted = fit_to_budget(conversation, 1000, old_tool_chars=1000)
    assert len(fitted) == len(conversation)
    assert len(fitted[2].content) < 1200
    assert fitted[4].content == "y" * 100


def test_a_takeover_handed_back_is_a_user_turn_with_the_note_after_open_calls_results() -> None:
    built = conversation_from_events(
        events(
            message("user", "book it"),
            calling("c1", command="ls"),
            ("takeover", {"status": "started", "takeover_id": "tko_1"}),
            ("takeover", {"status": "ended", "takeover_id": "tko_1", "note": "I logged in"}),
            called("c1", "a.txt"),
            ("takeover", {"status": "started", "takeover_id": "tko_2"}),
            ("wait", {"question": "…", "tool_call_id": None, "reason": "takeover"}),
            ("takeover", {"status": "ended", "takeover_id": "tko_2"}),
        )
    )
    assert [m.role for m in built] == ["user", "assistant", "tool", "user", "user"]
    assert built[2].content == "a.txt"  # the call's result stays right after its call
    assert "took control of the sandbox" in built[3].content
    assert built[3].content.endswith("The user's note: I logged in")
    assert built[4].content.endswith("The user left no note.")
