"""Quota counters as items of the users table (keys `quota#<user>#<name>`, so no user id can collide):
one conditional UpdateItem per check, so concurrent requests cannot pass a limit together."""

from __future__ import annotations

from typing import Any

from riadex.adapters.dynamodb.raw_items import RawItems
from riadex.adapters.dynamodb.tables import UserItem

PREFIX = "quota#"
HOLD = "SET held.#m = if_not_exists(held.#m, :now)"
HOLD_IF_ROOM = "attribute_exists(held.#m) OR (attribute_exists(held) AND size(held) < :limit)"
"""`attribute_exists(held)` first: size() of a missing attribute is an error in moto, false in AWS."""


class DynamoQuotaStore:
    def __init__(self) -> None:
        self._items = RawItems(UserItem, "user_id", "quota store")

    def _update(self, key: str, **kwargs: Any) -> bool:
        """UpdateItem on the quota item; False when its condition fails."""
        return self._items.update(PREFIX + key, **kwargs)

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
        return self._items.get(PREFIX + key)

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
