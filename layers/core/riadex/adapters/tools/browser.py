"""Browser functions: one Chromium per sandbox, driven by the tool server through Playwright."""

from __future__ import annotations

from riadex.adapters.tools.catalog import ToolFunction, integer, string

_INDEX = integer("Index of the interactive element, from the page view's element list")

FUNCTIONS = (
    ToolFunction(
        tool="browser",
        name="browser_navigate",
        description="Open a URL; returns the page title, its text and its interactive elements.",
        properties={"url": string("Absolute URL")},
        required=("url",),
    ),
    ToolFunction(
        tool="browser",
        name="browser_view",
        description="Read the current page: title, text and the indexed list of interactive elements.",
        properties={},
        idempotent=True,
    ),
    ToolFunction(
        tool="browser",
        name="browser_click",
        description="Click an element by index (or at page coordinates).",
        properties={"index": _INDEX, "coordinate_x": integer("X"), "coordinate_y": integer("Y")},
    ),
    ToolFunction(
        tool="browser",
        name="browser_input",
        description="Type text into an input element.",
        properties={"index": _INDEX, "text": string("Text to type"), "press_enter": {"type": "boolean"}},
        required=("index", "text"),
    ),
    ToolFunction(
        tool="browser",
        name="browser_press_key",
        description="Press a key (e.g. Enter, Tab, ArrowDown).",
        properties={"key": string("Key name")},
        required=("key",),
    ),
    ToolFunction(
        tool="browser",
        name="browser_select_option",
        description="Choose an option of a select element.",
        properties={"index": _INDEX, "option": integer("Index of the option")},
        required=("index", "option"),
    ),
    ToolFunction(
        tool="browser",
        name="browser_scroll_up",
        description="Scroll the page up by one screen.",
        properties={},
    ),
    ToolFunction(
        tool="browser",
        name="browser_scroll_down",
        description="Scroll the page down by one screen.",
        properties={},
    ),
    ToolFunction(
        tool="browser",
        name="browser_console_exec",
        description="Run JavaScript in the page and return its result.",
        properties={"javascript": string("JavaScript to evaluate")},
        required=("javascript",),
    ),
    ToolFunction(
        tool="browser",
        name="browser_console_view",
        description="Read the page's console output.",
        properties={},
        idempotent=True,
    ),
    ToolFunction(
        tool="browser",
        name="browser_screenshot",
        description="Take a screenshot of the page (PNG, base64).",
        properties={},
        idempotent=True,
    ),
)

# Not offered to the model: the control plane's own calls (cancel reaches the browser action).
CONTROL_FUNCTIONS = (
    ToolFunction(
        tool="browser",
        name="browser_stop",
        description="Abort the browser action in flight.",
        properties={},
    ),
)
