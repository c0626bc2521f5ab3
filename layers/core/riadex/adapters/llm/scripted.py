"""The offline scripted model (docs/api.md): deterministic plans and tool calls read from `!` directives.

It implements `AgentModel` directly (not `ChatModel`): the loop runs the very same plan → act → summarize
sequence as with a real provider, with no network and no key. Rules:

- The directives are the lines of the latest user message that start with a known `!name` and carry
  what it needs (`!shell` with no command is just text). Unknown `!words` are text too.
- `plan`: title = the first 40 characters of the first user message of the conversation; one step per
  directive, the step's description being the directive line itself (so the plan reads as the user
  wrote it, and `act` can re-read the directive from the stored plan); `tools`: the directives' tools.
- `act(step)`: one tool call for the step's directive; once the conversation holds a result for that
  call (after the directive message), no tool call and a short note: the step is done. Tool call ids end
  in `_s<step>` so the result can be recognised; the rest of the id is random, as with real providers.
  `!fail <text>` raises a non-retryable `ModelError` when its step is acted on.
- `summarize`: with no directive, the user's message echoed back; otherwise each step's tool result,
  as readable text (a command's output and exit code, a file's content, search hits, an error).
- Text goes to `on_text` in small chunks, `should_stop` is checked between them (cancel tests), and
  usage is an estimate (characters / 4) so token budgets can be exercised offline.

`!write <path> <text>` turns the two characters `\\n` in text into a newline, so one line can write a
multi-line file.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from riadex.application import tool_catalog as tc
from riadex.application.agent_model import Plan
from riadex.application.llm import (
    ChatMessage,
    ModelError,
    ModelReply,
    StopCheck,
    TextSink,
    ToolCall,
    ToolSpec,
    Usage,
)

TITLE_CHARS = 40
RESULT_PREVIEW_CHARS = 1000
_CHUNK = 16


@dataclass(frozen=True)
class Directive:
    name: str
    argument: str
    line: str


def _parse_line(line: str) -> Directive | None:
    stripped = line.strip()
    if not stripped.startswith("!"):
        return None
    head, _, rest = stripped.partition(" ")
    name, argument = head[1:].lower(), rest.strip()
    if name in {"shell", "read", "browse", "search", "ask"} and argument:
        return Directive(name, argument, stripped)
    if name == "write" and argument:
        return Directive(name, argument, stripped)
    if name == "sleep":
        try:
            seconds = float(argument)
        except ValueError:
            return None
        return Directive(name, argument, stripped) if seconds >= 0 else None
    if name == "fail":
        return Directive(name, argument or "scripted failure", stripped)
    if name == "view" and not argument:
        return Directive(name, "", stripped)
    return None


def parse_directives(text: str) -> list[Directive]:
    return [d for d in (_parse_line(line) for line in text.splitlines()) if d is not None]


def tool_call_for(directive: Directive, step_index: int) -> ToolCall:
    call_id = f"call_{uuid.uuid4().hex[:16]}_s{step_index}"
    name, arg = directive.name, directive.argument
    arguments: dict[str, Any]
    if name == "shell":
        function, arguments = tc.SHELL_EXEC, {"command": arg, "session_id": tc.DEFAULT_SHELL_SESSION}
    elif name == "sleep":
        command = f"sleep {shlex.quote(arg)}"
        function, arguments = tc.SHELL_EXEC, {"command": command, "session_id": tc.DEFAULT_SHELL_SESSION}
    elif name == "write":
        path, _, text = arg.partition(" ")
        function, arguments = tc.FILE_WRITE, {"file": path, "content": text.replace("\\n", "\n")}
    elif name == "read":
        function, arguments = tc.FILE_READ, {"file": arg}
    elif name == "browse":
        function, arguments = tc.BROWSER_NAVIGATE, {"url": arg, "screenshot": True}
    elif name == "view":
        function, arguments = tc.BROWSER_VIEW, {}
    elif name == "search":
        function, arguments = tc.WEB_SEARCH, {"query": arg}
    elif name == "ask":
        function, arguments = tc.MESSAGE_ASK_USER, {"question": arg}
    else:  # pragma: no cover - parse_directives admits no other name
        raise ValueError(f"no tool for directive {name!r}")
    return ToolCall(id=call_id, name=function, arguments=arguments)


def _estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1


def _input_usage(conversation: Sequence[ChatMessage]) -> int:
    size = 0
    for message in conversation:
        size += len(message.content)
        size += sum(len(json.dumps(call.arguments)) + len(call.name) for call in message.tool_calls)
    return size // 4 + 1


class ScriptedAgentModel:
    """Deterministic `AgentModel` for offline runs and tests; see the module docstring for the rules."""

    provider = "scripted"
    model = "scripted"

    def plan(
        self,
        conversation: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        should_stop: StopCheck | None = None,
    ) -> Plan:
        _check(should_stop)
        users = [m for m in conversation if m.role == "user"]
        first = users[0].content if users else ""
        latest = users[-1].content if users else ""
        directives = parse_directives(latest)
        steps = tuple(d.line for d in directives)
        title = " ".join(first.split())[:TITLE_CHARS]
        usage = Usage(_input_usage(conversation), _estimate_tokens(title + "".join(steps)))
        used = frozenset(tc.tool_of(tool_call_for(d, 0).name) for d in directives if d.name != "fail")
        return Plan(title=title, steps=steps, usage=usage, tools=used)

    def act(
        self,
        conversation: Sequence[ChatMessage],
        plan: Plan,
        step_index: int,
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        _check(should_stop)
        if not 0 <= step_index < len(plan.steps):
            raise ModelError("invalid_request", f"the plan has no step {step_index}")
        directive = _parse_line(plan.steps[step_index])
        if directive is None:
            raise ModelError("invalid_request", f"plan step {step_index} is not a directive")
        if directive.name == "fail":
            raise ModelError("invalid_request", f"scripted model failure: {directive.argument}", status=400)
        input_tokens = _input_usage(conversation)
        result = _step_result(_window(conversation, plan), step_index)
        if result is None:
            call = tool_call_for(directive, step_index)
            output = _estimate_tokens(json.dumps(call.arguments))
            return ModelReply(
                message_id=_message_id(),
                text="",
                tool_calls=(call,),
                usage=Usage(input_tokens, output),
                stop_reason="tool_calls",
            )
        text = f"Step {step_index + 1} done: {directive.line}"
        _stream(text, on_text, should_stop)
        return ModelReply(_message_id(), text, (), Usage(input_tokens, _estimate_tokens(text)), "end")

    def summarize(
        self,
        conversation: Sequence[ChatMessage],
        plan: Plan,
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        _check(should_stop)
        if not plan.steps:
            users = [m for m in conversation if m.role == "user"]
            text = users[-1].content if users else ""
        else:
            window = _window(conversation, plan)
            parts = []
            for index, step in enumerate(plan.steps):
                result = _step_result(window, index)
                shown = "No result was recorded." if result is None else _preview(_readable(result))
                parts.append(f"{index + 1}. {step}\n{shown}")
            text = "Done. Here is what each step gave:\n\n" + "\n\n".join(parts)
        _stream(text, on_text, should_stop)
        usage = Usage(_input_usage(conversation), _estimate_tokens(text))
        return ModelReply(_message_id(), text, (), usage, "end")


def _window(conversation: Sequence[ChatMessage], plan: Plan) -> Sequence[ChatMessage]:
    """The messages after this run's directive message (the latest user message that has its steps)."""
    for index in range(len(conversation) - 1, -1, -1):
        message = conversation[index]
        if message.role == "user" and tuple(d.line for d in parse_directives(message.content)) == plan.steps:
            return conversation[index + 1 :]
    return conversation


