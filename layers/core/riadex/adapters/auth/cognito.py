"""Cognito mode: API Gateway's authorizer has already verified the JWT; we read the owner from its claims.

The JSON function receives the API Gateway event through Mangum (`scope["aws.event"]`); the streaming
function, behind the Lambda Web Adapter, receives the same request context as the
`x-amzn-request-context` header. Both carry `authorizer.claims.sub`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from riadex.domain.errors import Unauthorized


def subject_from_request_context(context: Mapping[str, Any] | None) -> str:
    authorizer = (context or {}).get("authorizer") or {}
    # Cognito authorizer: claims.sub; the stream routes' Lambda authorizer: its context's sub.
    claims = authorizer.get("claims") or authorizer.get("jwt", {}).get("claims") or authorizer
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("no verified identity on the request")
    return subject


def subject_from_scope(scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    event = scope.get("aws.event")
    if isinstance(event, Mapping):
        return subject_from_request_context(event.get("requestContext"))
    raw = headers.get("x-amzn-request-context")
    if raw:
        try:
            context = json.loads(raw)
        except ValueError:
            raise Unauthorized("no verified identity on the request") from None
        if isinstance(context, dict):
            return subject_from_request_context(context)
    raise Unauthorized("no verified identity on the request")
