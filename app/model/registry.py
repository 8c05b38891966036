"""The one table of tile types: id, label, category, icon, ports, properties, per-tile checks, and how the tile
runs: its execution kind, whether it acts once per account, its status line, its branch figures and how the
live runner carries it out.

The file format, the project file, the validator, the palette, the properties panel, the canvas, the simulator
(plan, report, branch figures) and the runner all read this table. Adding a tile type means adding one entry
here, plus its semantics (app/semantics) when its execution kind is new.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Protocol
from urllib.parse import urlparse

from app.audience.query import value_problem
from app.model import tile_summaries as summaries
from app.model.attributes import MESSAGE_EVENTS, OPERATORS, UNARY_OPERATORS, lookup_attribute
from app.model.values import format_datetime, format_duration, parse_datetime, parse_duration
from app.validation.findings import Finding, error, warning

if TYPE_CHECKING:
    from app.model.journey import Journey, Step

PropKind = Literal[
    "string", "text", "int", "percent", "duration", "datetime", "bool", "choice",
    "content", "segment", "wait_for", "condition", "percent_list",
]

END = "end"
"""Target of an output port that deliberately ends the journey there (written `end` in journey files)."""


@dataclass(frozen=True)
class PropSpec:
    """One property of a tile type: its name in files, its kind, its label and default."""

    name: str
    kind: PropKind
    label: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()  # a choice's allowed values; a string's suggestions (any text is allowed)
    content_kind: str | None = None
    help: str = ""

    def from_plain(self, value: Any) -> Any:
        """Turn a file / database value into the model's typed value; raise ValueError saying what is wrong."""
        return _FROM_PLAIN[self.kind](self, value)

    def to_plain(self, value: Any) -> Any:
        """Turn a typed model value into a plain YAML / JSON value."""
        if value is None:
            return None
        if self.kind == "duration":
            return format_duration(value)
        if self.kind == "datetime":
            return format_datetime(value)
        if self.kind in ("wait_for", "condition"):
            return dict(value)
        if self.kind == "percent_list":
            return list(value)
        return value


@dataclass(frozen=True)
class Port:
    """An output of a tile, e.g. yes / no or the A / B paths of a split."""

    id: str
    label: str


class CheckContext(Protocol):
    """What a tile check may look at: the journey, the project (content, segments) and the check mode."""

    journey: Journey
    for_export: bool

    def content(self, name: str) -> Any: ...
    def segment(self, name: str) -> Any: ...
    def custom_attributes(self) -> dict[str, str]: ...


TileCheck = Callable[["Step", CheckContext], Iterable[Finding]]

Execution = Literal["message", "wait", "if-then", "split", "action", "exit"]
"""How the semantics run a tile (app/semantics/plan.py turns each into a Kind)."""
BranchFigures = Literal["", "branch", "ab-test"]
"""What the simulator's branch figures show for a tile: nothing, per-path figures, or those and an A/B test."""


@dataclass(frozen=True)
class LiveAction:
    """How the live runner carries out an action tile: call its webhook, or record an activity row in the
    contacts database (`journey_tasks`) of `kind` (or the value of property `kind_prop`), its subject from
    property `subject_prop`, due `due_prop` after the step."""

    call: bool = False
    kind: str = ""
    kind_prop: str = ""
    subject_prop: str = ""
    due_prop: str = ""


@dataclass(frozen=True)
class Mode:
    """One of a tile's mutually exclusive ways of working, and the properties that belong to it (a wait: for a
    duration, or until a date). The properties panel offers the modes as one choice and shows the chosen one's."""

    label: str
    props: tuple[str, ...]


