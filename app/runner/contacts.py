"""The contacts database as the runner sees it: the audience at a moment, facts about one contact, tasks.

The database is a project file or any SQLite database with the project's contact tables (app.store.schema),
given as a path or an SQLAlchemy URL. Audience and segment membership use the same SQL as the designer
(app.audience.members), evaluated at a simulated moment. Attribute values are read the way the simulator reads
the project's contacts (simulator.project_population): numbers as floats, dates as UTC seconds, text as text.

Tasks, leads and launched workflows that journeys create are written to a table of their own, `journey_tasks`,
created in the contacts database when missing (one row per journey step, contact and iteration).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (JSON, Column, Engine, Integer, MetaData, Table, Text, and_, create_engine, event,
                        inspect, select, true)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from app.audience.compile import attribute_expression  # one reading of attributes
from app.audience.members import audience_condition, segment_condition
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS
from app.runner.runnable import Runnable, RunnerError
from app.store import schema as t

_c, _a = t.contacts, t.accounts
_CORE_TEXT = ("consent_level", "loyalty_tier", "time_zone")

_meta = MetaData()
journey_tasks = Table(
    "journey_tasks", _meta,
    Column("key", Text, primary_key=True),  # workflow id + step id: a retried action writes one row
    Column("journey_id", Text, nullable=False),
    Column("journey_version", Integer, nullable=False),
    Column("step_id", Text, nullable=False),
    Column("contact_id", Integer, nullable=False, index=True),
    Column("iteration", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # task, phone_call, lead, workflow
    Column("subject", Text, nullable=False),
    Column("owner", Text),
    Column("due_at", Text),  # ISO UTC, simulated time
    Column("created_at", Text, nullable=False),  # ISO UTC, simulated time
    Column("data", JSON, nullable=False),
)


def database_url(text: str) -> str:
    """An SQLAlchemy URL from a URL or a file path."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _sqlite_pragmas(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()


def _seconds(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc).timestamp()
    try:
        return float(np.datetime64(str(v), "s").astype(np.int64))
    except ValueError:
        return None


