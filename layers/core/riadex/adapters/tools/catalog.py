"""One tool function: its wire path on the tool server and the schema an LLM sees.

The tool server's routes are `/<tool>/<action>`; an LLM function is named `<tool>_<action>` (the
tool event carries both: `name` = the tool, `function` = the function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolFunction:
    tool: str
    name: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...] = ()
    idempotent: bool = False
    """Safe to resend after a transport error (reads). Writes and commands are sent once."""
    timeout_arg: str | None = None
    """The argument holding the function's own timeout in seconds, so the HTTP call outlasts it."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/{self.tool}/{self.name.removeprefix(self.tool + '_')}"

    def parameters(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.properties,
            "required": list(self.required),
            "additionalProperties": False,
        }

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters()},
        }


def string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


def boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}
