"""File functions: read, write, replace, find and search inside the sandbox workspace."""

from __future__ import annotations

from riadex.adapters.tools.catalog import ToolFunction, boolean, integer, string

_FILE = string("Path of the file; a relative path resolves against the sandbox workspace")

FUNCTIONS = (
    ToolFunction(
        tool="file",
        name="file_read",
        description="Read a text file, optionally a range of lines.",
        properties={
            "file": _FILE,
            "start_line": integer("First line to read (0-based)"),
            "end_line": integer("Line to stop before"),
        },
        required=("file",),
        idempotent=True,
    ),
    ToolFunction(
        tool="file",
        name="file_write",
        description="Write text to a file (creating directories), or append to it.",
        properties={"file": _FILE, "content": string("Text to write"), "append": boolean("Append instead")},
        required=("file", "content"),
    ),
    ToolFunction(
        tool="file",
        name="file_replace",
        description="Replace a string in a file.",
        properties={"file": _FILE, "old_str": string("Exact text to find"), "new_str": string("Replacement")},
        required=("file", "old_str", "new_str"),
    ),
    ToolFunction(
        tool="file",
        name="file_find",
        description="Find files by glob pattern under a directory.",
        properties={"path": string("Directory to search in"), "glob": string("Glob pattern, e.g. **/*.py")},
        required=("path", "glob"),
        idempotent=True,
    ),
    ToolFunction(
        tool="file",
        name="file_search",
        description="Search a file, or every file under a directory, with a regular expression.",
        properties={
            "file": _FILE,
            "path": string("A directory to search recursively instead of one file"),
            "regex": string("Python regular expression"),
            "glob": string("With path: only files matching this glob (default **/*)"),
        },
        required=("regex",),
        idempotent=True,
    ),
)
