"""Mautic campaign exports (`mautic:entity:export --entity=campaign`, JSON) onto our tiles.

The export is a list of one mapping per exported campaign set: `campaign` (name, description, canvas_settings
with node positions and connections), `campaign_event` (each step: type, event_type action / decision /
condition, parent_id, decision path yes / no, trigger mode and interval, restricted hours and days, properties),
and the referenced entities (`email`, `sms_messages`, `lists`, `forms`, ...). README.md says what maps to what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from app.importers.common import (MAX_SOURCE_STEPS, Builder, ImportResult, Outcome, Path, bad,
                                  check_parent_chains, fmt_duration, html_to_text, parse_clock, scale_positions,
                                  short)
from app.model.journey import Frequency, Position, QuietHours
from app.model.values import format_datetime

# Mautic's contact field aliases -> our attribute names
FIELDS = {"firstname": "first_name", "lastname": "last_name", "email": "email", "mobile": "mobile_phone",
          "phone": "mobile_phone", "city": "city", "country": "country", "timezone": "time_zone",
          "preferred_locale": "language", "company": "account", "date_added": "created_on",
          "date_identified": "created_on"}
# Mautic's field-value operators -> ours
OPERATORS = {"=": "equals", "eq": "equals", "!=": "not_equals", "neq": "not_equals", "gt": "greater_than",
             "gte": "at_least", "lt": "less_than", "lte": "at_most", "empty": "does_not_contain_data",
             "!empty": "contains_data", "like": "contains", "!like": "does_not_contain", "contains": "contains",
             "startsWith": "begins_with", "endsWith": "ends_with", "in": "in"}
UNITS = {"i": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "m": timedelta(days=30),
         "y": timedelta(days=365)}
UNIT_WORDS = {"i": "minute", "h": "hour", "d": "day", "m": "month", "y": "year"}
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MAX_INTERVAL = timedelta(days=366 * 10)
# Mautic's canvas runs top to bottom (~120 px between levels, yes left of no); ours left to right (tiles 200 x 84,
# outputs on the right, yes above no): the layout is kept turned a quarter, levels spread to fit our tiles (and a
# wait before a step, when there are any)
ACROSS, ALONG, ALONG_WITH_WAITS = 0.6, 2.2, 4.0

MESSAGES = {"email.send": "email", "sms.send_text_sms": "sms", "notification.send_notification": "push",
            "notification.send_mobile_notification": "push"}
WHY_NOT = {
    "lead.changepoints": "changes the contact's points; we keep no points",
    "lead.changelist": "adds to or removes from segments; our segments are defined by queries or members",
    "lead.updatelead": "updates contact fields; no tile writes contact fields",
    "lead.changetags": "changes tags; we keep no tags",
    "lead.changeowner": "changes the contact's owner; no tile does",
    "lead.addtocompany": "adds the contact to a company; no tile does",
    "lead.deletecontact": "deletes the contact; no tile does",
    "campaign.addremovelead": "moves the contact to another campaign; add it to that journey's segment instead",
    "email.send.to.user": "e-mails a user of Mautic; a Create task step can notify the owner",
    "form.submit": "waits for a form submission; our if/then waits for message events only",
    "page.pagehit": "waits for a page visit; our if/then waits for message events only",
    "page.devicehit": "waits for a visit from a device; our if/then waits for message events only",
    "asset.download": "waits for a download; our if/then waits for message events only",
    "lead.pageHit": "tests page visits; contact attributes hold no visits",
    "lead.device": "tests the device; contact attributes hold no devices",
    "lead.tags": "tests tags; we keep no tags",
    "lead.points": "tests points; we keep no points",
    "lead.owner": "tests the owner; no attribute holds it",
    "lead.dnc": "tests do-not-contact; use the journey's suppression segment",
    "lead.campaigns": "tests membership of campaigns; test the segment of that journey instead",
    "lead.stages": "tests stages; we keep no stages",
    "sms.reply": "waits for a reply; our if/then waits for delivery or clicks on a text",
}


@dataclass
class _Ev:
    id: str
    path: Path
    name: str
    type: str
    kind: str  # action / decision / condition
    parent: str | None
    port: str  # on the parent: next (action) / yes / no
    order: tuple[int, str]
    raw: Mapping[str, Any]
    entry: str = ""  # our first step
    exits: dict[str, str] = field(default_factory=dict)  # our step for each port: next / yes / no
    pos: Position | None = None  # on our canvas
    outcome: Outcome = "mapped"
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def prop(self, key: str) -> Any:
        p = self.raw.get("properties")
        if not isinstance(p, Mapping):
            return None
        inner = p.get("properties")
        if isinstance(inner, Mapping) and inner.get(key) not in (None, ""):
            return inner[key]
        return p.get(key)

    def first(self, *keys: str) -> Any:
        """The first of `keys` set at the event's top level, then in its properties."""
        for k in keys:
            if self.raw.get(k) not in (None, ""):
                return self.raw[k]
        p = self.raw.get("properties")
        if isinstance(p, Mapping):
            for k in keys:
                if p.get(k) not in (None, ""):
                    return p[k]
        return None


