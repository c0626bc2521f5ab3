"""Bodies of the sandbox views and file routes (docs/api.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from riadex.entrypoints.http.schemas import StrictBody


class ShellViewIn(StrictBody):
    session_id: str = Field(min_length=1, max_length=128, description="The shell session's name")


class ConsoleEntry(BaseModel):
    ps1: str = ""
    command: str = ""
    output: str = ""


class ShellViewOut(BaseModel):
    output: str
    console: list[ConsoleEntry]


class FileViewIn(StrictBody):
    file: str = Field(min_length=1, max_length=4096, description="Absolute, or relative to the workspace")


class FileViewOut(BaseModel):
    file: str
    content: str


class VncOut(BaseModel):
    url: str
    expires_at: str


class FileOut(BaseModel):
    file_id: str
    name: str
    size: int
    path: str


def console_of(data: dict[str, Any]) -> list[ConsoleEntry]:
    entries = data.get("console") or []
    return [ConsoleEntry.model_validate(e) for e in entries if isinstance(e, dict)]
