"""Uploads into a session and downloads back out (docs/api.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from riadex.application import files as use
from riadex.application.screenshots import Screenshots
from riadex.domain.errors import InvalidInput
from riadex.entrypoints.http.dependencies import ContainerDep, UserId
from riadex.entrypoints.http.sandbox_schemas import FileOut
from riadex.entrypoints.http.schemas import Envelope

router = APIRouter(prefix="/sessions", tags=["files"])


class UploadRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="The file's name in the session")
    size: int = Field(ge=0, description="Its size in bytes (checked again when the upload completes)")
    content_type: str = Field(default="application/octet-stream", max_length=255)


class UploadTicket(BaseModel):
    upload_id: str
    method: str = "POST"
    url: str
    fields: dict[str, str]
    """Send them as the form fields of a multipart/form-data POST to `url`, the file as the last
    field, `file`; then call `complete`."""
    expires_in: int
    max_bytes: int


UPLOAD_PATH_PATTERN = r"^/api/v1/sessions/[^/]+/files$"
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart boundaries and headers around the largest allowed file."""


@router.post("/{session_id}/files", summary="Upload a file into the session (object store + sandbox)")
async def upload(
    session_id: str,
    user_id: UserId,
    container: ContainerDep,
    file: Annotated[UploadFile, File(description="The file; its part's Content-Type is checked")],
) -> Envelope[FileOut]:
    limit = container.upload_policy.max_bytes
    data = await file.read(limit + 1)
    if not file.filename:
        raise InvalidInput("the upload needs a filename")
    from starlette.concurrency import run_in_threadpool

    stored = await run_in_threadpool(
        use.upload_file,
        user_id,
        session_id,
        file.filename,
        file.content_type or "application/octet-stream",
        data,
        policy=container.upload_policy,
        sessions=container.sessions,
        files=container.files,
        store=container.file_store,
        sandboxes=container.sandboxes,
        start_sandbox=container.settings.upload_starts_sandbox,
    )
    return _file_out(stored)


@router.post(
    "/{session_id}/uploads",
    summary="Start a direct upload of a large file: a presigned POST to the object store",
)
def start_upload(
    session_id: str, body: UploadRequest, user_id: UserId, container: ContainerDep
) -> Envelope[UploadTicket]:
    ticket = use.start_direct_upload(
        user_id,
        session_id,
        body.name,
        body.content_type,
        body.size,
        policy=container.upload_policy,
        sessions=container.sessions,
        store=container.file_store,
        expires_in=container.settings.presign_expires_seconds,
    )
    return Envelope(
        data=UploadTicket(
            upload_id=ticket.upload_id,
            url=ticket.url,
            fields=ticket.fields,
            expires_in=ticket.expires_in,
            max_bytes=ticket.max_bytes,
        )
    )


@router.post(
    "/{session_id}/uploads/{upload_id}/complete",
    summary="Finish a direct upload: the file record, the file placed in the sandbox",
)
def complete_upload(
    session_id: str, upload_id: str, user_id: UserId, container: ContainerDep
) -> Envelope[FileOut]:
    stored = use.complete_direct_upload(
        user_id,
        session_id,
        upload_id,
        policy=container.upload_policy,
        sessions=container.sessions,
        files=container.files,
        store=container.file_store,
        sandboxes=container.sandboxes,
        start_sandbox=container.settings.upload_starts_sandbox,
    )
    return _file_out(stored)


@router.get(
    "/{session_id}/files/{file_id}",
    summary="Download a file of the session",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        307: {"description": "A large file: its presigned URL in the object store, in Location"},
    },
)
def download(session_id: str, file_id: str, user_id: UserId, container: ContainerDep) -> Response:
    found = use.find_file(user_id, session_id, file_id, sessions=container.sessions, files=container.files)
    if found.size > container.settings.download_redirect_bytes:
        # Past what a Lambda response may carry: the client fetches it from the object store.
        url = container.file_store.presign_download(
            found.key, found.name, found.content_type, container.settings.presign_expires_seconds
        )
        return RedirectResponse(url, status_code=307)
    stored, data = use.download_file(
        user_id,
        session_id,
        file_id,
        sessions=container.sessions,
        files=container.files,
        store=container.file_store,
    )
    return Response(
        content=data,
        media_type=stored.content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.name)}"},
    )


@router.get(
    "/{session_id}/screenshots/{screenshot_id}",
    summary="A browser screenshot a tool event points to",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def screenshot(session_id: str, screenshot_id: str, user_id: UserId, container: ContainerDep) -> Response:
    png = Screenshots(container.file_store).fetch(user_id, session_id, screenshot_id, container.sessions)
    return Response(content=png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _file_out(stored: use.StoredFile) -> Envelope[FileOut]:
    return Envelope(
        data=FileOut(file_id=stored.file_id, name=stored.name, size=stored.size, path=stored.path)
    )
