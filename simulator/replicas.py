"""Replicas: the same run under K seeds, every figure given as a mean with a 95 % interval.

Replica r runs with seed `derive_seed(seed, r)`, so replica r gives the same figures whatever K is. The interval
is Student's t interval for the mean over replicas (mean +- t(0.975, K-1) * sd / sqrt(K)): where the figure's
expected value lies given the behaviour model and the population. With one replica there is no interval (both
ends equal the figure). The trace of replica 0 is kept for the replay view; the others only give figures.
The per-step daily figures ('steps.*') are kept out of `to_json()` (too big); `step_intervals()` gives them as
`StepIntervals`, which a saved run stores compactly for the replay view's hover figures.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.behaviour import BehaviourModel
from simulator.draws import derive_seed
from simulator.engine import DEFAULT_CHUNK, CancelToken, Progress, run
from simulator.memory import keep_freed_memory
from simulator.metrics import figures
from simulator.plan import Plan
from simulator.population import Population
from simulator.timezones import utc_iso
from simulator.trace import Trace

# two-sided 95 % Student t quantiles by degrees of freedom (beyond 30: the normal approximation below)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        return float("nan")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion in 1/df: within 0.001 of the exact quantile from df = 30
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Estimate:
    """A figure over replicas: mean, standard deviation and the 95 % interval of the mean (arrays or 0-d)."""

    mean: np.ndarray
    sd: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_plain(self) -> dict[str, Any]:
        return {k: _plain(getattr(self, k)) for k in ("mean", "low", "high", "sd")}


def _plain(a: np.ndarray) -> Any:
    out = np.where(np.isfinite(a), np.round(a, 6), np.nan).tolist()
    return _nan_to_none(out)


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return None if isinstance(v, float) and math.isnan(v) else v


def summarize(samples: list[dict[str, np.ndarray]]) -> dict[str, Estimate]:
    """Mean and 95 % interval of every figure across replicas (a figure a replica lacks counts as zeros)."""
    k = len(samples)
    out: dict[str, Estimate] = {}
    for name in dict.fromkeys(n for s in samples for n in s):
        shape = next(s[name] for s in samples if name in s)
        stack = np.stack([s[name] if name in s else np.zeros_like(shape) for s in samples])
        mean = stack.mean(axis=0)
        if k > 1:
            sd = stack.std(axis=0, ddof=1)
            half = t975(k - 1) * sd / math.sqrt(k)
        else:
            sd = np.zeros_like(mean)
            half = np.zeros_like(mean)
        out[name] = Estimate(mean, sd, mean - half, mean + half)
    return out


STEP_PREFIX = "steps."


@dataclass(frozen=True)
class StepIntervals:
    """Per step and simulated day, each cumulative step figure ('entered', 'sent', 'opened'...) over replicas:
    mean and 95 % interval, float32 arrays of steps ('end' last) x days. With one replica low == high == mean."""

    replicas: int
    steps: tuple[str, ...]
    mean: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]

    @classmethod
    def from_estimates(cls, estimates: dict[str, Estimate], replicas: int, steps: tuple[str, ...]) -> StepIntervals:
        """The 'steps.*' figures of a summary."""
        names = [k for k in estimates if k.startswith(STEP_PREFIX)]
        cut = len(STEP_PREFIX)
        return cls(replicas, tuple(steps), *({k[cut:]: getattr(estimates[k], part).astype(np.float32) for k in names}
                                              for part in ("mean", "low", "high")))

    @property
    def days(self) -> int:
        """Simulated days covered."""
        return next(iter(self.mean.values())).shape[1] if self.mean else 0

    def at(self, metric: str, step: int, day: int) -> tuple[float, float, float] | None:
        """(mean, low, high) of a figure of step index `step` by the end of `day` (0-based); None if unknown."""
        if metric not in self.mean or not 0 <= day < self.days:
            return None
        return (float(self.mean[metric][step, day]), float(self.low[metric][step, day]),
                float(self.high[metric][step, day]))

    def to_npz(self) -> bytes:
        """Compressed npz bytes (with one replica the interval ends are not stored: they equal the mean)."""
        arrays: dict[str, np.ndarray] = {"replicas": np.array(self.replicas),
                                         "steps": np.array(self.steps, dtype=np.str_)}
        for name in self.mean:
            arrays[f"mean.{name}"] = self.mean[name]
            if self.replicas > 1:
                arrays[f"low.{name}"], arrays[f"high.{name}"] = self.low[name], self.high[name]
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> StepIntervals:
        """Read `to_npz`'s form."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            replicas = int(z["replicas"])
            steps = tuple(str(s) for s in z["steps"])
            mean = {k[5:]: z[k] for k in z.files if k.startswith("mean.")}
            low = {k: z[f"low.{k}"] for k in mean} if replicas > 1 else dict(mean)
            high = {k: z[f"high.{k}"] for k in mean} if replicas > 1 else dict(mean)
        return cls(replicas, steps, mean, low, high)


