"""template.yaml declares the same tables as the pynamodb models: keys, indexes, TTL, billing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pynamodb.models import Model

from riadex.adapters.dynamodb.tables import TEMPLATE_RESOURCES

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !GetAtt, ...) as plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _intrinsic)


def _template_tables() -> dict[str, dict[str, Any]]:
    resources = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Resources"]  # noqa: S506
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def _model_view(model: type[Model]) -> dict[str, Any]:
    schema = model._get_schema()
    attributes = {(a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]}
    for index in schema["global_secondary_indexes"]:
        attributes |= {(a["AttributeName"], a["AttributeType"]) for a in index["attribute_definitions"]}
    ttl = model._ttl_attribute()
    return {
        "attributes": attributes,
        "keys": {k["KeyType"]: k["AttributeName"] for k in schema["key_schema"]},
        "indexes": {
            index["index_name"]: (
                {k["KeyType"]: k["AttributeName"] for k in index["key_schema"]},
                index["projection"]["ProjectionType"],
            )
            for index in schema["global_secondary_indexes"]
        },
        "ttl": ttl.attr_name if ttl else None,
        "billing": model.Meta.billing_mode,
    }


def _template_view(props: dict[str, Any]) -> dict[str, Any]:
    ttl = props.get("TimeToLiveSpecification")
    return {
        "attributes": {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]},
        "keys": {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]},
        "indexes": {
            index["IndexName"]: (
                {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]},
                index["Projection"]["ProjectionType"],
            )
            for index in props.get("GlobalSecondaryIndexes", [])
        },
        "ttl": ttl["AttributeName"] if ttl and ttl.get("Enabled") else None,
        "billing": props["BillingMode"],
    }


@pytest.mark.parametrize(("name", "model"), TEMPLATE_RESOURCES.items(), ids=list(TEMPLATE_RESOURCES))
def test_model_matches_template(name: str, model: type[Model]) -> None:
    tables = _template_tables()
    assert name in tables, f"template.yaml has no {name} for {model.__name__}"
    assert _model_view(model) == _template_view(tables[name])
    assert tables[name]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_every_template_table_has_a_model() -> None:
    assert set(_template_tables()) == set(TEMPLATE_RESOURCES)