@dataclass(frozen=True)
class TileType:
    """Everything the application knows about one kind of tile."""

    id: str
    label: str
    category: str
    icon: str
    color: str
    description: str
    props: tuple[PropSpec, ...] = ()
    ports: tuple[Port, ...] | Callable[[Mapping[str, Any]], tuple[Port, ...]] = ()
    channel: str | None = None
    checks: tuple[TileCheck, ...] = field(default=())
    execution: Execution = "action"
    per_account: bool = False  # an action done once per account when the journey targets accounts
    branch_figures: BranchFigures = ""
    summary: Callable[[Mapping[str, Any]], str] | None = None  # the tile's status line before a run
    auto_name: Callable[[Mapping[str, Any]], str] | None = None  # its name until named: what it does ('' none)
    live: LiveAction | None = None  # how the live runner carries out an action (None: not an action)
    modes: tuple[Mode, ...] = ()  # mutually exclusive groups of properties, offered as one choice
    mode_label: str = ""  # the label of that choice ("Wait", "Test")

    def mode_of(self, props: Mapping[str, Any]) -> int:
        """The mode a step is in: the first whose properties have a value (0 when none has)."""
        for i, mode in enumerate(self.modes):
            if any(props.get(p) is not None for p in mode.props):
                return i
        return 0

    def prop(self, name: str) -> PropSpec | None:
        for p in self.props:
            if p.name == name:
                return p
        return None

    def ports_for(self, props: Mapping[str, Any]) -> tuple[Port, ...]:
        """The output ports a step of this type has, given its properties (a split's path count)."""
        return self.ports(props) if callable(self.ports) else self.ports

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.props if p.default is not None}

    @property
    def is_message(self) -> bool:
        return self.channel is not None


# --- converters -------------------------------------------------------------------------------------------