def looks_like(doc: Any) -> bool:
    m = _export(doc)
    return m is not None and "campaign_event" in m[0]


def _export(doc: Any) -> tuple[Mapping[str, Any], Path] | None:
    if isinstance(doc, Mapping) and "campaign" in doc:
        return doc, ()
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            if isinstance(item, Mapping) and "campaign" in item:
                return item, (i,)
    return None


def _rows(m: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    v = m.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(r, Mapping) for r in v):
        raise bad(path + (key,), f"'{key}' must be a list of rows")
    return v


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _ident(v: Any, path: Path, what: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and not v.strip()):
        raise bad(path, f"{what} must be a number or text, not {type(v).__name__}")
    s = str(v).strip()
    if len(s) > 80:
        raise bad(path, f"{what} is too long ({len(s)} characters)")
    return s


def _by_id(rows: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("id")): r for r in rows if isinstance(r.get("id"), (int, str))}


def _interval(ev: _Ev) -> timedelta | None:
    """The event's delay when its trigger mode is 'interval' (None otherwise); bad input when out of range."""
    mode = ev.first("trigger_mode", "triggerMode")
    if mode != "interval":
        return None
    n, unit = ev.first("trigger_interval", "triggerInterval"), ev.first("trigger_interval_unit", "triggerIntervalUnit")
    if isinstance(n, str) and n.strip().isdigit():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise bad(ev.path + ("trigger_interval",), f"campaign_event {ev.id}: trigger_interval must be a whole "
                  f"number of {UNIT_WORDS.get(unit, 'unit') if isinstance(unit, str) else 'unit'}s, not {n!r}")
    if not isinstance(unit, str) or unit not in UNITS:
        raise bad(ev.path + ("trigger_interval_unit",), f"campaign_event {ev.id}: unknown trigger_interval_unit "
                  f"{unit!r} (i, h, d, m or y)")
    if n > 100_000 or UNITS[unit] * n > MAX_INTERVAL:
        raise bad(ev.path + ("trigger_interval",), f"campaign_event {ev.id}: an interval of {n} {UNIT_WORDS[unit]}s "
                  "is more than ten years")
    if unit in ("m", "y") and n:
        ev.notes.append(f"{n} {UNIT_WORDS[unit]}(s) taken as {fmt_duration(UNITS[unit] * n)}")
        ev.outcome = "approximated"
    return UNITS[unit] * n


def _date(ev: _Ev) -> str | None:
    v = ev.first("trigger_date", "triggerDate")
    if not isinstance(v, str) or not v.strip():
        return None
    try:
        when = datetime.fromisoformat(v.strip().replace(" ", "T")[:19])
    except ValueError:
        return None
    return format_datetime(when)


