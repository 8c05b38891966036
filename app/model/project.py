"""A project: journeys, segments, content and settings, with one change stream for views and the file.

Fine-grained changes go out on `changed` as they happen (views follow them). Changes are also grouped: all
changes made inside `with project.batch():` (one user gesture, one command) go out together on `committed`
when the outermost batch ends; the project file writes each group in one transaction.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterator

from app.errors import ModelError
from app.model.content import Content
from app.model.journey import Change, Journey
from app.model.segment import Segment
from app.model.signals import Signal
from app.model.values import printable


CAP_CHANNELS = ("email", "sms", "push")  # the channels a project-level frequency cap can limit
MAX_CAP_MESSAGES = 100  # a cap allows 1 to 100 messages per period
MIN_CAP_PERIOD = timedelta(hours=1)  # ... over a trailing window of 1 hour to 90 days
MAX_CAP_PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class ChannelCap:
    """A project-level frequency cap: at most `messages` messages on `channel` to one contact in any trailing
    window of length `per`, counting the sends of every live journey of the project (journeys marked exempt
    neither count against it nor are held by it)."""

    channel: str
    messages: int
    per: timedelta


@dataclass
class ProjectSettings:
    """Project-wide settings: custom contact attributes (name -> type), the default time zone, the team's
    trusted package keys (app.package.keyring's plain form) and the frequency caps across journeys (at most one
    per channel, in CAP_CHANNELS order)."""

    custom_attributes: dict[str, str] = field(default_factory=dict)
    default_timezone: str = "UTC"
    trusted_keys: list[dict[str, str]] = field(default_factory=list)
    frequency_caps: tuple[ChannelCap, ...] = ()

    def cap_for(self, channel: str) -> ChannelCap | None:
        """The project's cap on a channel, if any."""
        return next((c for c in self.frequency_caps if c.channel == channel), None)


class Project:
    """Everything in one project file, in memory."""

    def __init__(self, name: str = "Untitled") -> None:
        self.name = name
        self.settings = ProjectSettings()
        self._journeys: dict[str, Journey] = {}
        self._journey_by_name: dict[str, str] = {}
        self._content: dict[str, Content] = {}
        self._segments: dict[str, Segment] = {}
        self.changed = Signal()
        self.committed = Signal()
        self._batch_depth = 0
        self._pending: list[Change] = []

    # --- change stream ------------------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the changes made inside into one `committed` notification (one transaction on disk)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._pending:
                pending, self._pending = self._pending, []
                self.committed.emit(pending)

    def _on_change(self, change: Change) -> None:
        self.changed.emit(change)
        self._pending.append(change)
        if self._batch_depth == 0:
            pending, self._pending = self._pending, []
            self.committed.emit(pending)

    # --- journeys -----------------------------------------------------------------------------------------
    @property
    def journeys(self) -> list[Journey]:
        return list(self._journeys.values())

    def journey(self, key: str) -> Journey:
        """A journey by id or by name."""
        if key in self._journeys:
            return self._journeys[key]
        if key in self._journey_by_name:
            return self._journeys[self._journey_by_name[key]]
        names = ", ".join(printable(n) for n in sorted(self._journey_by_name)) or "none"
        raise ModelError(f"no journey named '{printable(key)}' in the project (journeys: {names})")

    def find_journey(self, key: str) -> Journey | None:
        try:
            return self.journey(key)
        except ModelError:
            return None

    def new_journey_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def add_journey(self, journey: Journey, index: int | None = None) -> Journey:
        """Add a journey at `index` in the journey order (default: the end; undo puts one back in place)."""
        if journey.id in self._journeys:
            raise ModelError(f"a journey with id '{printable(journey.id)}' is already in the project")
        if journey.name in self._journey_by_name:
            raise ModelError(f"a journey named '{printable(journey.name)}' is already in the project")
        if index is None or index >= len(self._journeys):
            self._journeys[journey.id] = journey
        else:
            items = list(self._journeys.items())
            items.insert(max(index, 0), (journey.id, journey))
            self._journeys = dict(items)
        self._journey_by_name[journey.name] = journey.id
        journey.changed.connect(self._journey_changed)
        journey.name_taken = lambda name: name in self._journey_by_name
        self._on_change(Change("journey-added", journey=journey.id))
        return journey

    def remove_journey(self, key: str) -> Journey:
        journey = self.journey(key)
        journey.changed.disconnect(self._journey_changed)
        journey.name_taken = lambda name: False
        del self._journeys[journey.id]
        del self._journey_by_name[journey.name]
        self._on_change(Change("journey-removed", journey=journey.id, detail=journey))
        return journey

    def _journey_changed(self, change: Change) -> None:
        if change.kind == "journey-changed" and "name" in (change.detail or ()):
            journey = self._journeys[change.journey]  # type: ignore[index]
            old = next((n for n, i in self._journey_by_name.items() if i == journey.id), None)
            if old is not None and old != journey.name:  # uniqueness was checked by Journey.update
                del self._journey_by_name[old]
                self._journey_by_name[journey.name] = journey.id
        self._on_change(change)

    def unique_journey_name(self, base: str) -> str:
        if base not in self._journey_by_name:
            return base
        n = 2
        while f"{base} ({n})" in self._journey_by_name:
            n += 1
        return f"{base} ({n})"

    # --- content and segments -----------------------------------------------------------------------------
    @property
    def content(self) -> dict[str, Content]:
        return self._content

    def put_content(self, content: Content) -> Content | None:
        """Add or replace content by name; returns what it replaced."""
        old = self._content.get(content.name)
        self._content[content.name] = content
        self._on_change(Change("content-changed", name=content.name))
        return old

    def remove_content(self, name: str) -> Content:
        if name not in self._content:
            raise ModelError(f"no content named '{name}' in the project")
        old = self._content.pop(name)
        self._on_change(Change("content-changed", name=name))
        return old

    @property
    def segments(self) -> dict[str, Segment]:
        return self._segments

    def put_segment(self, segment: Segment) -> Segment | None:
        old = self._segments.get(segment.name)
        self._segments[segment.name] = segment
        self._on_change(Change("segment-changed", name=segment.name))
        return old

    def remove_segment(self, name: str) -> Segment:
        if name not in self._segments:
            raise ModelError(f"no segment named '{name}' in the project")
        old = self._segments.pop(name)
        self._on_change(Change("segment-changed", name=name))
        return old

    def update_settings(self, **kw: Any) -> dict[str, Any]:
        old = {k: getattr(self.settings, k) for k in kw}
        for k, v in kw.items():
            if not hasattr(self.settings, k):
                raise ModelError(f"unknown project setting '{k}'")
            setattr(self.settings, k, v)
        self._on_change(Change("settings-changed", detail=tuple(kw)))
        return old
