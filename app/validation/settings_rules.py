"""Rules about a journey's settings: audience and segments, schedule, recurrence, triggers, consent, caps."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Iterable, Iterator

from app.model.attributes import CONSENT_LEVELS, CONTACT_EVENTS
from app.model.registry import REGISTRY
from app.model.values import format_datetime, format_duration
from app.validation.context import Context
from app.validation.findings import Finding, error, warning
from app.validation.props import short_repr


def _names(value: Any) -> tuple[str, ...]:
    """Segment names from a name or a sequence of names; anything that is not text is left out."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _triggers(ctx: Context) -> Iterator[tuple[str, Any]]:
    """(field, trigger) for the goal and each exit condition."""
    if ctx.journey.goal is not None:
        yield "goal", ctx.journey.goal
    exits = ctx.journey.exit_when
    for trigger in exits if isinstance(exits, (tuple, list)) else ():
        yield "exit_when", trigger


def _audience_refs(ctx: Context) -> Iterator[tuple[str, str, str]]:
    """(field, role, segment name) for the audience, exclusion and suppression segments."""
    a = ctx.journey.audience
    for name in dict.fromkeys(_names(a.segments)):
        yield "audience.segments", "audience", name
    for name in dict.fromkeys(_names(a.exclude)):
        yield "audience.exclude", "exclusion", name
    for name in _names(a.suppress):
        yield "audience.suppress", "suppression", name


def no_audience(ctx: Context) -> Iterable[Finding]:
    """A journey needs at least one audience segment."""
    if not _names(ctx.journey.audience.segments):
        yield error("no-audience", "The journey has no audience: nobody would enter it.",
                    "Choose at least one segment as the audience.", **ctx.where(field="audience"))


def unknown_segments(ctx: Context) -> Iterable[Finding]:
    """Segments the journey names (audience, exclusion, suppression, goal, exits) exist in the project."""
    if ctx.project is None:
        return
    refs = [(f, name) for f, _, name in _audience_refs(ctx)]
    refs += [(f, t.segment) for f, t in _triggers(ctx) if isinstance(getattr(t, "segment", None), str)]
    for fld, name in dict.fromkeys(refs):
        if ctx.segment(name) is None:
            yield error("unknown-segment", f"Segment '{name}' does not exist in the project.",
                        "Create the segment or choose an existing one.", **ctx.where(field=fld))


def segment_entities(ctx: Context) -> Iterable[Finding]:
    """Audience, exclusion and suppression segments hold what the journey targets (contacts or accounts)."""
    target = ctx.journey.target
    for fld, role, name in _audience_refs(ctx):
        segment = ctx.segment(name)
        if segment is not None and segment.entity != target:
            yield error("segment-wrong-entity", f"The {role} segment '{name}' holds {segment.entity}, but the "
                        f"journey targets {target}.", f"Choose a segment of {target}, or change the journey's "
                        "target.", **ctx.where(field=fld))


def exclusion_overlap(ctx: Context) -> Iterable[Finding]:
    """No segment is both in the audience and excluded from it."""
    a = ctx.journey.audience
    audience = list(dict.fromkeys(_names(a.segments)))
    excluded = set(_names(a.exclude))
    both = [name for name in audience if name in excluded]
    nobody = a.combine == "intersection" or len(both) == len(audience)
    for name in both:
        effect = ("nobody would enter the journey." if nobody else
                  "its members can never enter, so it adds nobody to the audience.")
        yield error("exclude-equals-audience", f"Segment '{name}' is both in the audience and excluded: {effect}",
                    "Remove it from the audience or from the exclusions.", **ctx.where(field="audience.exclude"))


def _comparable(a: Any, b: Any) -> bool:
    return (isinstance(a, datetime) and isinstance(b, datetime)
            and (a.tzinfo is None) == (b.tzinfo is None))


def schedule_dates(ctx: Context) -> Iterable[Finding]:
    """A journey has a start date, and ends after it starts."""
    start, end = ctx.journey.schedule.start, ctx.journey.schedule.end
    if start is None:
        strict = error if ctx.for_export else warning
        yield strict("no-start", "The journey has no start date: it cannot go live without one.",
                     "Set the start date and time in the schedule.", **ctx.where(field="schedule.start"))
    elif end is not None and _comparable(start, end) and end <= start:
        when = "when it starts" if end == start else f"before it starts ({format_datetime(start)})"
        yield error("end-before-start", f"The journey ends ({format_datetime(end)}) {when}.",
                    "Move the end date after the start date, or remove it.", **ctx.where(field="schedule.end"))


