"""One contact's story in a live run, from the runner's own state file (`runner.db`), for `journey-studio trace`.

What the state holds of a contact, and so what the story tells: each iteration it entered and when (and the unit
it entered with); each message step's send and how it ended (sent, or held back: suppressed, no address, capped
by the project's frequency cap, failed with its reason), and the events that came back for it (delivered, opened,
clicked which link, unsubscribed, bounced); its own events (a purchase...), which end it on the goal or an exit;
the channels it cannot be reached on from a moment (an opt-out, a hard bounce); the A/B split path it took in a
test period and the decision taken there (when, which path won, why).

Given the package's runnable, the contact's path is then re-derived by the reference interpreter from the run's
contacts database (live_story_derive.py): every step, waits and branches included, with when it was entered and
left and why, up to the run's now; the derived path is checked against the sends the state holds, and the story
says how they compare. When it cannot be derived (no contacts database named in the state, one that cannot be read,
a journey that targets accounts) the story is the state's alone and says so: the waits and if/then branches are
then not shown beyond what can be inferred (a branch every way to a message step it reached goes through, and only
one of whose outputs leads there, was taken that way: `inferred_branches`; when is not known, only that it was by
the message's moment). The state is read with sqlite3 in one read-only transaction, as `status` and
`calibrate --live` read it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.model.registry import PATH_NAMES
from app.runner.observed import outbox_events
from app.semantics.plan import LINK_CLICK, Kind, Plan
from app.semantics.timezones import utc_iso, zone

MAX_EVENTS = 100_000  # a contact's outbox rows read at most
CANNOT_SHOW = ("the waits and if/then branches the contact went through (beyond those inferred from the messages it "
               "reached), when it left each step and why a branch went its way are kept by its unit's Temporal "
               "workflow, not in the runner's state: `journey-studio status` counts contacts per step while the run "
               "is up")
PARTED = ("which way the contact's workflow really went where the derived path and the state part: its Temporal "
          "history holds it (`journey-studio status` counts contacts per step while the run is up)")
SEND_STATUSES = ("sent", "suppressed", "no_address", "capped", "failed", "sending")
HELD = {"suppressed": "not sent: it is in the suppression segment, or opted out of or hard-bounced on this channel",
        "no_address": "not sent: it has no address for this channel",
        "capped": "not sent: the project's frequency cap on this channel was reached",
        "failed": "not sent: the transport refused it", "sending": "being sent when the state was read"}


class LiveStoryError(ValueError):
    """A live story that cannot be told, as one line."""


@dataclass(frozen=True)
class LiveItem:
    """One thing the state holds of the contact: when, at which step (if any), what, in words."""

    at: int
    step: str | None
    what: str
    text: str


@dataclass
class LiveStory:
    """A contact's way through a live run as its runner's state holds it (see the module docstring)."""

    journey: str
    timezone: str
    contact: int
    entered: list[tuple[int, int]]  # (iteration, simulated moment)
    items: list[LiveItem]
    cannot_show: str = CANNOT_SHOW
    notes: list[str] = field(default_factory=list)
    derived: str | None = None  # how the re-derived path compares with the state (None: not derived)
    agrees: bool | None = None
    sends: list[tuple[int, str, str, int]] = field(default_factory=list, repr=False)  # (iteration, step, status, at)
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list, repr=False)  # (iteration, outbox event)

    def to_plain(self) -> dict[str, Any]:
        return {"format": "contact-story/1", "live": True, "journey": self.journey, "timezone": self.timezone,
                "contact": self.contact, "entered": [{"iteration": k, "at": utc_iso(t)} for k, t in self.entered],
                "items": [{"at": utc_iso(i.at), "step": i.step, "what": i.what, "text": i.text} for i in self.items],
                "cannot_show": self.cannot_show, "notes": self.notes, "derived": self.derived is not None,
                "agrees": self.agrees, "compare": self.derived}

    def lines(self) -> list[str]:
        out = [f"Contact {self.contact} in the live run of {self.journey} (as its runner's state holds it; times in "
               f"{self.timezone})"]
        if not self.entered:
            out.append("  It has not entered the journey (no enrolment in the run's state).")
        for i in self.items:
            out.append(f"{_local(i.at, self.timezone)}  {i.text}")
        if self.derived is not None:
            out.append(f"{self.derived}.")
        if self.cannot_show:
            out.append(f"Not shown: {self.cannot_show}.")
        out.extend(f"Note: {n}" for n in self.notes)
        return out


def _local(t: int, tz: str) -> str:
    d = datetime.fromtimestamp(t, tz=timezone.utc).astimezone(zone(tz))
    return f"{d:%a} {d.day} {d:%b %Y %H:%M}"


def live_story(state_dir: Path, key: str, plan: Plan, contact: int, runnable: Any = None,
               seed: int | None = None) -> LiveStory:
    """The story of `contact` in the run of journey `key` (plan `plan`) whose state folder is `state_dir`; given
    the package's `runnable`, its path is re-derived (live_story_derive.py) with the run's split seed `seed`."""
    db = Path(state_dir) / "runner.db"
    if not db.is_file():
        raise LiveStoryError(f"{state_dir}: no runner.db here; give the run's state folder (PACKAGE.run) or its "
                             "package")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise LiveStoryError(f"{db}: cannot be opened ({e})") from None
    try:
        con.execute("BEGIN")
        story = _read(con, key, plan, contact)
        settings = {str(n): v for n, v in con.execute("SELECT name, value FROM settings WHERE name IN ('worker', "
                                                      "'clock', 'final_counts', 'replaced_by') OR name LIKE "
                                                      "'ab_decision:%'")}
        moves = _moves(con, story) if "in_flight_moves" in _tables(con) else {}
    except sqlite3.Error as e:
        raise LiveStoryError(f"{db}: not a runner's state file, or not readable ({e})") from None
    finally:
        con.close()
    if runnable is not None and story.entered:
        _derive(story, runnable, settings, seed, moves)
    return story


def _moves(con: sqlite3.Connection, story: LiveStory) -> dict[int, str]:
    """The iterations in which the contact was moved here from the previous version (versions in flight: the
    ledger app/runner/migrate_flight.py keeps in this run's state), and the step it was moved to."""
    out: dict[int, str] = {}
    for k, contacts, source, target, at in con.execute(
            "SELECT iteration, contacts, from_step, target, sim_at FROM in_flight_moves WHERE status = 'moved'"):
        try:
            who = json.loads(contacts)
        except ValueError:
            continue
        if isinstance(who, list) and story.contact in who and target:
            out[int(k)] = str(target)
            when = next((t for i, t in story.entered if i == int(k)), int(at) if at is not None else None)
            if when is not None:
                story.items.append(LiveItem(when, str(target), "moved", f"moved here from the previous version's "
                                                                        f"step '{source}' (versions in flight)"))
    return out


def _derive(story: LiveStory, r: Any, raw: dict[str, Any], seed: int | None, moves: dict[int, str]) -> None:
    """Re-derive the contact's path (live_story_derive.py) in place of the inferred branches, or say why not."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.errors import AudienceError
    from app.runner.clock import Clock
    from app.runner.contacts import ContactsDb
    from app.runner.live_story_derive import derive
    from app.runner.observed import ObservedError, _clock_now
    from app.runner.runnable import RunnerError

    def fallback(why: str) -> None:
        story.notes.append(f"its path is not re-derived: {why}; the story is what the runner's state holds")

    settings: dict[str, Any] = {}
    for n, v in raw.items():
        try:
            settings[n] = json.loads(v) if isinstance(v, (str, bytes)) else v
        except ValueError:
            continue
    if r.plan.accounts:
        return fallback("the journey targets accounts (a unit's path depends on all of its account's contacts)")
    doc = settings.get("worker")
    if not isinstance(doc, dict) or not isinstance(doc.get("contacts_db"), str):
        return fallback("the run's state names no contacts database (the runner's worker settings are missing)")
    if seed is None:  # the run's own split seed, as the runner recorded it (0 for a run made before it did)
        kept = doc.get("seed")
        seed = kept if isinstance(kept, int) and not isinstance(kept, bool) else 0
    try:
        final = settings.get("final_counts")
        ended = final.get("ended_at") if isinstance(final, dict) else None
        now = _clock_now(settings.get("clock"), ended if isinstance(ended, str) else None)
        scale = Clock.from_plain(settings["clock"]).scale
    except (ObservedError, KeyError, TypeError, ValueError):
        return fallback("the run's clock is not recorded in its state")
    try:
        db = ContactsDb(doc["contacts_db"])
    except RunnerError as e:
        return fallback(f"the contacts database cannot be read ({e})")
    routes = {n.rsplit(":", 1)[-1]: v for n, v in settings.items()
              if n.startswith(f"ab_decision:{story.journey}:") and isinstance(v, dict)}
    try:
        if db.contact(story.contact) is None:
            return fallback(f"contact {story.contact} is not in the contacts database {doc['contacts_db']}")
        script = (doc.get("script") or {}).get(str(story.contact)) if isinstance(doc.get("script"), dict) else None
        d = derive(r, db, story.contact, story.entered, story.sends, story.events, routes, now, scale, seed,
                   lambda t: _local(t, story.timezone), script if isinstance(script, list) else None, moves)
    except (RunnerError, AudienceError, SQLAlchemyError, KeyError, ValueError, TypeError) as e:
        return fallback(f"the contacts database cannot be read ({type(e).__name__}: {e})")
    finally:
        db.close()
    names = {s.id: s.name for s in r.plan.steps}
    index = {s.id: s.index for s in r.plan.steps}
    told = {(v.step, v.left) for v in d.visits if r.plan.steps[index[v.step]].kind == Kind.MESSAGE}
    story.items = [i for i in story.items if i.what != "branch" and not (i.what in SEND_STATUSES and
                                                                         (i.step, i.at) in told)]  # told by its step
    several = len(r.plan.iterations) > 1
    for v in d.visits:
        rep = f" (repetition {v.iteration + 1})" if several else ""
        left = "still there" if v.left is None else "entered and left at once" if v.left == v.entered else \
            f"left {_local(v.left, story.timezone)}"
        story.items.append(LiveItem(v.entered, v.step, "step", f"'{names.get(v.step, v.step)}'{rep}: {left}: {v.why}"))
    rank = {"entered": 0, "step": 2}
    story.items.sort(key=lambda i: (i.at, rank.get(i.what, 1)))  # an event before the moves it causes
    story.derived, story.agrees = d.compare, d.agrees
    story.notes.extend(d.notes)
    story.cannot_show = "" if d.agrees else PARTED
    if settings.get("replaced_by"):
        story.notes.append("this run was taken over by the journey's next version: a contact moved there or made to "
                           "leave stopped here at its step, which the derived path does not know (the next "
                           "version's run tells where it went)")
    rehearsed = " and the rehearsal's scripted ones" if doc.get("script") else ""
    story.notes.append(f"the path is re-derived by the reference interpreter from the contact's facts in "
                       f"{doc['contacts_db']} (read now), the events the runner took{rehearsed}, split seed {seed} "
                       f"and the state's A/B decisions, up to the run's now ({_local(now, story.timezone)})")


def _tables(con: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _read(con: sqlite3.Connection, key: str, plan: Plan, contact: int) -> LiveStory:
    names = {s.id: s.name for s in plan.steps}
    tz = plan.timezone
    tables = _tables(con)
    row = con.execute("SELECT value FROM settings WHERE name = 'journey'").fetchone()
    recorded = json.loads(row[0]).get("key") if row else None
    if recorded is not None and recorded != key:
        raise LiveStoryError(f"the run's state is of {recorded}, not of the package's journey {key}")
    story = LiveStory(key, tz, contact, [], [])
    units: dict[str, int] = {}
    for k, wid, at in con.execute("SELECT iteration, workflow_id, sim_at FROM enrolments WHERE journey = ? AND "
                                  "contact_id = ? ORDER BY iteration", (key, contact)):
        story.entered.append((int(k), int(at)))
        units[str(wid)] = int(k)
        rep = f" (repetition {int(k) + 1})" if len(plan.iterations) > 1 else ""
        story.items.append(LiveItem(int(at), None, "entered", f"entered the journey{rep}"))
    sends: dict[tuple[int, str], int] = {}
    reached: dict[int, dict[str, int]] = {}  # iteration -> message step reached -> when
    for step, channel, status, at, reason, k in con.execute(
            "SELECT step_id, channel, status, sim_at, reason, iteration FROM sent_messages WHERE journey = ? AND "
            "contact_id = ? ORDER BY sim_at", (key, contact)):
        name = names.get(str(step), str(step))
        when = int(at) if at is not None else (story.entered[-1][1] if story.entered else plan.start)
        reached.setdefault(int(k), {}).setdefault(str(step), when)
        story.sends.append((int(k), str(step), str(status), when))
        if status == "sent":
            sends[(int(k), str(step))] = when
            text = f"'{name}': the {channel} was sent"
        else:
            text = f"'{name}': the {channel} was {HELD.get(str(status), f'not sent ({status})')}"
            if reason:
                text += f" ({reason})"
        story.items.append(LiveItem(when, str(step), str(status), text))
    if "blocks" in tables:
        for channel, at in con.execute("SELECT channel, sim_at FROM blocks WHERE journey = ? AND contact_id = ?",
                                       (key, contact)):
            story.items.append(LiveItem(int(at), None, "blocked", f"from now on it cannot be reached by {channel} "
                                                                  "(an opt-out or a hard bounce)"))
    _events(con, story, units, names, plan)
    for k, steps in reached.items():
        story.items.extend(inferred_branches(plan, steps, k if len(plan.iterations) > 1 else None))
    if "ab_arrivals" in tables:
        _ab(con, story, key, names, tz)
    story.items.sort(key=lambda i: (i.at, i.what != "entered"))
    if not story.entered:
        story.notes.append("a contact that never entered: the runner keeps no record of why (the audience is read "
                           "when the run enrols it); `journey-studio segment members` shows who is in a segment")
    return story


def _events(con: sqlite3.Connection, story: LiveStory, units: dict[str, int], names: dict[str, str],
            plan: Plan) -> None:
    goal = plan.goal.name if plan.goal is not None else None
    exits = {t.name for t in plan.exits}
    n = 0
    for _, unit, e in outbox_events(con):
        if unit not in units or e.get("contact", story.contact) not in (story.contact, None, -1):
            continue
        n += 1
        if n > MAX_EVENTS:
            story.notes.append(f"more than {MAX_EVENTS:,} events: the later ones are not shown")
            break
        name, at, step = e["name"], int(e["at"]), e.get("step_id") or None
        story.events.append((units[unit], e))
        if step:
            what = {"delivered": "was delivered", "opened": "opened it", "clicked": "clicked it",
                    "unsubscribed": "unsubscribed", "bounced": "it bounced", "hard_bounced":
                    "it hard-bounced (the address is dead)"}.get(name, name)
            if name in ("clicked", "link_clicked") or name.startswith(LINK_CLICK):
                link = e.get("link") or (name[len(LINK_CLICK):] if name.startswith(LINK_CLICK) else None)
                what = f"clicked the link '{link}'" if link else "clicked it"
            story.items.append(LiveItem(at, str(step), name, f"'{names.get(str(step), step)}': {what}"))
        else:
            why = " (the goal: it leaves the journey)" if name == goal else \
                " (an exit condition: it leaves the journey)" if name in exits else ""
            story.items.append(LiveItem(at, None, name, f"its own event: {name}{why}"))


def _ab(con: sqlite3.Connection, story: LiveStory, key: str, names: dict[str, str], tz: str) -> None:
    for step, k, p, at in con.execute("SELECT step_id, iteration, path, sim_at FROM ab_arrivals WHERE journey = ? AND "
                                      "contact_id = ?", (key, story.contact)):
        text = f"'{names.get(str(step), step)}': took path {PATH_NAMES[int(p)]} in the A/B test's test period"
        row = con.execute("SELECT value FROM settings WHERE name = ?", (f"ab_decision:{key}:{step}",)).fetchone()
        if row:
            d = json.loads(row[0])
            if isinstance(d, dict) and d.get("reason"):
                text += f"; decided later ({d.get('decided_at', '?')}): {d['reason']}"
        else:
            text += "; not decided yet"
        story.items.append(LiveItem(int(at), str(step), "ab_path", text))


def _reachable(plan: Plan, start: int, avoid: int = -1) -> set[int]:
    """Step indexes reachable from `start` (itself included) without passing through step `avoid`."""
    seen: set[int] = set()
    stack = [start]
    while stack:
        i = stack.pop()
        if i == avoid or i in seen or i >= plan.end:
            continue
        seen.add(i)
        stack.extend(plan.steps[i].next)
    return seen


def inferred_branches(plan: Plan, reached: dict[str, int], iteration: int | None = None) -> list[LiveItem]:
    """The branches a contact must have taken to reach the message steps it reached (step id -> moment): a
    branch every way from the entry to such a step goes through, one output alone of which leads there."""
    index = {s.id: s.index for s in plan.steps}
    out: list[LiveItem] = []
    done: set[int] = set()
    rep = f" (repetition {iteration + 1})" if iteration is not None else ""
    for sid, at in sorted(reached.items(), key=lambda kv: kv[1]):
        m = index.get(sid)
        if m is None:
            continue
        for b in plan.steps:
            if b.index in done or len(b.next) < 2 or b.index == m:
                continue
            if m in _reachable(plan, plan.entry, avoid=b.index):
                continue  # some way to the message avoids this branch: it says nothing
            ways = [p for p, nxt in zip(b.ports, b.next) if nxt < plan.end and m in _reachable(plan, nxt)]
            if len(ways) != 1:
                continue
            done.add(b.index)
            out.append(LiveItem(at, b.id, "branch", f"'{b.name}': took {ways[0]}{rep} (inferred: it reached "
                                                    f"'{plan.steps[m].name}', to which only that way leads; by then)"))
    return out
