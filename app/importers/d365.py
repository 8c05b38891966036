"""Dynamics 365 outbound-marketing customer journeys (the `msdyncrm_workflowdefinition` JSON) onto our tiles.

A workflow definition is a list of workflow activities (tiles), each with ActivityId, ActivityTypeId,
ParentActivityId, ParentBranchId (its place among its siblings), ParentRelationshipType (yesBranch / noBranch
under a trigger, else Default), EntityTarget (contact / account) and Properties.Items: the header item (title
name, referenced record) then nested items (segment items of a segment group; pages, events, surveys and forms
nested in an email). A record exported from the Web API holds it as text in `msdyncrm_workflowdefinition`,
beside `msdyncrm_name`. README.md says what maps to what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from app.importers.common import (MAX_SOURCE_STEPS, Builder, ImportResult, Outcome, Path, bad,
                                  check_parent_chains, fast_json, fmt_duration, short)
from app.model.journey import Audience
from app.model.values import format_datetime

UNITS = {"minute": timedelta(minutes=1), "minutes": timedelta(minutes=1), "hour": timedelta(hours=1),
         "hours": timedelta(hours=1), "day": timedelta(days=1), "days": timedelta(days=1),
         "week": timedelta(weeks=1), "weeks": timedelta(weeks=1)}
EVENTS = {"opened": "opened", "open": "opened", "clicked": "link_clicked", "click": "link_clicked",
          "delivered": "delivered", "hardbounced": "bounced", "bounced": "bounced"}
ACTIVITY = {"task": "task", "phonecall": "phone_call", "phone_call": "phone_call", "phone call": "phone_call"}
WHY_NOT = {
    "LandingPage": "a marketing page tile: we design no pages; link the page from an email",
    "Event": "an event tile: we manage no events",
    "Survey": "a survey tile: we manage no surveys",
    "MarketingForm": "a marketing form tile: we manage no forms",
    "LinkedInCampaign": "a LinkedIn campaign tile: we send no LinkedIn messages",
    "RecordUpdate": "waits for a record update; our if/then waits for message events or tests attributes",
}
MAX_WAIT = timedelta(days=3660)
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass
class _Tile:
    id: str
    path: Path
    type: str
    parent: str | None
    relation: str  # yesBranch / noBranch / default
    branch: int
    target: str | None
    items: list[Mapping[str, Any]]
    entry: str = ""
    exits: dict[str, str] = field(default_factory=dict)
    outcome: Outcome = "mapped"
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def head(self) -> Mapping[str, Any]:
        return self.items[0] if self.items else {}

    @property
    def name(self) -> str:
        return short(self.head.get("Name")) or self.type

    def get(self, *keys: str) -> Any:
        for k in keys:
            if self.head.get(k) not in (None, ""):
                return self.head[k]
        return None


def _definition(doc: Any) -> tuple[Any, Path, str | None]:
    """The list of activities, where it is, and the journey's name when the record gives it."""
    if isinstance(doc, Mapping) and "msdyncrm_workflowdefinition" in doc:
        return doc["msdyncrm_workflowdefinition"], ("msdyncrm_workflowdefinition",), doc.get("msdyncrm_name")
    return doc, (), None


def looks_like(doc: Any) -> bool:
    acts, _, _ = _definition(doc)
    if isinstance(acts, str):
        return acts.lstrip().startswith("[") and "bpf_root" in acts[:2000]
    return (isinstance(acts, list) and bool(acts) and isinstance(acts[0], Mapping)
            and any(isinstance(a, Mapping) and a.get("ActivityTypeId") == "bpf_root" for a in acts[:50]))


