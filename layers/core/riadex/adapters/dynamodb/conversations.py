"""The loop's conversation snapshot of a run: in the run item (zlib-compressed JSON as base64 text), or
in the object store when it outgrows the item (DynamoDB caps an item at 400 KB)."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from riadex.adapters.dynamodb.errors import storage_errors
from riadex.adapters.dynamodb.tables import RunItem

INLINE_BYTES = 64 * 1024


class Bytes(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...


@storage_errors
class DynamoConversationStore:
    def __init__(self, objects: Bytes, inline_bytes: int = INLINE_BYTES) -> None:
        self._objects = objects
        self._inline = inline_bytes

    def load(self, run_id: str) -> dict[str, Any] | None:
        try:
            item = RunItem.get(
                run_id,
                consistent_read=True,
                attributes_to_get=["run_id", "conversation", "conversation_ref"],
            )
        except DoesNotExist:
            return None
        inline: str | None = getattr(item, "conversation", None)
        ref: str | None = getattr(item, "conversation_ref", None)
        if inline is not None:
            packed = base64.b64decode(inline)
        elif ref is not None:
            packed = self._objects.get(ref)
        else:
            return None
        loaded: dict[str, Any] = json.loads(zlib.decompress(packed))
        return loaded

    def save(self, run_id: str, snapshot: dict[str, Any]) -> None:
        packed = zlib.compress(json.dumps(snapshot, separators=(",", ":")).encode(), 1)
        actions: list[Action]
        if len(packed) <= self._inline:
            text = base64.b64encode(packed).decode()
            actions = [RunItem.conversation.set(text), RunItem.conversation_ref.remove()]
        else:
            key = f"runs/{run_id}/conversation.json.z"
            self._objects.put(key, packed, "application/zlib")
            actions = [RunItem.conversation.remove(), RunItem.conversation_ref.set(key)]
        try:
            RunItem(run_id=run_id).update(actions=actions, condition=RunItem.run_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
