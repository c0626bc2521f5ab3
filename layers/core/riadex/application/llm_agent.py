"""`AgentModel` over any `ChatModel`: the prompts and the function-calling protocol of the loop.

- plan: the model must call `submit_plan` ({title, steps, tools}); it sees the other tools too, so it plans
  with what it can do (and so providers that insist on tool definitions when the history holds tool
  calls are satisfied). A model that answers in plain text instead gets a plan with no steps: the run
  then goes straight to summarize, which is the right thing for a plain question. What real servers do
  instead is worked around, and said (`Recovery`, shown by the loop as an `error` event with
  `retryable: true`): a plan written as JSON text is read from the text; a server that ignores or
  refuses the forced `tool_choice` (an ordinary tool call, nothing at all, or a 400) is asked again
  with the JSON format in the prompt; if that fails too, the plan is one step, the request itself.
- act: the system prompt carries the plan and the current step; the model calls tools, or answers
  without a tool call when the step is done.
- summarize: tool calls are switched off (`tool_choice="none"`); the answer is the final message. A
  reply with no text (or only tool calls) is asked for once more, in so many words; the loop fails the
  run if it is still empty — a run never completes without a reply.
Whenever the conversation ends on an assistant turn a short user nudge is appended, because providers
read a trailing assistant turn as text to continue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from riadex.application import tool_catalog as tc
from riadex.application.agent_model import Plan
from riadex.application.llm import (
    ChatMessage,
    ChatModel,
    ModelError,
    ModelReply,
    Recovery,
    StopCheck,
    TextSink,
    ToolSpec,
    Usage,
)

SUBMIT_PLAN = "submit_plan"
MAX_STEPS = 12
MAX_TITLE_CHARS = 80

SUBMIT_PLAN_SPEC = ToolSpec(
    name=SUBMIT_PLAN,
    description="Submit the plan for the user's latest request: a short title and the steps to carry out.",
    parameters={
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "A short title for the conversation (≤ 8 words)."},
            "steps": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_STEPS,
                "description": "The steps, in order, each one sentence. Empty when a direct answer suffices.",
            },
            "tools": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The names of the tools the steps will call (empty when none).",
            },
        },
        "required": ["title", "steps"],
    },
)

_ROLE = (
    "You are Riadex, an agent that does real work for the user on a private Linux sandbox: a shell, "
    "files in the workspace, a web browser, web search, and messages to the user. Be concise and "
    "factual; never invent tool results."
)

PLAN_PROMPT = (
    f"{_ROLE}\n\nRead the conversation and plan how to answer the user's latest message. Call "
    f"`{SUBMIT_PLAN}` with a short title, at most {MAX_STEPS} concrete steps that use the tools, and the "
    "names of the tools they will call. If the message needs no tool (a greeting, a question you can "
    "answer directly), submit empty lists."
)

ACT_PROMPT = (
    "{role}\n\nThe plan:\n{plan}\n\nYou are on step {number} of {total}: {step}\n\nCall the tools this step "
    "needs, one move at a time, and read their results. When the step is done (or cannot be done), "
    "answer with one short sentence saying what was achieved, and no tool call. Ask the user only when "
    "you cannot go on without them."
)

SUMMARY_PROMPT = (
    "{role}\n\nThe plan:\n{plan}\n\nThe work is finished. Write the final answer to the user's latest "
    "message: what was done and what came out of it, quoting the results that matter (file contents, "
    "command output, facts found). Do not call tools."
)

PLAN_JSON_PROMPT = (
    f"{_ROLE}\n\nRead the conversation and plan how to answer the user's latest message, in at most "
    f"{MAX_STEPS} concrete steps that use the tools (none if a direct answer suffices). Do not call any "
    "tool now. Answer with only a JSON object: "
    '{"title": "<a short title>", "steps": ["<step>", ...], "tools": ["<tool name>", ...]}'
)

_NUDGE = ChatMessage(role="user", content="Continue.")
_SAY_IT = ChatMessage(
    role="user", content="Write your final answer to me now, as plain text, without calling any tool."
)


def _plan_text(plan: Plan) -> str:
    if not plan.steps:
        return "(no steps: answer directly)"
    return "\n".join(f"{number}. {step}" for number, step in enumerate(plan.steps, start=1))


def _with_system(prompt: str, conversation: Sequence[ChatMessage]) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content=prompt), *conversation]
    if messages[-1].role in {"assistant", "system"}:
        messages.append(_NUDGE)
    return messages


def _first_line_title(conversation: Sequence[ChatMessage]) -> str:
    users = [m.content for m in conversation if m.role == "user"]
    return " ".join((users[0] if users else "").split())[:40]


def _clean_steps(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    steps = [" ".join(str(item).split()) for item in raw]
    return tuple(step for step in steps if step)[:MAX_STEPS]


class LLMAgentModel:
    def __init__(self, chat: ChatModel) -> None:
        self.chat = chat
        self.provider = chat.provider
        self.model = chat.model

    def plan(
        self,
        conversation: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        should_stop: StopCheck | None = None,
    ) -> Plan:
        fallback_title = _first_line_title(conversation)
        try:
            reply = self.chat.complete(
                _with_system(PLAN_PROMPT, conversation),
                [*tools, SUBMIT_PLAN_SPEC],
                tool_choice=SUBMIT_PLAN,
                should_stop=should_stop,
            )
        except ModelError as exc:
            if exc.kind != "invalid_request":
                raise
            why = Recovery(
                "tool_choice_unsupported",
                f"the provider refused a forced tool choice ({exc.message[:200]}); the plan was asked "
                "for in the prompt",
            )
            return self._plan_in_prompt(conversation, tools, (why,), Usage(), should_stop)
        call = next((c for c in reply.tool_calls if c.name == SUBMIT_PLAN), None)
        if call is not None:
            return _plan_of(call.arguments, fallback_title, reply.usage)
        parsed = _json_plan(reply.text)
        if parsed is not None:
            why = Recovery("plan_as_text", "the model wrote its plan as text instead of calling submit_plan")
            return _plan_of(parsed, fallback_title, reply.usage, (why,))
        if reply.text.strip() and not reply.tool_calls:
            return Plan(title=fallback_title, steps=(), usage=reply.usage)  # a direct answer
        called = ", ".join(c.name for c in reply.tool_calls) or "nothing"
        why = Recovery(
            "plan_in_prompt",
            f"the model did not call submit_plan (it called {called}); the plan was asked for in the prompt",
        )
        return self._plan_in_prompt(conversation, tools, (why,), reply.usage, should_stop)

    def _plan_in_prompt(
        self,
        conversation: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        why: tuple[Recovery, ...],
        usage: Usage,
        should_stop: StopCheck | None,
    ) -> Plan:
        """The plan asked for as JSON in the prompt (no forced tool choice); failing that, one step:
        the user's request itself, so the model works on it with the tools."""
        reply = self.chat.complete(
            _with_system(PLAN_JSON_PROMPT, conversation), tools, tool_choice="auto", should_stop=should_stop
        )
        usage = usage + reply.usage
        title = _first_line_title(conversation)
        parsed = _json_plan(reply.text)
        if parsed is not None:
            return _plan_of(parsed, title, usage, why)
        step = _latest_request(conversation)
        fallback = Recovery(
            "plan_fallback", "the model gave no plan in any form; the request itself is the one step"
        )
        return Plan(title=title, steps=(step,), usage=usage, recovered=(*why, fallback))

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
        prompt = ACT_PROMPT.format(
            role=_ROLE,
            plan=_plan_text(plan),
            number=step_index + 1,
            total=len(plan.steps),
            step=plan.steps[step_index],
        )
        return self.chat.complete(
            _with_system(prompt, conversation),
            tools,
            tool_choice="auto",
            on_text=on_text,
            should_stop=should_stop,
        )

    def summarize(
        self,
        conversation: Sequence[ChatMessage],
        plan: Plan,
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        messages = _with_system(SUMMARY_PROMPT.format(role=_ROLE, plan=_plan_text(plan)), conversation)
        reply = self.chat.complete(
            messages, tools, tool_choice="none", on_text=on_text, should_stop=should_stop
        )
        if reply.text.strip():
            # A model that calls a tool anyway is not obeyed: the summary is its text alone.
            return ModelReply(reply.message_id, reply.text, (), reply.usage, reply.stop_reason)
        if reply.tool_calls:
            names = ", ".join(c.name for c in reply.tool_calls)
            why = Recovery(
                "summary_tool_calls", f"the model called {names} instead of answering; asked again"
            )
        else:
            why = Recovery("empty_reply", "the model's final answer was empty; asked again")
        again = self.chat.complete(
            [*messages, _SAY_IT], tools, tool_choice="none", on_text=on_text, should_stop=should_stop
        )
        usage = reply.usage + again.usage
        return ModelReply(again.message_id, again.text, (), usage, again.stop_reason, (why,))


def _plan_of(
    raw: dict[str, Any], fallback_title: str, usage: Usage, recovered: tuple[Recovery, ...] = ()
) -> Plan:
    title = " ".join(str(raw.get("title", "")).split())[:MAX_TITLE_CHARS]
    return Plan(
        title=title or fallback_title,
        steps=_clean_steps(raw.get("steps")),
        usage=usage,
        recovered=recovered,
        tools=_tools(raw.get("tools")),
    )


def _tools(raw: Any) -> frozenset[str] | None:
    """The tools a plan names (`shell_exec` or `shell` → shell); None when it names none in a list."""
    if not isinstance(raw, list):
        return None
    return frozenset(tc.tool_of(str(name).strip()) for name in raw if str(name).strip())


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _json_plan(text: str) -> dict[str, Any] | None:
    """A plan written as JSON text ({"title", "steps"}), bare or in a ``` fence; None if there is none."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("steps"), list):
            return value
    return None


def _latest_request(conversation: Sequence[ChatMessage]) -> str:
    users = [m.content for m in conversation if m.role == "user"]
    text = " ".join((users[-1] if users else "Answer the user").split())
    return text[:300]
