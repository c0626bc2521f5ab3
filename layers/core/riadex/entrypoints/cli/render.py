"""How events look in a terminal (Rich): plan, steps, tool cards, the reply as Markdown, usage."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

MAX_LINES = 40
"""A tool card shows at most this many lines of output; `riadex show --full` shows all."""

STEP_ICONS = {"pending": "○", "running": "◐", "completed": "✓", "failed": "✗"}
STEP_STYLES = {"pending": "dim", "running": "yellow", "completed": "green", "failed": "red"}


def clip(text: str, full: bool = False) -> str:
    lines = text.splitlines()
    if full or len(lines) <= MAX_LINES:
        return text.rstrip("\n")
    hidden = len(lines) - MAX_LINES
    return "\n".join(lines[:MAX_LINES]) + f"\n… {hidden} more lines (riadex show --full)"


def usage_line(data: dict[str, Any]) -> str:
    usage = data.get("usage") or {}
    parts = [
        f"{usage.get('steps', 0)} steps",
        f"{usage.get('tool_calls', 0)} tool calls",
        f"{usage.get('input_tokens', 0):,} input + {usage.get('output_tokens', 0):,} output tokens",
    ]
    return " · ".join(parts)


def plan_table(steps: list[dict[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 1))
    for step in steps:
        status = str(step.get("status", "pending"))
        style = STEP_STYLES.get(status, "")
        table.add_row(
            Text(STEP_ICONS.get(status, "·"), style=style),
            Text(f"{step.get('id')}.", style="dim"),
            Text(str(step.get("description", "")), style=style),
        )
    return Panel(table, title="plan", title_align="left", border_style="blue", expand=False)  # type: ignore[return-value]


def tool_call_line(data: dict[str, Any]) -> Text:
    args = data.get("args") or {}
    function = str(data.get("function", ""))
    name = str(data.get("name", ""))
    if name == "shell" and "command" in args:
        return Text.assemble(("$ ", "bold green"), (str(args["command"]), "bold"))
    if function == "file_write":
        size = len(str(args.get("content", "")))
        return Text.assemble(
            ("✎ write ", "bold magenta"), str(args.get("file", "")), (f"  ({size} chars)", "dim")
        )
    if function == "file_read":
        return Text.assemble(("▤ read ", "bold magenta"), str(args.get("file", "")))
    if name == "search":
        return Text.assemble(("⌕ search ", "bold cyan"), str(args.get("query", "")))
    if name == "message":
        return Text.assemble(("? asks ", "bold yellow"), str(args.get("question") or args.get("text") or ""))
    if name == "browser":
        target = args.get("url") or json.dumps(args, ensure_ascii=False)
        return Text.assemble((f"◎ {function} ", "bold cyan"), str(target))
    return Text.assemble((f"⚙ {function or name} ", "bold"), json.dumps(args, ensure_ascii=False)[:200])


def tool_result(data: dict[str, Any], full: bool = False) -> RenderableType | None:
    content = data.get("content")
    status = data.get("status")
    took = f"{data.get('duration_ms')} ms" if data.get("duration_ms") is not None else ""
    if status == "failed":
        message = content.get("error") if isinstance(content, dict) else content
        return Text(f"  ✗ {data.get('function')} failed: {message}", style="red")
    if not isinstance(content, dict):
        return Text(f"  {content}", style="dim") if content else None
    function = str(data.get("function", ""))
    name = str(data.get("name", ""))
    if name == "message":
        answer = content.get("answer") or content.get("content")
        return Text(f"  answered: {answer}", style="dim") if answer else None
    if name == "shell":
        output = str(content.get("output", ""))
        exit_code = content.get("exit_code")
        subtitle = f"exit {exit_code} · {took}" if exit_code is not None else took
        style = "green" if exit_code in (0, None) else "red"
        return Panel(
            Text(clip(output, full) or "(no output)"),
            subtitle=subtitle,
            subtitle_align="right",
            border_style=style,
        )
    if function == "file_read":
        path = str(content.get("file", ""))
        lexer = Syntax.guess_lexer(path, str(content.get("content", "")))
        body = Syntax(clip(str(content.get("content", "")), full), lexer, word_wrap=True)
        return Panel(body, title=path, title_align="left", border_style="magenta")
    if function == "file_write":
        return Text(f"  wrote {content.get('file')} ({content.get('size', '?')} bytes)", style="dim")
    if name == "search":
        table = Table.grid(padding=(0, 1))
        for item in content.get("results") or []:
            if isinstance(item, dict):
                table.add_row(
                    Text("•"),
                    Text.assemble(
                        (str(item.get("title", "")), "bold"),
                        "\n",
                        (str(item.get("url", "")), "blue underline"),
                    ),
                )
        return table
    if name == "browser":
        parts = [str(content.get(key)) for key in ("title", "url") if content.get(key)]
        shot = content.get("screenshot_url") or content.get("screenshot")
        if shot:
            parts.append(f"screenshot: {shot}")
        return Text("  " + " · ".join(parts), style="dim") if parts else None
    return Text("  " + clip(json.dumps(content, ensure_ascii=False, indent=1), full), style="dim")


class Display:
    """Prints events as they come; while following a run, a live area under them shows the reply being
    written (deltas) and a spinner saying what the run is waiting for."""

    def __init__(self, console: Console, full: bool = False) -> None:
        self.console = console
        self.full = full
        self.live: Live | None = None
        self.status = "waiting for the run to start"
        self.reply = ""
        self.reply_id: str | None = None
        self.shown_plan_for: set[str] = set()

    # --- the live area ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.live is None and self.console.is_terminal:
            self.live = Live(self._area(), console=self.console, refresh_per_second=8, transient=True)
            self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _area(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.reply:
            parts.append(Markdown(self.reply))
        parts.append(Spinner("dots", text=Text(self.status, style="dim")))
        return Group(*parts)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._area())

    def set_status(self, text: str) -> None:
        self.status = text
        self._refresh()

    def note(self, text: str, style: str = "dim") -> None:
        self.console.print(Text(text, style=style))

    # --- events -----------------------------------------------------------------------------------

    def show(self, event: dict[str, Any], stream_deltas: bool = False) -> None:
        kind = event.get("type")
        data = event.get("data") or {}
        if kind == "delta":
            if stream_deltas:
                if data.get("message_id") != self.reply_id:
                    self.reply, self.reply_id = "", data.get("message_id")
                self.reply += str(data.get("text", ""))
                self.status = "writing"
                self._refresh()
            return
        printable = self._printable(event, kind, data)
        if printable is not None:
            self.console.print(printable)
        self._refresh()

    def _printable(self, event: dict[str, Any], kind: Any, data: dict[str, Any]) -> RenderableType | None:
        if kind == "run":
            status = data.get("status")
            self.status = {"queued": "queued", "running": "thinking", "waiting": "waiting for you"}.get(
                str(status), str(status)
            )
            return Text(f"· run {status}", style="dim")
        if kind == "message":
            if data.get("role") == "user":
                return Text.assemble(("you: ", "bold cyan"), str(data.get("content", "")))
            self.reply, self.reply_id = "", None
            self.status = "thinking"
            return Panel(
                Markdown(str(data.get("content", ""))),
                title="riadex",
                title_align="left",
                border_style="cyan",
            )
        if kind == "title":
            return Text(f"━━ {data.get('title')} ━━", style="bold")
        if kind == "plan":
            run_id = str(event.get("run_id"))
            steps = data.get("steps") or []
            finished = all(step.get("status") in ("completed", "failed") for step in steps)
            if run_id in self.shown_plan_for and not finished:
                return None
            self.shown_plan_for.add(run_id)
            return plan_table(steps)
        if kind == "step":
            status = data.get("status")
            if status == "started":
                self.status = f"step {data.get('id')}: {data.get('description')}"
                return Text.assemble(
                    ("▶ ", "yellow"), (f"step {data.get('id')} ", "bold"), str(data.get("description", ""))
                )
            icon, style = ("✓", "green") if status == "completed" else ("✗", "red")
            return Text(f"{icon} step {data.get('id')} {status}", style=style)
        if kind == "tool":
            if data.get("status") == "calling":
                self.status = f"running {data.get('function')}"
                return tool_call_line(data)
            self.status = "thinking"
            return tool_result(data, self.full)
        if kind == "wait" and data.get("reason") == "takeover":
            self.status = "paused: you have the sandbox (resume to hand it back)"
            return Text(
                "⏸ paused: you have taken the sandbox over; resume hands it back", style="bold yellow"
            )
        if kind == "takeover":
            if data.get("status") == "started":
                return Text("· you took the sandbox over", style="yellow")
            note = f": {data['note']}" if data.get("note") else ""
            return Text(f"· you handed the sandbox back{note}", style="yellow")
        if kind == "wait":
            self.status = "waiting for your answer"
            return Text.assemble(("? ", "bold yellow"), (str(data.get("question", "")), "bold"))
        if kind == "sandbox":
            return Text(f"· sandbox {data.get('status')} ({data.get('backend')})", style="dim")
        if kind == "error":
            return Text(f"✗ error {data.get('code')}: {data.get('message')}", style="bold red")
        if kind == "done":
            status = data.get("status")
            style = "bold green" if status == "completed" else "bold red"
            reason = f" ({data['reason']})" if data.get("reason") else ""
            return Text.assemble((f"■ {status}{reason}", style), ("  " + usage_line(data), "dim"))
        return Text(f"· {kind} {json.dumps(data, ensure_ascii=False)}", style="dim")
