"""A journey compiled for execution: steps in topological order, times in UTC seconds, properties resolved.

Both the reference interpreter and the vectorised engine (and later the live runner) read a `Plan`, never the
editable Journey, so the meaning of a journey's settings is worked out once, here:

- the schedule's local start and end, and wait-until dates, become UTC seconds via the journey's time zone;
- the simulated horizon defaults to the schedule end (or 90 days when the journey has none);
- iterations: one for one-time and ongoing journeys; `count` windows of `interval` for repeating ones, each
  lasting until the next begins (the recurrence interval is how long each recurrence lasts), all inside the
  schedule;
- an output port that is not connected, or is connected to `end`, leads to the virtual step END;
- journeys are DAGs: a cycle is refused here with the steps it goes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum
from typing import Any, Mapping

from app.model.attributes import CONSENT_LEVELS, MESSAGE_EVENTS
from app.model.journey import Journey, Trigger
from app.model.registry import (AB_KEEP_SPLITTING, AB_MIN_SAMPLE, AB_SIGNIFICANCE, END, PATH_NAMES,
                                REGISTRY)
from app.semantics.keys import NEVER, name_key
from app.semantics.timezones import local_to_utc, zone

DAY = 86_400
DEFAULT_HORIZON_DAYS = 90
DEFAULT_GOAL_WINDOW = 30 * DAY  # a goal counts within 30 days of entry unless the journey's goal says `within`
# if/then events as the journey names them -> the message event the simulator records
# A message event as reported (journey files, tracking, POST /events) -> the interpreter's name for it: the one
# table of message event names, read by the plan, the runner's workflow and its tracking endpoint.
MESSAGE_EVENT_NAMES: dict[str, str] = {"delivered": "delivered", "bounced": "bounced", "opened": "opened",
                                       "clicked": "clicked", "link_clicked": "clicked"}
WATCH_EVENTS = {e: MESSAGE_EVENT_NAMES[e] for e in ("delivered", "opened", "link_clicked", "bounced")}  # if/thens
CHANNEL_EVENTS = ("hard_bounced", "unsubscribed")  # a message's events that stop its channel for the contact
STEP_EVENTS = (*MESSAGE_EVENT_NAMES, *CHANNEL_EVENTS)  # every event that may name the message it came from
LINK_CLICK = "clicked:"  # a watched event on one named link: "clicked:shop"


class PlanError(ValueError):
    """A journey the simulator cannot run, with a message that says what to change."""


class Kind(IntEnum):
    """What a step does, as far as execution is concerned."""

    MESSAGE = 0
    WAIT_FOR = 1
    WAIT_UNTIL = 2
    IF_EVENT = 3
    IF_CONDITION = 4
    IF_SEGMENT = 5
    SPLIT = 6
    ACTION = 7
    EXIT = 8


@dataclass(frozen=True)
class Condition:
    """An attribute test of an if/then: attribute, operator and value (see app.model.attributes.OPERATORS)."""

    attribute: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class ABTest:
    """An A/B split's winner selection (app/semantics/ab_test.py): the test runs from the journey's start to
    `decide_at` (UTC seconds); then, once, the winner by `metric` (opened / clicked: the first message each
    contact was sent after the split; goal: the journey's goal, by `decide_at`) is named if every path had at
    least `min_sample` contacts and the test's adjusted p-value is below `alpha`; else `fallback` (-1: keep
    splitting, else that path's index) applies."""

    metric: str
    decide_at: int
    min_sample: int
    alpha: float
    fallback: int = -1


@dataclass(frozen=True)
class StepPlan:
    """One step ready to execute. `next[i]` is the step index its i-th port leads to (`Plan.end` for the end)."""

    index: int
    id: str
    name: str
    type: str
    kind: Kind
    key: int
    ports: tuple[str, ...]
    next: tuple[int, ...]
    channel: str | None = None
    seconds: int = 0
    until: int = 0
    watch_step: int = -1
    watch_event: str = ""
    condition: Condition | None = None
    segment: str | None = None
    thresholds: tuple[float, ...] = ()
    per_account: bool = False
    links: tuple[str, ...] = ()  # a message's links (a click is on one of them); see compile_plan
    ab: ABTest | None = None  # a split's A/B test with a test period (None: it splits to the end)
    route: int = -1  # once an A/B test is decided: the path contacts arriving from `ab.decide_at` on take (-1: split)

    def link_index(self, event: str) -> int | None:
        """For a watched event 'clicked:NAME', the index of link NAME in this message (-1: it has no such link,
        so nobody clicks it); None for any other event."""
        if not event.startswith(LINK_CLICK):
            return None
        name = event[len(LINK_CLICK):]
        return self.links.index(name) if name in self.links else -1


@dataclass(frozen=True)
class TriggerPlan:
    """A goal or an exit condition: a contact event, or joining / leaving a segment."""

    event: str | None = None
    segment: str | None = None
    when: str | None = None

    @property
    def name(self) -> str:
        """The event name the interpreter is told about, e.g. 'purchase' or 'segment:VIP:joins'."""
        return self.event if self.event else f"segment:{self.segment}:{self.when or 'joins'}"


@dataclass(frozen=True)
class AudiencePlan:
    segments: tuple[str, ...]
    combine: str
    exclude: tuple[str, ...]
    suppress: str | None
    min_consent: int  # index into CONSENT_LEVELS; 0 admits everyone


@dataclass(frozen=True)
class Plan:
    """A compiled journey. Times are UTC seconds; `iterations` are (start, stop) windows (stop NEVER: open)."""

    journey_id: str
    journey_name: str
    version: int
    target: str
    frequency: str
    steps: tuple[StepPlan, ...]
    entry: int
    start: int
    end_at: int
    horizon: int
    iterations: tuple[tuple[int, int], ...]
    timezone: str
    quiet: tuple[int, int] | None
    cap: tuple[int, int] | None
    audience: AudiencePlan
    exits: tuple[TriggerPlan, ...]
    goal: TriggerPlan | None
    events: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())  # settings the plan had to read its own way (see compile_plan)
    goal_window: int = DEFAULT_GOAL_WINDOW  # seconds after entry in which the goal counts (see goal_deadline)

    @property
    def end(self) -> int:
        """The index of the virtual END step (one past the last real step)."""
        return len(self.steps)

    @property
    def accounts(self) -> bool:
        return self.target == "accounts"

    def step_names(self) -> list[str]:
        """Step ids by index, END last (as 'end')."""
        return [s.id for s in self.steps] + [END]

    def cutoff(self, iteration: int) -> tuple[int, bool]:
        """When processing of an iteration stops, and whether that is the horizon (still waiting) or the end."""
        stop = min(self.iterations[iteration][1], self.end_at)
        return (self.horizon, True) if self.horizon < stop else (stop, False)

    def goal_deadline(self, entry: Any, cutoff: Any) -> Any:
        """The one definition of a goal reached: its event at or after entry and before this (exclusive) time,
        whether or not the contact has left the journey by then; within the goal's attribution window after
        entry, and before the iteration's cutoff (nothing is seen after it). Works on ints and arrays."""
        if isinstance(entry, int):
            return min(entry + self.goal_window + 1, cutoff)
        import numpy as np  # arrays come from the simulator, which has NumPy loaded already
        return np.minimum(entry + self.goal_window + 1, cutoff)

    def segments_used(self) -> list[str]:
        """Segments named by if/then steps, the goal and exit conditions (not the audience)."""
        names = [s.segment for s in self.steps if s.segment]
        names += [t.segment for t in (*self.exits, *([self.goal] if self.goal else [])) if t.segment]
        return list(dict.fromkeys(n for n in names if n))


