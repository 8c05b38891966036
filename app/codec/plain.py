"""Encode the model as plain values (dicts, lists, strings, numbers) and back, canonically.

One encoding serves the journey-as-code files and the project file. Decoding checks everything against the
tile registry and raises `PlainError` with the path of the offending value, which the file reader turns into
a file:line:column message.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Literal, Mapping, cast

from app.model.content import CONTENT_KINDS, CONTENT_STATUSES, Content
from app.model.journey import (DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, STEP_ID, Audience, Frequency,
                               FrequencyCap, Journey, Position, QuietHours, Schedule, Step, Trigger)
from app.model.project import CAP_CHANNELS, MAX_CAP_MESSAGES, MAX_CAP_PERIOD, MIN_CAP_PERIOD, ChannelCap
from app.model.registry import END, REGISTRY, PropSpec
from app.model.segment import SEGMENT_ENTITIES, SEGMENT_KINDS, Segment, SegmentEntity, SegmentKind
from app.model.values import (format_datetime, format_duration, format_time, parse_datetime, parse_duration,
                              parse_time, shown)

FORMAT = "journey/1"
MAX_INT = 2**31 - 1  # whole numbers in files must fit the project file's integers
MAX_WHOLE = 2**63 - 1  # whole numbers inside free-form values (segment queries, conditions): SQLite's integers
MAX_NESTING = 64  # levels of a free-form value (a segment query nests groups at most 32 deep)
MAX_POSITION = 1e7  # canvas coordinates, either way
Path = tuple[Any, ...]


class PlainError(ValueError):
    """A value that does not decode; `path` locates it in the document (keys and list indexes)."""

    def __init__(self, path: Path, message: str, *, at_key: bool = False) -> None:
        self.path = tuple(path)
        self.message = message
        self.at_key = at_key
        super().__init__(f"{'.'.join(map(str, path))}: {message}")


# --- helpers ---------------------------------------------------------------------------------------------

def _mapping(v: Any, path: Path, what: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise PlainError(path, f"{what} must be a mapping (key: value), not {type(v).__name__}")
    return v


def _only(m: Mapping[str, Any], allowed: tuple[str, ...], path: Path, what: str) -> None:
    for k in m:
        if k not in allowed:
            raise PlainError(path + (k,), f"unknown key {shown(k)} in {what} (allowed: {', '.join(allowed)})",
                             at_key=True)


def _text(v: Any, path: Path, what: str, *, required: bool = False) -> str | None:
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v.strip()):
        raise PlainError(path, f"{what} must be {'non-empty ' if required else ''}text")
    return v


def _names(v: Any, path: Path, what: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise PlainError(path, f"{what} must be a name or a list of names")
    return tuple(v)


def _wrap(path: Path, fn: Any, *a: Any) -> Any:
    try:
        return fn(*a)
    except PlainError:
        raise
    except (ValueError, TypeError) as e:
        raise PlainError(path, str(e)) from None
    except OverflowError:  # e.g. a duration of 10**30 days: timedelta cannot hold it
        raise PlainError(path, "the value is out of range") from None


def _finite(v: Any) -> bool:
    """A real number that fits a float and is not infinite or NaN (a canvas coordinate, say)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def plain_value(v: Any, path: Path, depth: int = 0) -> Any:
    """A free-form value (a segment query, an if/then condition) as plain JSON values that every writer keeps:
    mappings with text keys, lists (tuples become lists), text, finite numbers, true / false, null.

    Anything else is a PlainError at its path, so that what is read can always be written back and read
    again to the same value (a non-finite number would not survive JSON, an integer key would come back as
    text)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if abs(v) > MAX_WHOLE:
            raise PlainError(path, f"the whole number is too large (at most {MAX_WHOLE:,} either way)")
        return int(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise PlainError(path, f"{v!r} is not a finite number")
        return float(v)
    if depth >= MAX_NESTING:
        raise PlainError(path, f"the value is nested more than {MAX_NESTING} levels deep")
    if isinstance(v, Mapping):
        out: dict[str, Any] = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise PlainError(path + (k,), f"a key must be text, not {shown(k)} (quote it)", at_key=True)
            out[k] = plain_value(x, path + (k,), depth + 1)
        return out
    if isinstance(v, (list, tuple)):
        return [plain_value(x, path + (i,), depth + 1) for i, x in enumerate(v)]
    raise PlainError(path, f"a {type(v).__name__} value cannot be written in a journey file")


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def _choice(v: Any, choices: tuple[str, ...], path: Path, what: str) -> str:
    if v not in choices:
        raise PlainError(path, f"{what} must be one of {', '.join(choices)}, not {v!r}")
    return v


# --- journey settings ------------------------------------------------------------------------------------

def trigger_to_plain(t: Trigger) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if t.event:
        d["event"] = t.event
    if t.segment:
        d["segment"] = t.segment
        d["when"] = t.when or "joins"
    if t.within is not None:
        d["within"] = format_duration(t.within)
    return d


MAX_GOAL_WINDOW = timedelta(days=366)


def trigger_from_plain(v: Any, path: Path, *, goal: bool = False) -> Trigger:
    """A goal (`goal`: it may say `within`, its attribution window) or an exit condition."""
    m = _mapping(v, path, "a goal or exit condition")
    _only(m, ("event", "segment", "when", "within") if goal else ("event", "segment", "when"), path,
          "a goal" if goal else "an exit condition")
    within = None
    if goal and m.get("within") is not None:
        within = _wrap(path + ("within",), parse_duration, m["within"])
        if not timedelta(0) < within <= MAX_GOAL_WINDOW:
            raise PlainError(path + ("within",), "a goal's window (within) is from 1 second to 366 days")
    event = _text(m.get("event"), path + ("event",), "event")
    segment = _text(m.get("segment"), path + ("segment",), "segment")
    if bool(event) == bool(segment):
        raise PlainError(path, "give either an event (e.g. purchase) or a segment with when: joins / leaves")
    when = None
    if segment:
        when = _choice(m.get("when", "joins"), ("joins", "leaves"), path + ("when",), "when")
    elif "when" in m:
        raise PlainError(path + ("when",), "'when' goes with a segment, not an event", at_key=True)
    return Trigger(event=event, segment=segment, when=when, within=within)  # type: ignore[arg-type]


def settings_to_plain(j: Journey) -> dict[str, Any]:
    """Journey-level settings as plain values, defaults left out, in canonical key order."""
    d: dict[str, Any] = {}
    if j.description:
        d["description"] = j.description
    if j.version != 1:
        d["version"] = j.version
    d["target"] = j.target
    a = j.audience
    aud: dict[str, Any] = {"segments": list(a.segments)}
    if a.combine != "union":
        aud["combine"] = a.combine
    if a.exclude:
        aud["exclude"] = list(a.exclude)
    if a.suppress:
        aud["suppress"] = a.suppress
    if a.min_consent:
        aud["min_consent"] = a.min_consent
    d["audience"] = aud
    f = j.frequency
    if f.kind == "repeating":
        rep: dict[str, Any] = {"type": "repeating"}
        if f.interval is not None:
            rep["interval"] = format_duration(f.interval)
        if f.count is not None:
            rep["count"] = f.count
        d["frequency"] = rep
    else:
        d["frequency"] = f.kind
    s = j.schedule
    sch: dict[str, Any] = {}
    if s.start:
        sch["start"] = format_datetime(s.start)
    if s.end:
        sch["end"] = format_datetime(s.end)
    sch["timezone"] = s.timezone
    if s.quiet_hours:
        sch["quiet_hours"] = {"start": format_time(s.quiet_hours.start), "end": format_time(s.quiet_hours.end)}
    d["schedule"] = sch
    if j.goal:
        d["goal"] = trigger_to_plain(j.goal)
    if j.exit_when:
        d["exit_when"] = [trigger_to_plain(t) for t in j.exit_when]
    if j.frequency_cap:
        d["frequency_cap"] = {"messages": j.frequency_cap.messages, "per": format_duration(j.frequency_cap.per)}
    if j.priority != DEFAULT_PRIORITY:
        d["priority"] = j.priority
    if j.cap_exempt:
        d["cap_exempt"] = True
    return d


SETTINGS_KEYS = ("description", "version", "target", "audience", "frequency", "schedule", "goal", "exit_when",
                 "frequency_cap", "priority", "cap_exempt")


def settings_from_plain(d: Mapping[str, Any], path: Path = ()) -> dict[str, Any]:
    """Journey keyword arguments from plain settings (keys outside SETTINGS_KEYS are ignored here)."""
    out: dict[str, Any] = {}
    if "description" in d:
        out["description"] = _text(d["description"], path + ("description",), "description") or ""
    if "version" in d:
        v = d["version"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_INT:
            raise PlainError(path + ("version",), f"version must be a whole number from 1 to {MAX_INT}")
        out["version"] = v
    out["target"] = _choice(d.get("target", "contacts"), ("contacts", "accounts"), path + ("target",), "target")

    ap = path + ("audience",)
    a = _mapping(d.get("audience", {}) or {}, ap, "audience")
    _only(a, ("segments", "combine", "exclude", "suppress", "min_consent"), ap, "audience")
    from app.model.attributes import CONSENT_LEVELS
    out["audience"] = Audience(
        segments=_names(a.get("segments"), ap + ("segments",), "segments"),
        combine=cast(Literal["union", "intersection"],
                     _choice(a.get("combine", "union"), ("union", "intersection"), ap + ("combine",), "combine")),
        exclude=_names(a.get("exclude"), ap + ("exclude",), "exclude"),
        suppress=_text(a.get("suppress"), ap + ("suppress",), "suppress") or None,  # '': no suppression
        min_consent=(_choice(a["min_consent"], CONSENT_LEVELS, ap + ("min_consent",), "min_consent")
                     if a.get("min_consent") is not None else None),
    )

    fp = path + ("frequency",)
    f = d.get("frequency", "one-time")
    if isinstance(f, str):
        if f == "repeating":
            raise PlainError(fp, "a repeating journey needs {type: repeating, interval: 30d, count: 12}")
        out["frequency"] = Frequency(kind=_choice(f, ("one-time", "ongoing"), fp, "frequency"))  # type: ignore
    else:
        fm = _mapping(f, fp, "frequency")
        _only(fm, ("type", "interval", "count"), fp, "frequency")
        kind = _choice(fm.get("type"), ("one-time", "ongoing", "repeating"), fp + ("type",), "frequency type")
        interval = _wrap(fp + ("interval",), parse_duration, fm["interval"]) if "interval" in fm else None
        count = fm.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or abs(count) > MAX_INT):
            raise PlainError(fp + ("count",), f"count must be a whole number (at most {MAX_INT})")
        out["frequency"] = Frequency(kind=kind, interval=interval, count=count)  # type: ignore[arg-type]

    sp = path + ("schedule",)
    s = _mapping(d.get("schedule", {}) or {}, sp, "schedule")
    _only(s, ("start", "end", "timezone", "quiet_hours"), sp, "schedule")
    tz = _text(s.get("timezone", "UTC"), sp + ("timezone",), "timezone", required=True)
    _check_timezone(tz, sp + ("timezone",))  # type: ignore[arg-type]
    quiet = None
    if s.get("quiet_hours") is not None:
        qp = sp + ("quiet_hours",)
        q = _mapping(s["quiet_hours"], qp, "quiet_hours")
        _only(q, ("start", "end"), qp, "quiet_hours")
        if "start" not in q or "end" not in q:
            raise PlainError(qp, "quiet_hours needs start and end, e.g. {start: '21:00', end: '08:00'}")
        quiet = QuietHours(_wrap(qp + ("start",), parse_time, q["start"]), _wrap(qp + ("end",), parse_time, q["end"]))
    out["schedule"] = Schedule(
        start=_wrap(sp + ("start",), parse_datetime, s["start"]) if s.get("start") is not None else None,
        end=_wrap(sp + ("end",), parse_datetime, s["end"]) if s.get("end") is not None else None,
        timezone=tz, quiet_hours=quiet)  # type: ignore[arg-type]

    if d.get("goal") is not None:
        out["goal"] = trigger_from_plain(d["goal"], path + ("goal",), goal=True)
    ew = d.get("exit_when") or []
    if not isinstance(ew, list):
        raise PlainError(path + ("exit_when",), "exit_when must be a list, e.g. [{event: purchase}]")
    out["exit_when"] = tuple(trigger_from_plain(t, path + ("exit_when", i)) for i, t in enumerate(ew))
    if d.get("frequency_cap") is not None:
        cp = path + ("frequency_cap",)
        c = _mapping(d["frequency_cap"], cp, "frequency_cap")
        _only(c, ("messages", "per"), cp, "frequency_cap")
        msgs = c.get("messages")
        if isinstance(msgs, bool) or not isinstance(msgs, int) or not 1 <= msgs <= MAX_INT:
            raise PlainError(cp + ("messages",), f"messages must be a whole number from 1 to {MAX_INT}")
        if "per" not in c:
            raise PlainError(cp, "frequency_cap needs per, e.g. {messages: 3, per: 7d}")
        out["frequency_cap"] = FrequencyCap(msgs, _wrap(cp + ("per",), parse_duration, c["per"]))
    if "priority" in d:
        pr = d["priority"]
        if isinstance(pr, bool) or not isinstance(pr, int) or not MIN_PRIORITY <= pr <= MAX_PRIORITY:
            raise PlainError(path + ("priority",), f"priority must be a whole number from {MIN_PRIORITY} (first) "
                             f"to {MAX_PRIORITY} (last)")
        out["priority"] = pr
    if "cap_exempt" in d:
        if not isinstance(d["cap_exempt"], bool):
            raise PlainError(path + ("cap_exempt",), "cap_exempt must be true or false")
        out["cap_exempt"] = d["cap_exempt"]
    return out


# --- project-level frequency caps ------------------------------------------------------------------------

def caps_to_plain(caps: tuple[ChannelCap, ...]) -> list[dict[str, Any]]:
    """The project's frequency caps as plain values: [{channel: email, messages: 3, per: 7d}, ...]."""
    return [{"channel": c.channel, "messages": c.messages, "per": format_duration(c.per)} for c in caps]


