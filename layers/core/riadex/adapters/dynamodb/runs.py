"""The RunRepository over the runs table, with the session's active-run claim (docs/api.md)."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from riadex.adapters.dynamodb.errors import storage_errors
from riadex.adapters.dynamodb.repositories import _parse
from riadex.adapters.dynamodb.tables import RunItem, SessionItem
from riadex.domain.errors import AlreadyExists, NotFound, SessionBusy, TakenOver, Unavailable
from riadex.domain.models import Run, RunStatus, SessionStatus, Takeover, iso

_CONDITION_FAILED = "ConditionalCheckFailed"
_CLAIM_ATTEMPTS = 5


def run_from_item(item: RunItem) -> Run:
    return Run(
        run_id=item.run_id,
        session_id=item.session_id,
        owner_id=item.owner_id,
        status=RunStatus(item.status),
        created_at=_parse(item.created_at),
        message=item.message or "",
        attachments=list(item.attachments or []),
        request_hash=item.request_hash or "",
        started_at=_parse(item.started_at) if item.started_at else None,
        ended_at=_parse(item.ended_at) if item.ended_at else None,
        usage=item.usage,
        error=item.error,
        reason=item.reason,
        first_seq=int(item.first_seq) if item.first_seq is not None else None,
        message_seq=int(item.message_seq) if item.message_seq is not None else None,
        execution=item.execution,
        wait=item.wait,
        takeover_id=item.takeover_id,
    )


def _no_active_run() -> Any:
    return SessionItem.active_run_id.does_not_exist() | Path(SessionItem.active_run_id).is_type("NULL")


def _paused_by(run: Run, takeover_id: str) -> bool:
    wait = run.wait or {}
    return run.status is RunStatus.WAITING and wait.get("takeover_id") == takeover_id


def _codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in error.cancellation_reasons]


_RUN_FIELDS = [name for name in RunItem.get_attributes() if name not in ("conversation", "conversation_ref")]
"""A run without the loop's conversation snapshot (riadex.adapters.dynamodb.conversations)."""


