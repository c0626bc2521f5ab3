"""In-memory fakes of the sandbox ports, with the same conditional-write semantics as DynamoDB's."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from typing import Any

from riadex.application.sandbox_ports import SandboxUnreachable
from riadex.domain.errors import NotFound
from riadex.domain.sandboxes import SandboxHandle, SandboxRecord, SandboxStatus


class FakeRecords:
    def __init__(self, sessions: set[str]) -> None:
        self.sessions = sessions
        self.items: dict[str, SandboxRecord] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> SandboxRecord | None:
        with self._lock:
            if session_id not in self.sessions:
                raise NotFound("session not found")
            return self.items.get(session_id)

    def claim(self, record: SandboxRecord, expected_sandbox_id: str | None) -> bool:
        with self._lock:
            current = self.items.get(record.session_id)
            if record.session_id not in self.sessions:
                return False
            if (current.sandbox_id if current else None) != expected_sandbox_id:
                return False
            self.items[record.session_id] = record
            return True

    def mark_ready(self, session_id: str, handle: SandboxHandle, now: datetime) -> bool:
        with self._lock:
            current = self.items.get(session_id)
            if session_id not in self.sessions or current is None:
                return False
            if current.sandbox_id != handle.sandbox_id or current.status is not SandboxStatus.PROVISIONING:
                return False
            self.items[session_id] = replace(
                current, status=SandboxStatus.READY, handle=handle, last_used_at=now
            )
            return True

    def set_status(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        *,
        only_from: SandboxStatus | None = None,
        last_used_at: datetime | None = None,
    ) -> bool:
        with self._lock:
            current = self.items.get(session_id)
            if current is None or current.sandbox_id != sandbox_id:
                return False
            if only_from is not None and current.status is not only_from:
                return False
            if last_used_at is not None and current.last_used_at != last_used_at:
                return False
            self.items[session_id] = replace(current, status=status)
            return True

    def touch(self, session_id: str, sandbox_id: str, now: datetime) -> None:
        with self._lock:
            current = self.items.get(session_id)
            if current is not None and current.sandbox_id == sandbox_id:
                self.items[session_id] = replace(current, last_used_at=now)

    def idle(self, before: datetime) -> list[SandboxRecord]:
        with self._lock:
            return [
                r for r in self.items.values() if r.status is SandboxStatus.READY and r.last_used_at < before
            ]


class FakeProvider:
    """Sandboxes that are just names; `kill` makes one unhealthy, `fail_next` makes acquire fail."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[str] = []
        self.running: set[str] = set()
        self.fail_next = False
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "fake"

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        if self.delay:
            threading.Event().wait(self.delay)
        with self._lock:
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("backend failed")
            self.started.append(sandbox_id)
            self.running.add(sandbox_id)
        return SandboxHandle(
            "fake", sandbox_id, f"http://fake/{sandbox_id}", "secret-" + sandbox_id, sandbox_id
        )

    def healthy(self, handle: SandboxHandle) -> bool:
        return handle.sandbox_id in self.running

    def release(self, handle: SandboxHandle) -> None:
        with self._lock:
            self.running.discard(handle.sandbox_id)

    def kill(self, sandbox_id: str) -> None:
        self.running.discard(sandbox_id)


class FakeTools:
    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(self, handle: SandboxHandle, function: str, args: dict[str, Any]) -> dict[str, Any]:
        if handle.sandbox_id not in self.provider.running:
            raise SandboxUnreachable("connection refused")
        self.calls.append((handle.sandbox_id, function, args))
        return {"function": function, "sandbox": handle.sandbox_id}

    def upload(self, handle: SandboxHandle, path: str, name: str, data: bytes) -> dict[str, Any]:
        return self.call(handle, "file_upload", {"path": path, "size": len(data)})

    def download(self, handle: SandboxHandle, path: str) -> bytes:
        self.call(handle, "file_download", {"file": path})
        return b"bytes of " + path.encode()


class FakeSandboxEvents:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str, str]] = []
        self.run_ids: list[str | None] = []

    def emit(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        backend: str,
        run_id: str | None = None,
        workspace: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        self.emitted.append((session_id, status.value, backend))
        self.run_ids.append(run_id)

    def statuses(self, session_id: str) -> list[str]:
        return [s for sid, s, _ in self.emitted if sid == session_id]
