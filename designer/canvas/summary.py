"""The status line of a tile until the simulator fills it: the registry's summary of the step's properties."""

from __future__ import annotations

from app.model.journey import Step
from app.model.registry import REGISTRY


def step_summary(step: Step) -> str:
    """A short line about what the step does, e.g. 'for 5d' or 'opened on announce within 1d'."""
    tile = REGISTRY.get(step.type)
    return tile.summary(step.props) if tile is not None and tile.summary is not None else ""
