"""`AgentModel` over any `ChatModel`: the prompts and the function-calling protocol of the loop.

- plan: the model must call `submit_plan` ({title, steps}); it sees the other tools too, so it plans
  with what it can do (and so providers that insist on tool definitions when the history holds tool
  calls are satisfied). A model that answers in text instead gets a plan with no steps: the run then
  goes straight to summarize, which is the right thing for a plain question.
- act: the system prompt carries the plan and the current step; the model calls tools, or answers
  without a tool call when the step is done.
- summarize: tool calls are switched off (`tool_choice="none"`); the answer is the final message.
Whenever the conversation ends on an assistant turn a short user nudge is appended, because providers
read a trailing assistant turn as text to continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from riadex.application.agent_model import Plan
from riadex.application.llm import (
    ChatMessage,
    ChatModel,
    ModelReply,
    StopCheck,
    TextSink,
    ToolSpec,
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
    f"`{SUBMIT_PLAN}` with a short title and at most {MAX_STEPS} concrete steps that use the tools. If the "
    "message needs no tool (a greeting, a question you can answer directly), submit an empty list of "
    "steps."
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

_NUDGE = ChatMessage(role="user", content="Continue.")


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
        reply = self.chat.complete(
            _with_system(PLAN_PROMPT, conversation),
            [*tools, SUBMIT_PLAN_SPEC],
            tool_choice=SUBMIT_PLAN,
            should_stop=should_stop,
        )
        call = next((c for c in reply.tool_calls if c.name == SUBMIT_PLAN), None)
        if call is None:
            return Plan(title=_first_line_title(conversation), steps=(), usage=reply.usage)
        title = " ".join(str(call.arguments.get("title", "")).split())[:MAX_TITLE_CHARS]
        return Plan(
            title=title or _first_line_title(conversation),
            steps=_clean_steps(call.arguments.get("steps")),
            usage=reply.usage,
        )

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
        prompt = SUMMARY_PROMPT.format(role=_ROLE, plan=_plan_text(plan))
        reply = self.chat.complete(
            _with_system(prompt, conversation),
            tools,
            tool_choice="none",
            on_text=on_text,
            should_stop=should_stop,
        )
        # A model that calls a tool anyway is not obeyed: the summary is its text alone.
        return ModelReply(reply.message_id, reply.text, (), reply.usage, reply.stop_reason)