def caps_from_plain(v: Any, path: Path = ("frequency_caps",)) -> tuple[ChannelCap, ...]:
    """Frequency caps from plain values, checked: a known channel at most once, 1 to MAX_CAP_MESSAGES messages,
    a period from MIN_CAP_PERIOD to MAX_CAP_PERIOD; returned in CAP_CHANNELS order."""
    if v is None:
        return ()
    if not isinstance(v, list):
        raise PlainError(path, "frequency_caps must be a list, e.g. [{channel: email, messages: 3, per: 7d}]")
    found: dict[str, ChannelCap] = {}
    for i, item in enumerate(v):
        p = path + (i,)
        m = _mapping(item, p, "a frequency cap")
        _only(m, ("channel", "messages", "per"), p, "a frequency cap")
        channel = _choice(m.get("channel"), CAP_CHANNELS, p + ("channel",), "channel")
        if channel in found:
            raise PlainError(p + ("channel",), f"a second cap on {channel}: give one cap per channel")
        msgs = m.get("messages")
        if isinstance(msgs, bool) or not isinstance(msgs, int) or not 1 <= msgs <= MAX_CAP_MESSAGES:
            raise PlainError(p + ("messages",), f"messages must be a whole number from 1 to {MAX_CAP_MESSAGES}")
        if "per" not in m:
            raise PlainError(p, "a frequency cap needs per, e.g. {channel: email, messages: 3, per: 7d}")
        per = _wrap(p + ("per",), parse_duration, m["per"])
        if not MIN_CAP_PERIOD <= per <= MAX_CAP_PERIOD:
            raise PlainError(p + ("per",), f"per must be from {format_duration(MIN_CAP_PERIOD)} to "
                             f"{format_duration(MAX_CAP_PERIOD)}")
        found[channel] = ChannelCap(channel, msgs, per)
    return tuple(found[c] for c in CAP_CHANNELS if c in found)