@dataclass
class SimulationResult:
    """Figures of K replicas with intervals, and the trace of the first replica."""

    plan: Plan
    seed: int
    replicas: int
    estimates: dict[str, Estimate]
    trace: Trace
    seconds: float
    contacts: int
    extra: dict[str, Any] = field(default_factory=dict)

    def funnel_rows(self) -> list[dict[str, Any]]:
        """Per step: id, name, type and each funnel figure as an Estimate-like dict."""
        names = [s.name for s in self.plan.steps] + ["(end)"]
        types = [s.type for s in self.plan.steps] + ["end"]
        rows = []
        for i, sid in enumerate(self.plan.step_names()):
            row: dict[str, Any] = {"step": sid, "name": names[i], "type": types[i]}
            for key, est in self.estimates.items():
                if key.startswith("funnel."):
                    row[key[len("funnel."):]] = {"mean": float(est.mean[i]), "low": float(est.low[i]),
                                                 "high": float(est.high[i])}
            rows.append(row)
        return rows

    def step_intervals(self) -> StepIntervals:
        """The per-step daily figures with their intervals (for the replay view; not in `to_json`)."""
        return StepIntervals.from_estimates(self.estimates, self.replicas, self.trace.steps)

    def to_json(self) -> dict[str, Any]:
        """The JSON document of the command line: funnel per step and time series, with intervals."""
        days = self.trace.days
        return {
            "journey": {"id": self.plan.journey_id, "name": self.plan.journey_name, "version": self.plan.version},
            "seed": self.seed, "replicas": self.replicas, "contacts": self.contacts,
            "start": utc_iso(self.plan.start), "horizon": utc_iso(self.plan.horizon),
            "interval": "95% Student t interval of the mean over replicas",
            "funnel": self.funnel_rows(),
            "conversion": self.estimates["conversion"].to_plain(),
            "time_series": {"days": [utc_iso(self.plan.start + 86_400 * d)[:10] for d in range(days)],
                            **{k[len("series."):]: v.to_plain() for k, v in self.estimates.items()
                               if k.startswith("series.")}},
            "seconds": round(self.seconds, 3), **self.extra}


def simulate(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int, replicas: int = 1, *,
             chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None,
             cancel: CancelToken | None = None) -> SimulationResult:
    """Run `replicas` replicas and summarise every figure; progress covers all replicas."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    started = time.perf_counter()
    samples: list[dict[str, np.ndarray]] = []
    first: Trace | None = None
    with keep_freed_memory():
        for r in range(replicas):
            def step(fraction: float, message: str, r: int = r) -> None:
                if progress is not None:
                    progress((r + fraction) / replicas, f"replica {r + 1} of {replicas}: {message}")
            trace = run(plan, pop, behaviour, derive_seed(seed, r), chunk_size=chunk_size, progress=step,
                        cancel=cancel)
            samples.append(figures(trace))
            if first is None:
                first = trace
            del trace
    assert first is not None
    return SimulationResult(plan, seed, replicas, summarize(samples), first, time.perf_counter() - started,
                            len(pop))
