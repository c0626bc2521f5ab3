"""Lambda REQUEST authorizer for the SSE routes: a Cognito JWT from the header or `?access_token=`."""

from typing import Any

from riadex.config import get_settings
from riadex.entrypoints.authorizer import authorize, build_verifier
from riadex.entrypoints.observability import instrument

_verifier = build_verifier(get_settings())


def _authorize(event: dict[str, Any], context: object) -> dict[str, Any]:
    return authorize(event, _verifier)


handler = instrument("authorizer", _authorize)
