"""The runner's own database (SQLite in the run's state folder): its clock and settings, enrolments, sends.

`sent_messages` makes sends idempotent. A send activity claims its key (workflow id + step id) in a committed
row *before* it hands the message to the transport, and marks it sent right after; a retried activity finds the
row and does not send again once it is marked. What remains is the crash window between the transport's
acceptance (SMTP's reply to the final '.', the gateway's 2xx) and that mark: the attempt that follows cannot
know whether the message went out. The runner then sends it again with the same transport id (the email's
Message-ID, the SMS gateway's Idempotency-Key), so a duplicate, if any, carries the first one's id and the
receiving side drops it (mail stores and gateways de-duplicate on these ids): at least once on the wire,
exactly once for the recipient. The alternative, never resending a claimed key, would lose a message each
time the crash came before the transport accepted it; a marketing message lost silently is the worse failure.

A send that cannot succeed (a message that cannot be built, a permanent refusal, no success within the retry
policy's bounds) is marked `failed` with its reason. One row per key: the figures of `message_counts` count each
message once, however often its transport was called.

`enrolments` records which contact entered which iteration, so an enrolment that runs again (a restarted
runner, an ongoing journey polling its audience) starts no workflow twice even after Temporal has forgotten a
finished one.

The file holds the run's secrets (the tracking tokens' key, the events secret): it is readable by its owner
only (0600, and its folder 0700 when the runner makes it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, Column, Engine, Float, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text,
                        bindparam, case, create_engine, event, func, select, text, update)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

_meta = MetaData()

settings = Table(
    "settings", _meta,
    Column("name", Text, primary_key=True),
    Column("value", JSON, nullable=False),
)

sent_messages = Table(
    "sent_messages", _meta,
    Column("key", Text, primary_key=True),  # workflow id + ':' + step id
    Column("journey", Text, nullable=False),  # journey key, e.g. 'j-1:v2'
    Column("contact_id", Integer, nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("step_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),  # sending, sent, suppressed, no_address, failed
    Column("attempts", Integer, nullable=False),
    Column("transport_id", Text, nullable=False),  # Message-ID / Idempotency-Key
    Column("sim_at", Integer),  # simulated send time (UTC seconds), once sent
    Column("real_at", Float),  # real send time, once sent
    Column("reason", Text),  # why it failed
)

enrolments = Table(
    "enrolments", _meta,
    Column("journey", Text, nullable=False),
    Column("contact_id", Integer, nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("workflow_id", Text, nullable=False),
    Column("sim_at", Integer, nullable=False),
    # the Temporal workflow the unit runs in when it shares a cohort's (cohort.py); NULL: its own, `workflow_id`
    Column("host", Text),
    PrimaryKeyConstraint("journey", "contact_id", "iteration"),
    Index("ix_enrolments_workflow", "journey", "iteration", "workflow_id"),
)

# Channels a contact cannot be reached on (an opt-out, a hard bounce) from a moment on, for the rest of the run:
# a later iteration's workflow starts from them, as the simulator carries them across repetitions.
blocks = Table(
    "blocks", _meta,
    Column("journey", Text, nullable=False),
    Column("contact_id", Integer, nullable=False),
    Column("channel", Text, nullable=False),
    Column("sim_at", Integer, nullable=False),
    PrimaryKeyConstraint("journey", "contact_id", "channel"),
)

# Events received over HTTP, kept until Temporal has taken them: a click that comes while Temporal is away (or
# just before the runner is stopped) is delivered when it is back, not lost.
outbox = Table(
    "outbox", _meta,
    Column("id", Integer, primary_key=True),
    Column("workflow_id", Text, nullable=False),
    Column("event", JSON, nullable=False),  # calls.Event as a dict
    Column("received", Float, nullable=False),  # real time
    Column("status", Text, nullable=False),  # pending, delivered, not_running
    Index("ix_outbox_workflow", "workflow_id", "status"),
)

# Events the endpoint refused because no workflow of the run could take them (a contact that never entered the
# journey, or not this iteration): kept for whoever looks into it, counted by `status`.
dead_letters = Table(
    "dead_letters", _meta,
    Column("id", Integer, primary_key=True),
    Column("event", JSON, nullable=False),  # as posted, with the simulated moment it arrived ('at')
    Column("reason", Text, nullable=False),
    Column("received", Float, nullable=False),  # real time
)

SENDING, SENT, SUPPRESSED, NO_ADDRESS, FAILED = "sending", "sent", "suppressed", "no_address", "failed"
CAPPED = "capped"  # held back by the project's frequency cap across journeys (CapLedger)
SETTLED = (SENT, SUPPRESSED, NO_ADDRESS, FAILED, CAPPED)  # how a send ends: a retry of a settled key sends nothing


class StateDb:
    """The runner's state file. Thread-safe (SQLite in WAL mode; each call is its own transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.path)
        self.engine: Engine = create_engine(f"sqlite:///{self.path}")

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")  # a claim or a mark must survive a crash of the machine
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.close()

        _meta.create_all(self.engine)
        with self.engine.begin() as conn:  # a state file of an earlier version: the column it lacks
            if "reason" not in {row[1] for row in conn.execute(text("PRAGMA table_info(sent_messages)"))}:
                conn.execute(text("ALTER TABLE sent_messages ADD COLUMN reason TEXT"))
            if "host" not in {row[1] for row in conn.execute(text("PRAGMA table_info(enrolments)"))}:
                conn.execute(text("ALTER TABLE enrolments ADD COLUMN host TEXT"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_enrolments_unit ON enrolments (workflow_id)"))
        for suffix in ("", "-wal", "-shm"):
            _owner_only(Path(str(self.path) + suffix), create=False)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    # --- settings ------------------------------------------------------------------------------------------

    def get(self, name: str) -> Any:
        """A stored setting, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(settings.c.value).where(settings.c.name == name)).first()
        return None if row is None else row[0]

    def put(self, name: str, value: Any) -> None:
        """Store a setting."""
        stmt = sqlite_insert(settings).values(name=name, value=value)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value}))

    def setdefault(self, name: str, value: Any) -> Any:
        """The stored setting, storing `value` first when there is none (the first run decides)."""
        with self.engine.begin() as conn:
            conn.execute(sqlite_insert(settings).values(name=name, value=value).on_conflict_do_nothing())
            return conn.execute(select(settings.c.value).where(settings.c.name == name)).scalar_one()

    # --- sends ---------------------------------------------------------------------------------------------

    def claim(self, key: str, *, journey: str, contact: int, iteration: int, step_id: str, channel: str,
              transport_id: str) -> tuple[str, str]:
        """Claim a send before it goes to the transport: (status before this claim, transport id).

        A new key is committed as 'sending' and returns ('new', id); a known key returns its stored status
        ('sending' after a crash in the window, 'sent'...) and the id it was first sent with.
        """
        with self.engine.begin() as conn:
            row = conn.execute(select(sent_messages.c.status, sent_messages.c.transport_id)
                               .where(sent_messages.c.key == key)).first()
            if row is None:
                conn.execute(sent_messages.insert().values(
                    key=key, journey=journey, contact_id=contact, iteration=iteration, step_id=step_id,
                    channel=channel, status=SENDING, attempts=1, transport_id=transport_id))
                return "new", transport_id
            if row[0] == SENDING:
                conn.execute(update(sent_messages).where(sent_messages.c.key == key)
                             .values(attempts=sent_messages.c.attempts + 1))
            return str(row[0]), str(row[1])

    def claim_many(self, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str]]:
        """`claim` for many sends in one transaction (rows: key, journey, contact, iteration, step_id, channel,
        transport_id): key -> (status before this claim, transport id)."""
        out: dict[str, tuple[str, str]] = {}
        c = sent_messages.c
        with self.engine.begin() as conn:
            keys = [r["key"] for r in rows]
            for i in range(0, len(keys), 500):
                for key, status, tid in conn.execute(select(c.key, c.status, c.transport_id)
                                                     .where(c.key.in_(keys[i:i + 500]))):
                    out[str(key)] = (str(status), str(tid))
            again = [k for k, (status, _) in out.items() if status == SENDING]
            if again:
                conn.execute(update(sent_messages).where(c.key.in_(again)).values(attempts=c.attempts + 1))
            new = [r for r in rows if r["key"] not in out]
            if new:
                conn.execute(sent_messages.insert(), [
                    {"key": r["key"], "journey": r["journey"], "contact_id": r["contact"], "iteration": r["iteration"],
                     "step_id": r["step_id"], "channel": r["channel"], "status": SENDING, "attempts": 1,
                     "transport_id": r["transport_id"]} for r in new])
                for r in new:
                    out[r["key"]] = ("new", r["transport_id"])
        return out

    def mark_many(self, marks: Sequence[tuple[str, str, int | None]]) -> None:
        """`mark` for many sends in one transaction: (key, status, simulated send time)."""
        if not marks:
            return
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(sent_messages).where(sent_messages.c.key == bindparam("k"))
                         .values(status=bindparam("s"), sim_at=bindparam("t"), real_at=now, reason=None),
                         [{"k": k, "s": s, "t": t} for k, s, t in marks])

    def mark(self, key: str, status: str, sim_at: int | None = None, reason: str | None = None) -> None:
        """Record how a claimed send ended (a failure with its reason)."""
        with self.engine.begin() as conn:
            conn.execute(update(sent_messages).where(sent_messages.c.key == key)
                         .values(status=status, sim_at=sim_at, real_at=time.time(), reason=reason))

    def fail(self, key: str, reason: str) -> None:
        """Record that a send failed for good, unless it was settled otherwise (a send recorded as sent stays)."""
        with self.engine.begin() as conn:
            conn.execute(update(sent_messages).where(sent_messages.c.key == key, sent_messages.c.status == SENDING)
                         .values(status=FAILED, real_at=time.time(), reason=reason[:1000]))

    def reason(self, key: str) -> str:
        """Why a send failed ('' when it did not)."""
        with self.engine.connect() as conn:
            return str(conn.execute(select(sent_messages.c.reason).where(sent_messages.c.key == key)).scalar() or "")

    def message_counts(self, journey: str) -> dict[str, int]:
        """How the journey's sends ended, one per send key (a message resent after a crash counts once), and how
        many needed more than one attempt ('retried')."""
        c = sent_messages.c
        q = (select(c.status, func.count(), func.sum(case((c.attempts > 1, 1), else_=0)))
             .where(c.journey == journey).group_by(c.status))
        out = {s: 0 for s in (SENT, SUPPRESSED, NO_ADDRESS, FAILED, CAPPED, SENDING)}
        retried = 0
        with self.engine.connect() as conn:
            for status, n, more in conn.execute(q):
                out[str(status)] = int(n)
                retried += int(more or 0) if status in (SENT, FAILED) else 0
        return {**out, "retried": retried}

    def failures(self, journey: str, limit: int = 5) -> list[dict[str, Any]]:
        """The latest failed sends: contact, step and reason."""
        c = sent_messages.c
        q = (select(c.contact_id, c.iteration, c.step_id, c.reason).where(c.journey == journey, c.status == FAILED)
             .order_by(c.real_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [{"contact": int(a), "iteration": int(k), "step": str(s), "reason": str(r or "")}
                    for a, k, s, r in conn.execute(q)]

    def snapshot(self, journey: str, failures: int = 5) -> dict[str, Any]:
        """Every figure `status` shows of the runner's state, read in one transaction (state_read.snapshot)."""
        from app.runner.state_read import snapshot
        return snapshot(self.path, journey, failures)

    def sends(self, journey: str | None = None) -> list[dict[str, Any]]:
        """Every recorded send (of one journey, or all), in key order."""
        q = select(sent_messages).order_by(sent_messages.c.key)
        if journey is not None:
            q = q.where(sent_messages.c.journey == journey)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def contact_sends(self, journey: str, contact: int) -> list[int]:
        """Simulated times of the messages this journey sent a contact (for the frequency cap)."""
        q = (select(sent_messages.c.sim_at).where(sent_messages.c.journey == journey,
                                                  sent_messages.c.contact_id == contact,
                                                  sent_messages.c.status == SENT)
             .order_by(sent_messages.c.sim_at))
        with self.engine.connect() as conn:
            return [int(x) for x in conn.execute(q).scalars() if x is not None]

    def contact_blocks(self, journey: str, contact: int) -> dict[str, int]:
        """Channel -> from when this journey cannot reach the contact there (opted out, hard-bounced)."""
        b = blocks.c
        q = select(b.channel, b.sim_at).where(b.journey == journey, b.contact_id == contact)
        with self.engine.connect() as conn:
            return {str(ch): int(at) for ch, at in conn.execute(q)}

    def record_blocks(self, journey: str, contact: int, found: dict[str, int]) -> None:
        """Keep the earliest moment each channel stopped reaching the contact."""
        if not found:
            return
        rows = [{"journey": journey, "contact_id": contact, "channel": ch, "sim_at": int(at)}
                for ch, at in found.items()]
        stmt = sqlite_insert(blocks).values(rows)
        stmt = stmt.on_conflict_do_update(index_elements=["journey", "contact_id", "channel"],
                                          set_={"sim_at": func.min(blocks.c.sim_at, stmt.excluded.sim_at)})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    # --- enrolments ----------------------------------------------------------------------------------------

    def enrolled(self, journey: str, iteration: int, contacts: Sequence[int]) -> set[int]:
        """Which of these contacts already entered the iteration."""
        if not contacts:
            return set()
        e = enrolments.c
        q = select(e.contact_id).where(e.journey == journey, e.iteration == iteration,
                                       e.contact_id.in_(list(contacts)))
        with self.engine.connect() as conn:
            return {int(x) for x in conn.execute(q).scalars()}

    def started(self, journey: str, iteration: int, workflow_ids: Sequence[str]) -> set[str]:
        """Which of these workflows (an account's) were started for the iteration."""
        if not workflow_ids:
            return set()
        e = enrolments.c
        q = select(e.workflow_id).where(e.journey == journey, e.iteration == iteration,
                                        e.workflow_id.in_(list(workflow_ids))).distinct()
        with self.engine.connect() as conn:
            return {str(x) for x in conn.execute(q).scalars()}

    def workflow_of(self, journey: str, iteration: int, contact: int) -> str | None:
        """The workflow a contact entered the iteration with (its own, or its account's), if it entered."""
        e = enrolments.c
        q = select(e.workflow_id).where(e.journey == journey, e.iteration == iteration, e.contact_id == contact)
        with self.engine.connect() as conn:
            found = conn.execute(q).scalar()
        return None if found is None else str(found)

    def record_enrolments(self, journey: str, iteration: int, rows: Iterable[tuple[int, str, int]],
                          hosts: dict[str, str] | None = None) -> None:
        """Record (contact, unit id, simulated entry time) rows of an iteration; `hosts`: the cohort workflow each
        unit id runs in, when it does not run in a workflow of its own."""
        hosts = hosts or {}
        values = [{"journey": journey, "contact_id": c, "iteration": iteration, "workflow_id": w, "sim_at": at,
                   "host": hosts.get(w)} for c, w, at in rows]
        if values:
            with self.engine.begin() as conn:
                conn.execute(sqlite_insert(enrolments).on_conflict_do_nothing(), values)

    def hosts(self, unit_ids: Sequence[str]) -> dict[str, str]:
        """The Temporal workflow each of these units runs in: a cohort's, or (missing here) its own."""
        e = enrolments.c
        out: dict[str, str] = {}
        ids = sorted(set(unit_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = select(e.workflow_id, e.host).where(e.workflow_id.in_(ids[i:i + 500]), e.host.is_not(None))
                out.update({str(w): str(h) for w, h in conn.execute(q)})
        return out

    def iteration_workflows(self, journey: str, iteration: int) -> list[str]:
        """The Temporal workflow ids of an iteration's enrolments (a unit's own, or its cohort's)."""
        e = enrolments.c
        with self.engine.connect() as conn:
            return [str(w) for w in conn.execute(select(func.coalesce(e.host, e.workflow_id))
                                                 .where(e.journey == journey, e.iteration == iteration)).scalars()]

    def enrolment_count(self, journey: str) -> int:
        """How many (contact, iteration) entries the journey has."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(enrolments)
                                    .where(enrolments.c.journey == journey)).scalar_one())

    def workflow_count(self, journey: str) -> int:
        """How many workflows the journey's enrolments started (one per contact, or per account, and iteration)."""
        with self.engine.connect() as conn:
            host = func.coalesce(enrolments.c.host, enrolments.c.workflow_id)
            return int(conn.execute(select(func.count(func.distinct(host)))
                                    .where(enrolments.c.journey == journey)).scalar_one())


    # --- the event outbox -----------------------------------------------------------------------------------

    def queue_events(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Keep (workflow id, event) pairs until they are delivered."""
        if rows:
            now = time.time()
            with self.engine.begin() as conn:
                conn.execute(outbox.insert(), [{"workflow_id": w, "event": e, "received": now, "status": "pending"}
                                               for w, e in rows])

    def pending_events(self, limit: int = 500) -> list[tuple[int, str, dict[str, Any]]]:
        """The oldest events not delivered yet: (id, workflow id, event)."""
        q = select(outbox.c.id, outbox.c.workflow_id, outbox.c.event).where(outbox.c.status == "pending") \
            .order_by(outbox.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [(int(i), str(w), dict(e)) for i, w, e in conn.execute(q)]

    def undelivered_many(self, wanted: Sequence[tuple[str, int]]) -> list[list[dict[str, Any]]]:
        """`undelivered_events` of many units (unit id, up to) in one read, in the order asked."""
        ids = sorted({w for w, _ in wanted})
        found: dict[str, list[dict[str, Any]]] = {w: [] for w in ids}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = select(outbox.c.workflow_id, outbox.c.event).where(
                    outbox.c.workflow_id.in_(ids[i:i + 500]), outbox.c.status.in_(("pending", "delivered"))) \
                    .order_by(outbox.c.id)
                for w, e in conn.execute(q):
                    found[str(w)].append(dict(e))
        return [[e for e in found[w] if int(e.get("at", 0)) <= up_to] for w, up_to in wanted]

    def undelivered_events(self, workflow_id: str, up_to: int) -> list[dict[str, Any]]:
        """A workflow's events the endpoint accepted (stamped at or before simulated `up_to`), pending or signalled
        already (a signal sent may not have reached the workflow's current task): a deadline must not pass over an
        event that came in time but is still on its way."""
        q = select(outbox.c.event).where(outbox.c.workflow_id == workflow_id,
                                         outbox.c.status.in_(("pending", "delivered"))).order_by(outbox.c.id)
        with self.engine.connect() as conn:
            return [dict(e) for e in conn.execute(q).scalars() if int(dict(e).get("at", 0)) <= up_to]

    def settle_events(self, outcomes: Sequence[tuple[int, str]]) -> None:
        """Mark events delivered (or not_running: their workflow had finished)."""
        if outcomes:
            with self.engine.begin() as conn:
                for i, status in outcomes:
                    conn.execute(update(outbox).where(outbox.c.id == i).values(status=status))

    def dead_letter(self, events: Sequence[dict[str, Any]], reason: str) -> None:
        """Keep events that no workflow of the run can take."""
        if events:
            now = time.time()
            with self.engine.begin() as conn:
                conn.execute(dead_letters.insert(), [{"event": e, "reason": reason, "received": now} for e in events])

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest dead letters, newest first: {event, reason, received}."""
        q = select(dead_letters.c.event, dead_letters.c.reason, dead_letters.c.received) \
            .order_by(dead_letters.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{"event": dict(e), "reason": str(r), "received": float(t)} for e, r, t in conn.execute(q)]

    def dead_letter_count(self) -> int:
        """How many events were refused for want of a workflow to take them."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())

    def event_counts(self) -> dict[str, int]:
        """How many events are pending, delivered, not_running."""
        q = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        with self.engine.connect() as conn:
            return {str(k): int(v) for k, v in conn.execute(q)}


# --- the project's frequency caps across journeys ----------------------------------------------------------------

CAP_LEDGER_SQL = (
    "CREATE TABLE IF NOT EXISTS cap_ledger (key TEXT PRIMARY KEY, journey TEXT NOT NULL, contact_id INTEGER NOT NULL, "
    "channel TEXT NOT NULL, sim_at INTEGER NOT NULL, priority INTEGER NOT NULL, status TEXT NOT NULL)",
    # the count of a contact's sends on a channel in a window is a range of this index (no scan)
    "CREATE INDEX IF NOT EXISTS ix_cap_ledger_contact ON cap_ledger (contact_id, channel, sim_at)",
)
HELD, RELEASED = "held", "released"  # a slot taken (counts), a slot given back (the message did not go)


class CapLedger:
    """The sends that count against the project's frequency caps, of every journey whose run uses this file.

    A send takes a slot before it goes to its transport: one IMMEDIATE transaction counts the contact's slots on
    the channel within `per` of its moment (sim_at in (t - per, t + per): the trailing window (t - per, t] when
    sends are claimed in time order, as live they are; a send claimed late for an earlier moment also sees the
    later ones, so no window ever holds more than the cap) and inserts the send's own row, `held` when the count
    is below the cap, else `capped`; so two workers (or two runs) cannot both take the last slot. A send
    that then does not go (suppressed, no address, failed for good) gives its slot back (`released`). The key is
    the send's key: a retried send finds its decision. Sends taken together are decided in the order (time,
    priority, key): at one moment a journey of a higher priority (a lower number) goes first. The file is the
    run's own state database, or one shared by the runs of the project's journeys (`run --caps-ledger FILE`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _owner_only(self.path)
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode = WAL")
            for sql in CAP_LEDGER_SQL:
                con.execute(sql)
        finally:
            con.close()

    def _connect(self) -> Any:
        import sqlite3
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA synchronous = FULL")
        return con

    def admit(self, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
        """Decide sends (rows: key, journey, contact, channel, at, priority and the cap: messages, per seconds):
        key -> HELD (it may go) or CAPPED (the decision of an earlier attempt, when there was one)."""
        out: dict[str, str] = {}
        if not rows:
            return out
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            for r in sorted(rows, key=lambda r: (int(r["at"]), int(r["priority"]), str(r["key"]))):
                known = con.execute("SELECT status FROM cap_ledger WHERE key = ?", (r["key"],)).fetchone()
                if known is not None:
                    out[r["key"]] = CAPPED if known[0] == CAPPED else HELD
                    continue
                limit, per = int(r["messages"]), int(r["per"])
                at = int(r["at"])
                # the slots within `per` either side: the trailing window when sends come in time order (live, they
                # do), and no window over the cap when a worker late in real time claims an earlier moment
                n = con.execute("SELECT count(*) FROM cap_ledger WHERE contact_id = ? AND channel = ? AND sim_at > ? "
                                "AND sim_at < ? AND status = ?", (int(r["contact"]), r["channel"], at - per, at + per,
                                                                  HELD)).fetchone()[0]
                status = HELD if n < limit else CAPPED
                con.execute("INSERT INTO cap_ledger VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (r["key"], r["journey"], int(r["contact"]), r["channel"], at, int(r["priority"]), status))
                out[r["key"]] = status
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
        return out

    def release(self, keys: Sequence[str]) -> None:
        """Give back the slots of sends that did not go."""
        if not keys:
            return
        con = self._connect()
        try:
            con.executemany("UPDATE cap_ledger SET status = ? WHERE key = ? AND status = ?",
                            [(RELEASED, k, HELD) for k in keys])
        finally:
            con.close()

    def rows(self) -> list[tuple[str, str, int, str, int, int, str]]:
        """Every row (key, journey, contact, channel, sim_at, priority, status), in time order."""
        con = self._connect()
        try:
            return [tuple(r) for r in con.execute("SELECT * FROM cap_ledger ORDER BY sim_at, priority, key")]
        finally:
            con.close()


def _owner_only(path: Path, create: bool = True) -> None:
    """Make `path` readable and writable by its owner only (created empty first when `create`: an empty file is an
    empty SQLite database, and the journal files SQLite makes beside it take its permissions)."""
    if create and not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        os.chmod(path, 0o600)
    except OSError:  # gone, or not ours (then SQLite cannot read it either, and says so)
        pass
