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
from typing import Any, Callable

import numpy as np

from app.model.registry import PATH_NAMES
from app.semantics.ab_test import METHOD as AB_METHOD, Decision
from simulator.ab_winner import ab_steps, decide_all
from simulator.behaviour import BehaviourModel
from app.semantics.draws import derive_seed
from simulator.engine import DEFAULT_CHUNK, CancelToken, Progress, run
from simulator.memory import keep_freed_memory
from simulator.metrics import figures
from app.semantics.plan import Plan
from simulator.population import Population
from app.semantics.timezones import utc_iso
from simulator.trace import Trace
from simulator.world import World, build_world

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

    def to_plain_at(self, index: int) -> dict[str, Any]:
        """One entry of an array figure, as {mean, low, high, sd}."""
        return {k: _plain(np.asarray(getattr(self, k))[index]) for k in ("mean", "low", "high", "sd")}


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
        # numpy's stubs match **arrays against the keyword-only allow_pickle: bool as well
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
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


Z975 = 1.959964
EFFECT_METHOD = ("Shares of the contacts who entered who did the event from their entry until the run's cutoff, "
                 "with the journey and in the paired run without it (the same contacts, seeds and events of their "
                 "own); 95% intervals by the normal approximation over every contact who entered, pooled over the "
                 "replicas (paired differences for what the journey causes)")


def _share(mean: float, se: float, lo: float = 0.0, hi: float = 1.0) -> dict[str, float]:
    return {"mean": round(mean, 6), "low": round(max(lo, mean - Z975 * se), 6),
            "high": round(min(hi, mean + Z975 * se), 6)}


