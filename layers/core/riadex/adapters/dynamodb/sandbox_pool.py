"""A warm pool of sandboxes as one item of the sessions table, `pool#<task definition>` (no session id
looks like that, and no session query or scan reads it: it has no owner and no `sandbox` map):
`tasks` maps each member's pool id to {started_at, ref, endpoint, token | token_ref}.

One item, because a pool is small (SANDBOX_POOL_SIZE) and then every decision is one conditional
write on its map: a member is added only while size(tasks) < the pool's size, so refills racing each
other never pass it, and taking a member (REMOVE tasks.<id> if it exists) is the claim, so two sessions
never get the same task. A new task definition (a new image) keys a new, empty pool; the old one's
tasks are no longer renewed and stop by their idle timer (docs/sandboxes.md).

The pool token goes through the same SecretStore as the sandboxes' secrets: inline locally, an SSM
SecureString in AWS (so a reader of the table cannot claim a pooled task).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from riadex.adapters.dynamodb.raw_items import RawItems
from riadex.adapters.dynamodb.sandbox_records import InlineSecrets, SecretStore
from riadex.adapters.dynamodb.tables import SessionItem
from riadex.domain.models import iso
from riadex.domain.sandboxes import PoolEntry

PREFIX = "pool#"
ADD_IF_ROOM = "attribute_exists(tasks) AND size(tasks) < :size"
"""`attribute_exists(tasks)` first: size() of a missing attribute is an error in moto, false in AWS."""


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _text(value: dict[str, Any] | None) -> str | None:
    return str(value["S"]) if value and "S" in value else None


class DynamoSandboxPool:
    def __init__(self, key: str, secrets: SecretStore | None = None) -> None:
        self._key = PREFIX + key
        self._items = RawItems(SessionItem, "session_id", "sandbox pool")
        self._secrets = secrets or InlineSecrets()

    def entries(self) -> list[PoolEntry]:
        tasks = self._items.get(self._key).get("tasks", {}).get("M", {})
        return [
            PoolEntry(
                pool_id=str(pool_id),
                started_at=_parse(str(member["M"]["started_at"]["S"])),
                ref=_text(member["M"].get("ref")),
                endpoint=_text(member["M"].get("endpoint")),
                token=_text(member["M"].get("token")),
                token_ref=_text(member["M"].get("token_ref")),
            )
            for pool_id, member in tasks.items()
        ]

    def reserve(self, pool_id: str, token: str, now: datetime, size: int) -> PoolEntry | None:
        inline, ref = self._secrets.put(pool_id, token)
        member: dict[str, Any] = {"started_at": {"S": iso(now)}}
        if inline is not None:
            member["token"] = {"S": inline}
        if ref is not None:
            member["token_ref"] = {"S": ref}
        add: dict[str, Any] = {
            "UpdateExpression": "SET tasks.#p = :member",
            "ConditionExpression": ADD_IF_ROOM,
            "ExpressionAttributeNames": {"#p": pool_id},
            "ExpressionAttributeValues": {":member": {"M": member}, ":size": {"N": str(size)}},
        }
        entry = PoolEntry(pool_id=pool_id, started_at=now, token=inline, token_ref=ref)
        if self._items.update(self._key, **add):
            return entry
        # Full, or the pool's map does not exist yet (its first member, maybe racing another first
        # member): create the map if it is missing (a no-op otherwise) and try once more.
        self._items.update(
            self._key,
            UpdateExpression="SET tasks = if_not_exists(tasks, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        if self._items.update(self._key, **add):
            return entry
        self._secrets.delete(ref)
        return None

    def _set(self, pool_id: str, name: str, value: str) -> bool:
        return self._items.update(
            self._key,
            UpdateExpression="SET tasks.#p.#n = :v",
            ConditionExpression="attribute_exists(tasks.#p)",
            ExpressionAttributeNames={"#p": pool_id, "#n": name},
            ExpressionAttributeValues={":v": {"S": value}},
        )

    def started(self, pool_id: str, ref: str) -> bool:
        return self._set(pool_id, "ref", ref)

    def answered(self, pool_id: str, endpoint: str) -> None:
        self._set(pool_id, "endpoint", endpoint)

    def take(self, pool_id: str) -> bool:
        return self._items.update(
            self._key,
            UpdateExpression="REMOVE tasks.#p",
            ConditionExpression="attribute_exists(tasks.#p)",
            ExpressionAttributeNames={"#p": pool_id},
        )

    def token(self, entry: PoolEntry) -> str:
        return self._secrets.get(entry.token, entry.token_ref)

    def forget(self, entry: PoolEntry) -> None:
        self._secrets.delete(entry.token_ref)