def _step_result(window: Sequence[ChatMessage], step_index: int) -> str | None:
    """The result of the latest tool call made for this step, or None when there is none yet."""
    suffix = f"_s{step_index}"
    call_ids = [c.id for m in window if m.role == "assistant" for c in m.tool_calls if c.id.endswith(suffix)]
    if not call_ids:
        return None
    results = {m.tool_call_id: m.content for m in window if m.role == "tool"}
    return results.get(call_ids[-1])


_FAILED = "The tool call failed: "


def _readable(result: str) -> str:
    """A tool result as a person reads it: a shell command's output and exit code, a file's content,
    search hits, a page's title; the JSON a model reads is only the fallback."""
    failed = result.startswith(_FAILED)
    body = result.removeprefix(_FAILED) if failed else result
    try:
        data = json.loads(body)
    except ValueError:
        data = body
    text = _readable_dict(data) if isinstance(data, dict) else (str(data).strip() or "(empty)")
    return f"Failed: {text}" if failed else text


def _readable_dict(data: dict[str, Any]) -> str:
    if "error" in data:
        return str(data["error"])
    if "exit_code" in data or "output" in data:
        output = str(data.get("output", "")).rstrip("\n")
        status = f"exit code {data['exit_code']}" if data.get("exit_code") is not None else data.get("status")
        return f"Output ({status}):\n{output}" if output else f"No output ({status})."
    if "content" in data and "file" in data:
        return f"{data['file']}:\n{data['content']}"
    if "file" in data and "size" in data:
        return f"Wrote {data['size']} bytes to {data['file']}."
    if isinstance(data.get("results"), list):
        results = [r for r in data["results"] if isinstance(r, dict)]
        hits = [f"- {r.get('title', '')} <{r.get('url', '')}>" for r in results]
        return "\n".join(hits) if hits else "No results."
    if "title" in data or "url" in data:
        return f"{data.get('title', '')} <{data.get('url', '')}>".strip()
    return "\n".join(f"{key}: {value}" for key, value in data.items())


def _preview(text: str) -> str:
    if len(text) <= RESULT_PREVIEW_CHARS:
        return text
    return text[:RESULT_PREVIEW_CHARS] + f" [... {len(text) - RESULT_PREVIEW_CHARS} more characters]"


def _stream(text: str, on_text: TextSink | None, should_stop: StopCheck | None) -> None:
    for start in range(0, len(text), _CHUNK):
        _check(should_stop)
        if on_text is not None:
            on_text(text[start : start + _CHUNK])


def _check(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise ModelError("cancelled", "the model call was cancelled")


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"
