"""What the tier checks, computed once from the deployed stack and the recording: rights (each call
against its own function's policies, and the reverse), reach (who calls a sandbox's tool server, and
whether the network lets it) and limits (the largest payloads against the platform's caps)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.template.deployed import Deployed, Function, allowed, statement_matches
from tests.template.recording import Naming, Recording, required

MB = 1024 * 1024
LAMBDA_PAYLOAD = 6 * MB  # synchronous invoke, request and response
SFN_STATE = 256 * 1024  # a state's input/output, an execution's input, a task token's answer
APIGW_BODY = 10 * MB  # REST API payload
APIGW_SECONDS = 29.0  # REST API non-streaming integration timeout


@dataclass
class Use:
    function: str
    entry: str
    action: str
    resource: str


@dataclass
class Rights:
    used: dict[str, list[Use]] = field(default_factory=lambda: defaultdict(list))
    denied: list[Use] = field(default_factory=list)
    unmapped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Entry points that made AWS calls but that no function of the template serves."""
    unattributed: int = 0
    """Calls made outside any entry point (test set-up, the local stack's own plumbing)."""


def rights(stack: Deployed, recording: Recording, naming: Naming) -> Rights:
    out = Rights()
    verdicts: dict[tuple[str, str, str], bool] = {}
    for call in recording.calls:
        if call.entry is None:
            out.unattributed += 1
            continue
        function = stack.function_for_entry(call.entry)
        if function is None:
            out.unmapped[_short(call.entry)] += 1
            continue
        for action, resource in required(call, naming):
            use = Use(function.logical_id, _short(call.entry), action, resource)
            key = (function.logical_id, action, resource)
            if key not in verdicts:
                verdicts[key] = allowed(function.statements, action, resource)
                out.used[function.logical_id].append(use)
                if not verdicts[key]:
                    out.denied.append(use)
    return out


def _short(entry: str) -> str:
    """`http GET /api/v1/sessions/<id>/events` keeps its shape, not every id."""
    if not entry.startswith("http "):
        return entry
    _, method, path = entry.split(" ", 2)
    parts = [p if not any(c.isdigit() for c in p) or p == "v1" else "{id}" for p in path.split("/")]
    return f"http {method} {'/'.join(parts)}"


@dataclass
class Grant:
    function: str
    source: str
    actions: list[str]
    resources: list[str]
    used_actions: set[str]


def grants(stack: Deployed, used: dict[str, list[Use]]) -> list[Grant]:
    """Every Allow statement of every function, with the actions the recording used through it."""
    out = []
    for function in stack.functions.values():
        uses = used.get(function.logical_id, [])
        for statement in function.statements:
            if statement.get("Effect") != "Allow":
                continue
            actions = _as_list(statement.get("Action", []))
            resources = _as_list(statement.get("Resource", []))
            hit = {
                action
                for action in actions
                for use in uses
                if statement_matches({"Action": action, "Resource": resources}, use.action, use.resource)
            }
            out.append(Grant(function.logical_id, statement["_source"], actions, resources, hit))
    return out


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- reach ---------------------------------------------------------------------------------------
@dataclass
class Reach:
    callers: dict[str, set[str]]
    """Function → the entry points through which it called a tool server."""
    problems: list[str]
    unmapped: set[str]


def sandbox_network(stack: Deployed) -> tuple[str, set[int], set[str]]:
    """(the sandbox's security group, its tool ports, the groups its ingress admits on them), from the
    environment the functions start sandboxes with and the task definition they start."""
    env = next(iter(stack.functions.values())).environment
    group = str(env["SANDBOX_SECURITY_GROUPS"]).split(",")[0]
    logical = stack.logical_name(group)
    definition = next(r for r in stack.resources.values() if r["Type"] == "AWS::ECS::TaskDefinition")
    ports = {
        int(mapping["ContainerPort"])
        for container in definition["Properties"]["ContainerDefinitions"]
        for mapping in container.get("PortMappings", [])
    }
    admitted: set[str] = set()
    for rule in stack.resources[logical]["Properties"].get("SecurityGroupIngress", []):
        rule = stack.resolve(rule)
        low, high = int(rule.get("FromPort", 0)), int(rule.get("ToPort", 65535))
        admits_port = any(low <= p <= high for p in ports)
        if str(rule.get("IpProtocol")) in ("tcp", "-1") and admits_port and "SourceSecurityGroupId" in rule:
            admitted.add(str(rule["SourceSecurityGroupId"]))
    return group, ports, admitted


