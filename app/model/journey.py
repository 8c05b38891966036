"""A journey: its settings (target, audience, frequency, schedule, goal, exits) and its graph of steps.

Steps live in an ordered map; each step holds its outgoing links by port. The journey keeps the reverse
index (who links to a step) so neighbours are found without scanning. Every mutation goes through a method
here, which keeps the index right and announces a `Change` on `journey.changed`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Callable, Iterator, Literal

from app.errors import ModelError
from app.model.registry import END, REGISTRY, Port
from app.model.signals import Signal

Target = Literal["contacts", "accounts"]
FrequencyKind = Literal["one-time", "ongoing", "repeating"]
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
RESERVED_STEP_IDS = frozenset({END})


@dataclass(frozen=True)
class Audience:
    """Who enters: segments combined by union or intersection, minus exclusions; who gets no messages."""

    segments: tuple[str, ...] = ()
    combine: Literal["union", "intersection"] = "union"
    exclude: tuple[str, ...] = ()
    suppress: str | None = None
    min_consent: str | None = None


@dataclass(frozen=True)
class Frequency:
    """One-time (members at start), ongoing (members as they join) or repeating (interval x count)."""

    kind: FrequencyKind = "one-time"
    interval: timedelta | None = None
    count: int | None = None


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which no message is sent; sends are deferred to the end of the quiet period."""

    start: time
    end: time


@dataclass(frozen=True)
class Schedule:
    """When the journey runs, in local time of its time zone."""

    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Trigger:
    """A goal or an exit condition: a contact event (purchase), or joining / leaving a segment."""

    event: str | None = None
    segment: str | None = None
    when: Literal["joins", "leaves"] | None = None
    within: timedelta | None = None  # a goal's attribution window after entry (None: DEFAULT_GOAL_WINDOW)


@dataclass(frozen=True)
class FrequencyCap:
    """At most `messages` messages to one contact per `per`."""

    messages: int
    per: timedelta


@dataclass(frozen=True)
class Position:
    x: float
    y: float


@dataclass
class Step:
    """One tile of a journey: its type, optional display name, typed properties and outgoing links."""

    id: str
    type: str
    name: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    position: Position | None = None

    @property
    def display_name(self) -> str:
        """Its name; until it has one, what it does in words ('Product announcement email', 'Opened within 1
        day?', 'Wait until 10 Dec 09:00'), else its tile's label ('Send email'); never an id like 'if_then_2'."""
        if self.name:
            return self.name
        tile = REGISTRY.get(self.type)
        if tile is None:
            return self.id
        try:
            auto = tile.auto_name(self.props) if tile.auto_name is not None else ""
        except (TypeError, ValueError, AttributeError, KeyError):  # properties a check will report as wrong
            auto = ""
        return auto or tile.label

    def ports(self) -> tuple[Port, ...]:
        tile = REGISTRY.get(self.type)
        return tile.ports_for(self.props) if tile else ()

    def clone(self) -> Step:
        return Step(self.id, self.type, self.name, copy.deepcopy(self.props), dict(self.outputs), self.position)


@dataclass(frozen=True)
class Change:
    """What changed in a project; views and the project file follow these."""

    kind: str  # journey-added/-removed/-changed, step-added/-removed/-changed, link-changed, entry-changed,
    #            content-changed, segment-changed, settings-changed
    journey: str | None = None
    step: str | None = None
    port: str | None = None
    name: str | None = None
    detail: Any = None


SETTINGS_FIELDS = ("name", "description", "target", "audience", "frequency", "schedule", "goal", "exit_when",
                   "frequency_cap", "version", "priority", "cap_exempt")
DEFAULT_PRIORITY = 5  # a journey's priority under the project's frequency caps: 1 (first) .. 10 (last)
MIN_PRIORITY, MAX_PRIORITY = 1, 10


