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
from urllib.parse import quote, unquote

from riadex.application.ports import SessionRepository
from riadex.application.sandbox_ports import ToolGateway
from riadex.application.sandboxes import Sandboxes
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    TooLarge,
    UnsupportedType,
)
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


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str
    metadata: dict[str, str]


class FileStore(Protocol):
    """Where the bytes of session files live (S3): durable, unlike a sandbox's workspace."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, keys: list[str]) -> None: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def presign_upload(
        self, key: str, content_type: str, max_bytes: int, metadata: dict[str, str], expires_in: int
    ) -> tuple[str, dict[str, str]]: ...

    def presign_download(self, key: str, filename: str, content_type: str, expires_in: int) -> str: ...

    def delete_prefix(self, prefix: str) -> int: ...


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


@dataclass(frozen=True)
class DirectUpload:
    """Where to send a large file's bytes: a presigned POST straight to the object store."""

    upload_id: str
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int


def _direct_key(session_id: str, file_id: str) -> str:
    return f"sessions/{session_id}/files/{file_id}/content"


def _file_id_of(upload_id: str) -> str:
    if not ids.is_valid(upload_id, "upl"):
        raise NotFound("upload not found")
    return "fil_" + upload_id.removeprefix("upl_")


def start_direct_upload(
    owner_id: str,
    session_id: str,
    name: str,
    content_type: str,
    size: int,
    *,
    policy: UploadPolicy,
    sessions: SessionRepository,
    store: FileStore,
    expires_in: int,
) -> DirectUpload:
    """A file too large for the API's payload limits (Lambda: 6 MB) goes to the object store directly.

    Nothing is written here: the upload id names the object's key, the declared name travels as the
    object's metadata, and `complete_direct_upload` checks what actually arrived."""
    get_owned_session(owner_id, session_id, sessions)
    name = safe_name(name)
    content_type = content_type or "application/octet-stream"
    policy.check(size, content_type)
    upload_id = ids.new_id("upl")
    url, fields = store.presign_upload(
        _direct_key(session_id, _file_id_of(upload_id)),
        content_type,
        policy.max_bytes,
        {"name": quote(name)},
        expires_in,
    )
    return DirectUpload(upload_id, url, fields, expires_in, policy.max_bytes)


def complete_direct_upload(
    owner_id: str,
    session_id: str,
    upload_id: str,
    *,
    policy: UploadPolicy,
    sessions: SessionRepository,
    files: FileRepository,
    store: FileStore,
    sandboxes: Sandboxes,
    start_sandbox: bool = True,
) -> StoredFile:
    """The file record of a direct upload, once its bytes are in the object store (idempotent), placed
    in the sandbox like a multipart upload. What arrived is checked again: over the size or of a type
    not accepted, the object is deleted and the upload refused."""
    get_owned_session(owner_id, session_id, sessions)
    file_id = _file_id_of(upload_id)
    existing = files.get(file_id)
    if existing is not None:
        if existing.session_id != session_id or existing.owner_id != owner_id:
            raise NotFound("upload not found")
        return existing
    key = _direct_key(session_id, file_id)
    info = store.head(key)
    if info is None:
        raise Conflict("nothing has been uploaded for this upload id yet (or it expired)")
    try:
        policy.check(info.size, info.content_type)
        name = safe_name(unquote(info.metadata.get("name", "")))
    except DomainError:
        store.delete([key])
        raise
    stored = StoredFile(
        file_id=file_id,
        session_id=session_id,
        owner_id=owner_id,
        name=name,
        size=info.size,
        content_type=info.content_type,
        key=key,
        path=f"{UPLOAD_DIR}/{name}",
        created_at=utcnow(),
        placed=False,
    )
    if not start_sandbox and not sandboxes.is_ready(session_id):
        files.add(stored)
        return stored
    placed = sandboxes.upload(session_id, owner_id, stored.path, name, store.get(key))
    stored = replace(stored, path=str(placed.get("file") or stored.path), placed=True)
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


def find_file(
    owner_id: str, session_id: str, file_id: str, *, sessions: SessionRepository, files: FileRepository
) -> StoredFile:
    get_owned_session(owner_id, session_id, sessions)
    stored = files.get(file_id) if ids.is_valid(file_id, "fil") else None
    if stored is None or stored.session_id != session_id or stored.owner_id != owner_id:
        raise NotFound("file not found")
    return stored


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
    """Remove a session's objects (session delete): every object under its prefix (files, direct
    uploads never completed, the large tool outputs), then the file records."""
    found = files.list_for_session(session_id)
    store.delete_prefix(f"sessions/{session_id}/")
    for stored in found:
        files.delete(stored.file_id)
