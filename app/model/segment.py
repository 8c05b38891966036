"""Segments as journeys refer to them: a named, typed group of contacts or accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SegmentEntity = Literal["contacts", "accounts"]
SegmentKind = Literal["dynamic", "static", "subscription"]
SEGMENT_ENTITIES: tuple[str, ...] = ("contacts", "accounts")
SEGMENT_KINDS: tuple[str, ...] = ("dynamic", "static", "subscription")


@dataclass(frozen=True)
class Segment:
    """A segment: what it holds (contacts or accounts), how it is defined, and its definition if any."""

    name: str
    entity: SegmentEntity = "contacts"
    kind: SegmentKind = "dynamic"
    description: str = ""
    query: dict[str, Any] | None = field(default=None, hash=False, compare=True)