def _trigger(t: Trigger) -> TriggerPlan:
    return TriggerPlan(t.event, t.segment, t.when)


def _topological(journey: Journey) -> list[str]:
    """Step ids in an order where every link goes forward (journey order among equals); PlanError on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the DFS stack, 2: done
    ids = list(journey.steps)

    def visit(sid: str, stack: list[str]) -> None:
        state[sid] = 1
        stack.append(sid)
        for _, target in reversed(journey.successors(sid)):
            if state.get(target) == 1:
                loop = stack[stack.index(target):]
                first = min(range(len(loop)), key=lambda i: ids.index(loop[i]))  # start where the journey does
                loop = loop[first:] + loop[:first] + [loop[first]]
                raise PlanError(f"journey '{journey.name}' has a cycle ({' -> '.join(loop)}); contacts could loop "
                                "for ever. Break the loop: journeys must only lead forward.")
            if target not in state:
                visit(target, stack)
        stack.pop()
        state[sid] = 2
        order.append(sid)

    for sid in reversed(ids):
        if sid not in state:
            visit(sid, [])
    order.reverse()
    return order


def compile_plan(journey: Journey, *, horizon: int | datetime | None = None,
                 content: Mapping[str, Any] | None = None) -> Plan:
    """Compile a journey; `horizon` (UTC seconds or a journey-local date-time) bounds the simulated time.

    `content` (content name -> Content, or its plain form) gives each message its links: a click is on one of
    them, and an if/then on a named link answers yes only for a click on that link (seed 000, "Which link").
    A message whose content has no links listed (a text message, or content not given) has the links its
    if/thens name."""
    s = journey.schedule
    try:
        zone(s.timezone)
    except Exception:
        raise PlanError(f"unknown time zone '{s.timezone}'") from None
    if s.start is None:
        raise PlanError(f"journey '{journey.name}' has no start date; set schedule.start to simulate it")
    if journey.entry is None or not journey.steps:
        raise PlanError(f"journey '{journey.name}' has no steps")
    start = local_to_utc(s.start, s.timezone)
    end_at = local_to_utc(s.end, s.timezone) if s.end else NEVER
    if end_at <= start:
        raise PlanError(f"journey '{journey.name}' ends before it starts")
    if isinstance(horizon, datetime):
        horizon = local_to_utc(horizon, s.timezone)
    h = horizon if horizon is not None else (end_at if end_at < NEVER else start + DEFAULT_HORIZON_DAYS * DAY)
    if h <= start:
        raise PlanError("the simulated horizon must be after the journey start")

    notes: list[str] = []
    f = journey.frequency
    if f.kind == "repeating":
        if not f.interval or not f.count or f.interval.total_seconds() <= 0 or f.count < 1:
            raise PlanError("a repeating journey needs an interval above zero and a count of at least 1")
        step = int(f.interval.total_seconds())
        iterations = tuple((start + k * step, start + (k + 1) * step) for k in range(f.count)
                           if start + k * step < min(end_at, h))
        fit = sum(1 for k in range(f.count) if start + k * step < end_at)
        if fit < f.count:
            notes.append(f"the journey repeats {f.count} times every {_days(step)}, but only {fit} of them start "
                         "before its schedule ends; only those are simulated")
    else:
        iterations = ((start, NEVER),)

    order = _topological(journey)
    index = {sid: i for i, sid in enumerate(order)}
    accounts = journey.target == "accounts"
    links = _message_links(journey, content)
    steps = tuple(_step(journey, sid, i, index, s.timezone, accounts, notes, links.get(sid, ()), start)
                  for i, sid in enumerate(order))

    q = s.quiet_hours
    quiet = None
    if q is not None:
        qs, qe = q.start.hour * 3600 + q.start.minute * 60 + q.start.second, q.end.hour * 3600 + q.end.minute * 60 \
            + q.end.second
        quiet = (qs, qe) if qs != qe else None
    cap = None
    if journey.frequency_cap is not None:
        cap = (int(journey.frequency_cap.messages), int(journey.frequency_cap.per.total_seconds()))
    a = journey.audience
    if a.min_consent is not None and a.min_consent not in CONSENT_LEVELS:
        raise PlanError(f"unknown consent level '{a.min_consent}'")
    audience = AudiencePlan(tuple(dict.fromkeys(a.segments)), a.combine, tuple(a.exclude), a.suppress,
                            CONSENT_LEVELS.index(a.min_consent) if a.min_consent else 0)
    exits = tuple(_trigger(t) for t in journey.exit_when)
    goal = _trigger(journey.goal) if journey.goal else None
    events = tuple(dict.fromkeys(t.event for t in (*exits, *([goal] if goal else [])) if t.event))
    return Plan(journey.id, journey.name, journey.version, journey.target, f.kind, steps, index[journey.entry],
                start, end_at, h, iterations, s.timezone, quiet, cap, audience, exits, goal, events, tuple(notes),
                int(journey.goal.within.total_seconds()) if journey.goal and journey.goal.within
                else DEFAULT_GOAL_WINDOW)


def _days(seconds: int) -> str:
    days, rest = divmod(seconds, DAY)
    return f"{days} day{'s' if days != 1 else ''}" if not rest else f"{seconds / 3600:g} hours"


def _pct(x: float) -> str:
    return f"{x:g}%"


def _content_links(item: Any) -> tuple[str, ...]:
    links = item.get("links") if isinstance(item, Mapping) else getattr(item, "links", ())
    return tuple(str(x) for x in links or ())


def _message_links(journey: Journey, content: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """Each message step's links: its content's, else (a text, or no content given) those its if/thens name."""
    named: dict[str, list[str]] = {}
    for sid in journey.steps:
        tile = REGISTRY.get(journey.step(sid).type)
        wait_for = journey.step(sid).props.get("wait_for") if tile is not None and tile.execution == "if-then" \
            else None
        if isinstance(wait_for, Mapping) and wait_for.get("link") and wait_for.get("event") == "link_clicked":
            named.setdefault(str(wait_for.get("step")), []).append(str(wait_for["link"]))
    out: dict[str, tuple[str, ...]] = {}
    for sid in journey.steps:
        st = journey.step(sid)
        tile = REGISTRY.get(st.type)
        if tile is None or tile.channel is None:
            continue
        item = (content or {}).get(str(st.props.get("content") or ""))
        own = _content_links(item) if item is not None else ()
        out[sid] = own or tuple(dict.fromkeys(named.get(sid, ())))
    return out


def _step(journey: Journey, sid: str, i: int, index: dict[str, int], tz: str, accounts: bool,
          notes: list[str], links: tuple[str, ...] = (), start: int = 0) -> StepPlan:
    st = journey.step(sid)
    tile = REGISTRY.get(st.type)
    if tile is None:
        raise PlanError(f"step '{sid}' has unknown tile type '{st.type}'")
    ports = tuple(p.id for p in st.ports())
    end = len(journey.steps)
    nxt = tuple(index.get(st.outputs.get(p, END), end) if st.outputs.get(p, END) != END else end for p in ports)
    base: dict[str, Any] = dict(index=i, id=sid, name=st.display_name, type=st.type, key=name_key(sid),
                                ports=ports, next=nxt)
    p = st.props
    ex = tile.execution  # the registry says how a tile runs; the meaning of each kind is written here
    if ex == "message":
        return StepPlan(kind=Kind.MESSAGE, channel=tile.channel, links=links, **base)
    if ex == "wait":
        if p.get("until") is not None:
            return StepPlan(kind=Kind.WAIT_UNTIL, until=local_to_utc(p["until"], tz), **base)
        if p.get("duration") is None or p["duration"].total_seconds() <= 0:
            raise PlanError(f"wait '{sid}' needs a duration above zero or a date to wait until")
        return StepPlan(kind=Kind.WAIT_FOR, seconds=int(p["duration"].total_seconds()), **base)
    if ex == "if-then":
        return _if_then(journey, sid, p, index, base)
    if ex == "split":
        split = list(p.get("split") or ())
        holdout = float(p.get("holdout") or 0)
        total = sum(split) + holdout
        if len(split) < 1 or total <= 0 or any(x < 0 for x in split) or holdout < 0:
            raise PlanError(f"split '{sid}' needs positive path percentages")
        cum, acc = [], 0.0
        for x in split:  # thresholds are cumulative shares; a draw above the last one is held out
            acc += x
            cum.append(acc / total)
        if holdout == 0:
            cum[-1] = 1.0
        if abs(total - 100.0) > 1e-9:
            shares = " / ".join(f"{x / total:.1%}" for x in split)
            held = f" and {holdout / total:.1%} held out" if holdout else ""
            notes.append(f"split '{sid}': its paths{' and holdout' if holdout else ''} add up to {_pct(total)}, not "
                         f"100%; simulated as shares of the total: {shares}{held}")
        return StepPlan(kind=Kind.SPLIT, thresholds=tuple(cum), ab=_ab_test(p, len(split), start), **base)
    if ex == "exit":
        return StepPlan(kind=Kind.EXIT, **base)
    return StepPlan(kind=Kind.ACTION, per_account=accounts and tile.per_account, **base)


def _ab_test(p: Mapping[str, Any], paths: int, start: int) -> ABTest | None:
    """An A/B split's test, when it has a test period (else None: the paths split to the end)."""
    period = p.get("test_period")
    if period is None or p.get("winner_metric") is None or period.total_seconds() <= 0:
        return None
    fallback = p.get("if_no_winner") or AB_KEEP_SPLITTING
    return ABTest(str(p["winner_metric"]), start + int(period.total_seconds()),
                  max(1, int(p.get("min_sample") or AB_MIN_SAMPLE)),
                  float(AB_SIGNIFICANCE if p.get("significance") is None else p["significance"]) / 100,
                  PATH_NAMES.index(fallback) if fallback in PATH_NAMES[:paths] else -1)


