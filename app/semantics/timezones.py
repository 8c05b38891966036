"""Time zones: journey-local dates to UTC seconds, and UTC offsets for one time (zoneinfo) or millions (a table).

All simulated times are whole seconds since the epoch, UTC. A journey's schedule and wait-until dates are local
to its time zone; quiet hours are local to each contact's zone. The reference interpreter asks zoneinfo for one
offset at a time; the engine looks offsets up in an `OffsetTable` built from zoneinfo's own transitions over the
simulated window, so both agree to the second (a test checks the table against zoneinfo).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import numpy as np

_SAMPLE = 6 * 3600  # offsets change at most a few times a year, never twice within six hours


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo (KeyError-like ZoneInfoNotFoundError for an unknown name)."""
    return ZoneInfo(name)


def utc_offset(name: str, t: int) -> int:
    """The UTC offset in seconds of zone `name` at UTC time `t`."""
    off = datetime.fromtimestamp(t, zone(name)).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def local_to_utc(local: datetime, name: str) -> int:
    """UTC seconds of a naive local date-time in zone `name` (an ambiguous time takes its first occurrence)."""
    aware = local.replace(tzinfo=zone(name), fold=0)
    return int(aware.timestamp())


def utc_iso(t: int) -> str:
    """UTC seconds as an ISO 8601 text ending in Z (for reports)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=1024)
def transitions(name: str, lo: int, hi: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The offset of `name` at `lo`, and each change within [lo, hi]: its UTC second and the offset after.

    Cached: a few hundred zoneinfo lookups a zone (a fifth of a 100k-contact run's engine time), and the
    designer, a sweep or replicas ask again for the same window."""
    first = utc_offset(name, lo)
    times: list[int] = []
    offsets: list[int] = []
    prev_t, prev = lo, first
    t = lo
    while t < hi:
        t = min(t + _SAMPLE, hi)
        cur = utc_offset(name, t)
        if cur != prev:
            a, b = prev_t, t  # offset(a) == prev, offset(b) == cur: find the first second with cur
            while b - a > 1:
                mid = (a + b) // 2
                if utc_offset(name, mid) == prev:
                    a = mid
                else:
                    b = mid
            times.append(b)
            offsets.append(cur)
            prev = cur
        prev_t = t
    return first, tuple(times), tuple(offsets)


class OffsetTable:
    """UTC offsets of a few zones over a window [lo, hi], looked up for many (zone, time) pairs at once."""

    def __init__(self, names: Sequence[str], lo: int, hi: int) -> None:
        import numpy as np  # only the simulator's engine builds tables (the runner's status needs no NumPy)
        self.names = tuple(names)
        self.lo, self.hi = lo, hi
        found = [transitions(n, lo, hi) for n in self.names]
        width = max((len(f[1]) for f in found), default=0)
        self.base = np.array([f[0] for f in found], dtype=np.int64)
        # per zone: the change times (padded with a time that never comes) and the offset change at each
        self.at = np.full((len(found), width), np.iinfo(np.int64).max, dtype=np.int64)
        self.delta = np.zeros((len(found), width), dtype=np.int64)
        for i, (first, times, offsets) in enumerate(found):
            prev = first
            for k, (t, off) in enumerate(zip(times, offsets)):
                self.at[i, k] = t
                self.delta[i, k] = off - prev
                prev = off
        self.constant = bool(width == 0)

    def offsets(self, zone_index: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Offsets (seconds, int64) of zone `zone_index[i]` at UTC time `t[i]` (times inside the window)."""
        import numpy as np
        off = self.base[zone_index]
        for k in range(self.at.shape[1]):
            passed = t >= self.at[zone_index, k]
            off += np.where(passed, self.delta[zone_index, k], 0)
        return off
