"""The names the model, the loop and the tool adapters agree on, and the model-side tools' schemas.

A tool (`tool.name` (docs/api.md): shell, file, browser, search, message) groups functions the model calls by
name (`tool.function`). The shell, file and browser schemas belong with the sandbox tool adapters; the
two tools served by the control plane itself, `search` and `message`, are described here.
"""

from __future__ import annotations

from riadex.application.llm import ToolSpec

SHELL = "shell"
FILE = "file"
BROWSER = "browser"
SEARCH = "search"
MESSAGE = "message"

SHELL_EXEC = "shell_exec"
FILE_WRITE = "file_write"
FILE_READ = "file_read"
BROWSER_NAVIGATE = "browser_navigate"
BROWSER_VIEW = "browser_view"
WEB_SEARCH = "web_search"
MESSAGE_ASK_USER = "message_ask_user"
MESSAGE_NOTIFY_USER = "message_notify_user"

DEFAULT_SHELL_SESSION = "default"


def tool_of(function: str) -> str:
    """The tool a function belongs to, by its prefix (`shell_exec` → shell, `web_search` → search)."""
    if function == WEB_SEARCH:
        return SEARCH
    prefix = function.split("_", 1)[0]
    return prefix if prefix in {SHELL, FILE, BROWSER, MESSAGE} else function


WEB_SEARCH_SPEC = ToolSpec(
    name=WEB_SEARCH,
    description=(
        "Search the web. Returns a list of results with title, URL and snippet. Use it to find current "
        "information or pages to open with the browser."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "The search query, as you would type it."},
            "max_results": {
                "type": "integer",
                "minimum": 1,
                "maximum": 20,
                "description": "How many results to return (default 5).",
            },
        },
        "required": ["query"],
    },
)

MESSAGE_ASK_USER_SPEC = ToolSpec(
    name=MESSAGE_ASK_USER,
    description=(
        "Ask the user a question and wait for the answer. Use it only when you cannot go on without "
        "the user's input (a choice, a missing detail, a confirmation)."
    ),
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string", "description": "The question to the user."}},
        "required": ["question"],
    },
)

MESSAGE_NOTIFY_USER_SPEC = ToolSpec(
    name=MESSAGE_NOTIFY_USER,
    description="Tell the user something now (progress, a finding) without waiting for an answer.",
    parameters={
        "type": "object",
        "properties": {"text": {"type": "string", "description": "The message to the user."}},
        "required": ["text"],
    },
)

CONTROL_PLANE_TOOLS: tuple[ToolSpec, ...] = (
    WEB_SEARCH_SPEC,
    MESSAGE_ASK_USER_SPEC,
    MESSAGE_NOTIFY_USER_SPEC,
)