def with_route(plan: Plan, step: int, route: int) -> Plan:
    """The plan with an A/B test's decision: contacts reaching split `step` from its decision time on take path
    `route` (-1: they keep splitting). Held-out contacts stay held out."""
    steps = list(plan.steps)
    steps[step] = replace(steps[step], route=route)
    return replace(plan, steps=tuple(steps))


def _if_then(journey: Journey, sid: str, p: dict[str, Any], index: dict[str, int], base: dict[str, Any]) -> StepPlan:
    wait_for, condition, segment = p.get("wait_for"), p.get("condition"), p.get("segment")
    if sum(bool(x) for x in (wait_for, condition, segment)) != 1:
        raise PlanError(f"if/then '{sid}' must test exactly one thing (wait_for, condition or segment)")
    if wait_for:
        src = wait_for.get("step")
        if src not in journey.steps:
            raise PlanError(f"if/then '{sid}' waits on step '{src}', which is not in the journey")
        channel = REGISTRY[journey.step(src).type].channel if journey.step(src).type in REGISTRY else None
        event = wait_for.get("event")
        if channel is None or event not in MESSAGE_EVENTS[channel] or event not in WATCH_EVENTS:
            raise PlanError(f"if/then '{sid}' waits for '{event}' on '{src}', which cannot happen there")
        within = p.get("within")
        if within is None or within.total_seconds() <= 0:
            raise PlanError(f"if/then '{sid}' needs a time limit above zero")
        watch = WATCH_EVENTS[event]
        if event == "link_clicked" and wait_for.get("link"):
            watch = f"{LINK_CLICK}{wait_for['link']}"
        return StepPlan(kind=Kind.IF_EVENT, watch_step=index[src], watch_event=watch,
                        seconds=int(within.total_seconds()), **base)
    if condition:
        return StepPlan(kind=Kind.IF_CONDITION, condition=Condition(condition["attribute"], condition["op"],
                                                                     condition.get("value")), **base)
    return StepPlan(kind=Kind.IF_SEGMENT, segment=segment, **base)
