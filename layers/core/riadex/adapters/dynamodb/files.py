"""FileRepository over the files table."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from riadex.adapters.dynamodb.errors import storage_errors
from riadex.adapters.dynamodb.tables import FileItem
from riadex.application.files import StoredFile
from riadex.domain.models import iso


def _of(item: FileItem) -> StoredFile:
    return StoredFile(
        file_id=item.file_id,
        session_id=item.session_id,
        owner_id=item.owner_id,
        name=item.name,
        size=int(item.size),
        content_type=item.content_type,
        key=item.key,
        path=item.path,
        created_at=datetime.fromisoformat(item.created_at.replace("Z", "+00:00")),
        placed=bool(item.placed),
    )


@storage_errors
class DynamoFileRepository:
    def add(self, file: StoredFile) -> None:
        FileItem(
            file_id=file.file_id,
            session_id=file.session_id,
            owner_id=file.owner_id,
            name=file.name,
            size=file.size,
            content_type=file.content_type,
            key=file.key,
            path=file.path,
            created_at=iso(file.created_at),
            placed=file.placed,
        ).save(condition=FileItem.file_id.does_not_exist())

    def mark_placed(self, file_id: str, path: str) -> None:
        FileItem(file_id=file_id).update(
            actions=[FileItem.placed.set(True), FileItem.path.set(path)], condition=FileItem.file_id.exists()
        )

    def get(self, file_id: str) -> StoredFile | None:
        try:
            return _of(FileItem.get(file_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_session(self, session_id: str) -> list[StoredFile]:
        return [_of(item) for item in FileItem.by_session.query(session_id)]

    def delete(self, file_id: str) -> None:
        FileItem(file_id=file_id).delete()
