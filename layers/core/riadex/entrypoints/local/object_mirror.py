"""Write-through for the local object store: each object moto stores is also a file under
`RIADEX_DATA_DIR/objects/<bucket>/<key>`, written (and fsync'd) before moto answers, and removed with
the object. The tables are journaled the same way (journal.py), so an upload's record and its bytes
survive a crash together; `snapshot.save_objects` reconciles the directory at every snapshot and
`snapshot.load_objects` puts the files back into moto at start."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from riadex.entrypoints.local.snapshot import object_path

_mirror: Path | None = None
_installed = False


def mirror_to(directory: Path | None) -> None:
    """Start (a directory) or stop (None) mirroring moto's S3 writes in this process."""
    global _mirror
    _mirror = directory
    if directory is not None:
        _install()


def _install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.models import S3Backend

    put, delete = S3Backend.put_object, S3Backend.delete_object

    @functools.wraps(put)
    def put_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        key = put(self, bucket_name, key_name, *args, **kwargs)
        directory = _mirror
        target = object_path(directory, bucket_name, key_name) if directory is not None else None
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            with open(tmp, "wb") as out:
                out.write(key.value)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        return key

    @functools.wraps(delete)
    def delete_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        result = delete(self, bucket_name, key_name, *args, **kwargs)
        directory = _mirror
        target = object_path(directory, bucket_name, key_name) if directory is not None else None
        if target is not None and target.is_file():
            target.unlink()
        return result

    S3Backend.put_object = put_object  # type: ignore[method-assign]
    S3Backend.delete_object = delete_object  # type: ignore[method-assign]
    _installed = True