def _events(m: Mapping[str, Any], path: Path) -> dict[str, _Ev]:
    rows = _rows(m, "campaign_event", path)
    if len(rows) > MAX_SOURCE_STEPS:
        raise bad(path + ("campaign_event",), f"{len(rows):,} campaign events; at most {MAX_SOURCE_STEPS:,} are read")
    evs: dict[str, _Ev] = {}
    for i, r in enumerate(rows):
        p = path + ("campaign_event", i)
        eid = _ident(r.get("id"), p + ("id",), f"campaign_event #{i + 1}: id")
        if eid in evs:
            raise bad(p + ("id",), f"campaign_event {eid} appears twice")
        typ = r.get("type")
        if not isinstance(typ, str) or not typ.strip() or len(typ) > 80:
            raise bad(p + ("type",), f"campaign_event {eid}: type must be text such as email.send")
        kind = r.get("event_type")
        if kind not in ("action", "decision", "condition"):
            raise bad(p + ("event_type",), f"campaign_event {eid}: event_type must be action, decision or "
                      f"condition, not {kind!r}")
        parent = r.get("parent_id")
        parent_id = None if parent in (None, "", 0) else _ident(parent, p + ("parent_id",), f"campaign_event {eid}: "
                                                                  "parent_id")
        path_v = r.get("decisionPath", r.get("decision_path"))
        order = r.get("event_order")
        evs[eid] = _Ev(eid, p, short(r.get("name")) or typ, typ, kind, parent_id,
                       str(path_v) if path_v else "", (order if isinstance(order, int) else 0, eid.zfill(12)), r)
    check_parent_chains(evs, "parent_id", "campaign_event", "is not an event of this export")
    for ev in evs.values():
        if ev.parent is None:
            ev.port = "next"
            continue
        parent = evs[ev.parent]
        if parent.kind == "action":
            ev.port = "next"
        elif ev.port in ("yes", "no"):
            pass
        else:
            raise bad(ev.path + ("decisionPath",), f"campaign_event {ev.id}: it follows {parent.kind} "
                      f"{parent.id}, so its decision path must be yes or no, not {ev.port or 'empty'}")
    return evs


def import_doc(doc: Any, *, detected: bool) -> ImportResult:
    found = _export(doc)
    if found is None:
        raise bad((), "not a Mautic campaign export: no 'campaign' rows")
    m, path = found
    campaigns = _rows(m, "campaign", path)
    if len(campaigns) != 1:
        raise bad(path + ("campaign",), f"the export holds {len(campaigns)} campaigns; export one campaign at a time"
                  " (mautic:entity:export --entity=campaign --id=ID)")
    camp = campaigns[0]
    cpath = path + ("campaign", 0)
    name = camp.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad(cpath + ("name",), "the campaign has no name")
    evs = _events(m, path)
    b = Builder(name, "Mautic")
    j = b.journey
    if isinstance(camp.get("description"), str):
        j.description = html_to_text(camp["description"], 2000)
    j.frequency = Frequency("ongoing")
    b.notes.append("frequency: ongoing (contacts enter as they join the campaign's segments, as in Mautic)")
    _audience(b, m, camp, path)
    _schedule(b, camp)
    emails, texts = _by_id(_rows(m, "email", path)), _by_id(_rows(m, "sms_messages", path) + _rows(m, "sms", path))
    pushes = _by_id(_rows(m, "push_notifications", path))
    positions = _positions(camp, cpath)
    if not all(e.id in positions for e in evs.values() if e.type != "campaign.jump_to_event"):
        positions = {}
        b.notes.append("layout: the export has no canvas position for some steps; laid out anew")
    waits = any(e.first("trigger_mode", "triggerMode") in ("interval", "date") for e in evs.values())
    turned = {k: (y, x) for k, (x, y) in positions.items()}
    pos = scale_positions(turned, ALONG_WITH_WAITS if waits else ALONG, ACROSS)
    kids: dict[tuple[str | None, str], list[_Ev]] = {}
    for ev in sorted(evs.values(), key=lambda e: e.order):
        kids.setdefault((ev.parent, ev.port), []).append(ev)
    quiet: list[tuple[str, QuietHours]] = []
    for ev in sorted(evs.values(), key=lambda e: e.order):
        ev.pos = pos.get(ev.id)
        if ev.type != "campaign.jump_to_event":
            _make(b, ev, evs, kids, emails, texts, pushes, ev.pos, quiet)
    _link(b, evs, kids)
    if quiet:
        first_id, q = quiet[0]
        j.schedule = type(j.schedule)(start=j.schedule.start, end=j.schedule.end, timezone=j.schedule.timezone,
                                      quiet_hours=q)
        others = sorted({f"{k}" for k, other in quiet if other != q})
        b.notes.append(f"quiet hours {q.start:%H:%M}-{q.end:%H:%M} from event {first_id}'s restricted hours"
                       + (f"; events {', '.join(others)} had other hours (a journey has one quiet period)"
                          if others else ""))
    for ev in sorted(evs.values(), key=lambda e: e.order):
        b.record(ev.id, f"{ev.kind} {ev.type}", ev.name, ev.outcome, tuple(ev.steps),
                 "; ".join(dict.fromkeys(ev.notes)))
    if not positions:
        b.layout_missing()
    return b.result("mautic", detected)


