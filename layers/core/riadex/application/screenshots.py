"""Browser screenshots in the object store: the `tool` event carries a URL its owner can fetch
(`GET /api/v1/sessions/{sid}/screenshots/{id}`), not the image itself."""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from riadex.application.ports import SessionRepository
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import NotFound

PREFIX = "shot"
API_PATH = "/api/v1/sessions/{session_id}/screenshots/{screenshot_id}"


class ScreenshotBlobs(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...


def screenshot_key(session_id: str, screenshot_id: str) -> str:
    return f"sessions/{session_id}/screenshots/{screenshot_id}.png"


class Screenshots:
    def __init__(self, blobs: ScreenshotBlobs) -> None:
        self._blobs = blobs

    def keep(self, session_id: str, png_b64: str) -> dict[str, str]:
        """Store one screenshot; the fields the tool event carries instead of the image."""
        try:
            png = base64.b64decode(png_b64, validate=True)
        except (binascii.Error, ValueError):
            return {"screenshot": "unreadable"}
        screenshot_id = ids.new_id(PREFIX)
        self._blobs.put(screenshot_key(session_id, screenshot_id), png, "image/png")
        return {
            "screenshot_id": screenshot_id,
            "screenshot_url": API_PATH.format(session_id=session_id, screenshot_id=screenshot_id),
        }

    def fetch(self, owner_id: str, session_id: str, screenshot_id: str, sessions: SessionRepository) -> bytes:
        get_owned_session(owner_id, session_id, sessions)
        if not ids.is_valid(screenshot_id, PREFIX):
            raise NotFound("screenshot not found")
        try:
            return self._blobs.get(screenshot_key(session_id, screenshot_id))
        except NotFound:  # the store's answer to a missing key
            raise NotFound("screenshot not found") from None
