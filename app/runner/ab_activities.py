"""The live runner's A/B activities (ab_live.py says what they count and keep), registered with the others."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import activity

from app.runner.ab_live import counts, record_arrivals, setting
from app.runner.runnable import lookup
from app.runner.state import StateDb
from app.semantics.ab_test import decide


class ABActivities:
    """The runner's A/B activities (registered beside activities.Activities')."""

    def __init__(self, state: StateDb, script: Mapping[int, Sequence[Mapping[str, Any]]] | None = None) -> None:
        self.state, self.script = state, script or {}

    def all(self) -> list[Any]:
        return [self.ab_arrive, self.ab_decide]

    @activity.defn(name="ab_arrive")
    def ab_arrive(self, journey: str, step_id: str, rows: list[list[int]]) -> None:
        """Keep the contacts of a unit taking a path of an A/B split during its test period."""
        record_arrivals(self.state.path, journey, step_id, rows)

    @activity.defn(name="ab_decide")
    def ab_decide(self, journey: str, digest: str, step_id: str) -> dict[str, Any]:
        """The A/B split's decision: the one kept, or taken now from the runner's counts and kept."""
        r = lookup(journey, digest)
        name = setting(r.key, step_id)
        kept = self.state.get(name)
        if isinstance(kept, dict):
            return kept
        step = r.plan.steps[r.step(step_id)]
        assert step.ab is not None
        n, x = counts(self.state.path.parent, r.key, r.plan, step, self.script)
        d = decide(step.id, step.ab, n, x)
        plain = {**d.to_plain(), "taken_at": time.time()}
        return dict(self.state.setdefault(name, plain))
