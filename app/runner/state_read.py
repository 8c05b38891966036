"""Reading a run's state file (state.py's tables) with the sqlite3 module alone, for `status`: one read
transaction for every figure, and no SQLAlchemy to import (half a second of a status command's start)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

SENDING, SENT, SUPPRESSED, NO_ADDRESS, FAILED = "sending", "sent", "suppressed", "no_address", "failed"
CAPPED = "capped"  # held back by the project's frequency cap across journeys (state.CapLedger)
SECRET_SETTING = "events_secret"  # the run's events secret (access.py)
URL_SETTING = "events_url"  # the local address of the run's endpoint, while it runs (access.py)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def read_settings(path: Path, *names: str) -> dict[str, Any]:
    """Stored settings of the state file (JSON values) by name; a name not stored is left out."""
    con = _connect(path)
    try:
        marks = ", ".join("?" for _ in names)
        rows = con.execute(f"SELECT name, value FROM settings WHERE name IN ({marks})", names).fetchall()
    finally:
        con.close()
    return {str(n): json.loads(v) if isinstance(v, (str, bytes)) else v for n, v in rows}


def snapshot(path: Path, journey: str, failures: int = 5) -> dict[str, Any]:
    """Every figure `status` shows of the runner's state, read in one transaction (in WAL mode a reader sees
    the database as of its first read, whatever is written meanwhile): {enrolled, messages (how sends ended,
    one per send key, and how many were `retried`), sends (step -> status -> n), failures (the latest failed
    sends: contact, iteration, step, reason), events (the outbox by status), dead_letters}."""
    con = _connect(path)
    try:
        con.execute("BEGIN")
        enrolled = con.execute("SELECT count(*) FROM enrolments WHERE journey = ?", (journey,)).fetchone()[0]
        messages = {s: 0 for s in (SENT, SUPPRESSED, NO_ADDRESS, FAILED, CAPPED, SENDING)}
        retried = 0
        by_step: dict[str, dict[str, int]] = {}
        for step, status, n, more in con.execute(
                "SELECT step_id, status, count(*), sum(attempts > 1) FROM sent_messages WHERE journey = ? "
                "GROUP BY step_id, status", (journey,)):
            messages[str(status)] = messages.get(str(status), 0) + int(n)
            retried += int(more or 0) if status in (SENT, FAILED) else 0
            by_step.setdefault(str(step), {})[str(status)] = int(n)
        failed = [{"contact": int(a), "iteration": int(k), "step": str(st), "reason": str(r or "")}
                  for a, k, st, r in con.execute(
                      "SELECT contact_id, iteration, step_id, reason FROM sent_messages WHERE journey = ? AND "
                      "status = ? ORDER BY real_at DESC LIMIT ?", (journey, FAILED, max(0, int(failures))))]
        events = {str(k): int(v) for k, v in con.execute("SELECT status, count(*) FROM outbox GROUP BY status")}
        dead = int(con.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
        con.execute("COMMIT")
    finally:
        con.close()
    return {"enrolled": int(enrolled), "messages": {**messages, "retried": retried}, "sends": by_step,
            "failures": failed, "events": events, "dead_letters": dead}