def _audience(b: Builder, m: Mapping[str, Any], camp: Mapping[str, Any], path: Path) -> None:
    lists = _by_id(_rows(m, "lists", path))
    b.tables["lists"] = lists
    cid = str(camp.get("id"))
    ids: list[str] = []
    for v in _list(camp.get("lists")):
        ids.append(str(v.get("id") if isinstance(v, Mapping) else v))
    for dep in _list(m.get("dependencies")):
        if isinstance(dep, Mapping):
            for link in _list(dep.get("lists")):
                if isinstance(link, Mapping) and str(link.get("campaign")) == cid and link.get("lists") is not None:
                    ids.append(str(link["lists"]))
    if not ids and _canvas_has(camp, "lists"):
        ids = list(lists)
    names = []
    for sid in dict.fromkeys(ids):
        row = lists.get(sid, {})
        filters = row.get("filters")
        nf = len(filters) if isinstance(filters, list) else 0
        seg = b.segment(("list", sid), short(row.get("name")) or f"Mautic segment {sid}",
                        f"Imported from Mautic segment #{sid}"
                        + (f" ({short(row.get('alias'), 60)})" if row.get("alias") else "")
                        + (f"; its {nf} filter(s) were not converted: define its query" if nf else
                           "; define its query or members"))
        names.append(seg)
        b.notes.append(f"segment '{seg}' (Mautic segment #{sid}): added as a placeholder without a query"
                       + (f"; its {nf} Mautic filter(s) were not converted" if nf else ""))
    if names:
        from app.model.journey import Audience
        b.journey.audience = Audience(segments=tuple(names))
    else:
        b.notes.append("audience: the campaign names no segment; choose the journey's audience")
    forms = [str(link.get("forms")) for dep in _list(m.get("dependencies")) if isinstance(dep, Mapping)
             for link in _list(dep.get("forms")) if isinstance(link, Mapping) and str(link.get("campaign")) == cid]
    if forms or _canvas_has(camp, "forms"):
        form_rows = _by_id(_rows(m, "forms", path))
        titles = [f"'{short(form_rows.get(f, {}).get('name')) or f}'" for f in forms] or ["(a form)"]
        b.notes.append(f"entry by form {', '.join(titles)}: not mapped (a journey's audience is segments); put "
                       "the form's contacts in a segment of the audience")


def _canvas_has(camp: Mapping[str, Any], node: str) -> bool:
    cs = camp.get("canvas_settings")
    nodes = cs.get("nodes") if isinstance(cs, Mapping) else None
    return isinstance(nodes, list) and any(isinstance(n, Mapping) and n.get("id") == node for n in nodes)


def _schedule(b: Builder, camp: Mapping[str, Any]) -> None:
    from app.model.journey import Schedule
    got: dict[str, datetime] = {}
    for key, field_ in (("publish_up", "start"), ("publish_down", "end")):
        v = camp.get(key)
        if isinstance(v, str) and v.strip():
            try:
                got[field_] = datetime.fromisoformat(v.strip().replace(" ", "T")[:19])
            except ValueError:
                b.notes.append(f"{key} {short(v, 40)!r} is not a date: left out")
    if got:
        b.journey.schedule = Schedule(start=got.get("start"), end=got.get("end"), timezone="UTC")
        b.notes.append("schedule: the campaign's publish dates, in UTC (as Mautic stores them)")


