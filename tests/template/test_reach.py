"""Reach: every function whose code called a sandbox's tool server in the scenarios sits in the VPC, in
a security group the sandbox's group admits on the tool port, in the sandboxes' subnets."""

from __future__ import annotations

from tests.template.analysis import reach, sandbox_network
from tests.template.deployed import Deployed
from tests.template.recording import Recording


def test_the_sandbox_port_admits_some_group(stack: Deployed) -> None:
    _, ports, admitted = sandbox_network(stack)
    assert ports
    assert admitted


def test_every_tool_server_caller_can_reach_the_sandbox(stack: Deployed, recording: Recording) -> None:
    result = reach(stack, recording)
    assert result.callers, "the recording holds no tool-server call (did the sandbox scenarios run?)"
    assert not result.unmapped, f"tool-server calls from entry points no function serves: {result.unmapped}"
    assert not result.problems, "\n".join(result.problems)
