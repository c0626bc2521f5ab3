"""Items that are not a pynamodb model's but live in its table, under a key prefix no id of the
model can have (quota counters in the users table, the sandbox pool in the sessions table): their
maps have keys chosen at run time, so they are read and written with boto3's expressions."""

from __future__ import annotations

from typing import Any

from pynamodb.models import Model

from riadex.domain.errors import StorageUnavailable


class RawItems:
    def __init__(self, model: type[Model], key_name: str, label: str) -> None:
        self._model = model
        self._key_name = key_name
        self._label = label
        self._client: Any = None
        self._bound: tuple[str | None, str | None] | None = None

    def ddb(self) -> Any:
        """boto3's client for the model's current binding (tables.bind may rebind it: tests do)."""
        binding = (self._model.Meta.region, self._model.Meta.host)
        if self._client is None or self._bound != binding:
            import boto3

            self._client = boto3.client("dynamodb", region_name=binding[0], endpoint_url=binding[1])
            self._bound = binding
        return self._client

    def _key(self, key: str) -> dict[str, Any]:
        return {self._key_name: {"S": key}}

    def update(self, key: str, **kwargs: Any) -> bool:
        """UpdateItem on the item; False when its condition fails."""
        ddb = self.ddb()
        try:
            ddb.update_item(TableName=self._model.Meta.table_name, Key=self._key(key), **kwargs)
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        except ddb.exceptions.ClientError as exc:
            raise StorageUnavailable(f"{self._label}: {exc}") from exc
        return True

    def get(self, key: str) -> dict[str, Any]:
        """The item's attributes (DynamoDB JSON), {} when there is none."""
        ddb = self.ddb()
        try:
            found = ddb.get_item(
                TableName=self._model.Meta.table_name, Key=self._key(key), ConsistentRead=True
            )
        except ddb.exceptions.ClientError as exc:
            raise StorageUnavailable(f"{self._label}: {exc}") from exc
        item: dict[str, Any] = found.get("Item") or {}
        return item
