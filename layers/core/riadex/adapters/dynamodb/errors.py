"""pynamodb's errors stop here: a repository method that fails on the database raises StorageUnavailable
(retryable), so no use case or entrypoint needs to know which database sits behind the ports."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.exceptions import PynamoDBException

from riadex.domain.errors import StorageUnavailable

C = TypeVar("C", bound=type)


def _translated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except PynamoDBException as exc:
            raise StorageUnavailable(str(exc.msg or exc)) from exc

    return wrapper


def storage_errors(cls: C) -> C:
    """Wrap every public method of a repository class (decorator)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _translated(member))
    return cls
