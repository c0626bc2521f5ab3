"""FastAPI dependencies: the container and the calling user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from riadex.adapters.auth.cognito import subject_from_scope
from riadex.bootstrap import Container
from riadex.domain.errors import Unauthorized

_bearer = HTTPBearer(
    auto_error=False, description="A token from POST /api/v1/users (local mode) or a Cognito JWT"
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _user_from(request: Request, container: Container, *, query_token: bool) -> str:
    """The owner of everything this request touches.

    Local mode verifies our own HS256 token. Cognito mode trusts only what API Gateway's authorizer put
    in the request context. `?access_token=` is accepted only where `query_token` says so: the streams
    and the VNC URL (browsers' EventSource and WebSocket cannot set headers). It is never logged.
    """
    if container.tokens is None:
        return subject_from_scope(request.scope, request.headers)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            if not credentials:
                raise Unauthorized(
                    "the Authorization header needs the Bearer scheme: 'Authorization: Bearer <token>'"
                )
            raise Unauthorized(
                f"the Authorization header uses the {scheme} scheme; send 'Authorization: Bearer <token>'"
            )
        if not credentials.strip():
            raise Unauthorized("the Authorization header has the Bearer scheme but no token after it")
        return container.tokens.verify(credentials.strip())
    token = request.query_params.get("access_token") if query_token else None
    if not token:
        where = "an 'Authorization: Bearer <token>' header"
        if query_token:
            where += " or ?access_token=<token>"
        elif "access_token" in request.query_params:
            raise Unauthorized(
                "?access_token= is accepted only on event streams and VNC; "
                "send 'Authorization: Bearer <token>'"
            )
        raise Unauthorized(f"missing bearer token: send {where}")
    return container.tokens.verify(token)


# Declared so that the OpenAPI page offers "Authorize"; the header itself is read by `_user_from`.
BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_user_id(request: Request, container: ContainerDep, _: BearerDoc) -> str:
    return _user_from(request, container, query_token=False)


def stream_user_id(request: Request, container: ContainerDep, _: BearerDoc) -> str:
    return _user_from(request, container, query_token=True)


UserId = Annotated[str, Depends(current_user_id)]
StreamUserId = Annotated[str, Depends(stream_user_id)]