@storage_errors
class DynamoRunRepository:
    def create(self, run: Run) -> None:
        item = RunItem(
            run_id=run.run_id,
            session_id=run.session_id,
            owner_id=run.owner_id,
            status=run.status.value,
            created_at=iso(run.created_at),
            message=run.message,
            attachments=run.attachments or None,
            request_hash=run.request_hash,
        )
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                # Put first, then Update: pynamodb sends puts before updates, and the reasons follow.
                with TransactWrite(connection=RunItem._get_connection().connection) as tx:
                    tx.save(item, condition=RunItem.run_id.does_not_exist())
                    tx.update(
                        SessionItem(session_id=run.session_id),
                        actions=[
                            SessionItem.active_run_id.set(run.run_id),
                            SessionItem.status.set(SessionStatus.RUNNING.value),
                            SessionItem.updated_at.set(iso(run.created_at)),
                        ],
                        condition=SessionItem.session_id.exists()
                        & SessionItem.takeover_id.does_not_exist()
                        & _no_active_run(),
                    )
                return
            except TransactWriteError as exc:
                codes = _codes(exc)
                if codes and codes[0] == _CONDITION_FAILED:
                    raise AlreadyExists("run already exists") from None
                if len(codes) > 1 and codes[1] == _CONDITION_FAILED:
                    try:
                        session = SessionItem.get(run.session_id, consistent_read=True)
                    except DoesNotExist:
                        raise NotFound("session not found") from None
                    if not session.active_run_id:
                        if session.takeover_id:
                            raise TakenOver() from None
                        continue  # released between the two: claim again
                    raise SessionBusy(session.active_run_id) from None
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))  # a TransactionConflict: try again
        raise SessionBusy(None)

    def get(self, run_id: str) -> Run | None:
        try:
            return run_from_item(RunItem.get(run_id, consistent_read=True, attributes_to_get=_RUN_FIELDS))
        except DoesNotExist:
            return None

    def transition(
        self, run_id: str, allowed_from: Collection[RunStatus], to: RunStatus, **fields: Any
    ) -> Run | None:
        actions: list[Action] = [RunItem.status.set(to.value)]
        for name, value in fields.items():
            attribute = getattr(RunItem, name)
            if value is None:
                actions.append(attribute.remove())
            else:
                actions.append(attribute.set(iso(value) if isinstance(value, datetime) else value))
        condition = RunItem.run_id.exists() & RunItem.status.is_in(*(s.value for s in allowed_from))
        if to is RunStatus.WAITING or (RunStatus.WAITING in allowed_from and not to.is_terminal):
            return self._transition_with_session(run_id, to, actions, condition)
        item = RunItem(run_id=run_id)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return run_from_item(item)

    def _transition_with_session(
        self, run_id: str, to: RunStatus, actions: list[Action], condition: Any
    ) -> Run | None:
        """Into or out of `waiting`: the session's status follows in the same transaction, so a session
        shows `waiting` exactly while its active run waits (an answer racing the wait cannot leave it
        behind). A session that no longer names this run as active is left alone."""
        try:
            current = RunItem.get(run_id, consistent_read=True)
        except DoesNotExist:
            return None
        session_status = SessionStatus.WAITING if to is RunStatus.WAITING else SessionStatus.RUNNING
        try:
            with TransactWrite(connection=RunItem._get_connection().connection) as tx:
                tx.update(RunItem(run_id=run_id), actions=actions, condition=condition)
                tx.update(
                    SessionItem(session_id=current.session_id),
                    actions=[SessionItem.status.set(session_status.value)],
                    condition=SessionItem.active_run_id == run_id,
                )
        except TransactWriteError as exc:
            codes = _codes(exc)
            if codes and codes[0] == _CONDITION_FAILED:
                return None
            if len(codes) > 1 and codes[1] == _CONDITION_FAILED:
                item = RunItem(run_id=run_id)
                try:
                    item.update(actions=actions, condition=condition)
                except UpdateError as inner:
                    if inner.cause_response_code == "ConditionalCheckFailedException":
                        return None
                    raise
                return run_from_item(item)
            raise
        return self.get(run_id)

    # --- takeover (docs/api.md): the session's item says who has its sandbox, the run's item tells the
    # loop at the read it makes anyway --------------------------------------------------------------

    def start_takeover(self, session_id: str, takeover: Takeover, active_run_id: str | None) -> bool:
        session_actions: list[Action] = [
            SessionItem.takeover_id.set(takeover.takeover_id),
            SessionItem.takeover_since.set(iso(takeover.since)),
        ]
        session_condition = SessionItem.session_id.exists() & SessionItem.takeover_id.does_not_exist()
        session_condition &= SessionItem.active_run_id == active_run_id if active_run_id else _no_active_run()
        try:
            with TransactWrite(connection=RunItem._get_connection().connection) as tx:
                tx.update(
                    SessionItem(session_id=session_id), actions=session_actions, condition=session_condition
                )
                if active_run_id:
                    tx.update(
                        RunItem(run_id=active_run_id),
                        actions=[RunItem.takeover_id.set(takeover.takeover_id)],
                        condition=RunItem.run_id.exists(),
                    )
        except TransactWriteError as exc:
            if _CONDITION_FAILED in _codes(exc):
                return False
            raise
        return True

    def end_takeover(self, session_id: str, takeover_id: str) -> Run | None:
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                session = SessionItem.get(session_id, consistent_read=True)
            except DoesNotExist:
                return None
            if session.takeover_id != takeover_id:
                return None  # already ended
            run = self.get(session.active_run_id) if session.active_run_id else None
            paused = run is not None and _paused_by(run, takeover_id)
            session_actions: list[Action] = [
                SessionItem.takeover_id.remove(),
                SessionItem.takeover_since.remove(),
            ]
            if paused:
                session_actions.append(SessionItem.status.set(SessionStatus.RUNNING.value))
            session_condition = SessionItem.takeover_id == takeover_id
            session_condition &= SessionItem.active_run_id == run.run_id if run else _no_active_run()
            try:
                with TransactWrite(connection=RunItem._get_connection().connection) as tx:
                    tx.update(
                        SessionItem(session_id=session_id),
                        actions=session_actions,
                        condition=session_condition,
                    )
                    if run is not None:
                        run_actions: list[Action] = [RunItem.takeover_id.remove()]
                        if paused:
                            run_actions += [
                                RunItem.status.set(RunStatus.RUNNING.value),
                                RunItem.wait.remove(),
                            ]
                        tx.update(
                            RunItem(run_id=run.run_id),
                            actions=run_actions,
                            condition=RunItem.status == run.status.value,
                        )
            except TransactWriteError as exc:
                if _CONDITION_FAILED in _codes(exc):
                    continue  # the run moved (paused, answered, ended) or the session changed: read again
                raise
            return run if paused else None
        raise Unavailable("the session kept changing while the takeover ended; try again", retryable=True)

    def pause_for_takeover(self, run_id: str, takeover_id: str, wait: dict[str, Any]) -> Run | None:
        condition = RunItem.run_id.exists() & (RunItem.status == RunStatus.RUNNING.value)
        condition &= RunItem.takeover_id == takeover_id
        actions: list[Action] = [RunItem.status.set(RunStatus.WAITING.value), RunItem.wait.set(wait)]
        return self._transition_with_session(run_id, RunStatus.WAITING, actions, condition)

    def record_seqs(self, run_id: str, first_seq: int, message_seq: int) -> None:
        try:
            RunItem(run_id=run_id).update(
                actions=[RunItem.first_seq.set(first_seq), RunItem.message_seq.set(message_seq)],
                condition=RunItem.run_id.exists(),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def release_session(self, session_id: str, run_id: str, now: datetime) -> None:
        try:
            SessionItem(session_id=session_id).update(
                actions=[
                    SessionItem.active_run_id.remove(),
                    SessionItem.status.set(SessionStatus.IDLE.value),
                    SessionItem.updated_at.set(iso(now)),
                ],
                condition=SessionItem.active_run_id == run_id,
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def set_execution(self, run_id: str, execution: str) -> None:
        try:
            RunItem(run_id=run_id).update(
                actions=[RunItem.execution.set(execution)], condition=RunItem.run_id.exists()
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def list_for_session(self, session_id: str) -> list[Run]:
        return [run_from_item(item) for item in RunItem.by_session.query(session_id)]

    def delete(self, run_id: str) -> None:
        RunItem(run_id=run_id).delete()
