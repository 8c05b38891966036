"""A forecast of version N+1 for the contacts in flight on version N (app/package/in_flight.py): the contacts a
plan moves start on N+1 at the step it moves them to, at the moment given, and go on from there as N+1's
contacts would.

Each target step is simulated on its own: N+1's plan entered at that step (`starting_plan`), every synthetic
contact of its group entering at the moment (no audience test: they are in the journey already), the same
behaviour model and seed as any run. The figures of the groups are added up per step (means; each group's
interval is its own, so the sums carry no interval). What it assumes, said with every forecast (`ASSUMED`):
a moved contact enters its step afresh (a wait starts again; the time it waited on N is not counted), and an
if/then of N+1 waiting for an event of a message sent on N sees none (the forecast does not carry N's sends:
its 'yes' is a floor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from app.semantics.plan import Plan
from simulator.behaviour import BehaviourModel
from simulator.population import Population, population_for, replica_seed
from simulator.replicas import SimulationResult, simulate

MAX_GROUP = 1_000_000  # contacts simulated per target step at most
ASSUMED = ("moved contacts enter their step of the new version afresh at the moment given (a wait starts again)",
           "an if/then waiting for an event of a message sent on the old version sees none of it (a floor for 'yes')",
           "contacts are synthetic, drawn from the default population profile; no audience test (they are in the "
           "journey already)")


class ForecastError(ValueError):
    """A forecast that cannot be made (a step the plan does not have, a moment outside it, too many contacts)."""


def _utc(t: int) -> str:
    """A simulated moment (UTC seconds) as a reader writes it."""
    from datetime import datetime, timezone
    try:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(t)


def starting_plan(plan: Plan, step_id: str, at: int) -> Plan:
    """N+1's plan entered at `step_id` at simulated moment `at`, once, by everybody simulated."""
    ids = [s.id for s in plan.steps]
    if step_id not in ids:
        raise ForecastError(f"version {plan.version} has no step '{step_id}'")
    last = plan.iterations[-1][1] if plan.iterations else plan.horizon
    if not plan.start <= at < min(last, plan.horizon):
        raise ForecastError(f"the moment {_utc(at)} is outside version {plan.version}'s schedule ({_utc(plan.start)} "
                            f"to {_utc(min(last, plan.horizon))})")
    audience = replace(plan.audience, segments=(), exclude=(), min_consent=0)
    return replace(plan, entry=ids.index(step_id), start=at, frequency="one-time", iterations=((at, last),),
                   audience=audience)


@dataclass
class InFlightForecast:
    """Per step of N+1, the contacts moved there and what the forecast says they do (mean over replicas)."""

    version: int
    at: int
    groups: dict[str, int]                                   # target step -> contacts moved there
    results: dict[str, SimulationResult] = field(default_factory=dict)
    assumed: tuple[str, ...] = ASSUMED

    def funnel(self) -> list[dict[str, Any]]:
        """Per step of N+1 (and the end), each funnel figure's mean added up over the groups."""
        rows: dict[str, dict[str, Any]] = {}
        for result in self.results.values():
            for row in result.funnel_rows():
                out = rows.setdefault(row["step"], {"step": row["step"], "name": row["name"], "type": row["type"]})
                for key, value in row.items():
                    if isinstance(value, dict) and "mean" in value:
                        out[key] = out.get(key, 0.0) + float(value["mean"])
        return list(rows.values())

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "at": self.at, "groups": dict(self.groups), "assumed": list(self.assumed),
                "funnel": self.funnel()}


def forecast(plan: Plan, moved: Mapping[str, int], at: int, behaviour: BehaviourModel, seed: int,
             replicas: int = 1) -> InFlightForecast:
    """Simulate the contacts `moved` (target step of N+1 -> how many) from moment `at` on N+1's `plan`."""
    out = InFlightForecast(plan.version, at, {k: int(v) for k, v in moved.items() if int(v) > 0})
    for step_id, n in sorted(out.groups.items()):
        if n > MAX_GROUP:
            raise ForecastError(f"{n:,} contacts at '{step_id}': at most {MAX_GROUP:,} a step are simulated")
        start = starting_plan(plan, step_id, at)

        def draw(r: int, start: Plan = start, n: int = n) -> Population:
            return population_for(start, n, replica_seed(seed, r))

        out.results[step_id] = simulate(start, draw, behaviour, seed, replicas)
    return out


__all__ = ["ASSUMED", "ForecastError", "InFlightForecast", "forecast", "starting_plan"]