def reach(stack: Deployed, recording: Recording) -> Reach:
    callers: dict[str, set[str]] = defaultdict(set)
    unmapped: set[str] = set()
    for tool in recording.tools:
        entry = tool.get("entry")
        if entry is None:
            continue
        function = stack.function_for_entry(entry)
        if function is None:
            unmapped.add(_short(entry))
            continue
        callers[function.logical_id].add(_short(entry))
    _, ports, admitted = sandbox_network(stack)
    sandbox_subnets = set(str(next(iter(stack.functions.values())).environment["SANDBOX_SUBNETS"]).split(","))
    problems = []
    for logical in sorted(callers):
        problems.extend(_reach_problems(stack.functions[logical], admitted, sandbox_subnets, ports))
    return Reach(dict(callers), problems, unmapped)


def _reach_problems(function: Function, admitted: set[str], subnets: set[str], ports: set[int]) -> list[str]:
    name = function.logical_id
    if function.vpc is None:
        return [f"{name} calls the sandbox tool server (port {sorted(ports)}) but has no VpcConfig"]
    problems = []
    groups = {str(g) for g in function.vpc.get("SecurityGroupIds", [])}
    if not groups & admitted:
        problems.append(f"{name} is in {sorted(groups)}; the sandbox group admits only {sorted(admitted)}")
    if not set(map(str, function.vpc.get("SubnetIds", []))) & subnets:
        problems.append(f"{name} shares no subnet with the sandboxes")
    return problems


# --- limits --------------------------------------------------------------------------------------
@dataclass
class Largest:
    boundary: str
    limit: float
    value: float = 0
    where: str = ""

    def see(self, value: float, where: str) -> None:
        if value > self.value:
            self.value, self.where = value, where

    @property
    def over(self) -> bool:
        return self.value > self.limit


def limits(stack: Deployed, recording: Recording) -> list[Largest]:
    lam = Largest("Lambda sync payload (task event/result)", LAMBDA_PAYLOAD)
    state = Largest("Step Functions state (task result, execution input, task answer)", SFN_STATE)
    body = Largest("API Gateway REST request body", APIGW_BODY)
    api_event = Largest(
        "Lambda payload behind the REST API (request/response, non-streaming)", LAMBDA_PAYLOAD
    )
    seconds = Largest("API Gateway non-streaming integration time (s)", APIGW_SECONDS)
    for record in recording.payloads:
        entry = str(record.get("entry") or "")
        if record["boundary"] == "lambda":
            where = _short(entry)
            lam.see(record["event_bytes"], where)
            lam.see(record["result_bytes"], where)
            state.see(record["event_bytes"], where)
            state.see(record["result_bytes"], where)
        elif record["boundary"] == "http":
            route = stack.route(str(record["method"]), str(record["path"]))
            if route is None or record.get("status") == 413:  # not deployed / refused unread
                continue
            where = f"{_short(entry)} ({route.function})"
            body.see(record["request_bytes"], where)
            if not route.streaming:
                # A binary body reaches Lambda base64-encoded: a third larger.
                api_event.see(record["request_bytes"] * 4 / 3, where)
                api_event.see(record["response_bytes"], where)
                if record.get("status") != 101:
                    seconds.see(float(record["seconds"]), where)
    for call in recording.calls:
        for key, size in call.sizes.items():
            state.see(size, f"{call.op} {key} ({_short(call.entry or 'unattributed')})")
    return [lam, state, body, api_event, seconds]


def human(value: float, limit: float) -> str:
    if limit < 1000:
        return f"{value:.2f}"
    if value >= MB:
        return f"{value / MB:.2f} MB"
    return f"{value / 1024:.1f} KB"
