"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.cors import CORSMiddleware

from riadex import __version__
from riadex.adapters import call_record
from riadex.bootstrap import Container
from riadex.config import Settings
from riadex.entrypoints.http import errors
from riadex.entrypoints.http.limits import BodySizeLimit, JsonContentType
from riadex.entrypoints.http.recording import RecordEntry
from riadex.entrypoints.http.routers import files, health, runs, sandbox, sessions, streams, users

API_PREFIX = "/api/v1"
CORS_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID", "Accept"]
CORS_EXPOSED = ["Retry-After", "Content-Disposition", "Location"]


def _add_cors(app: FastAPI, settings: Settings) -> None:
    """Browsers on the allowed origins may call the API; bearer tokens, so no credentials mode.

    Added last, so it is the outermost layer: even a 413 from the body limit carries the headers.
    In AWS the preflights reach this function without the authorizer (template.yaml)."""
    origins = settings.cors_origin_list()
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED,
        max_age=settings.cors_max_age_seconds,
    )


def create_app(container: Container) -> FastAPI:
    # /docs serves Swagger UI's assets from the package (fastapi-offline), not from a CDN: it works offline.
    app = FastAPIOffline(
        title="Riadex",
        version=__version__,
        description="A serverless backend for AI agents: sessions, runs and resumable event streams.",
    )
    app.state.container = container
    errors.install(app)
    settings = container.settings
    upload_cap = (
        min(settings.max_upload_bytes, settings.inline_upload_max_bytes or settings.max_upload_bytes)
        + files.MULTIPART_OVERHEAD_BYTES
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=container.settings.max_body_bytes,
        overrides=[(files.UPLOAD_PATH_PATTERN, upload_cap)],
    )
    app.add_middleware(JsonContentType, exempt=[files.UPLOAD_PATH_PATTERN])
    if call_record.enabled():  # outermost: it sees what the client sent and got
        app.add_middleware(RecordEntry)
    app.include_router(health.router, prefix=API_PREFIX)
    if container.settings.auth_mode == "local":
        app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(sessions.router, prefix=API_PREFIX)
    app.include_router(runs.router, prefix=API_PREFIX)
    app.include_router(streams.router, prefix=API_PREFIX)
    app.include_router(sandbox.router, prefix=API_PREFIX)
    app.include_router(files.router, prefix=API_PREFIX)
    _add_cors(app, container.settings)
    return app


def create_stream_app(container: Container) -> FastAPI:
    """The streaming function's app: the SSE routes only (API Gateway sends the rest to the JSON
    function), so its cold start and its permissions stay small."""
    app = FastAPI(title="Riadex streams", version=__version__, docs_url=None, redoc_url=None)
    app.state.container = container
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(JsonContentType)
    if call_record.enabled():
        app.add_middleware(RecordEntry)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(streams.router, prefix=API_PREFIX)
    _add_cors(app, container.settings)
    return app
