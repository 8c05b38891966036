"""Test populations: synthetic contacts with memberships given by share (for tests of the engine's rules, where
who is in a segment is an input rather than the point)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from app.semantics.plan import Plan
from simulator.population import Population, SegmentSpec, assumed_membership, population_for


def synthetic(plan: Plan, n: int, seed: int, segments: Mapping[str, SegmentSpec] | None = None, *,
              end: int | None = None, **kw: Any) -> Population:
    """`n` synthetic contacts; each segment in `segments` holds a share at the start and a share of the others
    join uniformly until `end` (default: the horizon). Other segments the journey names get their assumed
    share by role."""
    pop = population_for(plan, n, seed, **kw)
    if segments:
        given = dict(pop.segments)
        for name, spec in segments.items():
            given[name] = assumed_membership(n, seed, name, spec, plan.start, end if end is not None else plan.horizon)
        pop = replace(pop, segments=given)
    return pop