def _recurrence_problem(interval: Any, count: Any) -> str | None:
    if interval is None or count is None:
        missing = " or ".join(n for n, v in (("interval", interval), ("count", count)) if v is None)
        return f"it has no {missing}"
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        return f"its interval {short_repr(interval)} is not a positive duration"
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return f"its count {short_repr(count)} is not a whole number from 1"
    return None


def recurrence(ctx: Context) -> Iterable[Finding]:
    """A repeating journey has an interval and a count, a start and an end, and its repetitions fit between."""
    freq = ctx.journey.frequency
    if freq.kind != "repeating":
        return
    interval, count = freq.interval, freq.count
    problem = _recurrence_problem(interval, count)
    if problem:
        yield error("recurrence-incomplete", f"A repeating journey needs an interval and a count; {problem}.",
                    "Set e.g. interval: 30d and count: 12.", **ctx.where(field="frequency"))
    start, end = ctx.journey.schedule.start, ctx.journey.schedule.end
    if start is None or end is None:
        missing = " and ".join(n for n, v in (("start", start), ("end", end)) if v is None)
        yield error("recurrence-needs-dates", f"A repeating journey needs a start and an end date (it has no "
                    f"{missing}): its repetitions are laid out between them.",
                    "Set both dates in the schedule.", **ctx.where(field="schedule"))
    elif (not problem and interval is not None and count is not None  # no problem: both are set
          and _comparable(start, end) and end > start and count > (end - start) / interval):
        span = end - start
        yield error("recurrence-does-not-fit", f"{count} repetitions every {format_duration(interval)} do not fit "
                    f"between the start and the end date ({format_duration(span)} apart): "
                    "interval × count must be at most end − start.",
                    f"Lower the count to at most {int(span / interval)}, shorten the interval, or move the end "
                    "date later.", **ctx.where(field="frequency"))


def consent_level(ctx: Context) -> Iterable[Finding]:
    """The minimum consent level, when set, is one of the known levels."""
    level = ctx.journey.audience.min_consent
    if level is not None and level not in CONSENT_LEVELS:
        yield error("unknown-consent-level", f"{short_repr(level)} is not a consent level.",
                    f"Choose one of: {', '.join(CONSENT_LEVELS)}.", **ctx.where(field="audience.min_consent"))


def quiet_hours(ctx: Context) -> Iterable[Finding]:
    """Quiet hours that start when they end cover no time at all."""
    quiet = ctx.journey.schedule.quiet_hours
    if quiet is not None and isinstance(quiet.start, time) and quiet.start == quiet.end:
        yield warning("quiet-hours-empty", f"Quiet hours start and end at {quiet.start.isoformat('minutes')}, so "
                      "they hold back no message.", "Set an end different from the start (e.g. 21:00 to 08:00), "
                      "or remove the quiet hours.", **ctx.where(field="schedule.quiet_hours"))


def frequency_cap(ctx: Context) -> Iterable[Finding]:
    """A frequency cap allows at least one message per a positive period."""
    cap = ctx.journey.frequency_cap
    if cap is None:
        return
    if isinstance(cap.messages, bool) or not isinstance(cap.messages, int) or cap.messages < 1:
        yield error("frequency-cap-messages", f"A frequency cap of {short_repr(cap.messages)} messages would "
                    "block every message.", "Allow at least 1 message, or remove the cap.",
                    **ctx.where(field="frequency_cap.messages"))
    if not isinstance(cap.per, timedelta) or cap.per <= timedelta(0):
        yield error("frequency-cap-period", f"The frequency cap period {short_repr(cap.per)} is not a positive "
                    "duration.", "Set the period, e.g. 7d.", **ctx.where(field="frequency_cap.per"))


MAX_CAP_PATHS = 2_000  # paths through a journey the cap warning looks at (journeys have far fewer)


