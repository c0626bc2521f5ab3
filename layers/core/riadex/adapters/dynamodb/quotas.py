"""Quota counters as items of the users table (keys `quota#<user>#<name>`, so no user id can collide):
one conditional UpdateItem per check, so concurrent requests cannot pass a limit together."""

from __future__ import annotations

from typing import Any

from riadex.adapters.dynamodb.tables import UserItem
from riadex.domain.errors import StorageUnavailable

PREFIX = "quota#"
HOLD = "SET held.#m = if_not_exists(held.#m, :now)"
HOLD_IF_ROOM = "attribute_exists(held.#m) OR (attribute_exists(held) AND size(held) < :limit)"
"""`attribute_exists(held)` first: size() of a missing attribute is an error in moto, false in AWS."""


class DynamoQuotaStore:
    def __init__(self) -> None:
        self._client: Any = None
        self._bound: tuple[str | None, str | None] | None = None

    def _ddb(self) -> Any:
        binding = (UserItem.Meta.region, UserItem.Meta.host)
        if self._client is None or self._bound != binding:
            import boto3

            self._client = boto3.client("dynamodb", region_name=binding[0], endpoint_url=binding[1])
            self._bound = binding
        return self._client

    def _update(self, key: str, **kwargs: Any) -> bool:
        """UpdateItem on the quota item; False when its condition fails."""
        ddb = self._ddb()
        try:
            ddb.update_item(
                TableName=UserItem.Meta.table_name, Key={"user_id": {"S": PREFIX + key}}, **kwargs
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        except ddb.exceptions.ClientError as exc:
            raise StorageUnavailable(f"quota store: {exc}") from exc
        return True

    def take(self, key: str, limit: int, expires_at: int) -> bool:
        return self._update(
            key,
            UpdateExpression="ADD used :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(used) OR used < :limit",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(expires_at)},
            },
        )

    def give_back(self, key: str) -> None:
        self._update(
            key,
            UpdateExpression="ADD used :minus",
            ConditionExpression="used > :zero",
            ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
        )

    def hold(self, key: str, member: str, limit: int, now: float) -> bool:
        names = {"#m": member}
        values = {":now": {"N": f"{now:.3f}"}, ":limit": {"N": str(limit)}}
        hold = {"UpdateExpression": HOLD, "ConditionExpression": HOLD_IF_ROOM}
        if self._update(key, ExpressionAttributeNames=names, ExpressionAttributeValues=values, **hold):
            return True
        # Full, or this quota's map does not exist yet (its first hold, maybe racing another first
        # hold): create the map if it is missing (a no-op otherwise) and try once more.
        self._update(
            key,
            UpdateExpression="SET held = if_not_exists(held, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        return self._update(key, ExpressionAttributeNames=names, ExpressionAttributeValues=values, **hold)

    def _item(self, key: str) -> dict[str, Any]:
        ddb = self._ddb()
        try:
            found = ddb.get_item(
                TableName=UserItem.Meta.table_name, Key={"user_id": {"S": PREFIX + key}}, ConsistentRead=True
            )
        except ddb.exceptions.ClientError as exc:
            raise StorageUnavailable(f"quota store: {exc}") from exc
        item: dict[str, Any] = found.get("Item") or {}
        return item

    def holders(self, key: str) -> dict[str, float]:
        held = self._item(key).get("held", {}).get("M", {})
        return {str(member): float(value["N"]) for member, value in held.items()}

    def release(self, key: str, members: list[str]) -> None:
        if not members:
            return
        names = {f"#m{i}": m for i, m in enumerate(members)}
        self._update(
            key,
            UpdateExpression="REMOVE " + ", ".join(f"held.{n}" for n in names),
            ConditionExpression="attribute_exists(held)",
            ExpressionAttributeNames=names,
        )
