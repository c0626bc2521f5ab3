"""Files in and out of a session: the object store keeps the bytes, the sandbox gets a working copy.

The object store copy is the durable one: a sandbox is reaped when idle and its workspace goes with
it, while an uploaded file stays downloadable for the session's life.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import posixpath
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from riadex.application.ports import SessionRepository
from riadex.application.sandbox_ports import ToolGateway
from riadex.application.sandboxes import Sandboxes
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import InvalidInput, NotFound, TooLarge, UnsupportedType
from riadex.domain.models import utcnow
from riadex.domain.sandboxes import SandboxHandle

UPLOAD_DIR = "uploads"
MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    session_id: str
    owner_id: str
    name: str
    size: int
    content_type: str
    key: str
    path: str
    created_at: datetime
    placed: bool = True
    """False while the file waits for the session's sandbox (see `upload_file`)."""


class FileStore(Protocol):
    """Where the bytes of session files live (S3): durable, unlike a sandbox's workspace."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, keys: list[str]) -> None: ...


class FileRepository(Protocol):
    def add(self, file: StoredFile) -> None: ...

    def mark_placed(self, file_id: str, path: str) -> None: ...

    def get(self, file_id: str) -> StoredFile | None: ...

    def list_for_session(self, session_id: str) -> list[StoredFile]: ...

    def delete(self, file_id: str) -> None: ...


@dataclass(frozen=True)
class UploadPolicy:
    max_bytes: int
    content_types: list[str]
    """Allowed types; `text/*` style wildcards."""

    def check(self, size: int, content_type: str) -> None:
        if size > self.max_bytes:
            raise TooLarge(f"the file is larger than {self.max_bytes} bytes", {"max_bytes": self.max_bytes})
        kind = content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
        if not any(fnmatch.fnmatchcase(kind, pattern) for pattern in self.content_types):
            raise UnsupportedType(f"content type {kind} is not accepted", {"accepted": self.content_types})


def safe_name(name: str) -> str:
    """The file's own name, without directories, usable as a path component."""
    base = posixpath.basename(name.replace("\\", "/")).strip()
    if not base or base in (".", "..") or len(base) > MAX_NAME_CHARS or "\x00" in base:
        raise InvalidInput("the file needs a name of 1 to 255 characters")
    return base


def upload_file(
    owner_id: str,
    session_id: str,
    name: str,
    content_type: str,
    data: bytes,
    *,
    policy: UploadPolicy,
    sessions: SessionRepository,
    files: FileRepository,
    store: FileStore,
    sandboxes: Sandboxes,
    start_sandbox: bool = True,
) -> StoredFile:
    """Keep the file and put it in the session's sandbox.

    With `start_sandbox` (local backends start in well under a second) a session without a sandbox
    gets one now. Without it (Fargate: 45-90 s, far past API Gateway's 29 s) the file is placed at once
    only if the sandbox is ready; otherwise it waits, and `place_pending` puts it in the workspace as
    soon as the session's sandbox is ready. Either way the path is where the tools will find it.
    """
    get_owned_session(owner_id, session_id, sessions)
    policy.check(len(data), content_type)
    name = safe_name(name)
    target = f"{UPLOAD_DIR}/{name}"
    stored = _stored(
        owner_id, session_id, name, content_type or "application/octet-stream", data, target, store
    )
    stored = replace(stored, placed=False)
    if not start_sandbox and not sandboxes.is_ready(session_id):
        files.add(stored)
        return stored
    placed = sandboxes.upload(session_id, owner_id, target, name, data)
    stored = replace(stored, path=str(placed.get("file") or target), placed=True)
    files.add(stored)
    return stored


def place_pending(
    session_id: str, handle: SandboxHandle, *, files: FileRepository, store: FileStore, tools: ToolGateway
) -> list[str]:
    """Put the session's waiting uploads into its sandbox, which has just become ready."""
    placed: list[str] = []
    for stored in files.list_for_session(session_id):
        if stored.placed:
            continue
        result = tools.upload(handle, stored.path, stored.name, store.get(stored.key))
        files.mark_placed(stored.file_id, str(result.get("file") or stored.path))
        placed.append(stored.file_id)
    return placed


def export_file(
    owner_id: str,
    session_id: str,
    path: str,
    *,
    policy: UploadPolicy,
    sessions: SessionRepository,
    files: FileRepository,
    store: FileStore,
    sandboxes: Sandboxes,
) -> StoredFile:
    """Keep a file the agent wrote in the sandbox: copied to the object store, downloadable like an
    upload, and still there after the sandbox is reaped. Never starts a sandbox (409 without one)."""
    get_owned_session(owner_id, session_id, sessions)
    name = safe_name(path)
    data = sandboxes.fetch(session_id, path)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if len(data) > policy.max_bytes:
        raise TooLarge(f"the file is larger than {policy.max_bytes} bytes", {"max_bytes": policy.max_bytes})
    stored = _stored(owner_id, session_id, name, content_type, data, path, store)
    files.add(stored)
    return stored


def _stored(
    owner_id: str, session_id: str, name: str, content_type: str, data: bytes, path: str, store: FileStore
) -> StoredFile:
    """The bytes put in the object store under a new file id, and the record that points at them."""
    file_id = ids.new_id("fil")
    key = f"sessions/{session_id}/files/{file_id}/{name}"
    store.put(key, data, content_type)
    return StoredFile(
        file_id=file_id,
        session_id=session_id,
        owner_id=owner_id,
        name=name,
        size=len(data),
        content_type=content_type,
        key=key,
        path=path,
        created_at=utcnow(),
    )


def download_file(
    owner_id: str,
    session_id: str,
    file_id: str,
    *,
    sessions: SessionRepository,
    files: FileRepository,
    store: FileStore,
) -> tuple[StoredFile, bytes]:
    get_owned_session(owner_id, session_id, sessions)
    stored = files.get(file_id) if ids.is_valid(file_id, "fil") else None
    if stored is None or stored.session_id != session_id or stored.owner_id != owner_id:
        raise NotFound("file not found")
    return stored, store.get(stored.key)


def delete_session_files(session_id: str, files: FileRepository, store: FileStore) -> None:
    """Remove a session's files (session delete): bytes first, then the records that point at them."""
    found = files.list_for_session(session_id)
    if found:
        store.delete([f.key for f in found])
    for stored in found:
        files.delete(stored.file_id)
