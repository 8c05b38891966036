"""What the scene shows over a journey (a replay's or a live run's figures), read by each item when it needs it.

A replay frame changes the status line of every tile and the flow of every link, many times a second while the
user scrubs. Writing each into a thousand items is most of a frame's time, though most of them are out of sight
or zoomed out too far to show text. So the scene posts the frame on a board (and bumps its generation), tells
the items in sight, and every other item reads the board when it is drawn or asked for its text.
"""

from __future__ import annotations

from collections.abc import Mapping

FLOW_MIN, FLOW_MAX = 3.0, 16.0  # stroke width of a replayed flow: a trickle, and everyone who entered


class StatusBoard:
    """Status lines per step (a mapping that may work a line out when it is read) and their tooltip notes."""

    def __init__(self) -> None:
        self.generation = 0
        self.lines: Mapping[str, str] = {}
        self.notes: Mapping[str, list[str]] = {}

    def post(self, lines: Mapping[str, str], notes: Mapping[str, list[str]] | None) -> None:
        self.lines = dict(lines) if isinstance(lines, dict) else lines
        self.notes = dict(notes or {})
        self.generation += 1


class FlowBoard:
    """Contacts that passed along each link (None: no flows shown), and the count drawn at full width."""

    def __init__(self) -> None:
        self.generation = 0
        self.flows: Mapping[tuple[str, str], int] | None = None
        self.scale = 0

    def post(self, flows: Mapping[tuple[str, str], int] | None, scale: int) -> None:
        self.flows = dict(flows) if flows is not None else None
        self.scale = scale
        self.generation += 1

    def flow(self, key: tuple[str, str]) -> tuple[int | None, float]:
        """A link's count and stroke width: (None, 0.0) when no flows are shown."""
        if self.flows is None:
            return None, 0.0
        count = self.flows.get(key, 0)
        share = min(1.0, count / self.scale) if self.scale > 0 else 0.0
        return count, 0.0 if count == 0 else FLOW_MIN + (FLOW_MAX - FLOW_MIN) * share ** 0.5