def _positions(camp: Mapping[str, Any], path: Path) -> dict[str, tuple[float, float]]:
    cs = camp.get("canvas_settings")
    nodes = cs.get("nodes") if isinstance(cs, Mapping) else None
    out: dict[str, tuple[float, float]] = {}
    for i, n in enumerate(nodes if isinstance(nodes, list) else []):
        if not isinstance(n, Mapping):
            continue
        try:
            x, y = float(n.get("positionX")), float(n.get("positionY"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if abs(x) > 1e6 or abs(y) > 1e6 or x != x or y != y:
            raise bad(path + ("canvas_settings", "nodes", i), "a canvas position is out of range")
        out[str(n.get("id"))] = (x, y)
    return out


def _email_ancestor(ev: _Ev, evs: dict[str, _Ev]) -> _Ev | None:
    cur = ev
    while cur.parent is not None:
        cur = evs[cur.parent]
        if cur.type in ("email.send",) and cur.exits:
            return cur
    return None


def _make(b: Builder, ev: _Ev, evs: dict[str, _Ev], kids: dict[tuple[str | None, str], list[_Ev]],
          emails: dict[str, Mapping[str, Any]], texts: dict[str, Mapping[str, Any]],
          pushes: dict[str, Mapping[str, Any]], pos: Position | None, quiet: list[tuple[str, QuietHours]]) -> None:
    """Our step(s) for one Mautic event: a wait first when it is delayed, then its tile or a placeholder."""
    parent = evs[ev.parent] if ev.parent else None
    timeout_of_parent = parent is not None and parent.kind == "decision" and ev.port == "no"
    before: str | None = None
    if timeout_of_parent and _interval(ev):
        ev.notes.append("its delay is the time limit of the decision before it")
    if not timeout_of_parent:
        delay = _interval(ev)
        until = _date(ev) if ev.first("trigger_mode", "triggerMode") == "date" else None
        wpos = Position(pos.x - 240, pos.y) if pos else None
        if delay:
            before = b.step("wait", "", {"duration": fmt_duration(delay)}, position=wpos)
        elif until:
            before = b.step("wait", "", {"until": until}, position=wpos)
        elif ev.first("trigger_mode", "triggerMode") == "date":
            before = b.placeholder("action", f"wait until the date of '{ev.name}'", position=wpos)
            ev.notes.append("its trigger date is missing or not a date: the wait before it is a placeholder")
            ev.outcome = "approximated"
        if before:
            ev.steps.append(before)
    hour = ev.first("trigger_hour", "triggerHour")
    if hour:
        ev.notes.append(f"sent at {short(hour, 10)} in Mautic: our waits run from the step before (approximated)")
        ev.outcome = "approximated"
    start = parse_clock(ev.first("triggerRestrictedStartHour"))
    stop = parse_clock(ev.first("triggerRestrictedStopHour"))
    if start and stop:
        quiet.append((ev.id, QuietHours(stop, start)))
        ev.notes.append(f"runs only {start:%H:%M}-{stop:%H:%M}: taken as the journey's quiet hours "
                        f"{stop:%H:%M}-{start:%H:%M}")
    days = ev.first("triggerRestrictedDaysOfWeek")
    if isinstance(days, list) and days:
        named = [DAYS[int(d)] for d in days if str(d).isdigit() and int(d) < 7]
        ev.notes.append(f"restricted to {', '.join(named) or days!r}: not mapped (quiet hours hold for every day)")
        ev.outcome = "approximated"
    main = _tile(b, ev, evs, kids, emails, texts, pushes, pos)
    ev.steps.append(main)
    ev.entry = before or main
    if before:
        b.link(before, "next", main)
    ev.exits = {"next": main} if ev.kind == "action" else {"yes": main, "no": main}


def _tile(b: Builder, ev: _Ev, evs: dict[str, _Ev], kids: dict[tuple[str | None, str], list[_Ev]],
          emails: dict[str, Mapping[str, Any]], texts: dict[str, Mapping[str, Any]],
          pushes: dict[str, Mapping[str, Any]], pos: Position | None) -> str:
    t = ev.type
    if t in MESSAGES:
        return _message(b, ev, MESSAGES[t], emails, texts, pushes, pos)
    if t == "campaign.sendwebhook":
        url, method = ev.prop("url"), str(ev.prop("method") or "post").upper()
        props: dict[str, Any] = {}
        if isinstance(url, str) and url.strip():
            props["url"] = short(url, 2000)
        else:
            ev.notes.append("the export gives no address: set it")
            ev.outcome = "approximated"
        if method in ("POST", "PUT", "GET"):
            props["method"] = method
        else:
            ev.notes.append(f"method {method} taken as POST")
            ev.outcome = "approximated"
        if _filled(ev.prop("additional_data")) or _filled(ev.prop("headers")):
            ev.notes.append("its extra data and headers were not converted")
            ev.outcome = "approximated"
        return b.step("webhook", ev.name, props, position=pos)
    if t in ("email.open", "email.click"):
        src = _email_ancestor(ev, evs)
        if src is None:
            return _unmapped(b, ev, "it follows no Send email step of this campaign", pos)
        event = "opened" if t == "email.open" else "link_clicked"
        wait_for: dict[str, Any] = {"event": event, "step": src.exits["next"]}
        props = {"wait_for": wait_for}
        timeout = [_interval(c) for c in kids.get((ev.id, "no"), [])]
        limit = next((d for d in timeout if d), None)
        if limit:
            props["within"] = fmt_duration(limit)
            ev.notes.append(f"the 'no' path's delay ({fmt_duration(limit)}) is the time limit")
        else:
            ev.notes.append("no delay on a 'no' path, so Mautic waits without end: set the time limit")
            ev.outcome = "approximated"
        urls = ev.prop("urls")
        if t == "email.click" and isinstance(urls, Mapping) and urls.get("list"):
            ev.notes.append("clicks on particular links taken as a click on any link")
            ev.outcome = "approximated"
        return b.step("if-then", ev.name, props, position=pos)
    if t == "lead.field_value":
        alias, op, value = ev.prop("field"), ev.prop("operator"), ev.prop("value")
        if not isinstance(alias, str) or not isinstance(op, str) or op not in OPERATORS:
            return _unmapped(b, ev, f"field {alias!r} with operator {op!r} has no counterpart", pos)
        attr = FIELDS.get(alias, alias)
        cond: dict[str, Any] = {"attribute": attr, "op": OPERATORS[op]}
        if OPERATORS[op] not in ("contains_data", "does_not_contain_data"):
            cond["value"] = value if isinstance(value, (str, int, float, bool)) else short(value)
        if op == "in" and isinstance(value, (str, int, float)):
            cond["value"] = [value]
        if alias not in FIELDS:
            ev.notes.append(f"field '{short(alias, 60)}' is not one of our attributes: add it as a custom attribute")
            ev.outcome = "approximated"
        return b.step("if-then", ev.name, {"condition": cond}, position=pos)
    if t == "lead.segments":
        segs = ev.prop("segments")
        ids = [str(s) for s in segs] if isinstance(segs, list) else []
        if not ids:
            return _unmapped(b, ev, "it names no segment", pos)
        row = b.tables.get("lists", {}).get(ids[0], {})
        known = b.knows_segment(("list", ids[0]))
        name = b.segment(("list", ids[0]), short(row.get("name")) or f"Mautic segment {ids[0]}",
                         f"Imported from Mautic segment #{ids[0]}; define its query or members")
        if not known:
            b.notes.append(f"segment '{name}' (Mautic segment #{ids[0]}): added as a placeholder without a query")
        if len(ids) > 1:
            ev.notes.append(f"tests {len(ids)} segments; only the first, '{name}', is tested")
            ev.outcome = "approximated"
        return b.step("if-then", ev.name, {"segment": name}, position=pos)
    why = WHY_NOT.get(t, f"no tile does what Mautic's {t} {ev.kind} does")
    return _unmapped(b, ev, why, pos)


def _filled(v: Any) -> bool:
    """Whether a Mautic key-value field holds anything ({"list": []} is empty)."""
    if isinstance(v, Mapping):
        return any(_filled(x) for x in v.values())
    return bool(v)


def _unmapped(b: Builder, ev: _Ev, why: str, pos: Position | None) -> str:
    ev.outcome = "placeholder"
    ev.notes.insert(0, why)
    return b.placeholder("action" if ev.kind == "action" else "branch", f"{ev.name} ({ev.type})", position=pos)


def _message(b: Builder, ev: _Ev, channel: str, emails: dict[str, Mapping[str, Any]],
             texts: dict[str, Mapping[str, Any]], pushes: dict[str, Mapping[str, Any]], pos: Position | None) -> str:
    key = {"email": "email", "sms": "sms", "push": "notification"}[channel]
    ref = ev.prop(key)
    ref = str(ref.get("id") if isinstance(ref, Mapping) else ref) if ref not in (None, "") else ""
    table = {"email": emails, "sms": texts, "push": pushes}[channel]
    row = table.get(ref)
    label = {"email": "email", "sms": "text message", "push": "notification"}[channel]
    if row is None:
        cname = b.content((channel, ref), channel, f"Mautic {label} {ref}" if ref else f"{ev.name} ({label})")  # type: ignore[arg-type]
        ev.notes.append(f"{label} {ref or '(none)'} is not in the export: '{cname}' is an empty draft")
        ev.outcome = "approximated"
    else:
        note = (f"[Imported from Mautic {label} #{ref} '{short(row.get('name'), 60)}': a draft; check it and mark it "
                "Ready to send]")
        if channel == "email":
            plain, markup = row.get("plain_text"), row.get("custom_html")
            text = (plain if isinstance(plain, str) and plain.strip()
                    else html_to_text(markup) if isinstance(markup, str) else "")
            sender = row.get("from_address") or row.get("from_name") or ""
            cname = b.content((channel, ref), "email", short(row.get("name")) or f"Mautic email {ref}",
                              subject=_tokens(str(row.get("subject") or "")), sender=str(sender),
                              body=f"{note}\n{_tokens(text)}")
        elif channel == "sms":
            cname = b.content((channel, ref), "sms", short(row.get("name")) or f"Mautic text {ref}",
                              text=f"{note} {_tokens(str(row.get('message') or ''))}")
        else:
            cname = b.content((channel, ref), "push", short(row.get("name")) or f"Mautic notification {ref}",
                              title=str(row.get("heading") or ""),
                              text=f"{note} {_tokens(str(row.get('message') or ''))}")
        ev.notes.append(f"content '{cname}' added as a draft")
    if channel == "email" and ev.prop("email_type") == "transactional":
        ev.notes.append("a transactional email in Mautic: mark the journey exempt from frequency caps if it is one")
    return b.step(channel, ev.name, {"content": cname}, position=pos)


def _tokens(text: str) -> str:
    """Mautic's {contactfield=firstname} tokens as ours ({{first_name}}) where the field is one of ours."""
    import re

    def repl(mt: re.Match[str]) -> str:
        alias = mt.group(1)
        return "{{" + FIELDS[alias] + "}}" if alias in FIELDS else mt.group(0)
    return re.sub(r"\{contactfield=([A-Za-z0-9_]+)\}", repl, text)


def _link(b: Builder, evs: dict[str, _Ev], kids: dict[tuple[str | None, str], list[_Ev]]) -> None:
    """Join the steps as Mautic's parents and paths say; a second step under the same output runs in parallel in
    Mautic and is left unconnected (reported); a jump becomes a link, unless it would loop."""
    roots = kids.get((None, "next"), [])
    first = next((r for r in roots if r.type != "campaign.jump_to_event"), None)
    if first is not None:
        b.journey.set_entry(first.entry)
    for r in roots:
        if r is not first:
            _parallel(r, first)
    for ev in sorted(evs.values(), key=lambda e: e.order):
        if not ev.exits:
            continue
        for port, src in ev.exits.items():
            children = kids.get((ev.id, port), [])
            for i, child in enumerate(children):
                if i:
                    _parallel(child, children[0])
                    continue
                target = _target(b, child, evs, src)
                if target:
                    b.link(src, port, target)


def _parallel(ev: _Ev, first: _Ev | None) -> None:
    ev.outcome = "approximated" if ev.outcome == "mapped" else ev.outcome
    ev.notes.append("runs in parallel with " + (f"'{first.name}'" if first else "the campaign's start")
                    + " in Mautic; left unconnected (our journeys take one path from each output): connect it")


def _target(b: Builder, child: _Ev, evs: dict[str, _Ev], src: str) -> str | None:
    if child.type != "campaign.jump_to_event":
        return child.entry
    props = child.raw.get("properties")
    inner = props.get("properties") if isinstance(props, Mapping) else None
    # the saved id sits beside the form's value, which can be a temporary id ('new...') from the builder
    found = [x.get("jumpToEvent") for x in (props, inner) if isinstance(x, Mapping) and x.get("jumpToEvent")]
    dest_id = next((d for d in found if str(d) in evs), found[0] if found else None)
    dest = evs.get(str(dest_id)) if dest_id is not None else None
    if dest is not None and dest.entry and dest.entry != src and not b.reaches(dest.entry, src):
        child.steps.append(dest.entry)
        child.notes.append(f"became a link to '{dest.name}'")
        return dest.entry
    why = (f"jumps back to '{dest.name}', a loop: our journeys do not go round" if dest is not None and dest.entry
           else f"jumps to event {dest_id!r}, which is not in this export")
    sid = _unmapped(b, child, why, child.pos)
    child.steps.append(sid)
    return sid
