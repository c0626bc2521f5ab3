"""Per-user quotas, checked when a run is admitted: runs at once, sessions with a live sandbox, runs
per UTC day (docs/api.md: 429 with Retry-After).

Races: each check is one conditional write on a counter item (the database refuses the write that
would pass the limit), never a count followed by a write. The "at once" quotas hold members (run ids,
session ids) rather than a number, so a release that never happened (a crashed task) heals itself:
when a quota looks used up, its members are checked against the runs and sessions, the ones that
ended are dropped, and the write is tried once more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from riadex.application.ports import RunRepository, SessionRepository
from riadex.domain.errors import QuotaExceeded
from riadex.domain.models import OPEN_RUN_STATUSES

GRACE_SECONDS = 10.0
"""A member younger than this is kept even if its run or sandbox is not visible yet (being created)."""
LIVE_SANDBOX_STATUSES = frozenset({"provisioning", "ready"})


class QuotaStore(Protocol):
    def take(self, key: str, limit: int, expires_at: int) -> bool:
        """Count one more use under `key` unless `limit` is reached (atomic)."""
        ...

    def give_back(self, key: str) -> None: ...

    def hold(self, key: str, member: str, limit: int, now: float) -> bool:
        """Add `member` (or keep it) unless `limit` members are already held (atomic)."""
        ...

    def holders(self, key: str) -> dict[str, float]:
        """The members held under `key`, with when each was added."""
        ...

    def release(self, key: str, members: list[str]) -> None: ...


@dataclass(frozen=True)
class QuotaLimits:
    concurrent_runs: int = 0
    live_sandboxes: int = 0
    runs_per_day: int = 0
    """0 = no limit."""

    @property
    def any(self) -> bool:
        return bool(self.concurrent_runs or self.live_sandboxes or self.runs_per_day)


@dataclass
class Admission:
    """What admitting one run took; `refund` gives it back when the run was not created after all."""

    quotas: Quotas
    owner_id: str
    run_id: str
    day_key: str | None

    def refund(self, keep_run: bool = False) -> None:
        self.quotas.refund(self, keep_run)


class Quotas:
    def __init__(
        self,
        store: QuotaStore,
        limits: QuotaLimits,
        runs: RunRepository,
        sessions: SessionRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self.runs = runs
        self.sessions = sessions
        self.clock = clock

    def admit_run(self, owner_id: str, session_id: str, run_id: str) -> Admission:
        now = self.clock()
        limits = self.limits
        runs_key = f"{owner_id}#runs"
        if limits.concurrent_runs and not self._hold(
            runs_key, run_id, limits.concurrent_runs, now, self._run_held
        ):
            raise QuotaExceeded(
                f"at most {limits.concurrent_runs} runs may be queued or running at once",
                "concurrent_runs",
                limits.concurrent_runs,
                retry_after=30,
            )
        admission = Admission(self, owner_id, run_id, None)
        try:
            if limits.live_sandboxes and not self._hold(
                f"{owner_id}#sandboxes", session_id, limits.live_sandboxes, now, self._sandbox_held
            ):
                raise QuotaExceeded(
                    f"at most {limits.live_sandboxes} sessions may have a live sandbox at once "
                    "(delete or stop a session, or wait for an idle sandbox to be reaped)",
                    "live_sandboxes",
                    limits.live_sandboxes,
                    retry_after=60,
                )
            if limits.runs_per_day:
                today = datetime.fromtimestamp(now, UTC).date()
                midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
                day_key = f"{owner_id}#day#{today.isoformat()}"
                expires = int(midnight.timestamp()) + 2 * 24 * 3600
                if not self.store.take(day_key, limits.runs_per_day, expires):
                    raise QuotaExceeded(
                        f"at most {limits.runs_per_day} runs per day (UTC)",
                        "runs_per_day",
                        limits.runs_per_day,
                        retry_after=max(1, int(midnight.timestamp() - now)),
                    )
                admission.day_key = day_key
        except BaseException:
            if limits.concurrent_runs:
                self.store.release(runs_key, [run_id])
            raise
        return admission

    def refund(self, admission: Admission, keep_run: bool = False) -> None:
        if self.limits.concurrent_runs and not keep_run:
            self.store.release(f"{admission.owner_id}#runs", [admission.run_id])
        if admission.day_key:
            self.store.give_back(admission.day_key)

    # --- members that ended are dropped when the quota looks used up ------------------------------

    def _hold(
        self, key: str, member: str, limit: int, now: float, still_held: Callable[[str, float, float], bool]
    ) -> bool:
        if self.store.hold(key, member, limit, now):
            return True
        ended = [m for m, since in self.store.holders(key).items() if not still_held(m, since, now)]
        if not ended:
            return False
        self.store.release(key, ended)
        return self.store.hold(key, member, limit, now)

    def _run_held(self, run_id: str, since: float, now: float) -> bool:
        run = self.runs.get(run_id)
        if run is None:
            return now - since < GRACE_SECONDS
        return run.status in OPEN_RUN_STATUSES

    def _sandbox_held(self, session_id: str, since: float, now: float) -> bool:
        if now - since < GRACE_SECONDS:
            return True
        session = self.sessions.get(session_id)
        if session is None:
            return False
        live = session.sandbox is not None and session.sandbox.status in LIVE_SANDBOX_STATUSES
        return live or session.active_run_id is not None