def _duration(v: Any, unit: Any, where: Path, what: str) -> timedelta | None:
    """A timeout or wait: an ISO 8601 duration ('P3D', 'PT12H') or a number with a unit (3, 'Days')."""
    if v in (None, ""):
        return None
    if isinstance(v, str) and v.strip().upper().startswith("P"):
        m = _ISO.match(v.strip().upper())
        if not m or not any(m.groups()):
            raise bad(where, f"{what}: {short(v, 40)!r} is not an ISO 8601 duration such as P3D or PT12H")
        w, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
        if max(w, d, h, mi, s) > 10**6:
            raise bad(where, f"{what}: {short(v, 40)!r} is more than ten years")
        out = timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    else:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        u = UNITS.get(str(unit).strip().lower()) if unit is not None else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or u is None:
            raise bad(where, f"{what}: {short(v, 40)!r} {short(unit, 20)!r} is not a duration (a number with "
                      "Minutes, Hours, Days or Weeks)")
        if v > 10**6:
            raise bad(where, f"{what}: {v} is more than ten years")
        out = u * v
    if out > MAX_WAIT:
        raise bad(where, f"{what}: {fmt_duration(out)} is more than ten years")
    return out


def _tiles(acts: Any, path: Path) -> dict[str, _Tile]:
    if not isinstance(acts, list):
        raise bad(path, "a workflow definition is a list of workflow activities")
    if len(acts) > MAX_SOURCE_STEPS:
        raise bad(path, f"{len(acts):,} workflow activities; at most {MAX_SOURCE_STEPS:,} are read")
    tiles: dict[str, _Tile] = {}
    for i, a in enumerate(acts):
        p = path + (i,)
        if not isinstance(a, Mapping):
            raise bad(p, f"workflow activity #{i + 1} must be a mapping")
        aid = a.get("ActivityId")
        if not isinstance(aid, str) or not aid.strip() or len(aid) > 80:
            raise bad(p + ("ActivityId",), f"workflow activity #{i + 1}: ActivityId must be text")
        if aid in tiles:
            raise bad(p + ("ActivityId",), f"activity {aid} appears twice")
        typ = a.get("ActivityTypeId")
        if not isinstance(typ, str) or not typ.strip() or len(typ) > 80:
            raise bad(p + ("ActivityTypeId",), f"activity {aid}: ActivityTypeId must be text such as Email")
        parent = a.get("ParentActivityId")
        if parent is not None and not isinstance(parent, str):
            raise bad(p + ("ParentActivityId",), f"activity {aid}: ParentActivityId must be text")
        rel = str(a.get("ParentRelationshipType") or "default")
        rel = {"yesbranch": "yesBranch", "nobranch": "noBranch"}.get(rel.lower(), "default")
        branch = a.get("ParentBranchId", 0)
        if isinstance(branch, bool) or not isinstance(branch, int) or not 0 <= branch <= 10_000:
            raise bad(p + ("ParentBranchId",), f"activity {aid}: ParentBranchId must be a whole number from 0")
        props = a.get("Properties")
        items = props.get("Items") if isinstance(props, Mapping) else None
        if items is not None and (not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items)):
            raise bad(p + ("Properties", "Items"), f"activity {aid}: Properties.Items must be a list of items")
        target = a.get("EntityTarget")
        tiles[aid] = _Tile(aid, p, typ, parent or None, rel, branch,
                           target if isinstance(target, str) else None, list(items or []))
    check_parent_chains(tiles, "ParentActivityId", "activity", "is not an activity of this definition",
                        shown=lambda x: repr(short(x, 40)))
    return tiles


