"""Uploads into a session and downloads back out (docs/api.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response

from riadex.application import files as use
from riadex.domain.errors import InvalidInput
from riadex.entrypoints.http.dependencies import ContainerDep, UserId
from riadex.entrypoints.http.sandbox_schemas import FileOut
from riadex.entrypoints.http.schemas import Envelope

router = APIRouter(prefix="/sessions", tags=["files"])

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
    return Envelope(
        data=FileOut(file_id=stored.file_id, name=stored.name, size=stored.size, path=stored.path)
    )


@router.get(
    "/{session_id}/files/{file_id}",
    summary="Download a file of the session",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(session_id: str, file_id: str, user_id: UserId, container: ContainerDep) -> Response:
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
