"""The stack as `sam deploy` would create it: template.yaml translated by SAM (policy templates
expanded, Globals merged, API events turned into the REST API's routes), its intrinsics resolved with
one stack's naming, and each function's rights as IAM would evaluate them.

Names are what CloudFormation would give a stack called `riadex` in us-east-1 of account 123456789012
(the local stack's account and region, so recorded ARNs line up): a resource without an explicit name
gets `riadex-<LogicalId>`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
STACK = "riadex"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
PSEUDO = {
    "AWS::StackName": STACK,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1",
}
_NO_VALUE = object()


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def translate(template_text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the template as written, the template as SAM translates it for CloudFormation)."""
    import os

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    source = yaml_parse(template_text)
    template = yaml_parse(template_text)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://bucket/key"  # what `sam package` substitutes
    return source, transform(template, {}, _NoManagedPolicies())


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler_source: str
    statements: list[dict[str, Any]]
    aws_managed: list[str]
    environment: dict[str, Any]
    vpc: dict[str, Any] | None
    memory_mb: int
    timeout_s: int


@dataclass
class Route:
    method: str  # lower case, or "any"
    path: str
    function: str
    streaming: bool
    regex: re.Pattern[str] = field(repr=False)
    literal_segments: int = 0
    greedy: bool = False