def pooled_effect(samples: list[dict[str, np.ndarray]], events: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per effect event: the share with the journey, without it and the difference (the journey's own effect),
    each {mean, low, high}, pooled over the replicas' contacts (see EFFECT_METHOD)."""
    n = sum(float(s.get("effect.n", 0.0)) for s in samples)
    out: dict[str, dict[str, Any]] = {}
    if n <= 0:
        return {e: {"with_journey": None, "without_journey": None, "incremental": None} for e in events}
    for j, event in enumerate(events):
        w = sum(float(s["effect.with"][j]) for s in samples if len(s.get("effect.with", ())) > j) / n
        wo = sum(float(s["effect.without"][j]) for s in samples if len(s.get("effect.without", ())) > j) / n
        differ = sum(float(s["effect.differ"][j]) for s in samples if len(s.get("effect.differ", ())) > j) / n
        d = w - wo
        var_d = max(0.0, differ - d * d)
        out[event] = {"with_journey": _share(w, math.sqrt(w * (1 - w) / n)),
                      "without_journey": _share(wo, math.sqrt(wo * (1 - wo) / n)),
                      "incremental": _share(d, math.sqrt(var_d / n), -1.0, 1.0)}
    return out


CHANNEL_FIGURES = (("delivery", "delivered", "sent"), ("open", "opened", "delivered"),
                   ("click", "clicked", "opened"), ("unsubscribe", "unsubscribed", "delivered"),
                   ("conversion", "converted", "clicked"))


def realised_figures(samples: list[dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Per channel used: each behaviour figure as this run's recipients realised it (pooled over replicas;
    95% binomial interval), with its denominator."""
    channels = sorted({k.split(".")[1] for s in samples for k in s if k.startswith("channels.")})
    out: dict[str, dict[str, Any]] = {}
    for ch in channels:
        def total(event: str) -> float:
            return sum(float(s.get(f"channels.{ch}.{event}", 0.0)) for s in samples)
        if total("sent") <= 0:
            continue
        figs: dict[str, Any] = {}
        for name, num, den in CHANNEL_FIGURES:
            d = total(den)
            if d > 0:
                p = total(num) / d
                figs[name] = {**_share(p, math.sqrt(p * (1 - p) / d)), "of": int(round(d))}
        out[ch] = figs
    return out


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
    effect: dict[str, dict[str, Any]] = field(default_factory=dict)
    realised: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    population_per_replica: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    per_replica: dict[str, np.ndarray] = field(default_factory=dict)  # see `replica_figures`
    ab_tests: list[list[Decision]] = field(default_factory=list)  # per replica, each A/B test's decision

    def ab_summary(self) -> list[dict[str, Any]]:
        """Per A/B split with a test period: each replica's decision (when, the counts, p-value, rule, why) and
        how often each path won."""
        return ab_summary(self.plan, self.ab_tests)

    def replicas_npz(self) -> bytes:
        """The per-replica figures compare needs for paired differences, as compressed npz bytes."""
        buf = io.BytesIO()
        # numpy's stubs match **per_replica against the keyword-only allow_pickle: bool as well
        np.savez_compressed(buf, steps=np.array(self.trace.steps, dtype=np.str_),
                            **self.per_replica)  # type: ignore[arg-type]
        return buf.getvalue()

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

    @property
    def goal(self) -> str | None:
        """The name of the journey's goal event (as in `effect`), if it has one."""
        return self.plan.goal.name if self.plan.goal is not None else None

    def behaviour_figures(self) -> dict[str, dict[str, Any]]:
        """Per channel (and message step with its own figures): each figure as stated, the base for a contact
        whose multipliers are all 1 (so that the population's mean is the stated figure), and as realised by
        this journey's recipients."""
        out: dict[str, dict[str, Any]] = {}
        for where, figs in (self.calibration.get("figures") or {}).items():
            if where.startswith("step:") or where in self.realised:
                row = {}
                for name, f in figs.items():
                    realised = self.realised.get(where, {}).get(name) if not where.startswith("step:") else None
                    row[name] = {"stated": f["stated"], "average_contact": round(f["base"], 6),
                                 "realised": realised}
                out[where] = row
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON document of the command line: the journey's effect, funnel per step and time series, with
        intervals."""
        days = self.trace.days
        return {
            "journey": {"id": self.plan.journey_id, "name": self.plan.journey_name, "version": self.plan.version},
            "seed": self.seed, "replicas": self.replicas, "contacts": self.contacts,
            "start": utc_iso(self.plan.start), "horizon": utc_iso(self.plan.horizon),
            "interval": "95% Student t interval of the mean over replicas",
            "population_per_replica": self.population_per_replica,
            "entries": self.estimates["funnel.entered"].to_plain_at(self.plan.entry)
            if "funnel.entered" in self.estimates else None,
            "goal": self.goal,
            "target": self.plan.target,  # accounts: a unit reaches the goal when any of its contacts does
            # the goal and every effect count within this window after entry, whether or not the contact left
            "goal_window_days": round(self.plan.goal_window / 86_400, 4),
            "effect": self.effect,
            "effect_method": EFFECT_METHOD,
            "behaviour_figures": self.behaviour_figures(),
            "funnel": self.funnel_rows(),
            "conversion": self.estimates["conversion"].to_plain(),
            "time_series": {"days": [utc_iso(self.plan.start + 86_400 * d)[:10] for d in range(days)],
                            **{k[len("series."):]: v.to_plain() for k, v in self.estimates.items()
                               if k.startswith("series.")}},
            **({"ab_tests": self.ab_summary()} if self.ab_tests else {}),
            "seconds": round(self.seconds, 3), **self.extra}


PopulationSource = Population | Callable[[int], Population]


def simulate(plan: Plan, pop: PopulationSource, behaviour: BehaviourModel, seed: int, replicas: int = 1, *,
             chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None,
             cancel: CancelToken | None = None) -> SimulationResult:
    """Run `replicas` replicas and summarise every figure; progress covers all replicas.

    `pop` is one population for every replica, or a function that makes replica r's population (each replica
    then draws its own, so that the intervals include the population's own variation)."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    started = time.perf_counter()
    samples: list[dict[str, np.ndarray]] = []
    first: Trace | None = None
    calibration: dict[str, Any] = {}
    contacts = 0
    timings = {"population": 0.0, "world": 0.0, "run": 0.0}
    per_replica = callable(pop)
    tests = ab_steps(plan)
    ab_decisions: list[list[Decision]] = []  # per replica, per A/B test: what it decided and why
    with keep_freed_memory():
        for r in range(replicas):
            def step(fraction: float, message: str, r: int = r) -> None:
                if progress is not None:
                    progress((r + fraction) / replicas, f"replica {r + 1} of {replicas}: {message}")
            t0 = time.perf_counter()
            population = pop(r) if callable(pop) else pop
            t1 = time.perf_counter()
            world = build_world(plan, population, behaviour, derive_seed(seed, r))
            t2 = time.perf_counter()
            if tests:
                def one_pass(p: Plan, i: int, passes: int, population: Population = population,
                             world: World = world, r: int = r) -> Trace:
                    return run(p, population, behaviour, derive_seed(seed, r), chunk_size=chunk_size, cancel=cancel,
                               world=world, progress=lambda f, m: step((i + f) / passes, m))
                trace, _, decided = decide_all(plan, one_pass)
                ab_decisions.append(decided)
            else:
                trace = run(plan, population, behaviour, derive_seed(seed, r), chunk_size=chunk_size,
                            progress=step, cancel=cancel, world=world)
            t3 = time.perf_counter()
            twin = float(trace.timings.get("twin", 0.0))
            timings["population"] += t1 - t0
            timings["world"] += t2 - t1
            timings["run"] += t3 - t2 - twin
            timings["twin"] = timings.get("twin", 0.0) + twin
            samples.append(figures(trace))
            if first is None:
                first = trace
                calibration = world.calibration.to_plain()
                contacts = len(population)
            del trace, world, population
    assert first is not None
    events = tuple(first.meta.get("effect_events", ()))
    return SimulationResult(plan, seed, replicas, summarize(samples), first, time.perf_counter() - started,
                            contacts, effect=pooled_effect(samples, events), realised=realised_figures(samples),
                            calibration=calibration, population_per_replica=per_replica, timings=timings,
                            per_replica=replica_figures(samples, plan.entry), ab_tests=ab_decisions)


def ab_summary(plan: Plan, per_replica: list[list[Decision]]) -> list[dict[str, Any]]:
    """Per A/B test: how many replicas each path won, and every replica's decision (see Decision.to_plain)."""
    out: list[dict[str, Any]] = []
    for j, s in enumerate(ab_steps(plan)):
        decided = [r[j] for r in per_replica if len(r) > j]
        wins = [0] * len(s.thresholds)
        for d in decided:
            if d.winner >= 0:
                wins[d.winner] += 1
        out.append({"step": s.id, "name": s.name, "metric": s.ab.metric if s.ab else "",
                    "decided_at": utc_iso(s.ab.decide_at) if s.ab else None, "method": AB_METHOD,
                    "wins": {PATH_NAMES[i]: w for i, w in enumerate(wins)},
                    "no_winner": sum(1 for d in decided if d.winner < 0),
                    "replicas": [{k: v for k, v in d.to_plain().items() if k != "rule"} for d in decided]})
    return out


def replica_figures(samples: list[dict[str, np.ndarray]], entry: int) -> dict[str, np.ndarray]:
    """Each replica's journey entries ('entries', K) and funnel figures ('funnel.<metric>', K x steps)."""
    names = list(dict.fromkeys(k for s in samples for k in s if k.startswith("funnel.")))
    out = {"entries": np.array([float(s["funnel.entered"][entry]) if "funnel.entered" in s else 0.0
                                for s in samples])}
    for name in names:
        shape = next(s[name] for s in samples if name in s)
        out[name] = np.stack([s[name] if name in s else np.zeros_like(shape) for s in samples]).astype(np.float64)
    return out
