from __future__ import annotations

from fastapi import APIRouter

from riadex.application.users import register_user
from riadex.domain.errors import NotFound
from riadex.entrypoints.http.dependencies import ContainerDep
from riadex.entrypoints.http.schemas import CreateUser, Envelope, UserOut

router = APIRouter(tags=["users"])


@router.post("/users", summary="Create a user and get a bearer token (AUTH_MODE=local only)")
def create_user(body: CreateUser, container: ContainerDep) -> Envelope[UserOut]:
    if container.tokens is None:
        raise NotFound("not found")
    registration = register_user(body.name, container.users, container.tokens)
    return Envelope(
        data=UserOut(user_id=registration.user.user_id, name=registration.user.name, token=registration.token)
    )
