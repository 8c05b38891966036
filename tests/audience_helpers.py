"""A small population whose members are known by construction, for the segment query tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.model.project import Project
from app.store import ProjectFile
from app.store import schema as t

# The moment date-relative conditions are evaluated at in the tests.
AT = datetime(2026, 6, 1, 12, 0, 0)
CUSTOM = {"shoe_size": "number", "vip": "boolean", "signup": "date", "nickname": "text", "tags": "list",
          "seen": "datetime"}

ACCOUNTS: list[dict[str, Any]] = [
    {"id": 1, "name": "Acme Corp", "industry": "Software", "size": 500, "city": "Atlantis"},
    {"id": 2, "name": "Globex", "industry": "Retail", "size": 20, "city": "Springfield"},
    {"id": 3, "name": "Initech", "industry": "Software", "size": None, "city": None},
]

_COLUMNS = ("id", "first_name", "last_name", "email", "city", "country", "consent_level", "loyalty_tier",
            "lifetime_value", "last_purchase_date", "birth_date", "created_on", "account_id", "custom")
_ROWS: list[tuple[Any, ...]] = [
    (1, "Ann", "Lee", "ann@example.com", "Atlantis", "US", "marketing", "gold", 1500.0, "2026-05-20",
     "1990-01-15", "2024-01-10T08:00:00", 1,
     {"shoe_size": 38, "vip": True, "signup": "2025-02-01", "nickname": "Annie", "tags": ["a", "b"],
      "seen": "2026-05-30T10:00:00"}),
    (2, "Bob", "Stone", "bob@example.org", "Atlantis", "US", "subscriptions", "silver", 400.0, "2026-03-01",
     None, "2025-06-01T23:59:59", 2, {"shoe_size": 44, "vip": False, "nickname": "bobby"}),
    (3, "Cleo", "Park", "cleo@example.net", "atlantis", "FR", "not_set", "none", 0.0, None,
     "2001-07-04", "2026-05-30T09:00:00", None, None),
    (4, "Dan", "O'Brien", "dan+test@example.com", "Springfield", "US", "profiling", "platinum", 5000.0,
     "2026-05-31", "1975-03-03", "2023-03-03T12:00:00", 1, {"tags": ["b"]}),
    (5, "Eve", "Adams", "eve@mail.example", "New Atlantis", "DE", "consent_given", "bronze", 99.5,
     "2025-12-24", "1988-11-30", "2024-12-31T10:00:00", 3, None),
    (6, "Frank", "Null", None, None, None, None, None, None, None, None, None, None, None),
    (7, "Gus", "Wild", "gus@example.com", "100% Pure_City", "US", "transactional", "none", 10.0,
     "2026-04-01", None, "2026-01-01T00:00:00", None, None),
    (8, "Hal", "Bobby", "hal@example.com", "x'; DROP TABLE contacts; --", "GB", "marketing", "gold", 800.0,
     "2026-06-01", None, "2026-06-01T12:00:00", 2, None),
]
ALL = {r[0] for r in _ROWS}

_LISTS = [(1, "Newsletter"), (2, "Newsletter"), (2, "Offers"), (4, "Offers"), (8, "Events")]
_INTERACTIONS = [
    (1, 1, "purchase", "2026-05-20T10:00:00", 100.0),
    (2, 1, "web_visit", "2026-05-30T08:00:00", None),
    (3, 2, "purchase", "2026-03-01T09:00:00", 400.0),
    (4, 4, "purchase", "2026-05-31T18:00:00", 2000.0),
    (5, 4, "form_submitted", "2026-01-01T07:00:00", None),
    (6, 5, "web_visit", "2026-04-15T15:00:00", None),
    (7, 8, "purchase", "2026-06-01T12:00:00", 50.0),
]


def fill(pf: ProjectFile) -> None:
    """Insert the known accounts, contacts, list memberships and interactions."""
    with pf.connection(write=True) as conn:
        conn.execute(insert(t.accounts), ACCOUNTS)
        conn.execute(insert(t.contacts), [dict(zip(_COLUMNS, row)) for row in _ROWS])
        conn.execute(insert(t.contact_lists), [{"contact_id": c, "list": n} for c, n in _LISTS])
        conn.execute(insert(t.interactions), [dict(zip(("id", "contact_id", "kind", "at", "value"), row))
                                              for row in _INTERACTIONS])


def known_project(path: Path) -> ProjectFile:
    """A new project file at `path` with the custom attributes declared and the known population in it."""
    project = Project("Known")
    project.update_settings(custom_attributes=dict(CUSTOM))
    pf = ProjectFile.create(path, project=project)
    fill(pf)
    return pf


def row(attribute: str, op: str, *value: Any) -> dict[str, Any]:
    """A query row; the value is left out for unary operators."""
    r: dict[str, Any] = {"attribute": attribute, "op": op}
    if value:
        r["value"] = value[0]
    return r


def block(*rows: dict[str, Any], op: str | None = None, root: str | None = None,
          any_: bool = False) -> dict[str, Any]:
    """A query block of rows joined with AND (or OR with any_)."""
    b: dict[str, Any] = {}
    if op:
        b["op"] = op
    if root:
        b["root"] = root
    if rows:
        b["where"] = {"any" if any_ else "all": list(rows)}
    return b


def query(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"blocks": list(blocks)}
