"""The `sam build` output and what it runs on: the runtime's Python, the SDK the runtime bundles, the
functions as the template declares them (code dir, handler, layers, environment)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BUILD_DIR = ROOT / ".aws-sam" / "build"
RUNTIME_BIN = ROOT / ".tools" / "runtime-bin"


def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def runtime() -> str:
    """`3.13`, from the template's Globals."""
    name: str = template()["Globals"]["Function"]["Runtime"]
    return name.removeprefix("python")


def runtime_python() -> Path | None:
    """The runtime's interpreter as `make build` finds it (None when it is not there; make says why)."""
    done = subprocess.run(["make", "-s", "runtime-python"], cwd=ROOT, capture_output=True, text=True)
    found = RUNTIME_BIN / f"python{runtime()}"
    return found if done.returncode == 0 and found.exists() else None


def build() -> None:
    """`make build`: sam build (cached) and the functions' bytecode."""
    done = subprocess.run(["make", "-s", "build"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"make build failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def runtime_sdk(python: Path) -> Path:
    """boto3 as the Lambda runtime bundles it at /var/runtime (the layers leave it out): the version the
    project pins for development, installed once for the runtime's Python."""
    pin = re.search(r"^boto3==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "boto3 is not pinned in requirements.txt"
    target = ROOT / ".tools" / "lambda-runtime" / f"python{runtime()}-boto3-{pin.group(1)}"
    if not (target / ".complete").exists():
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
             "--only-binary=:all:", "--implementation", "cp", "--python-version", runtime(),
             "--platform", "manylinux2014_x86_64", "--target", str(target), f"boto3=={pin.group(1)}"],
            check=True,
            timeout=600,
        )  # fmt: skip
        subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", str(target)], check=True)
        (target / ".complete").touch()
    return target


@dataclass
class Function:
    logical_id: str
    module: str
    attribute: str
    layers: list[str]
    environment: dict[str, str] = field(default_factory=dict)


def functions() -> list[Function]:
    """Every function of the template, with its handler's module and the layers this build made."""
    tpl = template()
    globals_ = tpl["Globals"]["Function"]
    resolver = _Resolver(tpl)
    found = []
    for logical_id, resource in tpl["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        handler = props.get("Handler", globals_.get("Handler"))
        if handler.endswith(".sh"):  # a wrapper script: the module it serves (uvicorn app:app)
            script = (ROOT / props["CodeUri"] / handler).read_text()
            served = re.search(r"uvicorn .*?(\w+):(\w+)\s*$", script, re.M)
            assert served, f"{logical_id}: cannot tell what {handler} serves"
            module, attribute = served.groups()
        else:
            module, _, attribute = handler.rpartition(".")
        layers = [
            ref["Ref"]
            for ref in [*globals_.get("Layers", []), *props.get("Layers", [])]
            if isinstance(ref, dict) and "Ref" in ref  # a layer ARN of someone else's is not built here
        ]
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        environment = {key: str(resolver.value(value)) for key, value in variables.items()}
        found.append(Function(logical_id, module, attribute, layers, environment))
    return found


class _Resolver:
    """Plausible values for the template's intrinsic functions: parameters' defaults, names for resources."""

    def __init__(self, tpl: dict[str, Any]) -> None:
        self.parameters = tpl.get("Parameters", {})
        self.conditions = tpl.get("Conditions", {})

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            parameter = self.parameters[name]
            if "Default" in parameter:
                return parameter["Default"]
            return ["subnet-0packaging"] if parameter["Type"].startswith("List<") else f"{name}-packaging"
        pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::StackName":
            return "riadex"
        return f"riadex-{name}"

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.ref(m.group(1).split(".")[0])), argument)
        if function == "Fn::Join":
            separator, items = argument
            values = [self.value(item) for item in items]
            flat = [v for item in values for v in (item if isinstance(item, list) else [item])]
            return separator.join(str(v) for v in flat)
        if function == "Fn::If":
            condition, yes, no = argument
            return self.value(yes if self.condition(condition) else no)
        if function == "Fn::GetAtt":
            name = argument if isinstance(argument, str) else argument[0]
            return f"arn:aws:riadex:us-east-1:123456789012:{name}"
        raise AssertionError(f"unexpected intrinsic {function} in a function's environment")

    def condition(self, name: str) -> bool:
        return self.truth(self.conditions[name])

    def truth(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.value(item) for item in argument)
            return bool(left == right)
        if function == "Fn::Not":
            return not self.truth(argument[0])
        if function == "Fn::And":
            return all(self.truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self.truth(item) for item in argument)
        raise AssertionError(f"unexpected condition function {function}")
