"""A session's workspace outlives its sandbox: saved to the object store when the sandbox is reaped
and after the steps that changed it, restored into the session's next sandbox (a replaced one too).

One object per session (`sessions/<id>/workspace.tar.gz`), its metadata holding the stamp it was
made at (so an unchanged workspace is not saved again) and its size. Above `max_bytes`
(SANDBOX_WORKSPACE_MAX_BYTES) nothing is saved — the last save that fitted stays — and the
`sandbox` event says `{"action": "skipped", "bytes", "reason"}`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from riadex.application.sandbox_ports import WorkspaceBlobs, WorkspaceTransfer
from riadex.domain.errors import TooLarge
from riadex.domain.sandboxes import SandboxHandle

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/gzip"


def workspace_key(session_id: str) -> str:
    return f"sessions/{session_id}/workspace.tar.gz"


@dataclass
class Workspaces:
    transfer: WorkspaceTransfer
    blobs: WorkspaceBlobs
    max_bytes: int = 1024 * 1024 * 1024

    def _skipped(self, size: int) -> dict[str, Any]:
        return {
            "action": "skipped",
            "bytes": size,
            "reason": f"the workspace is over SANDBOX_WORKSPACE_MAX_BYTES ({self.max_bytes} bytes): "
            "not saved, the last save that fitted is kept",
        }

    def save(self, session_id: str, handle: SandboxHandle) -> dict[str, Any] | None:
        """Save the sandbox's workspace if it changed since the last save; the `workspace` field of a
        `sandbox` event, or None when there was nothing to do."""
        key = workspace_key(session_id)
        current = self.transfer.stamp(handle)
        saved = self.blobs.head(key)
        if saved is not None and saved.metadata.get("stamp") == current.get("stamp"):
            return None
        if saved is None and not current.get("files"):
            return None  # never saved and still empty: nothing to keep
        size = int(current.get("bytes", 0))
        if size > self.max_bytes:
            return self._skipped(size)
        try:
            data, stamp, size = self.transfer.archive(handle, self.max_bytes)
        except TooLarge:
            return self._skipped(size)
        self.blobs.put(key, data, CONTENT_TYPE, metadata={"stamp": stamp, "bytes": str(size)})
        return {"action": "saved", "bytes": size}

    def restore(self, session_id: str, handle: SandboxHandle) -> dict[str, Any] | None:
        """Put the session's last saved workspace into a new sandbox; None when it never had one."""
        key = workspace_key(session_id)
        saved = self.blobs.head(key)
        if saved is None:
            return None
        self.transfer.restore(handle, self.blobs.get(key))
        return {"action": "restored", "bytes": int(saved.metadata.get("bytes", saved.size))}

    def forget(self, session_id: str) -> None:
        self.blobs.delete([workspace_key(session_id)])
