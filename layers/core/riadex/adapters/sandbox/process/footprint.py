"""What a process sandbox holds in memory: every process of it (bubblewrap, the tool server, what the
agent left running, the slirp4netns uplink), summed from /proc/<pid>/smaps_rollup as smem does.

- `rss`: resident pages, shared ones counted in full (what `ps` shows; overstates: the Python binary,
  libc and the site-packages' shared libraries are counted once per sandbox);
- `pss`: each shared page divided among the processes sharing it (the fair share; what a machine
  pays per sandbox when it runs many);
- `uss`: the pages no other process has (what stopping the sandbox frees).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Footprint:
    processes: int
    rss: int
    pss: int
    uss: int
    """Bytes."""

    def mib(self) -> dict[str, float]:
        return {name: round(getattr(self, name) / MIB, 1) for name in ("rss", "pss", "uss")}


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it (through /proc/<pid>/task/*/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def measure(pids: Iterable[int]) -> Footprint:
    count = rss = pss = uss = 0
    for pid in set(pids):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        except OSError:
            continue  # gone meanwhile
        values = {}
        for line in lines:
            name, _, rest = line.partition(":")
            values[name.strip()] = int(rest.split()[0]) * 1024
        count += 1
        rss += values.get("Rss", 0)
        pss += values.get("Pss", 0)
        uss += values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return Footprint(count, rss, pss, uss)
