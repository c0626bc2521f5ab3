"""Local-auth user registration (`POST /users`, docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass

from riadex.application.ports import TokenIssuer, UserRepository
from riadex.domain import ids
from riadex.domain.errors import InvalidInput
from riadex.domain.models import User, utcnow

MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class Registration:
    user: User
    token: str


def register_user(name: str, users: UserRepository, tokens: TokenIssuer) -> Registration:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"name must be at most {MAX_NAME_CHARS} characters")
    user = User(user_id=ids.new_id("usr"), name=name, created_at=utcnow())
    users.add(user)
    return Registration(user=user, token=tokens.issue(user))
