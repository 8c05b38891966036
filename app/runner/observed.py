"""What a live run observed, per contact, from the runner's own state file (`runner.db`), for `calibrate --live`:
who entered and when, each message step's sends and what came of them (delivered, opened, clicked,
unsubscribed, bounced), and the contact events (the goal...) with their simulated moments.

Read with sqlite3 in one read transaction (as `status` reads it: state_read.py), so a run that is still going
gives a consistent snapshot, and nothing here imports Temporal, SQLAlchemy or NumPy. Events come from the
runner's outbox (every event the endpoint took, delivered to its workflow or kept for it); an event names its
unit (`unit`, or the workflow it was posted to) and, in an account's workflow, its contact.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from app.runner.state_read import read_settings

MESSAGE_EVENTS = ("delivered", "opened", "clicked", "link_clicked", "unsubscribed", "bounced", "hard_bounced")
MAX_EVENTS = 5_000_000  # the outbox rows read at most (a run larger than this is read in part, and says so)
MAX_UNITS = 5_000_000


class ObservedError(ValueError):
    """A state file that cannot be read as a run's, as one line."""


@dataclass
class Send:
    """One message sent to a contact: its step, channel, simulated moment, and the first moment of each event."""

    step: str
    channel: str
    at: int
    events: dict[str, int] = field(default_factory=dict)  # event name -> first simulated moment


@dataclass
class Observed:
    """A live run's observations: per (contact, iteration) its entry, its sends and its contact events."""

    journey: str  # the journey key, e.g. 'j-1:v2'
    now: int  # the run's simulated moment when read (UTC seconds)
    entries: dict[tuple[int, int], int]  # (contact, iteration) -> simulated entry moment
    sends: dict[tuple[int, int], list[Send]]  # ... -> its sends, in time order
    not_sent: dict[str, dict[str, int]]  # step -> status (suppressed, no_address, failed, sending) -> n
    contact_events: dict[tuple[int, int], dict[str, int]]  # ... -> contact event -> its first moment
    truncated: bool = False  # more events or units than were read


def outbox_events(con: sqlite3.Connection) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The runner's outbox in the order the events came: (workflow id, unit id, event) for every row that holds an
    event (a name and a simulated moment); the unit is the event's own, else the workflow it was posted to."""
    for wid, text in con.execute("SELECT workflow_id, event FROM outbox ORDER BY id"):
        try:
            e = json.loads(text) if isinstance(text, (str, bytes)) else None
        except ValueError:
            continue
        if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("at"), int):
            yield str(wid), str(e.get("unit") or wid), e


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def read_observed(state_dir: Path, now: int | None = None) -> Observed:
    """The observations of the run whose state folder is `state_dir` (ObservedError if it is not one)."""
    db = Path(state_dir) / "runner.db"
    if not db.is_file():
        raise ObservedError(f"{state_dir}: no runner.db here; give the run's state folder (PACKAGE.run) or its "
                            "package")
    try:
        settings = read_settings(db, "journey", "clock", "final_counts")
    except sqlite3.Error as e:
        raise ObservedError(f"{db}: not a runner's state file ({e})") from None
    journey = settings.get("journey")
    if not isinstance(journey, dict) or not isinstance(journey.get("key"), str):
        raise ObservedError(f"{db}: the run never started (no journey recorded)")
    key = journey["key"]
    if now is None:
        final = settings.get("final_counts")
        ended = final.get("ended_at") if isinstance(final, dict) else None
        now = _clock_now(settings.get("clock"), ended if isinstance(ended, str) else None)
    try:
        return _read(db, key, now)
    except sqlite3.Error as e:
        raise ObservedError(f"{db}: cannot read the run's state ({e})") from None


def _clock_now(plain: Any, ended: str | None) -> int:
    """The run's simulated moment now, or when it ended (a run that is over observes nothing after its end)."""
    import time
    from datetime import datetime

    from app.runner.clock import Clock
    try:
        clock = Clock.from_plain(plain)
    except (TypeError, ValueError, IndexError):
        raise ObservedError("the run's clock is not recorded in its state file") from None
    real = time.time()
    if ended:
        try:
            real = min(real, datetime.fromisoformat(ended).timestamp())
        except ValueError:
            pass
    return clock.sim(real)


def _read(db: Path, key: str, now: int) -> Observed:
    con = _connect(db)
    try:
        con.execute("BEGIN")
        entries: dict[tuple[int, int], int] = {}
        unit_of: dict[str, tuple[int, int]] = {}
        truncated = False
        for n, (contact, iteration, wid, at) in enumerate(con.execute(
                "SELECT contact_id, iteration, workflow_id, sim_at FROM enrolments WHERE journey = ?", (key,))):
            if n >= MAX_UNITS:
                truncated = True
                break
            k = (int(contact), int(iteration))
            entries[k] = int(at)
            unit_of.setdefault(str(wid), k)  # an account's workflow: its first contact
        sends: dict[tuple[int, int], list[Send]] = {}
        by_step: dict[tuple[tuple[int, int], str], Send] = {}
        not_sent: dict[str, dict[str, int]] = {}
        for contact, iteration, step, channel, status, at in con.execute(
                "SELECT contact_id, iteration, step_id, channel, status, sim_at FROM sent_messages "
                "WHERE journey = ? ORDER BY sim_at", (key,)):
            k = (int(contact), int(iteration))
            if status == "sent" and at is not None:
                s = Send(str(step), str(channel), int(at))
                sends.setdefault(k, []).append(s)
                by_step[(k, s.step)] = s
            else:
                row = not_sent.setdefault(str(step), {})
                row[str(status)] = row.get(str(status), 0) + 1
        contact_events: dict[tuple[int, int], dict[str, int]] = {}
        for n, (_, unit, e) in enumerate(outbox_events(con)):
            if n >= MAX_EVENTS:
                truncated = True
                break
            base = unit_of.get(unit)
            if base is None:
                continue
            contact = e.get("contact")
            k = (int(contact), base[1]) if isinstance(contact, int) and contact >= 0 else base
            name, at = e["name"], int(e["at"])
            step = e.get("step_id") or ""
            if step:
                got = by_step.get((k, str(step)))
                if got is None or name not in MESSAGE_EVENTS:
                    continue
                name = "clicked" if name == "link_clicked" else name
                if name not in got.events or at < got.events[name]:
                    got.events[name] = at
            else:
                ev = contact_events.setdefault(k, {})
                if name not in ev or at < ev[name]:
                    ev[name] = at
        con.execute("COMMIT")
    finally:
        con.close()
    return Observed(key, int(now), entries, sends, not_sent, contact_events, truncated)
