"""Metrics the use cases report without knowing where they go (the entrypoints install a sink:
Powertools' EMF metrics in Lambda, nothing locally unless asked)."""

from __future__ import annotations

from collections.abc import Callable

Sink = Callable[[str, float, str, dict[str, str]], None]
"""(metric name, value, unit, dimensions)."""

_sinks: list[Sink] = []


def install(sink: Sink) -> None:
    if sink not in _sinks:
        _sinks.append(sink)


def uninstall(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def emit(name: str, value: float, unit: str = "Count", **dimensions: str) -> None:
    """Report one value; a failing sink never fails the use case."""
    for sink in list(_sinks):
        try:
            sink(name, value, unit, dimensions)
        except Exception:  # noqa: S112 - metrics are best effort
            continue