def project_caps(ctx: Context) -> Iterable[Finding]:
    """The project's frequency caps across journeys are within bounds, and the journey's priority is 1 to 10; a
    warning when one path of the journey alone sends more messages on a capped channel than the cap allows in
    its period (waits counted at their fixed durations, other steps as instant): the later ones would be capped
    even with no other journey live."""
    from app.model.journey import MAX_PRIORITY, MIN_PRIORITY
    from app.model.project import CAP_CHANNELS, MAX_CAP_MESSAGES, MAX_CAP_PERIOD, MIN_CAP_PERIOD
    pr = getattr(ctx.journey, "priority", 5)
    if isinstance(pr, bool) or not isinstance(pr, int) or not MIN_PRIORITY <= pr <= MAX_PRIORITY:
        yield error("priority-range", f"The journey's priority {short_repr(pr)} is not from {MIN_PRIORITY} to "
                    f"{MAX_PRIORITY}.", "Set a priority from 1 (first) to 10 (last); 5 is the default.",
                    **ctx.where(field="priority"))
    if ctx.project is None:
        return
    caps = ctx.project.settings.frequency_caps
    ok = []
    for cap in caps:
        if cap.channel not in CAP_CHANNELS or isinstance(cap.messages, bool) or not isinstance(cap.messages, int) \
                or not 1 <= cap.messages <= MAX_CAP_MESSAGES or not isinstance(cap.per, timedelta) \
                or not MIN_CAP_PERIOD <= cap.per <= MAX_CAP_PERIOD:
            yield error("project-cap-range", f"The project's frequency cap on {short_repr(cap.channel)} "
                        f"({short_repr(cap.messages)} per {short_repr(cap.per)}) is out of bounds.",
                        f"Allow 1 to {MAX_CAP_MESSAGES} messages per {format_duration(MIN_CAP_PERIOD)} to "
                        f"{format_duration(MAX_CAP_PERIOD)} on email, sms or push (Project Settings).",
                        **ctx.where(field="frequency_caps"))
        else:
            ok.append(cap)
    if not ok or getattr(ctx.journey, "cap_exempt", False):
        return
    for cap in ok:
        most, where = _most_in_window(ctx, cap.channel, int(cap.per.total_seconds()))
        if most > cap.messages:
            yield warning("journey-exceeds-cap", f"One path of this journey sends {most} {cap.channel} messages "
                          f"within {format_duration(cap.per)}; the project's cap allows {cap.messages}, so the "
                          "later ones are capped even with no other journey live.",
                          "Space the messages out with longer waits, send fewer, raise the cap, or mark the "
                          "journey exempt if its messages are transactional.", **ctx.where(step=where))


def _most_in_window(ctx: Context, channel: str, per: int) -> tuple[int, str | None]:
    """The most messages on `channel` one path sends within `per` seconds (fixed waits only), and the step that
    sends the last of them."""
    j = ctx.journey
    best: tuple[int, str | None] = (0, None)
    if j.entry is None or j.entry not in j.steps:
        return best
    paths = 0
    stack: list[tuple[str, int, tuple[tuple[int, str], ...], frozenset[str]]] = [(j.entry, 0, (), frozenset())]
    while stack and paths < MAX_CAP_PATHS:
        sid, t, sends, seen = stack.pop()
        step = j.steps.get(sid)
        if step is None or sid in seen:
            paths += 1
            continue
        tile = REGISTRY.get(step.type)
        if tile is not None and tile.channel == channel:
            sends = sends + ((t, sid),)
            inside = sum(1 for at, _ in sends if at > t - per)
            if inside > best[0]:
                best = (inside, sid)
        wait = step.props.get("duration") if tile is not None and tile.execution == "wait" else None
        if isinstance(wait, timedelta):
            t += int(wait.total_seconds())
        nxt = [target for _, target in j.successors(sid)]
        if not nxt:
            paths += 1
        for target in nxt:
            stack.append((target, t, sends, seen | {sid}))
    return best


def trigger_events(ctx: Context) -> Iterable[Finding]:
    """Goal and exit events are contact events the runner knows."""
    for fld, trigger in _triggers(ctx):
        event = getattr(trigger, "event", None)
        if event is not None and event not in CONTACT_EVENTS:
            yield warning("unknown-event", f"The {'goal' if fld == 'goal' else 'exit'} event {short_repr(event)} "
                          "is not a known contact event, so it may never happen.",
                          f"Choose one of: {', '.join(CONTACT_EVENTS)}.", **ctx.where(field=fld))


def live_runner_support(ctx: Context) -> Iterable[Finding]:
    """What the live runner cannot run, said while editing and at export alike (a warning: the package is still
    valid, and the simulator runs all of it): an action tile the registry gives no live action."""
    for sid, step in ctx.journey.steps.items():
        tile = REGISTRY.get(step.type)
        if tile is not None and tile.execution == "action" and tile.live is None:
            yield warning("live-unsupported", f"The live runner cannot carry out {tile.label} tiles (the simulator "
                          "runs them).", f"Replace the {tile.label} tile to run this journey live, or simulate it "
                          "only.", **ctx.where(step=sid))


RULES = (no_audience, unknown_segments, segment_entities, exclusion_overlap, schedule_dates, recurrence,
         consent_level, quiet_hours, frequency_cap, project_caps, trigger_events, live_runner_support)
