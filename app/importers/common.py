"""What every importer shares: the per-step report, a journey builder that keeps the graph valid, placeholders
for what does not map, and the bounds on what a source file may hold. No Qt here.

A source step ends up as one of:
- mapped: one of our tiles does what it did;
- approximated: mapped, but not exactly (the note says what differs);
- placeholder: a tile named 'Unmapped: ...' that does nothing until the user sets it up (a wait without a
  duration, or an if/then that tests nothing); the check for errors flags it, so it cannot go live as it is;
- not mapped: no tile (a parallel path, a nested page, an entry source); the note says why.
Every source step is in the report with its id, type and name: nothing is dropped silently.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Literal, Mapping

from app.codec.plain import PlainError, props_from_plain
from app.model.content import Content, ContentKind
from app.model.journey import Journey, Position, Step
from app.model.registry import END
from app.model.segment import Segment, SegmentEntity
from app.model.values import printable

Outcome = Literal["mapped", "approximated", "placeholder", "not-mapped"]
OUTCOMES: tuple[str, ...] = ("mapped", "approximated", "placeholder", "not-mapped")
Path = tuple[Any, ...]

MAX_SOURCE_STEPS = 2_000  # a campaign of a few hundred steps is large; thousands is not a journey
MAX_NAME = 120  # characters of a step, content or segment name taken from the source
MAX_BODY = 100_000  # characters of a message body taken from the source
UNMAPPED = "Unmapped"


@dataclass(frozen=True)
class StepReport:
    """What became of one step of the source."""

    source_id: str
    source_type: str
    name: str
    outcome: Outcome
    steps: tuple[str, ...] = ()  # our step ids it became (empty when not mapped)
    note: str = ""

    def line(self) -> str:
        where = f"-> {', '.join(self.steps)}" if self.steps else "-> (no step)"
        text = f"{self.outcome:<12} {self.source_type} #{self.source_id} '{self.name}' {where}"
        return printable(f"{text}: {self.note}" if self.note else text)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.source_id, "type": self.source_type, "name": self.name, "outcome": self.outcome,
                "steps": list(self.steps), "note": self.note}


FORMAT_LABELS = {"journey": "a Journey Studio journey file", "mautic": "a Mautic campaign export",
                 "d365": "a Dynamics 365 customer journey (msdyncrm_workflowdefinition)",
                 "dittofeed": "a Dittofeed journey"}


@dataclass
class ImportResult:
    """A journey read from a file of some tool, with its content, segments and the per-step mapping report."""

    format: str
    detected: bool
    journey: Journey
    contents: list[Content] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the journey settings took or left (not per step)

    @property
    def foreign(self) -> bool:
        return self.format != "journey"

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.steps)

    def needs_attention(self) -> list[StepReport]:
        """The source steps the user has to look at: approximated, placeholders and those not mapped."""
        return [r for r in self.steps if r.outcome != "mapped"]

    def summary(self) -> str:
        if not self.foreign:
            return f"Read {FORMAT_LABELS['journey']}"
        how = "Detected" if self.detected else "Read"
        parts = [f"{self.count(o)} {o}" for o in OUTCOMES if self.count(o)]
        return (f"{how} {FORMAT_LABELS[self.format]}: {len(self.steps)} source steps ({', '.join(parts) or 'none'})")

    def lines(self) -> list[str]:
        """The report as text, one line each: summary, journey notes, then every source step."""
        out = [self.summary()]
        out += [printable(f"note         {n}") for n in self.notes]
        out += [r.line() for r in self.steps]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "detected": self.detected, "journey": self.journey.name,
                "counts": {o: self.count(o) for o in OUTCOMES}, "notes": list(self.notes),
                "steps": [r.to_dict() for r in self.steps]}


def fast_json(text: str) -> Any:
    """The document when the text is plain JSON, read with the json module (an export of a few MB reads in well
    under a second, where the YAML reader takes minutes); None otherwise, and for JSON that the bounded YAML reader
    must judge (duplicate keys, numbers of more than MAX_DIGITS digits, NaN): it then says what and where."""
    from app.codec.yamlio import MAX_DIGITS, MAX_TEXT
    head = text.lstrip()[:1]
    if head not in ("{", "[") or len(text) > MAX_TEXT:
        return None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(items)
        if len(d) != len(items):
            raise ValueError("duplicate key")
        return d

    def whole(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise ValueError("too many digits")
        return int(digits)

    def refuse(name: str) -> Any:
        raise ValueError(name)
    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=whole, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None


def bad(path: Path, message: str) -> PlainError:
    """Bad input at `path` of the source document (the reader turns it into file:line:column: message)."""
    return PlainError(path, message)


def check_parent_chains(nodes: Mapping[str, Any], field: str, what: str, missing: str, shown: Any = str) -> None:
    """Every node's parent (`.parent`, an id or None) is a node, and following parents ends at a root: PlainError at
    the node's `.path` + (`field`,) otherwise, as "`what` ID: `field` PARENT `missing`" or "... its `field` chain
    loops (a -> b -> a)". Each node is walked once."""
    for n in nodes.values():
        if n.parent is not None and n.parent not in nodes:
            raise bad(n.path + (field,), f"{what} {n.id}: {field} {shown(n.parent)} {missing}")
    rooted: set[str] = set()
    for n in nodes.values():
        chain, on_chain, cur = [n.id], {n.id}, n
        while cur.parent is not None and cur.id not in rooted:
            cur = nodes[cur.parent]
            if cur.id in on_chain:
                raise bad(n.path + (field,), f"{what} {n.id}: its {field} chain loops "
                          f"({' -> '.join(chain + [cur.id])})")
            chain.append(cur.id)
            on_chain.add(cur.id)
        rooted.update(chain)


