"""Rights: every AWS call the scenarios made is allowed by the policies of the function the template
maps its entry point to (template.yaml as SAM translates it; docs/least-privilege.md is the reverse)."""

from __future__ import annotations

from tests.template.analysis import rights
from tests.template.deployed import Deployed
from tests.template.recording import Naming, Recording


def test_every_recorded_call_is_allowed_for_its_function(
    stack: Deployed, recording: Recording, naming: Naming
) -> None:
    result = rights(stack, recording, naming)
    assert result.used, "the recording holds no call made by a function's entry point"
    denied = sorted({f"{u.function} ({u.entry}): {u.action} on {u.resource}" for u in result.denied})
    assert not denied, "the deployed functions would be denied:\n" + "\n".join(denied)


def test_every_entry_point_that_calls_aws_is_a_function_of_the_template(
    stack: Deployed, recording: Recording, naming: Naming
) -> None:
    """A call from a route or task no function serves would go unchecked."""
    result = rights(stack, recording, naming)
    local_only = {e: n for e, n in result.unmapped.items() if not e.startswith("http ")}
    assert not local_only, f"task or scheduled entry points no function handles: {local_only}"
    # Local-only HTTP routes (the API docs) make no AWS call.
    assert not result.unmapped, (
        f"routes API Gateway does not route, yet they call AWS: {dict(result.unmapped)}"
    )