def import_doc(doc: Any, *, detected: bool) -> ImportResult:
    acts, path, record_name = _definition(doc)
    if isinstance(acts, str):
        from app.codec.yamlio import parse_text
        from app.errors import FormatError
        try:
            text = acts
            acts = fast_json(text)
            if acts is None:
                acts = parse_text(text, file="msdyncrm_workflowdefinition")
        except FormatError as e:
            raise bad(path, f"msdyncrm_workflowdefinition is not JSON text: {e.message}") from None
    tiles = _tiles(acts, path)
    roots = [t for t in tiles.values() if t.type == "bpf_root"]
    if len(roots) != 1:
        raise bad(path, f"a workflow definition has one bpf_root activity; this one has {len(roots)}")
    name = record_name if isinstance(record_name, str) and record_name.strip() else "Imported customer journey"
    b = Builder(name, "Dynamics 365")
    kids: dict[tuple[str, str], list[_Tile]] = {}
    for t in sorted(tiles.values(), key=lambda t: (t.branch, t.path)):
        if t.parent is not None:
            kids.setdefault((t.parent, t.relation), []).append(t)
    targets = {t.target for t in tiles.values() if t.target}
    if "account" in targets:
        b.journey.target = "accounts"
    b.notes.append(f"target: {b.journey.target}" + (" (the tiles name both contact and account: taken as accounts)"
                                                     if len(targets) > 1 else ""))
    root = roots[0]
    starts: list[_Tile] = []
    for t in kids.get((root.id, "default"), []):
        if t.type == "Segment":
            _segment_group(b, t)
            starts += kids.get((t.id, "default"), [])
        else:
            starts.append(t)
    if not b.journey.audience.segments:
        b.notes.append("audience: no segment group names a segment; choose the journey's audience")
    order = [t for t in _walk(tiles, kids, root)]
    for t in order:
        if t.type not in ("bpf_root", "Segment", "SplitterBranch"):
            _make(b, t, tiles)
    for t in order:
        if t.type == "SplitterBranch" and not t.steps:
            t.notes.append("a branch of a splitter that did not map: connect its steps to the placeholder")
            t.outcome = "not-mapped"
            for c in kids.get((t.id, "default"), []):
                c.notes.append("follows that branch; left unconnected")
                c.outcome = "approximated" if c.outcome == "mapped" else c.outcome
    first = next((t for t in starts if t.entry), None)
    if first is not None:
        b.journey.set_entry(first.entry)
    for t in starts:
        if t is not first:
            _parallel(t)
    for t in order:
        _link(b, t, kids)
    for t in order:
        if t.type == "bpf_root":
            continue
        b.record(t.id, t.type, t.name, t.outcome, tuple(t.steps), "; ".join(dict.fromkeys(t.notes)))
    b.notes.append("layout: the definition has no positions; laid out")
    return b.result("d365", detected)


def _walk(tiles: dict[str, _Tile], kids: dict[tuple[str, str], list[_Tile]], root: _Tile) -> list[_Tile]:
    out, stack = [], [root]
    while stack:
        t = stack.pop()
        out.append(t)
        children = [c for rel in ("default", "yesBranch", "noBranch") for c in kids.get((t.id, rel), [])]
        stack.extend(reversed(children))
    return out


def _segment_group(b: Builder, t: _Tile) -> None:
    t.notes.append("the journey's audience")
    include, exclude = list(b.journey.audience.segments), list(b.journey.audience.exclude)
    for item in t.items[1:]:
        if item.get("ActivityTypeId") != "SegmentItem":
            continue
        label = short(item.get("SegmentDisplayName") or item.get("Name")) or f"D365 segment {item.get('ItemId')}"
        seg = b.segment(("segment", item.get("ItemId") or label), label,
                        f"Imported from the Dynamics 365 segment {short(item.get('DciSegmentName') or label, 80)}"
                        f" ({short(item.get('ItemId'), 40)}); define its query or members",
                        entity=b.journey.target)
        b.notes.append(f"segment '{seg}' (Dynamics 365 segment {short(item.get('ItemId'), 40)}): added as a "
                       "placeholder without a query")
        (exclude if str(item.get("ContainmentMethod", "")).lower() == "exclusion" else include).append(seg)
    merge = str(t.head.get("SegmentMergeMethod") or "Union").lower()
    combine = "intersection" if merge.startswith("intersect") else "union"
    b.journey.audience = Audience(segments=tuple(dict.fromkeys(include)), combine=combine,  # type: ignore[arg-type]
                                  exclude=tuple(dict.fromkeys(exclude)))
    t.steps = []


