"""The sandbox tools as an LLM sees them (OpenAI function calling), and the lookup back to the tool.

The agent loop hands `openai_tools()` to the model; when the model calls `shell_exec`, `function_named`
gives the tool (`shell`) for the `tool` event (docs/api.md) and the path for the tool server.
"""

from __future__ import annotations

from typing import Any

from riadex.adapters.tools import browser, file, shell
from riadex.adapters.tools.catalog import ToolFunction
from riadex.application.llm import ToolSpec

ALL_FUNCTIONS: tuple[ToolFunction, ...] = (*shell.FUNCTIONS, *file.FUNCTIONS, *browser.FUNCTIONS)
_BY_NAME = {function.name: function for function in (*ALL_FUNCTIONS, *browser.CONTROL_FUNCTIONS)}


def function_named(name: str) -> ToolFunction | None:
    return _BY_NAME.get(name)


def openai_tools(tools: tuple[str, ...] = ("shell", "file", "browser")) -> list[dict[str, Any]]:
    """Function-calling schemas for the named tools, in a stable order."""
    return [function.openai_schema() for function in ALL_FUNCTIONS if function.tool in tools]


def tool_specs(tools: tuple[str, ...] = ("shell", "file", "browser")) -> list[ToolSpec]:
    """The same functions as the model-facing ToolSpec of riadex.application.llm (the agent loop's)."""
    return [
        ToolSpec(name=f.name, description=f.description, parameters=f.parameters())
        for f in ALL_FUNCTIONS
        if f.tool in tools
    ]
