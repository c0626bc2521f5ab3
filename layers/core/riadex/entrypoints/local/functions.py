"""The template's functions, run locally the way Lambda runs them (docs/architecture.md, "Locally").

`template.yaml` says which functions there are and where their code is (`CodeUri`, `Handler`); the
state machine's `DefinitionSubstitutions` say which of them are its tasks. Each is a `LocalFunction`:
its first invocation is the cold start (`functions/<dir>/handler.py` imported from its file, under a
module name of its own), the next ones are warm (the same module, so the container its lazy bootstrap
built is reused). The handler runs in a `FunctionEnvironment`: in Lambda the bootstrap reads its settings
from the environment variables; here the stack hands them over, with the bell its streams wait on.

A handler file that does not import fails each invocation as Lambda's Python runtime fails it
(`Runtime.ImportModuleError`, `Runtime.UserCodeSyntaxError`, `Runtime.HandlerNotFound`, or the
exception's own name), and the next invocation tries the cold start again.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from riadex.bootstrap import FunctionEnvironment, function_environment
from riadex.entrypoints.local.lambda_invoke import FunctionError, Handler

ROOT = Path(__file__).resolve().parents[5]
TEMPLATE = ROOT / "template.yaml"
FINALIZER = "finalize-run"
"""The function the EventBridge rule on the executions' status changes invokes (the watcher plays it)."""
ACCOUNT = "123456789012"  # moto's default account


class _TemplateLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short tags (`!Ref X` → {"Ref": "X"}, `!GetAtt A.B` → {"GetAtt": ...})."""


def _tagged(loader: yaml.Loader, tag: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {tag: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag: loader.construct_sequence(node, deep=True)}
    return {tag: loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _tagged)


def local_name(logical_id: str) -> str:
    """`StartRunFunction` → `start-run`: the name the local Invoke endpoint knows a function by."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id.removesuffix("Function")).lower()


@dataclass(frozen=True)
class FunctionCode:
    """One `AWS::Serverless::Function` of the template: where its code is and what Lambda calls."""

    logical_id: str
    code_dir: Path
    module: str
    """The handler's module, a file in `code_dir` (`handler` for `Handler: handler.handler`)."""
    attribute: str
    memory_mb: int
    timeout_seconds: int

    @property
    def name(self) -> str:
        return local_name(self.logical_id)

    @property
    def path(self) -> Path:
        return self.code_dir / f"{self.module.replace('.', '/')}.py"


@dataclass(frozen=True)
class Template:
    functions: Mapping[str, FunctionCode]
    """Every function with Python code, by local name."""
    tasks: Mapping[str, str]
    """The state machine's substitutions (`ThinkFunctionArn`) → the function they name (`think`)."""
    stream_routes: tuple[tuple[str, str], ...]
    """(method, path) of the API events the streaming function serves."""


@lru_cache(maxsize=4)
def read_template(path: Path = TEMPLATE) -> Template:
    source = yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a safe loader
    defaults = source.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionCode] = {}
    tasks: dict[str, str] = {}
    stream_routes: list[tuple[str, str]] = []
    for logical_id, resource in source["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::StateMachine":
            for key, value in props.get("DefinitionSubstitutions", {}).items():
                target = value.get("GetAtt") if isinstance(value, dict) else None
                if isinstance(target, str) and target.endswith(".Arn"):
                    tasks[key] = local_name(target.removesuffix(".Arn"))
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code_dir = (path.parent / str(props["CodeUri"])).resolve()
        handler = str(props.get("Handler", defaults.get("Handler", "")))
        if handler.endswith(".sh"):  # the streaming function: a script starting `uvicorn module:app`
            served = re.search(r"uvicorn .*?([\w.]+):(\w+)\s*$", (code_dir / handler).read_text(), re.M)
            if served is None:
                continue
            module, attribute = served.groups()
            stream_routes.extend(
                (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
                for event in props.get("Events", {}).values()
                if event.get("Type") == "Api"
            )
        else:
            module, _, attribute = handler.rpartition(".")
        code = FunctionCode(
            logical_id=logical_id,
            code_dir=code_dir,
            module=module,
            attribute=attribute,
            memory_mb=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            timeout_seconds=int(props.get("Timeout", defaults.get("Timeout", 3))),
        )
        functions[code.name] = code
    return Template(functions, tasks, tuple(stream_routes))


@dataclass(frozen=True)
class LambdaContext:
    """The context object Lambda passes a handler (what Powertools reads of it)."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


class LocalFunction:
    """One function: imported from its file on the first invocation, warm after."""

    def __init__(
        self, code: FunctionCode, environment: FunctionEnvironment, region: str = "us-east-1"
    ) -> None:
        self.code = code
        self.environment = environment
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{code.logical_id}"
        self.module: ModuleType | None = None
        self._handler: Handler | None = None
        self._cold = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any = None) -> Any:
        with function_environment(self.environment):
            handler = self._handler or self._cold_start()
            if context is None:
                code = self.code
                context = LambdaContext(
                    code.logical_id, code.memory_mb, self.arn, str(uuid.uuid4()), code.timeout_seconds
                )
            return handler(event, context)

    def load(self) -> ModuleType:
        """The handler's module, imported on first use (a cold start), in this function's environment."""
        with function_environment(self.environment):
            self._cold_start()
        assert self.module is not None
        return self.module

    def _cold_start(self) -> Handler:
        with self._cold:
            if self._handler is not None:
                return self._handler
            module = self._import()
            handler: Handler | None = getattr(module, self.code.attribute, None)
            if not callable(handler):
                raise FunctionError(
                    "Runtime.HandlerNotFound",
                    f"Handler '{self.code.attribute}' missing on module '{self.code.module}'",
                )
            self.module, self._handler = module, handler
            return handler

    def _import(self) -> ModuleType:
        path = self.code.path
        name = f"riadex_function_{self.code.name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise FunctionError(
                "Runtime.ImportModuleError", f"Unable to import module '{self.code.module}': no {path}"
            )
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            raise FunctionError(
                "Runtime.ImportModuleError", f"Unable to import module '{self.code.module}': {exc}"
            ) from exc
        except SyntaxError as exc:
            raise FunctionError(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{self.code.module}': {exc}"
            ) from exc
        except Exception as exc:  # an init error: Lambda reports the exception's own type
            raise FunctionError(type(exc).__name__, str(exc)) from exc
        return module


def task_functions(
    environment: FunctionEnvironment, region: str = "us-east-1", template: Path = TEMPLATE
) -> dict[str, LocalFunction]:
    """The state machine's tasks and the finalizer, by local name, each with its own environment (its
    own warm container) sharing `environment`'s settings and bell."""
    found = read_template(template)
    names = [*found.tasks.values(), FINALIZER]
    return {name: LocalFunction(found.functions[name], environment.sibling(), region) for name in names}
