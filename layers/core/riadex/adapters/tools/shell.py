"""Shell functions: named persistent shell sessions in the sandbox."""

from __future__ import annotations

from riadex.adapters.tools.catalog import ToolFunction, boolean, integer, string

_SESSION = string("Name of the shell session; the same name keeps its working directory and history")

FUNCTIONS = (
    ToolFunction(
        tool="shell",
        name="shell_exec",
        description="Run a shell command in a named shell session of the sandbox and return its console.",
        properties={
            "session_id": _SESSION,
            "command": string("The command line to run (bash)"),
            "exec_dir": string("Directory to run in; relative paths resolve against the workspace"),
            "timeout": integer("Seconds to wait for the command before returning what it printed so far"),
            "wait": boolean("Wait for the command to finish (default true); false returns at once"),
        },
        required=("session_id", "command"),
        timeout_arg="timeout",
    ),
    ToolFunction(
        tool="shell",
        name="shell_view",
        description="Show the console (commands and output) of a shell session.",
        properties={"session_id": _SESSION},
        required=("session_id",),
        idempotent=True,
    ),
    ToolFunction(
        tool="shell",
        name="shell_wait",
        description="Wait for the running command of a shell session to finish.",
        properties={"session_id": _SESSION, "timeout": integer("Seconds to wait at most")},
        required=("session_id",),
        timeout_arg="timeout",
    ),
    ToolFunction(
        tool="shell",
        name="shell_write",
        description="Write text to the standard input of the command running in a shell session.",
        properties={
            "session_id": _SESSION,
            "input": string("Text to send"),
            "press_enter": boolean("Send a newline after the text"),
        },
        required=("session_id", "input"),
    ),
    ToolFunction(
        tool="shell",
        name="shell_kill",
        description="Kill the command running in a shell session (its whole process group).",
        properties={"session_id": _SESSION},
        required=("session_id",),
    ),
)
