"""SandboxRecords over the session item's `sandbox` map, every write conditional on the sandbox id.

The secret goes through a SecretStore: "inline" keeps it in the item (local stack: the table is moto in
this very process, nothing else reads it); "ssm" writes it to SSM Parameter Store as a SecureString
under /riadex/sandboxes/<sandbox id> and the item only names it, so a reader of the sessions table
(a backup, an analytics export, the API's own GET) never holds a key to a sandbox.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition

from riadex.adapters.dynamodb.errors import storage_errors
from riadex.adapters.dynamodb.tables import SandboxMap, SessionItem
from riadex.domain.errors import NotFound
from riadex.domain.models import iso
from riadex.domain.sandboxes import SandboxHandle, SandboxRecord, SandboxStatus


def _box() -> Any:
    """The `sandbox` map as a document path; pynamodb types nested attribute paths as their values."""
    return SessionItem.sandbox


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


class SecretStore(Protocol):
    def put(self, sandbox_id: str, secret: str) -> tuple[str | None, str | None]:
        """Keep a secret; returns (inline secret, reference) — exactly one of them set."""
        ...

    def get(self, inline: str | None, ref: str | None) -> str: ...

    def delete(self, ref: str | None) -> None: ...


class InlineSecrets:
    def put(self, sandbox_id: str, secret: str) -> tuple[str | None, str | None]:
        return secret, None

    def get(self, inline: str | None, ref: str | None) -> str:
        return inline or ""

    def delete(self, ref: str | None) -> None:
        return None


class SsmSecrets:
    """SecureString parameters; values cached per process (a sandbox's secret never changes)."""

    def __init__(self, client: Any, prefix: str = "/riadex/sandboxes") -> None:
        self._ssm = client
        self._prefix = prefix.rstrip("/")
        self._cache: dict[str, str] = {}

    def put(self, sandbox_id: str, secret: str) -> tuple[str | None, str | None]:
        name = f"{self._prefix}/{sandbox_id}"
        self._ssm.put_parameter(Name=name, Value=secret, Type="SecureString", Overwrite=True)
        self._cache[name] = secret
        return None, name

    def get(self, inline: str | None, ref: str | None) -> str:
        if not ref:
            return inline or ""
        if ref not in self._cache:
            value = self._ssm.get_parameter(Name=ref, WithDecryption=True)["Parameter"]["Value"]
            self._cache[ref] = str(value)
        return self._cache[ref]

    def delete(self, ref: str | None) -> None:
        if not ref:
            return
        self._cache.pop(ref, None)
        with contextlib.suppress(self._ssm.exceptions.ParameterNotFound):
            self._ssm.delete_parameter(Name=ref)


@storage_errors
class DynamoSandboxRecords:
    def __init__(self, secrets: SecretStore | None = None) -> None:
        self._secrets = secrets or InlineSecrets()

    def get(self, session_id: str) -> SandboxRecord | None:
        try:
            item = SessionItem.get(session_id, consistent_read=True)
        except DoesNotExist:
            raise NotFound("session not found") from None
        return self._record(item)

    def _record(self, item: SessionItem) -> SandboxRecord | None:
        box = item.sandbox
        sandbox_id: str | None = box.sandbox_id if box is not None else None
        if box is None or not sandbox_id:
            return None
        handle = None
        if box.endpoint and box.ref is not None:
            handle = SandboxHandle(
                backend=box.backend,
                sandbox_id=sandbox_id,
                endpoint=box.endpoint,
                secret=self._secrets.get(box.secret, box.secret_ref),
                ref=box.ref,
            )
        claimed = _parse(box.claimed_at) if box.claimed_at else _parse(item.created_at)
        return SandboxRecord(
            session_id=item.session_id,
            owner_id=item.owner_id,
            sandbox_id=sandbox_id,
            backend=box.backend,
            status=SandboxStatus(box.status),
            claimed_at=claimed,
            last_used_at=_parse(box.last_used_at) if box.last_used_at else claimed,
            handle=handle,
        )

    def _update(self, session_id: str, actions: list[Any], condition: Condition) -> SessionItem | None:
        """The item as it is after the update, or None when the condition did not hold."""
        item = SessionItem(session_id=session_id)
        try:
            item.update(actions=actions, condition=SessionItem.session_id.exists() & condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return item

    def claim(self, record: SandboxRecord, expected_sandbox_id: str | None) -> bool:
        current = (
            _box().does_not_exist() | _box().sandbox_id.does_not_exist()
            if expected_sandbox_id is None
            else _box().sandbox_id == expected_sandbox_id
        )
        box = SandboxMap(
            status=record.status.value,
            backend=record.backend,
            sandbox_id=record.sandbox_id,
            claimed_at=iso(record.claimed_at),
            last_used_at=iso(record.last_used_at),
        )
        return self._update(record.session_id, [_box().set(box)], current) is not None

    def mark_ready(self, session_id: str, handle: SandboxHandle, now: datetime) -> bool:
        inline, ref = self._secrets.put(handle.sandbox_id, handle.secret)
        path = _box()
        actions = [
            path.status.set(SandboxStatus.READY.value),
            path.endpoint.set(handle.endpoint),
            path.ref.set(handle.ref),
            path.last_used_at.set(iso(now)),
        ]
        actions.append(path.secret.set(inline) if inline is not None else path.secret.remove())
        actions.append(path.secret_ref.set(ref) if ref is not None else path.secret_ref.remove())
        condition = (path.sandbox_id == handle.sandbox_id) & (path.status == SandboxStatus.PROVISIONING.value)
        if self._update(session_id, actions, condition) is not None:
            return True
        self._secrets.delete(ref)
        return False

    def set_status(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        *,
        only_from: SandboxStatus | None = None,
        last_used_at: datetime | None = None,
    ) -> bool:
        path = _box()
        condition = path.sandbox_id == sandbox_id
        if only_from is not None:
            condition &= path.status == only_from.value
        if last_used_at is not None:
            condition &= path.last_used_at == iso(last_used_at)
        actions: list[Any] = [path.status.set(status.value)]
        if not status.is_live:
            # A stopped sandbox keeps no way in: drop its address and secret from the item.
            actions += [path.secret.remove(), path.endpoint.remove()]
        item = self._update(session_id, actions, condition)
        if item is None:
            return False
        if not status.is_live and item.sandbox is not None:
            self._secrets.delete(item.sandbox.secret_ref)
        return True

    def touch(self, session_id: str, sandbox_id: str, now: datetime) -> None:
        path = _box()
        self._update(session_id, [path.last_used_at.set(iso(now))], path.sandbox_id == sandbox_id)

    def idle(self, before: datetime) -> list[SandboxRecord]:
        # A filtered Scan: the reaper runs every few minutes and sessions with sandboxes are few next
        # to the cost of a dedicated index; swap for a sparse GSI on sandbox activity if that changes.
        path = _box()
        condition = (path.status == SandboxStatus.READY.value) & (path.last_used_at < iso(before))
        records = []
        for item in SessionItem.scan(condition, consistent_read=True):
            record = self._record(item)
            if record is not None:
                records.append(record)
        return records