def short(text: Any, limit: int = MAX_NAME) -> str:
    """Source text as a one-line name of at most `limit` characters."""
    s = " ".join(str(text).split()) if text is not None else ""
    return s if len(s) <= limit else s[:limit - 1].rstrip() + "…"


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)


def html_to_text(text: str, limit: int = MAX_BODY) -> str:
    """Readable text from HTML (tags and scripts dropped, entities decoded, blank runs folded)."""
    s = _TAG.sub(" ", text[: limit * 4])
    s = html.unescape(s)
    s = re.sub(r"[ \t\r\f\v]+", " ", s)
    s = re.sub(r"\s*\n\s*", "\n", s).strip()
    return s[:limit]


def no_nul(doc: Any, path: Path = (), depth: int = 0) -> None:
    """Refuse NUL characters anywhere in the document (a JSON "\\u0000" escape gets past the YAML reader)."""
    if isinstance(doc, str):
        if "\x00" in doc:
            raise bad(path, "the text holds a NUL character")
    elif isinstance(doc, Mapping):
        for k, v in doc.items():
            if isinstance(k, str) and "\x00" in k:
                raise bad(path + (k,), "a key holds a NUL character")
            no_nul(v, path + (k,), depth + 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            no_nul(v, path + (i,), depth + 1)


def parse_clock(text: Any) -> time | None:
    """'17:00' or '17:00:00' as a time; None when empty or not a time."""
    if not isinstance(text, str) or not text.strip():
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None
    return time(int(m.group(1)), int(m.group(2)))


def fmt_duration(d: timedelta) -> str:
    from app.model.values import format_duration
    return format_duration(d)


class Builder:
    """Builds one journey step by step, with names, positions, content and segments, and records the report."""

    def __init__(self, name: str, source: str) -> None:
        self.source = source  # "Mautic", "Dynamics 365", "Dittofeed": said in names and notes
        self.journey = Journey("imported", short(name) or f"Imported {source} journey")
        self.contents: dict[str, Content] = {}
        self._content_keys: dict[Any, str] = {}
        self.segments: dict[str, Segment] = {}
        self._segment_keys: dict[Any, str] = {}
        self.report: list[StepReport] = []
        self.notes: list[str] = []
        self.tables: dict[str, dict[str, Mapping[str, Any]]] = {}  # the source's rows by table and id

    # --- steps ------------------------------------------------------------------------------------------
    def step(self, type_id: str, name: str, props: Mapping[str, Any] | None = None, *,
             position: Position | None = None, path: Path = ()) -> str:
        """Add a step of `type_id` (plain properties, decoded as a journey file's are); returns its id."""
        typed = props_from_plain(type_id, dict(props or {}), path)
        name = short(name)
        sid = self.journey.new_step_id(name or type_id)
        self.journey.add_step(Step(sid, type_id, name, typed, {}, position))
        return sid

    def placeholder(self, kind: Literal["action", "branch"], what: str, *, position: Position | None = None) -> str:
        """A step that does nothing until the user sets it up, named so that it stands out: a wait without a
        duration (one way on) or an if/then that tests nothing (yes / no). The check flags both as errors."""
        name = short(f"{UNMAPPED}: {what}")
        return self.step("wait" if kind == "action" else "if-then", name, position=position)

    def link(self, source: str, port: str, target: str) -> None:
        self.journey.connect(source, port, target)

    def end(self, source: str, port: str) -> None:
        self.journey.connect(source, port, END)

    def reaches(self, start: str, goal: str) -> bool:
        """Whether `goal` can be reached from `start` along the links built so far (a link back would loop)."""
        seen, stack = set(), [start]
        while stack:
            sid = stack.pop()
            if sid == goal:
                return True
            if sid in seen or sid not in self.journey.steps:
                continue
            seen.add(sid)
            stack.extend(t for _p, t in self.journey.successors(sid))
        return False

    def record(self, source_id: Any, source_type: Any, name: Any, outcome: Outcome, steps: tuple[str, ...] = (),
               note: str = "") -> None:
        self.report.append(StepReport(short(source_id, 80), short(source_type, 80), short(name), outcome,
                                      tuple(steps), note))

    # --- content and segments ---------------------------------------------------------------------------
    def _free(self, names: Mapping[str, Any], base: str) -> str:
        base = short(base) or "Imported"
        name, n = base, 2
        while name in names:
            name = f"{short(base, MAX_NAME - 6)} ({n})"
            n += 1
        return name

    def content(self, key: Any, kind: ContentKind, name: str, *, subject: str = "", sender: str = "",
                body: str = "", text: str = "", title: str = "") -> str:
        """Draft content for the source's message `key` (made once per key); returns its name."""
        key = repr(key)  # whatever the source holds there (a stray mapping too) keys it
        if key in self._content_keys:
            return self._content_keys[key]
        cname = self._free(self.contents, name)
        self.contents[cname] = Content(cname, kind, "draft", subject=short(subject, 300), sender=short(sender, 300),
                                       body=body[:MAX_BODY], text=text[:MAX_BODY], title=short(title, 300))
        self._content_keys[key] = cname
        return cname

    def knows_segment(self, key: Any) -> bool:
        return repr(key) in self._segment_keys

    def segment(self, key: Any, name: str, description: str, entity: SegmentEntity = "contacts") -> str:
        """A segment placeholder (no query) for the source's segment `key`; returns its name."""
        key = repr(key)
        if key in self._segment_keys:
            return self._segment_keys[key]
        sname = self._free(self.segments, name)
        self.segments[sname] = Segment(sname, entity=entity, kind="dynamic", description=short(description, 500))
        self._segment_keys[key] = sname
        return sname

    def layout_missing(self, direction: Literal["LR", "TB"] = "LR") -> None:
        """Give every step a position: the layout code's when none has one (the source had no layout); else
        those without one in a row below the rest."""
        steps = list(self.journey)
        if steps and all(s.position is None for s in steps):
            from app.model.layout import layered_layout
            for sid, pos in layered_layout(self.journey, direction).items():
                self.journey.step(sid).position = pos
            return
        placed = [s.position for s in steps if s.position is not None]
        if len(placed) == len(steps):
            return
        left = min(p.x for p in placed)
        below = max(p.y for p in placed) + 200
        for i, s in enumerate(x for x in steps if x.position is None):
            s.position = Position(left + 260 * i, below)

    def result(self, fmt: str, detected: bool) -> ImportResult:
        self.layout_missing()
        return ImportResult(fmt, detected, self.journey, list(self.contents.values()), list(self.segments.values()),
                            self.report, self.notes)


def scale_positions(raw: Mapping[str, tuple[float, float]], sx: float, sy: float) -> dict[str, Position]:
    """Source canvas positions scaled to ours and moved so that the top-left one is at (0, 0)."""
    if not raw:
        return {}
    x0 = min(x for x, _ in raw.values())
    y0 = min(y for _, y in raw.values())
    return {k: Position(round((x - x0) * sx, 1), round((y - y0) * sy, 1)) for k, (x, y) in raw.items()}