class ContactsDb:
    """Reads the audience and contact facts; writes journey tasks. Safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = database_url(url)
        if self.url.startswith("sqlite:///") and not Path(self.url[len("sqlite:///"):]).exists():
            raise RunnerError(f"{url}: no such contacts database")
        try:
            self.engine = create_engine(self.url)
            _sqlite_pragmas(self.engine)
            names = set(inspect(self.engine).get_table_names())
        except SQLAlchemyError as e:
            raise RunnerError(f"{url}: cannot open the contacts database ({type(e).__name__})") from None
        if "contacts" not in names:
            raise RunnerError(f"{url}: no contacts table; give a project file or a database with its contact tables")
        self.custom: dict[str, str] = self._custom_attributes() if "project" in names else {}
        self._lock = threading.Lock()
        self._tasks_ready = "journey_tasks" in names

    def _custom_attributes(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.project.c.settings)).first()
        settings = row[0] if row else None
        if isinstance(settings, str):
            settings = json.loads(settings)
        custom = (settings or {}).get("custom_attributes") or {}
        return {str(k): str(v) for k, v in custom.items()}

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    # --- the audience ------------------------------------------------------------------------------------

    def _audience(self, r: Runnable, at: datetime) -> Any:
        if r.journey.audience.segments:
            try:
                return audience_condition(r.journey, r.segments, self.custom, at)
            except AudienceError as e:
                raise RunnerError(str(e)) from None
        cond: Any = true()  # no audience segment: everyone with enough consent
        for name in r.journey.audience.exclude:
            cond = and_(cond, ~segment_condition(r.segments[name], self.custom, at).is_(true()))
        if r.plan.audience.min_consent:
            cond = and_(cond, _c.c.consent_level.in_(CONSENT_LEVELS[r.plan.audience.min_consent:]))
        return cond

    def audience_page(self, r: Runnable, at: int, after: int, limit: int) -> list[tuple[int, str | None, int]]:
        """Up to `limit` (id, time zone, account id or -1) of the journey's audience at simulated moment `at`, ids
        above `after`."""
        moment = datetime.fromtimestamp(at, timezone.utc)
        q = (select(_c.c.id, _c.c.time_zone, _c.c.account_id).where(and_(_c.c.id > after, self._audience(r, moment)))
             .order_by(_c.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [(int(i), tz, -1 if a is None else int(a)) for i, tz, a in conn.execute(q)]

    def account_audience(self, r: Runnable, at: int, account: int) -> list[tuple[int, str | None]]:
        """The (id, time zone) of an account's contacts in the journey's audience at simulated moment `at`."""
        moment = datetime.fromtimestamp(at, timezone.utc)
        q = (select(_c.c.id, _c.c.time_zone).where(and_(_c.c.account_id == account, self._audience(r, moment)))
             .order_by(_c.c.id))
        with self.engine.connect() as conn:
            return [(int(i), tz) for i, tz in conn.execute(q)]

    # --- one contact ---------------------------------------------------------------------------------------

    def member(self, r: Runnable, contact: int, segment: str, at: int) -> bool:
        """Whether the contact is in a segment of the journey at simulated moment `at`."""
        moment = datetime.fromtimestamp(at, timezone.utc)
        cond = segment_condition(r.segments[segment], self.custom, moment)
        with self.engine.connect() as conn:
            return conn.execute(select(_c.c.id).where(and_(_c.c.id == contact, cond))).first() is not None

    def members(self, r: Runnable, contacts: Sequence[int], segment: str, at: int) -> set[int]:
        """Which of these contacts are in a segment of the journey at simulated moment `at` (one query a chunk)."""
        moment = datetime.fromtimestamp(at, timezone.utc)
        cond = segment_condition(r.segments[segment], self.custom, moment)
        found: set[int] = set()
        ids = sorted(set(contacts))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                found.update(int(x) for x in conn.execute(select(_c.c.id).where(and_(_c.c.id.in_(chunk), cond)))
                             .scalars())
        return found

    def attribute(self, contact: int, name: str) -> Any:
        """An attribute value as the interpreter reads it: float, UTC seconds for dates, text, or None."""
        if name in _CORE_TEXT:
            expr, kind = _c.c[name], "text"
        else:
            found = attribute_expression(name, self.custom)
            if found is None:
                raise RunnerError(f"the contacts database has no attribute '{name}'")
            expr, kind = found
        q = select(expr).select_from(_c.outerjoin(_a, _c.c.account_id == _a.c.id)).where(_c.c.id == contact)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        v = row[0] if row else None
        if v is None:
            return None
        if kind == "number":
            x = float(v)
            return None if math.isnan(x) else x
        if kind in ("date", "datetime"):
            return _seconds(v)
        return str(v)

    def contact(self, contact: int) -> dict[str, Any] | None:
        """The contact's row (standard columns and custom attributes), for addresses and personalisation."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_c).where(_c.c.id == contact)).mappings().first()
        return None if row is None else self._row(row)

    def contacts(self, contacts: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The rows of these contacts (ContactsDb.contact's), by id; a contact not found is missing."""
        ids = sorted(set(contacts))
        out: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                for row in conn.execute(select(_c).where(_c.c.id.in_(ids[i:i + 500]))).mappings():
                    out[int(row["id"])] = self._row(row)
        return out

    @staticmethod
    def _row(row: Any) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k != "custom"}
        custom = row.get("custom")
        if isinstance(custom, str):
            custom = json.loads(custom)
        if isinstance(custom, Mapping):
            out.update({k: v for k, v in custom.items() if k not in out})
        return out

    @staticmethod
    def consent_ok(r: Runnable, level: str | None) -> bool:
        """Whether a consent level (the contact's, read at send time) reaches the journey's minimum."""
        need = r.plan.audience.min_consent
        return not need or level in CONSENT_LEVELS[need:]

    # --- tasks ---------------------------------------------------------------------------------------------

    def add_task(self, row: Mapping[str, Any]) -> bool:
        """Write a journey task (kept once per key); True when it is new."""
        with self._lock:
            if not self._tasks_ready:
                _meta.create_all(self.engine, tables=[journey_tasks])
                self._tasks_ready = True
        with self.engine.begin() as conn:
            res = conn.execute(sqlite_insert(journey_tasks).on_conflict_do_nothing(), [dict(row)])
            return bool(res.rowcount)

    def tasks(self, journey_id: str | None = None) -> list[dict[str, Any]]:
        """The journey tasks written so far (all journeys, or one), in key order."""
        if not self._tasks_ready and "journey_tasks" not in inspect(self.engine).get_table_names():
            return []
        q = select(journey_tasks).order_by(journey_tasks.c.key)
        if journey_id is not None:
            q = q.where(journey_tasks.c.journey_id == journey_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


__all__ = ["ContactsDb", "database_url", "journey_tasks"]