def _check_timezone(tz: str, path: Path) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlainError(path, f"unknown time zone {shown(tz)} (write an IANA name such as Europe/Paris)") from None


# --- steps -----------------------------------------------------------------------------------------------

STEP_KEYS = ("type", "name")


def props_to_plain(step: Step) -> dict[str, Any]:
    """A step's properties as plain values, those equal to their default left out.

    Free-form values are held to what `props_from_plain` reads back (a PlainError at the step's property
    otherwise): nothing is written that could not be read again."""
    tile = REGISTRY[step.type]
    out: dict[str, Any] = {}
    for spec in tile.props:
        if spec.name in step.props and step.props[spec.name] is not None:
            if spec.default is not None and step.props[spec.name] == spec.default:
                continue
            out[spec.name] = spec.to_plain(step.props[spec.name])
            if spec.kind in _FREE_FORM:
                plain_value(out[spec.name], ("step", step.id, spec.name))
    return out


_FREE_FORM = ("condition", "wait_for")  # property kinds whose values hold free-form values


def props_from_plain(type_id: str, d: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Typed properties (defaults filled in) from plain ones; unknown keys are refused."""
    tile = REGISTRY[type_id]
    props = tile.defaults()
    for key, value in d.items():
        spec: PropSpec | None = tile.prop(key)
        if spec is None:
            raise PlainError(path + (key,), f"a {tile.label} step has no property {shown(key)}", at_key=True)
        if spec.kind in _FREE_FORM:
            value = plain_value(value, path + (key,))
        props[key] = _wrap(path + (key,), spec.from_plain, value)
        if props[key] is None:
            del props[key]
    return props


def step_to_plain(step: Step) -> dict[str, Any]:
    d: dict[str, Any] = {"type": step.type}
    if step.name:
        d["name"] = step.name
    d.update(props_to_plain(step))
    for port in step.ports():
        if port.id in step.outputs:
            d[port.id] = step.outputs[port.id]
    return d


def step_from_plain(step_id: str, v: Any, path: Path) -> Step:
    """A step from `{type: ..., name: ..., <properties>, <ports>: target}`."""
    if not isinstance(step_id, str) or not STEP_ID.fullmatch(step_id) or step_id == END:
        raise PlainError(path, f"{shown(step_id)} is not a valid step id (start with a letter; letters, digits, _ "
                         "and -; not 'end')", at_key=True)
    m = _mapping(v, path, f"step '{step_id}'")
    type_id = m.get("type")
    if not isinstance(type_id, str) or type_id not in REGISTRY:
        raise PlainError(path + ("type",) if "type" in m else path,
                         f"unknown tile type {type_id!r} in step '{step_id}' (known: {', '.join(REGISTRY)})"
                         if type_id is not None else f"step '{step_id}' has no type")
    name = _text(m.get("name"), path + ("name",), "name") or ""
    tile = REGISTRY[type_id]
    prop_names = {p.name for p in tile.props}
    props = props_from_plain(type_id, {k: m[k] for k in m if k in prop_names}, path)
    step = Step(step_id, type_id, name, props)
    port_ids = {p.id for p in step.ports()}
    outputs: dict[str, str] = {}
    for key, target in m.items():
        if key in STEP_KEYS or key in prop_names:
            continue
        if key not in port_ids:
            ports = ", ".join(sorted(port_ids)) or "none"
            raise PlainError(path + (key,), f"a {tile.label} step has no property or output {shown(key)} "
                             f"(its outputs: {ports})", at_key=True)
        if not isinstance(target, str):
            raise PlainError(path + (key,), f"output {shown(key)} must name a step (or 'end')")
        outputs[key] = target
    step.outputs.update((p.id, outputs[p.id]) for p in step.ports() if p.id in outputs)  # in the tile's order
    return step


# --- content and segments --------------------------------------------------------------------------------

_CONTENT_FIELDS = ("subject", "sender", "body", "text", "title")


def content_to_plain(c: Content) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": c.kind, "status": c.status}
    for f in _CONTENT_FIELDS:
        if getattr(c, f):
            d[f] = getattr(c, f)
    if c.links:
        d["links"] = list(c.links)
    return d


def content_from_plain(name: str, v: Any, path: Path) -> Content:
    if not isinstance(name, str):
        raise PlainError(path, f"a content name must be text, not {name!r} (quote it)", at_key=True)
    m = _mapping(v, path, f"content {shown(name)}")
    _only(m, ("kind", "status") + _CONTENT_FIELDS + ("links",), path, "content")
    kind = _choice(m.get("kind"), CONTENT_KINDS, path + ("kind",), "kind")
    status = _choice(m.get("status", "draft"), CONTENT_STATUSES, path + ("status",), "status")
    fields = {f: _text(m.get(f), path + (f,), f) or "" for f in _CONTENT_FIELDS}
    return Content(name, kind, status, links=_names(m.get("links"), path + ("links",), "links"),  # type: ignore
                   **fields)


def segment_to_plain(s: Segment) -> dict[str, Any]:
    d: dict[str, Any] = {"entity": s.entity, "kind": s.kind}
    if s.description:
        d["description"] = s.description
    if s.query is not None:
        d["query"] = s.query
    return d


def segment_from_plain(name: str, v: Any, path: Path) -> Segment:
    if not isinstance(name, str):
        raise PlainError(path, f"a segment name must be text, not {name!r} (quote it)", at_key=True)
    m = _mapping(v, path, f"segment {shown(name)}")
    _only(m, ("entity", "kind", "description", "query"), path, "segment")
    q = m.get("query")
    if q is not None and not isinstance(q, Mapping):
        raise PlainError(path + ("query",), "query must be a mapping")
    q = plain_value(q, path + ("query",))
    entity = cast(SegmentEntity, _choice(m.get("entity", "contacts"), SEGMENT_ENTITIES, path + ("entity",), "entity"))
    kind = cast(SegmentKind, _choice(m.get("kind", "dynamic"), SEGMENT_KINDS, path + ("kind",), "kind"))
    return Segment(name, entity, kind,
                   _text(m.get("description"), path + ("description",), "description") or "",
                   dict(q) if q is not None else None)


# --- whole journey documents -----------------------------------------------------------------------------

DOC_KEYS = ("format", "name") + SETTINGS_KEYS + ("entry", "steps", "content", "segments", "layout")


def journey_to_doc(j: Journey, content: Mapping[str, Content] | None = None,
                   segments: Mapping[str, Segment] | None = None) -> dict[str, Any]:
    """The canonical journey-as-code document: settings, steps, referenced content and segments, layout."""
    doc: dict[str, Any] = {"format": FORMAT, "name": j.name}
    doc.update(settings_to_plain(j))
    steps = list(j.steps.values())
    if j.entry is not None and steps and steps[0].id != j.entry:
        doc["entry"] = j.entry
    doc["steps"] = {s.id: step_to_plain(s) for s in steps}
    if content:
        used = referenced_content(j)
        items = {n: content_to_plain(content[n]) for n in used if n in content}
        if items:
            doc["content"] = items
    if segments:
        used_segments = referenced_segments(j)
        items = {n: segment_to_plain(segments[n]) for n in used_segments if n in segments}
        if items:
            doc["segments"] = items
    layout = {s.id: [_num(s.position.x), _num(s.position.y)] for s in steps if s.position is not None}
    if layout:
        doc["layout"] = layout
    return doc


def release_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A journey document as far as a release goes: without its layout and version number (what makes two
    versions the same journey: app.package compares releases with it, app.store a run's version with the draft)."""
    return {k: v for k, v in doc.items() if k not in ("layout", "version")}


def referenced_content(j: Journey) -> list[str]:
    """Content names the journey's steps use, in step order, each once."""
    seen: dict[str, None] = {}
    for s in j.steps.values():
        tile = REGISTRY.get(s.type)
        if tile and tile.is_message and isinstance(s.props.get("content"), str):
            seen[s.props["content"]] = None
    return list(seen)


def referenced_segments(j: Journey) -> list[str]:
    """Segment names the journey uses (audience, exclusion, suppression, exits, branches), each once."""
    a = j.audience
    names = list(a.segments) + list(a.exclude) + ([a.suppress] if a.suppress else [])
    names += [t.segment for t in ((j.goal,) if j.goal else ()) + j.exit_when if t.segment]
    names += [s.props["segment"] for s in j.steps.values() if isinstance(s.props.get("segment"), str)]
    return list(dict.fromkeys(names))


def journey_from_doc(doc: Any, *, journey_id: str = "") -> tuple[Journey, list[Content], list[Segment]]:
    """A journey and the content and segments its document defines; PlainError on anything wrong."""
    m = _mapping(doc, (), "a journey document")
    _only(m, DOC_KEYS, (), "a journey document")
    fmt = m.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("journey/"):
            raise PlainError(("format",), f"format {shown(fmt)} is newer than this version of Journey Studio "
                             f"understands ({FORMAT}); upgrade Journey Studio")
        raise PlainError(("format",) if "format" in m else (), f"not a journey file: 'format: {FORMAT}' expected")
    name = _text(m.get("name"), ("name",), "name", required=True)
    journey = Journey(journey_id, name.strip(), **settings_from_plain(m))  # type: ignore[union-attr]
    steps = _mapping(m.get("steps") or {}, ("steps",), "steps")
    built = [step_from_plain(sid, sv, ("steps", sid)) for sid, sv in steps.items()]
    ids = {s.id for s in built}
    for s in built:
        for port, target in s.outputs.items():
            if target != END and target not in ids:
                raise PlainError(("steps", s.id, port), f"output '{port}' of step '{s.id}' leads to {shown(target)}, "
                                 "which is not a step of this journey (or 'end')")
            if target == s.id:
                raise PlainError(("steps", s.id, port), f"step '{s.id}' links to itself")
    layout = _mapping(m.get("layout") or {}, ("layout",), "layout")
    for sid, pos in layout.items():
        if sid not in ids:
            raise PlainError(("layout", sid), f"layout names {shown(sid)}, which is not a step", at_key=True)
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(_finite(x) and abs(x) <= MAX_POSITION for x in pos)):
            raise PlainError(("layout", sid), f"a position is [x, y], numbers within {MAX_POSITION:,.0f} either way")
    for s in built:
        if s.id in layout:
            s.position = Position(float(layout[s.id][0]), float(layout[s.id][1]))
        journey.add_step(s)
    if m.get("entry") is not None:
        if not isinstance(m["entry"], str) or m["entry"] not in ids:
            raise PlainError(("entry",), f"entry {shown(m['entry'])} is not a step of this journey")
        journey.entry = m["entry"]
    contents = [content_from_plain(n, v, ("content", n))
                for n, v in _mapping(m.get("content") or {}, ("content",), "content").items()]
    segs = [segment_from_plain(n, v, ("segments", n))
            for n, v in _mapping(m.get("segments") or {}, ("segments",), "segments").items()]
    return journey, contents, segs


__all__ = ["FORMAT", "PlainError", "journey_to_doc", "journey_from_doc", "release_doc", "step_to_plain",
           "step_from_plain", "props_to_plain", "props_from_plain", "settings_to_plain", "settings_from_plain",
           "caps_to_plain", "caps_from_plain",
           "content_to_plain", "content_from_plain", "segment_to_plain", "segment_from_plain", "timedelta"]