def _str(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{spec.name} must be text, not {v!r}")
    return v


def _int(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**31 - 1:
        raise ValueError(f"{spec.name} must be a whole number (at most 2147483647), not {v!r}")
    return v


def _percent(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{spec.name} must be a percentage (a number from 0 to 100), not {v!r}")
    return v


def _duration(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    return parse_duration(v)


def _datetime(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    return parse_datetime(v)


def _bool(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, bool):
        raise ValueError(f"{spec.name} must be true or false, not {v!r}")
    return v


def _choice(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if v not in spec.choices:
        raise ValueError(f"{spec.name} must be one of {', '.join(spec.choices)}, not {v!r}")
    return v


def _struct(keys: dict[str, bool]) -> Callable[[PropSpec, Any], Any]:
    def convert(spec: PropSpec, v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, Mapping):
            raise ValueError(f"{spec.name} must be a mapping with keys {', '.join(keys)}")
        unknown = set(v) - set(keys)
        if unknown:
            raise ValueError(f"{spec.name} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"allowed: {', '.join(keys)}")
        missing = [k for k, req in keys.items() if req and k not in v]
        if missing:
            raise ValueError(f"{spec.name} needs {', '.join(missing)}")
        for k, val in v.items():
            if k != "value" and not isinstance(val, str):
                raise ValueError(f"{spec.name}.{k} must be text, not {val!r}")
        return {k: v[k] for k in keys if k in v}  # canonical key order
    return convert


def _percent_list(spec: PropSpec, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        raise ValueError(f"{spec.name} must be a list of percentages, e.g. [50, 50]")
    return tuple(v)


_FROM_PLAIN: dict[str, Callable[[PropSpec, Any], Any]] = {
    "string": _str, "text": _str, "content": _str, "segment": _str,
    "int": _int, "percent": _percent, "duration": _duration, "datetime": _datetime, "bool": _bool,
    "choice": _choice, "percent_list": _percent_list,
    "wait_for": _struct({"event": True, "step": True, "link": False}),
    "condition": _struct({"attribute": True, "op": True, "value": False}),
}

# --- per-tile checks -------------------------------------------------------------------------------------


def _where(step: Step, ctx: CheckContext, fld: str | None = None) -> dict[str, Any]:
    return {"journey": ctx.journey.name, "step": step.id, "field": fld}


def check_message_content(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """A message step needs content of its channel that is Ready to send (an error only for export)."""
    tile = REGISTRY[step.type]
    name = step.props.get("content")
    strict = error if ctx.for_export else warning
    if not name:
        yield strict("message-without-content", f"{tile.label} step has no content.",
                     f"Choose the {tile.channel} content this step sends.", **_where(step, ctx, "content"))
        return
    content = ctx.content(name)
    if content is None:
        yield error("unknown-content", f"Content '{name}' does not exist in the project.",
                    "Create it, or choose existing content.", **_where(step, ctx, "content"))
        return
    if content.kind != tile.channel:
        yield error("wrong-content-kind", f"'{name}' is {content.kind} content; this step sends {tile.channel}.",
                    f"Choose {tile.channel} content.", **_where(step, ctx, "content"))
    if content.status != "ready":
        yield strict("content-not-ready", f"Content '{name}' is a draft, not Ready to send.",
                     "Finish the content and mark it Ready to send before going live.",
                     **_where(step, ctx, "content"))


_VALUE_FIXES = {
    "between": "Give the range as two values, low then high, e.g. [100, 500].",
    "in_last_days": "Give a whole number of days, e.g. 30.",
    "not_in_last_days": "Give a whole number of days, e.g. 60.",
    "in": "Give a list of one or more values.",
}


def check_if_then(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """An if/then tests exactly one thing; what it waits for must be an event of that message's channel."""
    p = step.props
    modes = [k for k in ("wait_for", "condition", "segment") if p.get(k)]
    if len(modes) != 1:
        yield error("if-then-mode", "An if/then must test exactly one thing: an event on an earlier message "
                    "(wait_for), an attribute (condition) or segment membership (segment)"
                    + (f"; it has {', '.join(modes)}." if modes else "; it has none."),
                    "Keep exactly one of wait_for, condition and segment.", **_where(step, ctx, "wait_for"))
    wait_for = p.get("wait_for")
    if wait_for:
        src_id = wait_for.get("step")
        src = ctx.journey.steps.get(src_id) if src_id else None
        if src is None:
            yield error("if-then-unknown-step", f"The if/then waits on step '{src_id}', which is not in the journey.",
                        "Choose an email, text message or push step of this journey.",
                        **_where(step, ctx, "wait_for"))
        else:
            channel = REGISTRY[src.type].channel if src.type in REGISTRY else None
            event = wait_for.get("event")
            if channel is None:
                yield error("if-then-not-a-message", f"The if/then waits on '{src_id}', which sends no message.",
                            "Choose an email, text message or push step.", **_where(step, ctx, "wait_for"))
            elif event not in MESSAGE_EVENTS[channel]:
                yield error("if-then-bad-event", f"'{event}' cannot happen on a {channel} message.",
                            f"Choose one of: {', '.join(MESSAGE_EVENTS[channel])}.",
                            **_where(step, ctx, "wait_for"))
            link = wait_for.get("link")
            if link and channel is not None:
                if event != "link_clicked":
                    yield error("if-then-link-without-click", f"A link is named but the event is '{event}'.",
                                "Wait for link_clicked, or remove the link.", **_where(step, ctx, "wait_for"))
                content = ctx.content(src.props.get("content") or "")
                if content is not None and content.kind == "email" and link not in content.links:
                    yield error("if-then-unknown-link", f"Email '{content.name}' has no link named '{link}'.",
                                f"Choose one of its links: {', '.join(content.links) or '(it has none)'}.",
                                **_where(step, ctx, "wait_for"))
        within = p.get("within")
        if within is None or within <= timedelta(0):
            yield error("if-then-time-limit", "An if/then that waits for an event needs a time limit above zero.",
                        "Set 'within', e.g. 1d.", **_where(step, ctx, "within"))
    condition = p.get("condition")
    if condition:
        attr = lookup_attribute(condition.get("attribute", ""), ctx.custom_attributes())
        op = condition.get("op")
        if attr is None:
            yield error("unknown-attribute", f"The condition tests '{condition.get('attribute')}', "
                        "which is not a contact attribute.", "Choose an attribute of the contact or its account.",
                        **_where(step, ctx, "condition"))
        if op not in OPERATORS:
            yield error("unknown-operator", f"'{op}' is not an operator.",
                        f"Choose one of: {', '.join(OPERATORS)}.", **_where(step, ctx, "condition"))
        elif attr is not None and attr.type not in OPERATORS[op]:
            yield error("operator-type", f"'{op}' does not apply to {attr.type} attribute '{attr.name}'.",
                        "Choose an operator for that type.", **_where(step, ctx, "condition"))
        elif op not in UNARY_OPERATORS and "value" not in condition:
            yield error("condition-value", f"The condition '{op}' needs a value.", "Set the value to compare with.",
                        **_where(step, ctx, "condition"))
        elif attr is not None:  # the value's shape: the same rule as segment query rows
            problem = value_problem(attr, op, condition.get("value"))
            if problem:
                yield error("condition-value-type", f"The condition's value does not fit: {problem}.",
                            _VALUE_FIXES.get(op, "Correct the value to compare with."),
                            **_where(step, ctx, "condition"))
    segment = p.get("segment")
    if segment and ctx.segment(segment) is None:
        yield error("unknown-segment", f"Segment '{segment}' does not exist in the project.",
                    "Create the segment or choose an existing one.", **_where(step, ctx, "segment"))


def check_wait(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """A wait has either a positive duration or a date; a date before the journey start is suspicious."""
    duration, until = step.props.get("duration"), step.props.get("until")
    if (duration is None) == (until is None):
        yield error("wait-mode", "A wait needs either a duration or a date to wait until (not both).",
                    "Set 'duration' (e.g. 5d) or 'until' (e.g. 2026-12-10T09:00).", **_where(step, ctx, "duration"))
    if duration is not None and duration <= timedelta(0):
        yield error("wait-negative", f"The wait of {format_duration(duration)} is not positive.",
                    "Wait for a duration above zero.", **_where(step, ctx, "duration"))
    start = ctx.journey.schedule.start
    if until is not None and start is not None and until < start:
        yield error("wait-until-before-start", f"The wait until {format_datetime(until)} is before the journey "
                    f"starts ({format_datetime(start)}): every contact would go straight through.",
                    "Choose a date after the journey start, or remove the wait.", **_where(step, ctx, "until"))


def check_split(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """Split paths: 2 to 10, each above 0%, summing with the holdout to 100%."""
    split = step.props.get("split") or ()
    holdout = step.props.get("holdout") or 0
    if not 2 <= len(split) <= 10:
        yield error("split-paths", f"A split needs 2 to 10 paths; it has {len(split)}.",
                    "Give between 2 and 10 percentages.", **_where(step, ctx, "split"))
    if any(x <= 0 or x > 100 for x in split) or not 0 <= holdout < 100:
        yield error("split-range", "Each path needs a percentage above 0 and at most 100; the holdout 0 to 99.",
                    "Correct the percentages.", **_where(step, ctx, "split"))
    total = sum(split) + holdout
    if abs(total - 100) > 1e-9:
        yield error("split-sum", f"The split percentages{' and holdout' if holdout else ''} add up to {total:g}%, "
                    "not 100%.", "Make them add up to 100.", **_where(step, ctx, "split"))


AB_MIN_SAMPLE = 100  # contacts per path before a winner may be named
AB_SIGNIFICANCE = 5  # percent: the bound on naming a winner when the paths do equally well
AB_KEEP_SPLITTING = "keep_splitting"  # shown as "keep splitting"
AB_MAX_SAMPLE = 10_000_000


def _reaches_message(journey: Journey, start: str | None) -> bool:
    """Whether every way on from step `start` passes a message before it ends (the path's first message)."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        sid = stack.pop()
        if sid is None or sid == END or sid not in journey.steps:
            return False  # a way that ends (or leads nowhere) before any message
        if sid in seen:
            continue
        seen.add(sid)
        st = journey.steps[sid]
        tile = REGISTRY.get(st.type)
        if tile is None:
            return False
        if tile.is_message:
            continue
        ports = tile.ports_for(st.props)
        if not ports:  # an exit tile
            return False
        stack.extend(st.outputs.get(p.id) for p in ports)
    return True


def check_ab_test(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """An A/B test with a test period: bounds on its settings, a message on every path when the winner is by
    opens or clicks, a goal when it is by the goal, a test that ends before the journey does."""
    p = step.props
    period = p.get("test_period")
    if period is None:
        return
    label = REGISTRY[step.type].label
    who = f"{label} '{step.display_name}'" if step.display_name != label else f"This {label}"
    if period <= timedelta(0):
        yield error("ab-test-period", f"{who}: the test period of {format_duration(period)} is not "
                    "positive.", "Give a test period above zero (e.g. 3d), or clear it to split to the end.",
                    **_where(step, ctx, "test_period"))
    elif period > timedelta(days=366):
        yield error("ab-test-period", f"{who}: the test period of {format_duration(period)} is "
                    "longer than a year.", "Give a test period of at most 366 days.",
                    **_where(step, ctx, "test_period"))
    n = p.get("min_sample")
    if n is not None and not 1 <= n <= AB_MAX_SAMPLE:
        yield error("ab-min-sample", f"{who}: the minimum of {n} contacts per path is out of range.",
                    f"Give a whole number from 1 to {AB_MAX_SAMPLE:,}.", **_where(step, ctx, "min_sample"))
    alpha = p.get("significance")
    if alpha is not None and not 0.1 <= alpha <= 20:
        yield error("ab-significance", f"{who}: a significance level of {alpha:g}% is out of range.",
                    "Give a level from 0.1% to 20% (5% is usual).", **_where(step, ctx, "significance"))
    paths = min(len(p.get("split") or ()), len(PATH_NAMES))
    fallback = p.get("if_no_winner")
    if fallback not in (None, AB_KEEP_SPLITTING) and fallback not in PATH_NAMES[:paths]:
        yield error("ab-default-path", f"{who}: the path to take if no path wins, {fallback}, is not "
                    f"one of its {paths} paths.", "Choose one of its paths, or keep splitting.",
                    **_where(step, ctx, "if_no_winner"))
    metric = p.get("winner_metric") or "clicked"
    if metric == "goal" and ctx.journey.goal is None:
        yield error("ab-goal-without-goal", f"{who} picks its winner by the goal, but the journey has "
                    "no goal.", "Set the journey's goal, or pick the winner by opens or clicks.",
                    **_where(step, ctx, "winner_metric"))
    elif metric == "goal" and ctx.journey.goal is not None and ctx.journey.goal.segment:
        yield warning("ab-goal-segment-live", f"{who} picks its winner by the goal, a segment: the simulator "
                      "counts it, but the live runner counts only goals that are contact events (e.g. purchase).",
                      "Make the goal an event, or pick the winner by opens or clicks.",
                      **_where(step, ctx, "winner_metric"))
    if metric in ("opened", "clicked"):
        for i in range(paths):
            if not _reaches_message(ctx.journey, step.outputs.get(PATH_NAMES[i])):
                yield error("ab-path-without-message", f"{who} picks its winner by '{metric}', but "
                            f"path {PATH_NAMES[i]} can end without sending a message.",
                            "Put a message on every path, or pick the winner by the goal.",
                            **_where(step, ctx, "winner_metric"))
    s = ctx.journey.schedule
    if s.start is not None and s.end is not None and period > timedelta(0) and s.start + period >= s.end:
        yield error("ab-test-after-end", f"{who}: the test period of {format_duration(period)} ends "
                    f"at or after the journey's end ({format_datetime(s.end)}): no contact would take the winner.",
                    "Shorten the test period, or clear it to split to the end.", **_where(step, ctx, "test_period"))


def check_webhook(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    url = step.props.get("url") or ""
    try:
        parsed = urlparse(url)
        valid = parsed.scheme in ("http", "https") and bool(parsed.netloc)
    except ValueError:  # urlparse refuses some malformed addresses, e.g. 'http://[' (an unclosed IPv6 host)
        valid = False
    if not valid:
        yield error("webhook-url", f"'{url}' is not an http(s) address." if url else "The webhook has no address.",
                    "Enter the full address, e.g. https://hooks.example.com/journey.", **_where(step, ctx, "url"))


def check_required(step: Step, ctx: CheckContext) -> Iterable[Finding]:
    """Properties marked required must be set (other than message content, which has its own rule)."""
    for spec in REGISTRY[step.type].props:
        if spec.required and spec.kind != "content" and step.props.get(spec.name) in (None, ""):
            yield error("required-property", f"'{spec.label}' is required.", f"Set '{spec.name}'.",
                        **_where(step, ctx, spec.name))


# --- the table --------------------------------------------------------------------------------------------

_NEXT = (Port("next", "next"),)
PATH_NAMES = tuple(string.ascii_uppercase[:10])


def _split_ports(props: Mapping[str, Any]) -> tuple[Port, ...]:
    split = props.get("split") or ()
    return tuple(Port(PATH_NAMES[i], PATH_NAMES[i]) for i in range(min(len(split), len(PATH_NAMES))))


ADDRESS_ATTRIBUTES = ("email", "mobile_phone", "mobile_app")  # where an address can be (a custom one is typed)


def _message(tid: str, label: str, channel: str, icon: str, color: str, send_to: str, desc: str) -> TileType:
    return TileType(
        tid, label, "Messages", icon, color, desc,
        props=(PropSpec("content", "content", "Content", required=True, content_kind=channel,
                        help=f"The {channel} content this step sends."),
               PropSpec("send_to", "string", "Send to", default=send_to, choices=ADDRESS_ATTRIBUTES,
                        help="The contact attribute that holds the address.")),
        ports=_NEXT, channel=channel, checks=(check_message_content,), execution="message",
        summary=summaries.message, auto_name=summaries.message_name)


_HOLDOUT = PropSpec("holdout", "percent", "Holdout %", default=0,
                    help="Share of contacts kept out as a control group: they leave the journey here.")

TILE_TYPES: tuple[TileType, ...] = (
    _message("email", "Send email", "email", "mail", "#2563eb", "email", "Send a marketing email."),
    _message("sms", "Send text message", "sms", "sms", "#0d9488", "mobile_phone", "Send a text message (SMS)."),
    _message("push", "Send push notification", "push", "push", "#7c3aed", "mobile_app",
             "Send a push notification to the contact's mobile app."),
    TileType(
        "if-then", "If/then branch", "Flow", "branch", "#d97706",
        "Wait for an event on an earlier message within a time limit, or test an attribute or segment at once.",
        props=(PropSpec("wait_for", "wait_for", "Wait for",
                        help="event (delivered, opened, link_clicked...), step (an earlier message) and link."),
               PropSpec("within", "duration", "Time limit", help="How long to wait for the event, e.g. 1d."),
               PropSpec("condition", "condition", "Condition", help="attribute, op and value tested at once."),
               PropSpec("segment", "segment", "Member of segment", help="Yes when the contact is a member.")),
        ports=(Port("yes", "yes"), Port("no", "no")), checks=(check_if_then,), execution="if-then",
        branch_figures="branch", summary=summaries.if_then, auto_name=summaries.if_then_name,
        modes=(Mode("An event on an earlier message", ("wait_for", "within")),
               Mode("An attribute of the contact", ("condition",)), Mode("Membership of a segment", ("segment",))),
        mode_label="Test"),
    TileType(
        "wait", "Wait", "Flow", "wait", "#64748b",
        "Hold contacts for a duration, or until a date and time (a date already past lets them through).",
        props=(PropSpec("duration", "duration", "Wait for", help="e.g. 5d or 12h."),
               PropSpec("until", "datetime", "Wait until", help="Local date and time, e.g. 2026-12-10T09:00.")),
        ports=_NEXT, checks=(check_wait,), execution="wait", summary=summaries.wait,
        auto_name=summaries.wait_name, modes=(Mode("For a duration", ("duration",)), Mode("Until a date", ("until",))),
        mode_label="Wait"),
    TileType(
        "ab-split", "A/B split", "Flow", "ab", "#db2777",
        "Send contacts down 2 to 10 test paths by percentage, with an optional holdout.",
        props=(PropSpec("split", "percent_list", "Paths (%)", default=(50, 50)), _HOLDOUT,
               PropSpec("winner_metric", "choice", "Winner by", default="clicked",
                        choices=("opened", "clicked", "goal"),
                        help="opened / clicked: the first message after the split on each path; goal: the "
                             "journey's goal."),
               PropSpec("test_period", "duration", "Test period",
                        help="How long the test runs from the journey's start (e.g. 3d); then the winner takes "
                             "the paths' traffic. Empty: no winner is chosen, the paths split to the end."),
               PropSpec("min_sample", "int", "Minimum per path", default=AB_MIN_SAMPLE,
                        help="No winner unless every path had at least this many contacts in the test period."),
               PropSpec("significance", "percent", "Significance level %", default=AB_SIGNIFICANCE,
                        help="The chance of naming a winner when the paths do equally well (at most)."),
               PropSpec("if_no_winner", "choice", "If no winner", default=AB_KEEP_SPLITTING,
                        choices=(AB_KEEP_SPLITTING, *PATH_NAMES),
                        help="What the traffic does after an inconclusive test: keep splitting, or take one path.")),
        ports=_split_ports, checks=(check_split, check_ab_test), execution="split", branch_figures="ab-test",
        summary=summaries.split),
    TileType(
        "random-split", "Random split", "Flow", "random", "#9333ea",
        "Spread contacts at random over 2 to 10 paths by percentage, with an optional holdout.",
        props=(PropSpec("split", "percent_list", "Paths (%)", default=(50, 50)), _HOLDOUT),
        ports=_split_ports, checks=(check_split,), execution="split", branch_figures="branch",
        summary=summaries.split),
    TileType(
        "task", "Create task", "Actions", "task", "#16a34a",
        "Create a task or phone call for a salesperson (one per account when the journey targets accounts).",
        props=(PropSpec("activity", "choice", "Activity", default="task", choices=("task", "phone_call")),
               PropSpec("subject", "string", "Subject", required=True),
               PropSpec("owner", "string", "Owner"),
               PropSpec("due_in", "duration", "Due in", default=timedelta(days=1))),
        ports=_NEXT, checks=(check_required,), per_account=True, summary=summaries.task,
        live=LiveAction(kind_prop="activity", kind="task", subject_prop="subject", due_prop="due_in")),
    TileType(
        "lead", "Create lead", "Actions", "lead", "#15803d", "Create a lead for the contact (or its account).",
        props=(PropSpec("topic", "string", "Topic", required=True),),
        ports=_NEXT, checks=(check_required,), per_account=True, summary=summaries.lead,
        live=LiveAction(kind="lead", subject_prop="topic")),
    TileType(
        "webhook", "Call webhook", "Actions", "webhook", "#475569", "Call an HTTP endpoint with the contact's data.",
        props=(PropSpec("url", "string", "Address", required=True),
               PropSpec("method", "choice", "Method", default="POST", choices=("POST", "PUT", "GET")),
               PropSpec("payload", "text", "Payload template")),
        ports=_NEXT, checks=(check_webhook,), summary=summaries.webhook, live=LiveAction(call=True)),
    TileType(
        "workflow", "Launch workflow", "Actions", "workflow", "#334155",
        "Launch a business workflow (once per account when the journey targets accounts).",
        props=(PropSpec("workflow", "string", "Workflow", required=True),),
        ports=_NEXT, checks=(check_required,), per_account=True, summary=summaries.workflow,
        live=LiveAction(kind="workflow", subject_prop="workflow")),
    TileType(
        "exit", "Exit", "Flow", "exit", "#b91c1c", "Contacts leave the journey here.",
        props=(PropSpec("reason", "string", "Reason"),), ports=(), execution="exit", summary=summaries.exit_),
)

REGISTRY: dict[str, TileType] = {t.id: t for t in TILE_TYPES}
CATEGORIES: tuple[str, ...] = ("Messages", "Flow", "Actions")


def tile_type(type_id: str) -> TileType:
    """The registry entry of a tile type; KeyError with the known types listed otherwise."""
    try:
        return REGISTRY[type_id]
    except KeyError:
        raise KeyError(f"unknown tile type '{type_id}' (known: {', '.join(REGISTRY)})") from None