class Journey:
    """A journey: settings plus a graph of steps from one entry step."""

    def __init__(self, id: str, name: str, *, description: str = "", version: int = 1,
                 target: Target = "contacts", audience: Audience | None = None,
                 frequency: Frequency | None = None, schedule: Schedule | None = None,
                 goal: Trigger | None = None, exit_when: tuple[Trigger, ...] = (),
                 frequency_cap: FrequencyCap | None = None, priority: int = DEFAULT_PRIORITY,
                 cap_exempt: bool = False) -> None:
        self.id = id
        self.name = name
        self.description = description
        self.version = version
        self.target: Target = target
        self.audience = audience or Audience()
        self.frequency = frequency or Frequency()
        self.schedule = schedule or Schedule()
        self.goal = goal
        self.exit_when = tuple(exit_when)
        self.frequency_cap = frequency_cap
        # under the project's frequency caps (ProjectSettings.frequency_caps): among messages due to one contact
        # at the same moment, a lower number goes first; an exempt journey (transactional messages) is never held
        # back by the caps and its sends do not count against them
        self.priority = priority
        self.cap_exempt = cap_exempt
        self.entry: str | None = None
        self._steps: dict[str, Step] = {}
        self._preds: dict[str, dict[tuple[str, str], None]] = {}
        self.changed = Signal()
        self.name_taken: Callable[[str], bool] = lambda name: False  # set by the project that holds it

    # --- reading ------------------------------------------------------------------------------------------
    @property
    def steps(self) -> dict[str, Step]:
        """The steps in order (read-only by convention: edit through the journey's methods)."""
        return self._steps

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps.values())

    def __len__(self) -> int:
        return len(self._steps)

    def __bool__(self) -> bool:
        """A journey is a journey however many tiles it has (`if journey:` must not drop an empty one)."""
        return True

    def step(self, step_id: str) -> Step:
        try:
            return self._steps[step_id]
        except KeyError:
            raise ModelError(f"journey '{self.name}' has no step '{step_id}'") from None

    def index_of(self, step_id: str) -> int:
        return list(self._steps).index(step_id)

    def successors(self, step_id: str) -> list[tuple[str, str]]:
        """(port, target step) pairs leaving a step, in port order; `end` targets are left out."""
        step = self.step(step_id)
        return [(p, t) for p, t in step.outputs.items() if t != END and t in self._steps]

    def predecessors(self, step_id: str) -> list[tuple[str, str]]:
        """(source step, port) pairs that lead into a step."""
        return list(self._preds.get(step_id, {}))

    def links(self) -> Iterator[tuple[str, str, str]]:
        """Every (source, port, target) link, `end` targets included."""
        for s in self._steps.values():
            for port, target in s.outputs.items():
                yield s.id, port, target

    def settings(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in SETTINGS_FIELDS}

    def new_step_id(self, base: str) -> str:
        """A free step id derived from `base` (a tile type id or a name)."""
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_").lower() or "step"
        if not stem[0].isalpha():
            stem = "s_" + stem
        stem = stem[:56]
        if stem not in self._steps and stem not in RESERVED_STEP_IDS:
            return stem
        n = 2
        while f"{stem}_{n}" in self._steps:
            n += 1
        return f"{stem}_{n}"

    # --- editing ------------------------------------------------------------------------------------------
    def _emit(self, kind: str, **kw: Any) -> None:
        self.changed.emit(Change(kind, journey=self.id, **kw))

    def update(self, **settings: Any) -> dict[str, Any]:
        """Change journey-level settings; returns the old values (for undo)."""
        unknown = set(settings) - set(SETTINGS_FIELDS)
        if unknown:
            raise ModelError(f"unknown journey setting(s): {', '.join(sorted(unknown))}")
        if "name" in settings and settings["name"] != self.name and self.name_taken(settings["name"]):
            raise ModelError(f"a journey named '{settings['name']}' is already in the project")
        old = {k: getattr(self, k) for k in settings}
        for k, v in settings.items():
            setattr(self, k, tuple(v) if k == "exit_when" else v)
        self._emit("journey-changed", detail=tuple(settings))
        return old

    def add_step(self, step: Step, index: int | None = None) -> None:
        """Insert a step (with its outputs) at `index` in the step order (default: the end)."""
        if not STEP_ID.fullmatch(step.id) or step.id in RESERVED_STEP_IDS:
            raise ModelError(f"'{step.id}' is not a valid step id (letters, digits, _ and -; not 'end')")
        if step.id in self._steps:
            raise ModelError(f"journey '{self.name}' already has a step '{step.id}'")
        if index is None or index >= len(self._steps):
            self._steps[step.id] = step
        else:
            items = list(self._steps.items())
            items.insert(max(index, 0), (step.id, step))
            self._steps = dict(items)
        self._preds.setdefault(step.id, {})
        for port, target in step.outputs.items():
            self._preds.setdefault(target, {})[(step.id, port)] = None
        if self.entry is None:
            self.entry = step.id
            self._emit("entry-changed", step=step.id)
        self._emit("step-added", step=step.id, detail=index)

    def remove_step(self, step_id: str) -> Step:
        """Remove a step and every link into or out of it; returns the removed step."""
        step = self.step(step_id)
        for src, port in list(self._preds.get(step_id, {})):
            self.disconnect(src, port)
        for port in list(step.outputs):
            self.disconnect(step_id, port)
        del self._steps[step_id]
        self._preds.pop(step_id, None)
        self._emit("step-removed", step=step_id, detail=step)
        if self.entry == step_id:
            self.entry = next(iter(self._steps), None)
            self._emit("entry-changed", step=self.entry)
        return step

    def connect(self, source: str, port: str, target: str) -> str | None:
        """Link `source`'s `port` to `target` (a step id or `end`); returns the previous target."""
        step = self.step(source)
        if target != END:
            self.step(target)
            if target == source:
                raise ModelError(f"step '{source}' cannot link to itself")
        if port not in {p.id for p in step.ports()}:
            raise ModelError(f"step '{source}' ({step.type}) has no output '{port}'")
        old = step.outputs.get(port)
        if old is not None:
            self._preds.get(old, {}).pop((source, port), None)
        step.outputs[port] = target
        self._preds.setdefault(target, {})[(source, port)] = None
        self._emit("link-changed", step=source, port=port, detail=(old, target))
        return old

    def disconnect(self, source: str, port: str) -> str | None:
        """Remove the link from `source`'s `port`; returns its old target."""
        step = self.step(source)
        old = step.outputs.pop(port, None)
        if old is not None:
            self._preds.get(old, {}).pop((source, port), None)
            self._emit("link-changed", step=source, port=port, detail=(old, None))
        return old

    def set_props(self, step_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Set (or, with None, clear) properties of a step; returns the old values. Outputs on ports that the
        new properties no longer have (a split losing a path) are disconnected."""
        step = self.step(step_id)
        old = {k: step.props.get(k) for k in changes}
        for k, v in changes.items():
            if v is None:
                step.props.pop(k, None)
            else:
                step.props[k] = v
        valid = {p.id for p in step.ports()}
        for port in [p for p in step.outputs if p not in valid]:
            self.disconnect(step_id, port)
        self._emit("step-changed", step=step_id, detail=tuple(changes))
        return old

    def rename_step(self, step_id: str, name: str) -> str:
        step = self.step(step_id)
        old, step.name = step.name, name
        self._emit("step-changed", step=step_id, detail=("name",))
        return old

    def move_step(self, step_id: str, position: Position | None) -> Position | None:
        step = self.step(step_id)
        old, step.position = step.position, position
        self._emit("step-changed", step=step_id, detail=("position",))
        return old

    def set_entry(self, step_id: str | None) -> str | None:
        if step_id is not None:
            self.step(step_id)
        old, self.entry = self.entry, step_id
        self._emit("entry-changed", step=step_id)
        return old

    # --- copies and comparison ----------------------------------------------------------------------------
    def clone(self, *, id: str | None = None, name: str | None = None) -> Journey:
        """A deep copy with no listeners (optionally under another id / name)."""
        j = Journey(id or self.id, name or self.name, **{k: v for k, v in self.settings().items() if k != "name"})
        for s in self._steps.values():
            j.add_step(s.clone())
        j.entry = self.entry
        return j

    def _state(self) -> tuple[Any, ...]:
        return (self.id, self.entry, tuple(self.settings().items()),
                tuple((s.id, s.type, s.name, tuple(sorted(s.props.items(), key=lambda kv: kv[0])),
                       tuple(s.outputs.items()), s.position) for s in self._steps.values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Journey) and self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Journey({self.name!r}, {len(self._steps)} steps)"
