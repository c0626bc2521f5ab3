"""Responders that make a fake OpenAI-compatible server behave like a model driving `LLMAgentModel`.

`write_then_read(path, text)` answers the three kinds of calls the agent makes:
- plan (`tool_choice` forces `submit_plan`): two steps, write the file, read it back;
- act: on step 1 a `file_write` call, on step 2 a `file_read` call, and once the latest message is that
  call's result, a short text with no tool call (the step is done);
- summarize (`tool_choice` "none"): a final message quoting the content of the last tool result.
Used with `FakeOpenAI(responder=write_then_read(...))`, for the adapter tests and the e2e.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.llm_script import Item, Reply, Responder, ScriptedToolCall


def _forced_function(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name"))
    return None


def write_then_read(path: str, text: str, title: str = "Write and read a file") -> Responder:
    def respond(body: dict[str, Any]) -> Item:
        messages = body["messages"]
        if _forced_function(body) == "submit_plan":
            steps = [f"Write {path}", f"Read {path} back"]
            return Reply(tool_calls=[ScriptedToolCall("submit_plan", {"title": title, "steps": steps})])
        last = messages[-1]
        if body.get("tool_choice") == "none":
            results = [m["content"] for m in messages if m["role"] == "tool"]
            return Reply(text=f"The file {path} says: {_file_text(results[-1]) if results else '?'}")
        if last["role"] == "tool":
            return Reply(text="Step done.")
        system = messages[0]["content"]
        if "step 1 of" in system:
            return Reply(tool_calls=[ScriptedToolCall("file_write", {"file": path, "content": text})])
        return Reply(tool_calls=[ScriptedToolCall("file_read", {"file": path})])

    return respond


def _file_text(result: str) -> str:
    """A file_read result is JSON with `content` (the sandbox server's shape) or plain text."""
    try:
        value = json.loads(result)
    except json.JSONDecodeError:
        return result
    return str(value.get("content", result)) if isinstance(value, dict) else result
