"""Dittofeed journeys (a journey resource as kept in git: `name` and `definition` with `entryNode`, `nodes` and
`exitNode`, in YAML or JSON) onto our tiles.

Nodes link by id: a message or delay node to its `child`, a segment split to `variant.trueChild` /
`variant.falseChild`, a wait-for node to its `segmentChildren` and `timeoutChild`; 'ExitNode' is the exit.
Templates and segments are referenced by id; when the file also lists `segments` / `messageTemplates` (id and
name), their names are used. README.md says what maps to what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from app.importers.common import (MAX_SOURCE_STEPS, Builder, ImportResult, Outcome, Path, bad, fmt_duration,
                                  short)
from app.model.content import ContentKind
from app.model.journey import Audience, Frequency
from app.model.registry import END

EXIT = "ExitNode"
CHANNELS: dict[str, ContentKind] = {"Email": "email", "Sms": "sms", "MobilePush": "push"}
ENTRY_TYPES = ("EntryNode", "SegmentEntryNode", "EventEntryNode")
MAX_DELAY = 10 * 366 * 86400  # seconds


@dataclass
class _Node:
    id: str
    path: Path
    raw: Mapping[str, Any]
    entry: str = ""
    outs: list[tuple[str, str, str]] = field(default_factory=list)  # (our step, port, Dittofeed child id)
    outcome: Outcome = "mapped"
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def type(self) -> str:
        return str(self.raw.get("type"))

    @property
    def variant(self) -> Mapping[str, Any]:
        v = self.raw.get("variant")
        return v if isinstance(v, Mapping) else {}

    @property
    def name(self) -> str:
        return short(self.raw.get("name")) or self.type.removesuffix("Node")


def _definition(doc: Any) -> tuple[Mapping[str, Any], Path] | None:
    if isinstance(doc, Mapping):
        d = doc.get("definition")
        if isinstance(d, Mapping) and "entryNode" in d:
            return d, ("definition",)
        if "entryNode" in doc and "nodes" in doc:
            return doc, ()
    return None


def looks_like(doc: Any) -> bool:
    return _definition(doc) is not None


def _child(node: _Node, key: str, ids: set[str], where: Path) -> str:
    v = node.raw.get(key) if key in node.raw else node.variant.get(key)
    if not isinstance(v, str) or not v:
        raise bad(where, f"node {node.id}: {key} must name a node")
    if v != EXIT and v not in ids:
        raise bad(where, f"node {node.id}: {key} {short(v, 60)!r} is not a node of this journey")
    return v


def import_doc(doc: Any, *, detected: bool) -> ImportResult:
    found = _definition(doc)
    if found is None:
        raise bad((), "not a Dittofeed journey: no definition with an entryNode")
    d, path = found
    name = doc.get("name") if isinstance(doc, Mapping) else None
    b = Builder(name if isinstance(name, str) and name.strip() else "Imported Dittofeed journey", "Dittofeed")
    seg_names = _names(doc, "segments")
    templates = _names(doc, "messageTemplates")
    entry = d.get("entryNode")
    if not isinstance(entry, Mapping) or entry.get("type") not in ENTRY_TYPES:
        raise bad(path + ("entryNode",), f"entryNode must be one of {', '.join(ENTRY_TYPES)}")
    nodes_raw = d.get("nodes")
    if not isinstance(nodes_raw, list):
        raise bad(path + ("nodes",), "nodes must be a list")
    if len(nodes_raw) > MAX_SOURCE_STEPS:
        raise bad(path + ("nodes",), f"{len(nodes_raw):,} nodes; at most {MAX_SOURCE_STEPS:,} are read")
    nodes: dict[str, _Node] = {}
    for i, raw in enumerate(nodes_raw):
        p = path + ("nodes", i)
        if not isinstance(raw, Mapping):
            raise bad(p, f"node #{i + 1} must be a mapping")
        nid = raw.get("id")
        if not isinstance(nid, str) or not nid.strip() or len(nid) > 80:
            raise bad(p + ("id",), f"node #{i + 1}: id must be text")
        if nid in nodes or nid == EXIT:
            raise bad(p + ("id",), f"node {nid} appears twice" if nid in nodes else f"node id {EXIT} is the exit's")
        if not isinstance(raw.get("type"), str):
            raise bad(p + ("type",), f"node {nid}: type must be text such as MessageNode")
        nodes[nid] = _Node(nid, p, raw)
    ids = set(nodes)
    targets = _edges(nodes, ids)
    _no_cycle(nodes, targets)
    first_child = _entry(b, entry, path + ("entryNode",), ids, seg_names)
    for n in nodes.values():
        _make(b, n, ids, seg_names, templates)
    for n in nodes.values():
        for src, port, child in n.outs:
            if child == EXIT:
                b.end(src, port)
            elif nodes[child].entry:
                b.link(src, port, nodes[child].entry)
    if first_child == EXIT:
        b.notes.append("the entry leads straight to the exit: the journey has no steps")
    elif first_child in nodes:
        b.journey.set_entry(nodes[first_child].entry)
    reach = _reachable(first_child, targets)
    for n in nodes.values():
        if n.id not in reach:
            n.notes.append("not reachable from the entry in Dittofeed either")
            n.outcome = "approximated" if n.outcome == "mapped" else n.outcome
        b.record(n.id, n.type, n.name, n.outcome, tuple(n.steps), "; ".join(dict.fromkeys(n.notes)))
    b.notes.append("layout: the definition has no positions; laid out")
    return b.result("dittofeed", detected)


def _names(doc: Any, key: str) -> dict[str, str]:
    rows = doc.get(key) if isinstance(doc, Mapping) else None
    out: dict[str, str] = {}
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, Mapping) and isinstance(r.get("id"), str) and isinstance(r.get("name"), str):
            out[r["id"]] = short(r["name"])
    return out


def _edges(nodes: dict[str, _Node], ids: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in nodes.values():
        t = n.type
        if t in ("MessageNode", "DelayNode", "RateLimitNode"):
            out[n.id] = [_child(n, "child", ids, n.path + ("child",))]
        elif t == "SegmentSplitNode":
            out[n.id] = [_child(n, k, ids, n.path + ("variant", k)) for k in ("trueChild", "falseChild")]
        elif t == "WaitForNode":
            kids = n.raw.get("segmentChildren")
            if not isinstance(kids, list) or not all(isinstance(k, Mapping) for k in kids):
                raise bad(n.path + ("segmentChildren",), f"node {n.id}: segmentChildren must be a list")
            out[n.id] = [_child(_Node(n.id, n.path, k), "id", ids, n.path + ("segmentChildren", i))
                         for i, k in enumerate(kids)] + [_child(n, "timeoutChild", ids, n.path + ("timeoutChild",))]
        elif t == "RandomCohortNode":
            kids = n.raw.get("children")
            if not isinstance(kids, list) or not all(isinstance(k, Mapping) for k in kids):
                raise bad(n.path + ("children",), f"node {n.id}: children must be a list")
            out[n.id] = [_child(_Node(n.id, n.path, k), "id", ids, n.path + ("children", i))
                         for i, k in enumerate(kids)]
        else:
            out[n.id] = [c for c in (n.raw.get("child"),) if isinstance(c, str) and (c in ids or c == EXIT)]
    return out


def _no_cycle(nodes: dict[str, _Node], targets: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}
    for start in nodes:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            nid, i = stack.pop()
            if i == 0:
                if state.get(nid) == 1:
                    loop = " -> ".join(trail[trail.index(nid):] + [nid])
                    raise bad(nodes[nid].path, f"node {nid}: the nodes loop ({loop})")
                if state.get(nid) == 2:
                    continue
                state[nid] = 1
                trail.append(nid)
            kids = [k for k in targets.get(nid, []) if k != EXIT]
            if i < len(kids):
                stack.append((nid, i + 1))
                stack.append((kids[i], 0))
            else:
                state[nid] = 2
                trail.pop()


def _reachable(first: str, targets: dict[str, list[str]]) -> set[str]:
    seen, stack = set(), [first]
    while stack:
        n = stack.pop()
        if n in seen or n == EXIT:
            continue
        seen.add(n)
        stack.extend(targets.get(n, []))
    return seen


def _entry(b: Builder, entry: Mapping[str, Any], path: Path, ids: set[str], seg_names: dict[str, str]) -> str:
    child = entry.get("child")
    if not isinstance(child, str) or (child not in ids and child != EXIT):
        raise bad(path + ("child",), f"entryNode: child {short(child, 60)!r} is not a node of this journey")
    b.journey.frequency = Frequency("ongoing")
    if entry.get("type") == "EventEntryNode":
        event = short(entry.get("event"), 80)
        b.record("entry", "EventEntryNode", f"on event {event}", "not-mapped",
                 note=f"contacts enter on the event '{event}': a journey's audience is segments; put those contacts "
                      "in a segment and choose it as the audience")
        b.notes.append("audience: none (the journey was entered on an event)")
        return child
    seg = entry.get("segment")
    if not isinstance(seg, str) or not seg:
        raise bad(path + ("segment",), "entryNode: segment must name a segment")
    name = _segment(b, seg, seg_names)
    b.journey.audience = Audience(segments=(name,))
    b.record("entry", str(entry.get("type")), f"segment {name}", "mapped", note=f"the journey's audience: '{name}'")
    b.notes.append("frequency: ongoing (users enter as they join the segment, as in Dittofeed)")
    return child


def _segment(b: Builder, seg: str, seg_names: dict[str, str]) -> str:
    """The placeholder segment for Dittofeed segment `seg` (named after it when the file says its name)."""
    known = b.knows_segment(("segment", seg))
    name = b.segment(("segment", seg), seg_names.get(seg) or f"Dittofeed segment {short(seg, 40)}",
                     f"Imported from the Dittofeed segment {short(seg, 60)}; define its query or members")
    if not known:
        b.notes.append(f"segment '{name}': added as a placeholder without a query")
    return name


def _make(b: Builder, n: _Node, ids: set[str], seg_names: dict[str, str], templates: dict[str, str]) -> None:
    t, v = n.type, n.variant
    if t == "MessageNode":
        channel = CHANNELS.get(str(v.get("type")))
        tid = short(v.get("templateId"), 60)
        if channel is None:
            sid = _unmapped(n, b, f"a {short(v.get('type'), 20)} message: its request is in the template, which a "
                                  "journey file does not hold; use a Call webhook step with its address")
        else:
            cname = b.content((channel, tid), channel, templates.get(tid) or n.raw.get("name") or f"Dittofeed "
                              f"template {tid}", body=f"[Imported from the Dittofeed template {tid}: a draft; write "
                              "it and mark it Ready to send]" if channel == "email" else "",
                              text="" if channel == "email" else f"[Dittofeed template {tid}: a draft]")
            n.notes.append(f"content '{cname}' added as a draft")
            sid = b.step(channel, n.name, {"content": cname})
        n.outs = [(sid, "next", str(n.raw["child"]))]
    elif t == "DelayNode":
        kind = v.get("type")
        secs = v.get("seconds")
        if kind == "Second" and isinstance(secs, (int, float)) and not isinstance(secs, bool):
            if not 0 < secs <= MAX_DELAY:
                raise bad(n.path + ("variant", "seconds"), f"node {n.id}: a delay of {secs} seconds is out of range "
                          "(above 0, at most ten years)")
            sid = b.step("wait", short(n.raw.get("name")), {"duration": fmt_duration(timedelta(seconds=secs))})
        elif kind == "LocalTime":
            hour, minute = v.get("hour"), v.get("minute") or 0
            when = (f"{hour}:{minute:02d}" if isinstance(hour, int) and isinstance(minute, int)
                    else f"{short(hour, 10)}:{short(minute, 10)}")
            sid = _unmapped(n, b, f"waits until {when} in the user's time zone; our wait takes a duration or a date")
        else:
            sid = _unmapped(n, b, f"a {short(kind, 30)} delay: our wait takes a duration or a date")
        n.outs = [(sid, "next", str(n.raw["child"]))]
    elif t == "SegmentSplitNode" and v.get("type") == "Boolean" and isinstance(v.get("segment"), str):
        seg = v["segment"]
        name = _segment(b, seg, seg_names)
        sid = b.step("if-then", n.name, {"segment": name})
        n.outs = [(sid, "yes", str(v["trueChild"])), (sid, "no", str(v["falseChild"]))]
    elif t == "WaitForNode":
        kids = n.raw.get("segmentChildren") or []
        timeout = n.raw.get("timeoutSeconds")
        if len(kids) == 1 and isinstance(timeout, (int, float)) and not isinstance(timeout, bool) \
                and 0 < timeout <= MAX_DELAY:
            seg = str(kids[0].get("segmentId"))
            name = _segment(b, seg, seg_names)
            wait = b.step("wait", "", {"duration": fmt_duration(timedelta(seconds=timeout))})
            test = b.step("if-then", n.raw.get("name") or f"In {name}?", {"segment": name})
            b.link(wait, "next", test)
            n.steps.append(wait)
            n.outcome = "approximated"
            n.notes.append(f"waits the whole {fmt_duration(timedelta(seconds=timeout))}, then tests '{name}' (in "
                           "Dittofeed a user goes on as soon as they join)")
            n.entry = wait
            n.steps.append(test)
            n.outs = [(test, "yes", str(kids[0]["id"])), (test, "no", str(n.raw["timeoutChild"]))]
            return
        sid = _unmapped(n, b, f"waits for {len(kids)} segments at once", branch=True)
        n.outs = ([(sid, "yes", str(kids[0]["id"]))] if kids else []) + [(sid, "no", str(n.raw["timeoutChild"]))]
        if len(kids) > 1:
            n.notes.append(f"only the first segment's path is connected; {len(kids) - 1} more left unconnected")
    elif t == "RandomCohortNode":
        kids = n.raw.get("children") or []
        shares = [k.get("percent") for k in kids]
        if 2 <= len(kids) <= 10 and all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
                                        for s in shares) and abs(sum(shares) - 100) < 1e-9:
            sid = b.step("random-split", n.name, {"split": shares})
            n.outs = [(sid, chr(ord("A") + i), str(k["id"])) for i, k in enumerate(kids)]
        else:
            sid = _unmapped(n, b, "a random split whose shares are not 2 to 10 percentages adding up to 100")
    else:
        why = {"RateLimitNode": "limits how often users are messaged: set the journey's frequency cap instead",
               "ExperimentSplitNode": "an experiment split: use an A/B split with its paths"}.get(
            t, f"no tile does what a Dittofeed {short(t, 40)} does")
        sid = _unmapped(n, b, why)
        child = n.raw.get("child")
        if isinstance(child, str) and (child in ids or child == EXIT):
            n.outs = [(sid, "next", child)]
    if not n.entry:
        n.entry = sid
    if sid not in n.steps:
        n.steps.append(sid)


def _unmapped(n: _Node, b: Builder, why: str, branch: bool = False) -> str:
    n.outcome = "placeholder"
    n.notes.insert(0, why)
    return b.placeholder("branch" if branch else "action", f"{n.name} ({n.type})")


__all__ = ["END", "import_doc", "looks_like"]