def _make(b: Builder, t: _Tile, tiles: dict[str, _Tile]) -> None:
    typ = t.type
    if typ == "Email":
        ref = short(t.head.get("ItemId"), 60)
        cname = b.content(("email", ref or t.id), "email", t.name,
                          body=f"[Imported from the Dynamics 365 email '{t.name}' ({ref or 'no record id'}): a draft; "
                               "write it and mark it Ready to send]")
        t.notes.append(f"content '{cname}' added as a draft")
        nested = [f"{short(i.get('ActivityTypeId'), 30)} '{short(i.get('Name'), 60)}'" for i in t.items[1:]]
        if nested:
            t.notes.append(f"nested {', '.join(nested)}: not mapped (we keep no pages, events, surveys or forms)")
            t.outcome = "approximated"
        sid = b.step("email", t.name, {"content": cname}, path=t.path)
        t.exits = {"next": sid}
    elif typ == "Trigger":
        sid = _trigger(b, t, tiles)
        t.exits = {"yes": sid, "no": sid}
    elif typ == "Scheduler":
        until = t.get("WaitUntil", "ScheduleDate")
        dur = _duration(t.get("Duration", "Timeout", "TimeoutValue"), t.get("TimeoutUnit", "DurationUnit"),
                        t.path + ("Properties", "Items", 0), f"activity {t.id}")
        if isinstance(until, str) and until.strip():
            try:
                when = format_datetime(datetime.fromisoformat(until.strip().replace("Z", "")[:19]))
            except ValueError:
                raise bad(t.path + ("Properties", "Items", 0, "WaitUntil"),
                          f"activity {t.id}: WaitUntil {short(until, 40)!r} is not a date and time") from None
            sid = b.step("wait", t.name, {"until": when}, path=t.path)
        elif dur:
            sid = b.step("wait", t.name, {"duration": fmt_duration(dur)}, path=t.path)
        else:
            sid = _unmapped(b, t, "the scheduler gives no duration nor date", "action")
        t.exits = {"next": sid}
    elif typ == "Splitter":
        branches = sorted((x for x in tiles.values() if x.parent == t.id and x.type == "SplitterBranch"),
                          key=lambda x: x.branch)
        if not 2 <= len(branches) <= 10:
            sid = _unmapped(b, t, f"a splitter with {len(branches)} branches (we split 2 to 10 ways)", "action")
            t.exits = {"next": sid}
        else:
            shares = [x.get("Percentage", "Percent") for x in branches]
            if all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in shares) \
                    and abs(sum(shares) - 100) < 1e-9:
                split = list(shares)
            else:
                n = len(branches)
                split = [100 // n + (1 if i < 100 % n else 0) for i in range(n)]
                t.notes.append(f"no percentages given: an even split, {'/'.join(map(str, split))}")
            sid = b.step("random-split", t.name, {"split": split}, path=t.path)
            t.exits = {}
            for i, x in enumerate(branches):
                x.exits = {"next": sid}
                x.entry = ""
                x.steps = [sid]
                t.exits[f"branch:{x.id}"] = chr(ord("A") + i)
                x.notes.append(f"path {chr(ord('A') + i)} ({split[i]:g}%) of '{t.name}'")
    elif typ == "CreateCrmActivity":
        kind = str(t.get("ActivityType", "ActivityTypeCode") or "task").lower()
        props: dict[str, Any] = {"activity": ACTIVITY.get(kind, "task"),
                                 "subject": short(t.get("Subject") or t.name, 200)}
        if kind not in ACTIVITY:
            t.notes.append(f"a {short(kind, 30)} activity taken as a task")
            t.outcome = "approximated"
        if t.get("Owner"):
            props["owner"] = short(t.get("Owner"), 120)
        sid = b.step("task", t.name, props, path=t.path)
        t.exits = {"next": sid}
    elif typ == "CreateLead":
        sid = b.step("lead", t.name, {"topic": short(t.get("Topic") or t.name, 200)}, path=t.path)
        t.exits = {"next": sid}
    elif typ == "InvokeWorkflow":
        sid = b.step("workflow", t.name, {"workflow": short(t.get("WorkflowName") or t.name, 200)}, path=t.path)
        if t.head.get("ItemId"):
            t.notes.append(f"the Dynamics 365 workflow {short(t.head.get('ItemId'), 40)}: name it as the runner "
                           "knows it")
        t.exits = {"next": sid}
    else:
        why = WHY_NOT.get(typ, f"no tile does what a Dynamics 365 {short(typ, 40)} tile does")
        sid = _unmapped(b, t, why, "action")
        t.exits = {"next": sid}
    if not t.steps:
        t.steps.append(sid)
    t.entry = sid


def _trigger(b: Builder, t: _Tile, tiles: dict[str, _Tile]) -> str:
    where = t.path + ("Properties", "Items", 0)
    within = _duration(t.get("Timeout", "TimeoutValue"), t.get("TimeoutUnit"), where, f"activity {t.id}")
    conds = t.get("Conditions", "Condition")
    cond = conds[0] if isinstance(conds, list) and conds else conds
    if not isinstance(cond, Mapping):
        return _unmapped(b, t, "the trigger's rule is not in the definition", "branch")
    source = tiles.get(str(cond.get("ActivityId") or cond.get("SourceActivityId")))
    event = EVENTS.get(str(cond.get("Event") or "").replace(" ", "").lower())
    if source is None or source.type != "Email" or not source.exits:
        return _unmapped(b, t, "its rule does not name an email tile before it", "branch")
    if event is None:
        return _unmapped(b, t, f"its rule tests {short(cond.get('Event'), 40)!r}, which no message event is", "branch")
    if isinstance(conds, list) and len(conds) > 1:
        t.notes.append(f"{len(conds)} rules: only the first is tested")
        t.outcome = "approximated"
    props: dict[str, Any] = {"wait_for": {"event": event, "step": source.exits["next"]}}
    if within:
        props["within"] = fmt_duration(within)
    else:
        t.notes.append("no timeout: set the time limit")
        t.outcome = "approximated"
    return b.step("if-then", t.name, props, path=t.path)


def _unmapped(b: Builder, t: _Tile, why: str, kind: str) -> str:
    t.outcome = "placeholder"
    t.notes.insert(0, why)
    return b.placeholder("branch" if kind == "branch" else "action", f"{t.name} ({t.type})")


def _parallel(t: _Tile) -> None:
    t.outcome = "approximated" if t.outcome == "mapped" else t.outcome
    t.notes.append("a parallel flow in Dynamics 365; left unconnected (our journeys take one path from each "
                   "output): connect it")


def _link(b: Builder, t: _Tile, kids: dict[tuple[str, str], list[_Tile]]) -> None:
    if not t.exits or t.type == "SplitterBranch":
        return
    if t.type == "Splitter" and any(k.startswith("branch:") for k in t.exits):
        sid = t.entry
        for key, port in t.exits.items():
            children = kids.get((key.split(":", 1)[1], "default"), [])
            _join(b, sid, port, children)
        return
    if t.type == "Trigger":
        for c in kids.get((t.id, "default"), []):
            c.notes.append("under a trigger but on neither its yes nor its no branch")
            _parallel(c)
    for port, sid in t.exits.items():
        rel = {"next": "default", "yes": "yesBranch", "no": "noBranch"}[port]
        children = kids.get((t.id, rel), [])
        if port != "next" and not children and t.type != "Trigger":
            continue
        _join(b, sid, port, children)


def _join(b: Builder, sid: str, port: str, children: list[_Tile]) -> None:
    for i, c in enumerate(children):
        if i:
            _parallel(c)
        elif c.entry:
            b.link(sid, port, c.entry)
