from __future__ import annotations

from fastapi import APIRouter

from riadex import __version__
from riadex.entrypoints.http.schemas import Envelope, Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness (no auth)")
def health() -> Envelope[Health]:
    return Envelope(data=Health(version=__version__))
