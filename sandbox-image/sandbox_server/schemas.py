"""Request bodies: pydantic validates them, so a wrong field is a 400 naming it, never a 500."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    # Each model's validator is built on its first use, not at import: an idle sandbox that never
    # sees a browser call never pays for the browser's models (docs/sandboxes.md).
    model_config = ConfigDict(defer_build=True)


class Claim(Body):
    secret_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    """The session's bearer secret, as its SHA-256 in lowercase hex (the server keeps no more)."""


class ShellExec(Body):
    session_id: str
    command: str = Field(min_length=1)
    exec_dir: str | None = None
    timeout: float = Field(default=30.0, ge=0, le=3600)
    wait: bool = True
    allow_outside: bool = False


class ShellRef(Body):
    session_id: str


class ShellWait(Body):
    session_id: str
    timeout: float = Field(default=30.0, ge=0, le=3600)


class ShellWrite(Body):
    session_id: str
    input: str
    press_enter: bool = True


class FileRead(Body):
    file: str
    start_line: int | None = None
    end_line: int | None = None
    sudo: bool = False
    allow_outside: bool = False


class FileWrite(Body):
    file: str
    content: str
    append: bool = False
    leading_newline: bool = False
    trailing_newline: bool = False
    allow_outside: bool = False


class FileReplace(Body):
    file: str
    old_str: str
    new_str: str
    allow_outside: bool = False


class FileFind(Body):
    path: str
    glob: str
    allow_outside: bool = False


class FileSearch(Body):
    file: str | None = None
    path: str | None = None
    regex: str
    glob: str = "**/*"
    allow_outside: bool = False


class BrowserAction(Body):
    timeout: float = Field(default=30.0, gt=0, le=300)
    screenshot: bool = False


class Navigate(BrowserAction):
    url: str = Field(min_length=1)


class Point(BrowserAction):
    coordinate_x: float | None = None
    coordinate_y: float | None = None


class Click(Point):
    index: int | None = None


class Input(Click):
    text: str
    press_enter: bool = False


class MoveMouse(BrowserAction):
    coordinate_x: float
    coordinate_y: float


class PressKey(BrowserAction):
    key: str = Field(min_length=1)


class SelectOption(BrowserAction):
    index: int
    option: int | str


class ScrollUp(BrowserAction):
    to_top: bool = False


class ScrollDown(BrowserAction):
    to_bottom: bool = False


class Screenshot(BrowserAction):
    full_page: bool = False


class ConsoleExec(BrowserAction):
    javascript: str = Field(min_length=1)


class ConsoleView(Body):
    max_lines: int = Field(default=100, ge=1, le=1000)
