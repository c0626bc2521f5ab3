"""Scheduled: release sandboxes idle longer than SANDBOX_IDLE_TIMEOUT."""

from riadex.entrypoints.scheduled.reaper import handler

__all__ = ["handler"]
