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


def current_user_id(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The owner of everything this request touches.

    Local mode verifies our own HS256 token. Cognito mode trusts only what API Gateway's authorizer put
    in the request context. SSE clients (EventSource) cannot set headers, so `?access_token=` is
    accepted as well; it is never logged.
    """
    if container.tokens is None:
        return subject_from_scope(request.scope, request.headers)
    token = credentials.credentials if credentials else request.query_params.get("access_token")
    if not token:
        raise Unauthorized("missing bearer token")
    return container.tokens.verify(token)


UserId = Annotated[str, Depends(current_user_id)]
