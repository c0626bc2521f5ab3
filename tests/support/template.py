"""template.yaml translated the way `sam deploy` translates it (SAM policy templates and events expanded)."""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def source() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


@lru_cache(maxsize=1)
def _translated() -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = source()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://bucket/key"  # what `sam package` substitutes
    result: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return result


def translated() -> dict[str, Any]:
    """A fresh copy each call (tests may walk it freely)."""
    return copy.deepcopy(_translated())


def api_body() -> dict[str, Any]:
    body: dict[str, Any] = translated()["Resources"]["RestApi"]["Properties"]["Body"]
    return body