class Deployed:
    def __init__(self, template_text: str) -> None:
        self.source, self.translated = translate(template_text)
        self.resources: dict[str, Any] = self.translated["Resources"]
        self.parameters: dict[str, Any] = self.translated.get("Parameters", {})
        self.conditions: dict[str, Any] = self.translated.get("Conditions", {})
        self.functions = {
            logical: self._function(logical, resource)
            for logical, resource in self.resources.items()
            if resource["Type"] == "AWS::Lambda::Function"
        }
        self.routes = self._routes()

    # --- intrinsics ------------------------------------------------------------------------------
    def parameter(self, name: str) -> Any:
        spec = self.parameters[name]
        if "Default" in spec:
            default = spec["Default"]
            return default.split(",") if str(spec.get("Type", "")).startswith("List") else default
        if str(spec.get("Type", "")).startswith("List"):
            return [f"{name.lower()}-a", f"{name.lower()}-b"]
        return f"{name.lower()}-value"

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameter(name)
        resource = self.resources[name]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            return self.resolve(props.get("TableName", f"{STACK}-{name}"))
        if kind == "AWS::S3::Bucket":
            return self.resolve(props.get("BucketName", f"{STACK}-{name}".lower()))
        if kind == "AWS::StepFunctions::StateMachine":
            sm_name = self.resolve(props.get("StateMachineName", f"{STACK}-{name}"))
            return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{sm_name}"
        if kind == "AWS::ECS::Cluster":
            return self.resolve(props.get("ClusterName", f"{STACK}-{name}"))
        if kind == "AWS::ECS::TaskDefinition":
            family = self.resolve(props.get("Family", f"{STACK}-{name}"))
            return f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{STACK}-{name}"
        if kind == "AWS::Lambda::Function":
            return self.resolve(props.get("FunctionName", f"{STACK}-{name}"))
        if kind == "AWS::EC2::SecurityGroup":
            return f"sg-{name}"
        if kind == "AWS::Cognito::UserPool":
            return f"{REGION}_{name}"
        return f"{STACK}-{name}"

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.resources[name]
        kind = resource["Type"]
        ref = self.ref(name)
        if attribute == "Arn":
            arns = {
                "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{ref}",
                "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{ref}",
                "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{ref}",
                "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{ref}",
                "AWS::Cognito::UserPool": f"arn:{PARTITION}:cognito-idp:{REGION}:{ACCOUNT}:userpool/{ref}",
                "AWS::StepFunctions::StateMachine": ref,
                "AWS::ECS::Cluster": f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:cluster/{ref}",
            }
            return arns.get(kind, f"arn:{PARTITION}:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{ref}")
        if attribute == "Name" and kind == "AWS::StepFunctions::StateMachine":
            return str(ref).rsplit(":", 1)[1]
        if attribute == "GroupId":
            return ref
        return f"{ref}.{attribute}"

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(self.resolve(variables[key]))
            if "." in key and key.split(".", 1)[0] in self.resources:
                logical, attribute = key.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", fill, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return self._sub(text, variables)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        return {k: self.resolve(v) for k, v in value.items()}

    # --- functions and their rights ----------------------------------------------------------------
    def _function(self, logical: str, resource: dict[str, Any]) -> Function:
        props = resource["Properties"]
        written = self.source["Resources"][logical]["Properties"]
        code_dir = ROOT / str(written.get("CodeUri", ""))
        module = str(props.get("Handler", "handler.handler")).rsplit(".", 1)[0]
        handler_file = code_dir / f"{module.replace('.', '/')}.py"
        if not handler_file.exists():  # the stream function: run.sh starts app.py under uvicorn
            handler_file = code_dir / "app.py"
        statements: list[dict[str, Any]] = []
        aws_managed: list[str] = []
        role_ref = props["Role"]
        role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else None
        if role_id is not None:
            role = self.resources[role_id]["Properties"]
            for policy in role.get("Policies", []):
                statements.extend(self._statements(policy["PolicyDocument"], policy.get("PolicyName", "")))
            for arn in role.get("ManagedPolicyArns", []):
                if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in self.resources:
                    document = self.resources[arn["Ref"]]["Properties"]["PolicyDocument"]
                    statements.extend(self._statements(document, arn["Ref"]))
                else:
                    aws_managed.append(str(self.resolve(arn)).rsplit("/", 1)[-1])
        vpc = self.resolve(props["VpcConfig"]) if "VpcConfig" in props else None
        defaults = self.source.get("Globals", {}).get("Function", {})
        return Function(
            logical_id=logical,
            code_dir=code_dir,
            handler_source=handler_file.read_text() if handler_file.exists() else "",
            statements=statements,
            aws_managed=aws_managed,
            environment=self.resolve(props.get("Environment", {}).get("Variables", {})),
            vpc=vpc,
            memory_mb=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", defaults.get("Timeout", 3))),
        )

    def _statements(self, document: dict[str, Any], source: str) -> list[dict[str, Any]]:
        out = []
        raw = document.get("Statement", [])
        for statement in raw if isinstance(raw, list) else [raw]:
            resolved = self.resolve(statement)
            resolved["_source"] = source
            out.append(resolved)
        return out

    def _routes(self) -> list[Route]:
        routes: list[Route] = []
        for resource in self.resources.values():
            if resource["Type"] != "AWS::ApiGateway::RestApi":
                continue
            for path, methods in resource["Properties"].get("Body", {}).get("paths", {}).items():
                for method, spec in methods.items():
                    integration = spec.get("x-amazon-apigateway-integration", {})
                    uri = integration.get("uri", {})
                    text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
                    found = re.search(r"\$\{(\w+)\.Arn\}", str(text))
                    if not found:
                        continue
                    pattern = ""
                    for segment in path.strip("/").split("/"):
                        if segment.endswith("+}"):
                            pattern += "/.+"
                        elif segment.startswith("{"):
                            pattern += "/[^/]+"
                        else:
                            pattern += "/" + re.escape(segment)
                    routes.append(
                        Route(
                            method="any" if method == "x-amazon-apigateway-any-method" else method,
                            path=path,
                            function=found.group(1),
                            streaming=integration.get("responseTransferMode") == "STREAM",
                            regex=re.compile(f"^{pattern}$"),
                            literal_segments=sum(1 for s in path.split("/") if s and not s.startswith("{")),
                            greedy="+}" in path,
                        )
                    )
        return routes

    def route(self, method: str, path: str) -> Route | None:
        """API Gateway's choice: the matching route with the most literal segments, greedy ones last."""
        matching = [r for r in self.routes if r.regex.match(path) and r.method in (method.lower(), "any")]
        if not matching:
            return None
        return max(matching, key=lambda r: (not r.greedy, r.literal_segments, r.method != "any"))

    def function_for_entry(self, entry: str) -> Function | None:
        """The function the template maps a recorded entry point to."""
        kind, _, rest = entry.partition(":") if not entry.startswith("http ") else ("http", "", entry)
        if kind == "task":
            quoted = re.compile(rf"handler\(\s*[\"']{re.escape(rest)}[\"']\s*\)")
            found = [f for f in self.functions.values() if quoted.search(f.handler_source)]
            return found[0] if len(found) == 1 else None
        if kind == "module":
            found = [f for f in self.functions.values() if f"from {rest} import" in f.handler_source]
            return found[0] if len(found) == 1 else None
        if kind == "http":
            _, method, path = entry.split(" ", 2)
            route = self.route(method, path)
            return self.functions[route.function] if route else None
        return None

    def logical_name(self, deployed: str) -> str:
        """`SessionsTable` for `riadex-SessionsTable` (for the report)."""
        for logical in self.resources:
            try:
                if self.ref(logical) == deployed:
                    return logical
            except (KeyError, TypeError):
                continue
        return deployed


def _matches(pattern: str, value: str, *, case: bool) -> bool:
    pattern = pattern.replace("[", "[[]")
    return (
        fnmatch.fnmatchcase(value, pattern) if case else fnmatch.fnmatchcase(value.lower(), pattern.lower())
    )


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def statement_matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        acts = any(_matches(p, action, case=False) for p in _as_list(statement["Action"]))
    else:
        acts = not any(_matches(p, action, case=False) for p in _as_list(statement.get("NotAction", [])))
    if "Resource" in statement:
        on = any(_matches(p, resource, case=True) for p in _as_list(statement["Resource"]))
    else:
        on = not any(_matches(p, resource, case=True) for p in _as_list(statement.get("NotResource", [])))
    return acts and on


def allowed(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """IAM's answer for an identity policy set: an explicit Deny wins, else some Allow must match.
    A statement with a Condition is not counted as granting (this evaluator cannot know the context)."""
    matching = [s for s in statements if statement_matches(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" and not s.get("Condition") for s in matching)


@cache
def deployed(template_text: str | None = None) -> Deployed:
    return Deployed(template_text if template_text is not None else TEMPLATE.read_text())
