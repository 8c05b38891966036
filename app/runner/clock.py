"""The run's clock: simulated journey time (UTC seconds) as a linear function of real time.

A live run (scale 1) follows real time. A rehearsal (`--time-scale F`) starts at the journey's start and runs F
times faster: simulated = origin_sim + (real - origin_real) * F, so a 1-day wait at F = 86400 lasts 1 second.
The clock is fixed when a run first starts and kept in the runner's state, so a restarted runner (and every
workflow, which receives it as input) keeps the same time line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Clock:
    """Simulated seconds = origin_sim + (real seconds - origin_real) * scale."""

    origin_real: float
    origin_sim: int
    scale: float = 1.0

    @classmethod
    def starting(cls, journey_start: int, scale: float, real_now: float) -> "Clock":
        """The clock of a new run: real time at scale 1, else a rehearsal from the journey's start."""
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"the time scale must be a number above zero, not {scale}")
        if scale == 1.0:
            whole = float(math.floor(real_now))
            return cls(whole, int(whole), 1.0)
        return cls(real_now, int(journey_start), float(scale))

    def sim(self, real: float) -> int:
        """The simulated moment (whole seconds) at real time `real`."""
        return self.origin_sim + math.floor((real - self.origin_real) * self.scale)

    def real(self, sim: int) -> float:
        """The real time at which the simulated moment `sim` comes."""
        return self.origin_real + (sim - self.origin_sim) / self.scale

    def to_plain(self) -> list[float]:
        """[origin_real, origin_sim, scale], for workflow inputs and the state database."""
        return [self.origin_real, float(self.origin_sim), self.scale]

    @classmethod
    def from_plain(cls, v: Any) -> "Clock":
        """The inverse of `to_plain`."""
        origin_real, origin_sim, scale = v
        return cls(float(origin_real), int(origin_sim), float(scale))
