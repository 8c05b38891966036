"""Rules about time at go-live: a start that has passed, an end that comes before the last wait can finish,
quiet hours that leave no moment to send.

The journey's schedule, wait-until dates and quiet hours are local times of its time zone (app/semantics). The
checks that depend on the present (start or end passed) are go-live checks: they run in export mode (validate
--for-export, the Go live dialog, package), or whenever the caller gives `now` (Context.now). Without one the
clock is the machine's, unless JOURNEY_STUDIO_NOW names a moment (ISO 8601, e.g. 2026-12-07T09:00Z: "check as
if it were then"; a time without an offset is UTC).

The other two look only at the journey. An end that stops the first contacts before the longest path is over
is a warning (an end may stop contacts on purpose; the runner and the simulator stop them exactly there); quiet
hours that leave a message no moment to be sent before the end are errors for export, warnings while drafting.
Quiet hours are checked in the journey's time zone (contacts in other zones have their own nights); a repeating
journey is checked over its first repetition, which ends when the next begins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from app.model.journey import Step
from app.model.values import format_datetime, format_duration
from app.validation.context import Context
from app.validation.findings import Finding, error, warning

CLOCK_ENV = "JOURNEY_STUDIO_NOW"
DAY = 86_400
SHORT_WINDOW = 3_600  # quiet hours that leave less than this a day hold nearly every message to one moment
Severity = Callable[..., Finding]


def clock() -> datetime:
    """Now, as an aware UTC date-time: JOURNEY_STUDIO_NOW when set, else the machine's clock."""
    text = os.environ.get(CLOCK_ENV, "").strip()
    if not text:
        return datetime.now(timezone.utc)
    if len(text) > 64:
        raise ValueError(f"{CLOCK_ENV} is {len(text)} characters long: not a date and time")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{CLOCK_ENV}={text!r} is not a date and time (write e.g. 2026-12-07T09:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def start_now(timezone_name: str, now: datetime | None = None) -> datetime:
    """The start a journey in zone `timezone_name` takes to start now: the next whole minute, as a naive local
    date-time (what the Go live dialog's "Start now" sets; `now` defaults to the clock)."""
    at = now if now is not None else clock()
    t = math.floor((at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).timestamp())
    return datetime.fromtimestamp(t - t % 60 + 60, ZoneInfo(timezone_name)).replace(tzinfo=None)


# --- local time ----------------------------------------------------------------------------------------------

def _zone(ctx: Context) -> ZoneInfo | None:
    """The journey's time zone, or None when it is not one (another rule says so)."""
    name = ctx.journey.schedule.timezone
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError for odd names: not a zone
        return None


def _utc(local: Any, zone: ZoneInfo) -> int | None:
    """UTC seconds of a naive local date-time (an ambiguous time takes its first occurrence, as the runner does)."""
    if not isinstance(local, datetime):
        return None
    if local.tzinfo is not None:
        return int(local.timestamp())
    return int(local.replace(tzinfo=zone, fold=0).timestamp())


def _local(t: int, zone: ZoneInfo) -> str:
    """UTC seconds as the journey's local date-time, as the schedule writes it (beyond year 9999: said so)."""
    try:
        return format_datetime(datetime.fromtimestamp(t, zone).replace(tzinfo=None))
    except (OverflowError, ValueError, OSError):
        return "after the year 9999"


def _start_end(ctx: Context, zone: ZoneInfo) -> tuple[int | None, int | None]:
    s = ctx.journey.schedule
    start, end = _utc(s.start, zone), _utc(s.end, zone)
    return start, (end if start is None or end is None or end > start else None)


def _strict(ctx: Context) -> Severity:
    """Errors for export (go live would run a journey that cannot do what it says), warnings while drafting."""
    return error if ctx.for_export else warning


# --- the present ---------------------------------------------------------------------------------------------

def start_passed(ctx: Context) -> Iterable[Finding]:
    """At go-live: the end has not passed, and the start has not (one-time: refuse or start now; ongoing: its
    members enter at once; repeating: which repetition starts next)."""
    if not ctx.for_export and ctx.now is None:
        return
    zone = _zone(ctx)
    if zone is None:
        return
    try:
        now_at = ctx.now if ctx.now is not None else clock()
    except ValueError as e:
        yield error("clock-invalid", f"{e}.", f"Unset {CLOCK_ENV} to check against the machine's clock.",
                    **ctx.where())
        return
    now = math.floor(now_at.timestamp()) if now_at.tzinfo is not None else \
        math.floor(now_at.replace(tzinfo=timezone.utc).timestamp())
    start, end = _start_end(ctx, zone)
    if start is None or start > now:
        return
    tz = ctx.journey.schedule.timezone
    now_text = f"now {_local(now - now % 60, zone)} {tz}"
    start_now = _local(now - now % 60 + 60, zone)  # the next whole minute (as start_now() gives it)
    if end is not None and end <= now:
        yield error("schedule-ended", f"The journey's end ({_local(end, zone)} {tz}) has passed ({now_text}): "
                    "it would enter nobody and send nothing.",
                    f"Move the end date after {start_now}, or remove it.", **ctx.where(field="schedule.end"))
        return
    began = f"The journey's start ({_local(start, zone)} {tz}) has passed ({now_text})"
    kind = ctx.journey.frequency.kind
    if kind == "one-time":
        yield _strict(ctx)("start-passed", f"{began}: a one-time journey enters its audience at its start, so going "
                           "live now would enter everybody late, at once.",
                           f"Start it now: set the start to {start_now} (or a later date), or do not go live.",
                           **ctx.where(field="schedule.start"))
    elif kind == "ongoing":
        yield warning("start-passed", f"{began}: going live now, everybody in the audience enters at once, "
                      "including those who joined since the start.",
                      f"Set the start to {start_now} (now) or later to say when it really starts, or go live as it "
                      "is.", **ctx.where(field="schedule.start"))
    elif kind == "repeating":
        yield from _repetitions_passed(ctx, zone, start, end, now, began, start_now)


def _repetitions_passed(ctx: Context, zone: ZoneInfo, start: int, end: int | None, now: int, began: str,
                        start_now: str) -> Iterable[Finding]:
    interval, count = ctx.journey.frequency.interval, ctx.journey.frequency.count
    if not isinstance(interval, timedelta) or isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return  # the recurrence rule reports it
    step = int(interval.total_seconds())
    if step <= 0:
        return
    fit = count if end is None else min(count, (end - start - 1) // step + 1)  # repetitions starting before the end
    passed = min((now - start) // step + 1, fit)
    if passed < fit:
        nxt = start + passed * step
        yield warning("start-passed", f"{began}: {passed} of its {fit} repetitions should have started by now; the "
                      f"next, number {passed + 1}, starts at {_local(nxt, zone)}.",
                      f"Move the start to {_local(nxt, zone)} or later so that no repetition starts late (they must "
                      "still fit before the end), or go live as it is.", **ctx.where(field="schedule.start"))
    else:
        yield _strict(ctx)("start-passed", f"{began}: every one of its {fit} repetitions should have started by "
                           "now, so none would start on time.",
                           f"Move the start to {start_now} (now) or later, and the end if the repetitions no longer "
                           "fit.", **ctx.where(field="schedule.start"))


# --- the journey's own time line -----------------------------------------------------------------------------

def _order(ctx: Context) -> list[str] | None:
    """The steps the entry reaches, every link forward (Kahn's order); None with a loop (another rule says so)."""
    g = ctx.graph
    if g.entry is None:
        return None
    indeg = {s: 0 for s in g.reachable}
    for s in g.reachable:
        for t in g.successors.get(s, ()):
            indeg[t] += 1
    ready = [s for s in g.reachable if indeg[s] == 0]
    out: list[str] = []
    while ready:
        s = ready.pop()
        out.append(s)
        for t in g.successors.get(s, ()):
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    return out if len(out) == len(g.reachable) else None


def _hold(ctx: Context, step: Step, zone: ZoneInfo) -> tuple[int, int, int | None] | None:
    """How long a step may hold a contact: (shortest, longest seconds, wait-until UTC or None); None: at once."""
    if not ctx.sound(step):
        return None
    tile = ctx.tile(step)
    p = step.props
    if tile is not None and tile.execution == "wait":
        until = _utc(p.get("until"), zone)
        if until is not None:
            return 0, 0, until
        d = p.get("duration")
        if isinstance(d, timedelta) and d > timedelta(0):
            return int(d.total_seconds()), int(d.total_seconds()), None
    if tile is not None and tile.execution == "if-then" and isinstance(p.get("wait_for"), Mapping):
        within = p.get("within")
        if isinstance(within, timedelta) and within > timedelta(0):
            return 0, int(within.total_seconds()), None  # yes as soon as the event comes; no when the limit ends
    return None


def _leave(arrive: int, hold: tuple[int, int, int | None] | None, longest: bool) -> int:
    if hold is None:
        return arrive
    shortest, most, until = hold
    if until is not None:
        return max(arrive, until)
    return arrive + (most if longest else shortest)


def _quiet(ctx: Context) -> tuple[int, int] | None:
    """The quiet hours as seconds of the day [start, end), or None (none, or empty)."""
    q = ctx.journey.schedule.quiet_hours
    if q is None or not isinstance(q.start, time) or not isinstance(q.end, time) or q.start == q.end:
        return None
    return _seconds(q.start), _seconds(q.end)


def _times(ctx: Context, zone: ZoneInfo, start: int, longest: bool) -> dict[str, tuple[int, int]] | None:
    """Step -> (arrival, departure) in UTC seconds along the longest (or shortest) path from the entry at the
    start; a no of an if/then on an event takes its whole time limit, a yes none; a message leaves at its send
    slot (past the quiet hours)."""
    quiet = _quiet(ctx)
    order = _order(ctx)
    if order is None or ctx.entry is None:
        return None
    arrive: dict[str, int] = {ctx.entry: start}
    out: dict[str, tuple[int, int]] = {}
    succ = ctx.graph.successors
    for sid in order:
        a = arrive[sid]
        step = ctx.steps[sid]
        hold = _hold(ctx, step, zone)
        leave = _leave(a, hold, longest)
        tile = ctx.tile(step)
        if quiet is not None and tile is not None and tile.channel is not None:
            try:
                leave = _send_slot(a, *quiet, zone)
            except (OverflowError, ValueError, OSError):  # beyond the last date there is: it never leaves
                leave = a + DAY
        out[sid] = (a, leave)
        for port, target in ctx.outputs(step).items():
            if not isinstance(target, str) or target not in succ.get(sid, {}):
                continue
            at = leave
            if not longest and hold is not None and hold[2] is None and port == "no":
                at = a + hold[1]  # the shortest way through a no is the whole limit
            arrive[target] = max(arrive.get(target, at), at) if longest else min(arrive.get(target, at), at)
    return out


def _span(ctx: Context, start: int, end: int | None) -> tuple[int, str] | None:
    """When the first contacts' time runs out (UTC seconds), and how to say why."""
    f = ctx.journey.frequency
    every = f.interval if f.kind == "repeating" and isinstance(f.interval, timedelta) else None
    if every is not None and every > timedelta(0) and (end is None or start + every.total_seconds() < end):
        return start + int(every.total_seconds()), f"each repetition lasts {format_duration(every)}, until the next"
    if end is not None:
        return end, f"the journey ends {format_duration(timedelta(seconds=end - start))} after its start"
    return None


def end_before_last_wait(ctx: Context) -> Iterable[Finding]:
    """Contacts who enter at the start can finish the longest path of waits and time limits before the end."""
    zone = _zone(ctx)
    if zone is None:
        return
    start, end = _start_end(ctx, zone)
    if start is None:
        return
    span = _span(ctx, start, end)
    times = _times(ctx, zone, start, longest=True) if span is not None else None
    if span is None or times is None:
        return
    cutoff, why = span
    last = max(leave for _, leave in times.values())
    if last <= cutoff:
        return
    tz = ctx.journey.schedule.timezone
    for sid, (a, leave) in times.items():
        hold = _hold(ctx, ctx.steps[sid], zone)
        if hold is not None and a < cutoff < leave:  # a message held past the end: quiet_hours_no_slot says so
            held = f"wait there until {_local(leave, zone)}" if hold[2] is not None \
                else f"may wait {format_duration(timedelta(seconds=leave - a))} there"
            reach = "at the start" if a == start else f"{format_duration(timedelta(seconds=a - start))} after the start"
            yield warning(  # an end may stop contacts on purpose (the runner does so exactly): said, not refused
                "end-before-wait", f"Contacts on the longest path reach '{ctx.label(sid)}' {reach} and {held}, but "
                f"{why} ({_local(cutoff, zone)} {tz}): they are stopped before the journey is over.",
                f"Move the end to {_local(last, zone)} or later (the longest path takes "
                f"{format_duration(timedelta(seconds=last - start))}), or shorten the waits and time limits on it.",
                **ctx.where(step=sid))


# --- quiet hours ---------------------------------------------------------------------------------------------

def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _send_slot(t: int, qs: int, qe: int, zone: ZoneInfo) -> int:
    """The first moment at or after `t` outside the quiet hours [qs, qe) of the day, local to `zone` (as the
    interpreter's send_slot, app/semantics/reference.py)."""
    off = int(datetime.fromtimestamp(t, zone).utcoffset().total_seconds())  # type: ignore[union-attr]
    sod = (t + off) % DAY
    inside = qs <= sod < qe if qs < qe else (sod >= qs or sod < qe)
    if not inside:
        return t
    t1 = t + (qe - sod) % DAY
    off1 = int(datetime.fromtimestamp(t1, zone).utcoffset().total_seconds())  # type: ignore[union-attr]
    return t1 - (off1 - off)


def quiet_hours_no_slot(ctx: Context) -> Iterable[Finding]:
    """Quiet hours leave time to send: each day, and for each message before the journey (or its first
    repetition) is over."""
    q, quiet = ctx.journey.schedule.quiet_hours, _quiet(ctx)
    if q is None or quiet is None:
        return
    qs, qe = quiet
    hours = f"Quiet hours {q.start.isoformat('minutes')}–{q.end.isoformat('minutes')}"
    open_ = DAY - (qe - qs) if qs < qe else qs - qe
    if open_ < SHORT_WINDOW:
        yield warning("quiet-hours-no-slot", f"{hours} leave {format_duration(timedelta(seconds=open_))} a day to "
                      "send: every message held back goes out in that moment.",
                      "Shorten the quiet hours (e.g. 21:00 to 08:00), or remove them.",
                      **ctx.where(field="schedule.quiet_hours"))
    zone = _zone(ctx)
    if zone is None:
        return
    start, end = _start_end(ctx, zone)
    span = _span(ctx, start, end) if start is not None else None
    times = _times(ctx, zone, start, longest=False) if span is not None and start is not None else None
    if span is None or times is None:
        return
    cutoff, why = span
    tz = ctx.journey.schedule.timezone
    for sid, (a, _) in times.items():
        tile = ctx.tile(ctx.steps[sid])
        if tile is None or tile.channel is None or a >= cutoff:
            continue  # a step reached after the end is the end-before-wait finding's
        try:
            slot = _send_slot(a, qs, qe, zone)
        except (OverflowError, ValueError, OSError):  # at the end of time: no slot to look for
            continue
        if slot >= cutoff:
            yield _strict(ctx)(
                "quiet-hours-no-slot", f"{hours} ({tz}) hold '{ctx.label(sid)}' back until {_local(slot, zone)}, "
                f"but {why} ({_local(cutoff, zone)}): it is never sent (to contacts in the journey's time zone).",
                "Move the end later, shorten the quiet hours, or send this message earlier in the journey.",
                **ctx.where(step=sid))


RULES = (start_passed, end_before_last_wait, quiet_hours_no_slot)

__all__ = ["CLOCK_ENV", "RULES", "clock", "start_now"]
