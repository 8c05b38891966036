"""The status line of a tile until the simulator fills it: the registry's summary of the step's properties."""

from __future__ import annotations

from app.model.journey import Step
from app.model.registry import REGISTRY


def step_summary(step: Step) -> str:
    """A short line about what the step does, e.g. 'for 5 days' or 'shop clicked within 1 day'; nothing when the
    tile has no name of its own, since its name then already says it ('Opened within 2 days?')."""
    tile = REGISTRY.get(step.type)
    if tile is None or tile.summary is None:
        return ""
    if not step.name and tile.auto_name is not None and step.display_name != tile.label:
        return ""
    return tile.summary(step.props)
