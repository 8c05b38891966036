"""Undoable edits of the project's contacts (rows of the project file, not of the model). No Qt here.

They are FileCommands (designer/file_commands.py): on the document's undo stack like any edit. Each `do` records what it changed: a deletion keeps the contacts' rows and everything that
refers to them (list subscriptions, interactions, static segment members), so that undo puts all of it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update

from app.errors import ModelError
from app.model.project import Project
from app.store import ProjectFile
from app.store import schema as t
from designer.file_commands import FileCommand

_c = t.contacts
EDITABLE = ("first_name", "last_name", "email", "mobile_phone", "city", "country", "consent_level")
_REFERRING: tuple[Table, ...] = (t.contact_lists, t.interactions, t.segment_members)


def full_name(values: Mapping[str, Any]) -> str | None:
    name = " ".join(str(values.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return name or None


class PutContact(FileCommand):
    """Add a contact (`contact_id` None: a new id) or change one's fields."""

    def __init__(self, project_file: ProjectFile, values: Mapping[str, Any], contact_id: int | None = None) -> None:
        unknown = set(values) - set(EDITABLE)
        if unknown:
            raise ModelError(f"not a contact field: {', '.join(sorted(unknown))}")
        name = full_name(values) or values.get("email") or "contact"
        super().__init__(f"Add contact {name}" if contact_id is None else f"Edit contact {name}", project_file)
        self.values = {k: (v.strip() if isinstance(v, str) else v) or None for k, v in values.items()}
        self.contact_id = contact_id
        self._before: dict[str, Any] | None = None

    def do(self, project: Project) -> None:
        self._start(project)
        row = dict(self.values, full_name=full_name(self.values))
        with self.file.connection(write=True) as conn:
            old = None if self.contact_id is None else conn.execute(
                select(*(_c.c[k] for k in row)).where(_c.c.id == self.contact_id)).mappings().first()
            if old is None:  # a new contact (again, on redo: with the id it had)
                if self.contact_id is None:
                    self.contact_id = int(conn.execute(select(func.coalesce(func.max(_c.c.id), 0))).scalar_one()) + 1
                conn.execute(insert(_c).values(id=self.contact_id, created_on=t.utcnow(), **row))
            else:
                conn.execute(update(_c).where(_c.c.id == self.contact_id).values(**row))
        self._before = None if old is None else dict(old)
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        with self.file.connection(write=True) as conn:
            if self._before is None:
                conn.execute(delete(_c).where(_c.c.id == self.contact_id))
            else:
                conn.execute(update(_c).where(_c.c.id == self.contact_id).values(**self._before))
        self._done = False


class RemoveContacts(FileCommand):
    """Delete contacts, with their subscriptions, interactions and static segment memberships."""

    def __init__(self, project_file: ProjectFile, ids: Iterable[int]) -> None:
        self.ids = sorted(set(int(i) for i in ids))
        super().__init__(f"Delete {len(self.ids)} contact{'s' * (len(self.ids) != 1)}", project_file)
        self._rows: list[dict[str, Any]] = []
        self._refs: dict[str, list[dict[str, Any]]] = {}

    def do(self, project: Project) -> None:
        self._start(project)
        with self.file.connection(write=True) as conn:
            self._rows = [dict(r) for r in conn.execute(select(_c).where(_c.c.id.in_(self.ids))).mappings()]
            self._refs = {table.name: [dict(r) for r in conn.execute(
                select(table).where(table.c.contact_id.in_(self.ids))).mappings()] for table in _REFERRING}
            for table in _REFERRING:
                conn.execute(delete(table).where(table.c.contact_id.in_(self.ids)))
            conn.execute(delete(_c).where(_c.c.id.in_(self.ids)))
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        with self.file.connection(write=True) as conn:
            if self._rows:
                conn.execute(insert(_c), self._rows)
            for table in _REFERRING:
                rows = self._refs.get(table.name) or []
                if rows:
                    conn.execute(insert(table), rows)
        self._done = False


def contacts_page(project_file: ProjectFile, search: str = "", limit: int = 500) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` contacts whose name, e-mail or city contains `search` (any case), by id; and how many match."""
    cond: Any = None
    text = search.strip()
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        cond = _c.c.full_name.like(like) | _c.c.email.like(like) | _c.c.city.like(like) | \
            _c.c.first_name.like(like) | _c.c.last_name.like(like)
    cols = (_c.c.id, *(_c.c[k] for k in EDITABLE))
    q = select(*cols).order_by(_c.c.id).limit(limit)
    n = select(func.count()).select_from(_c)
    if cond is not None:
        q, n = q.where(cond), n.where(cond)
    with project_file.connection() as conn:
        return [dict(r) for r in conn.execute(q).mappings()], int(conn.execute(n).scalar_one())


def others_with_email(project_file: ProjectFile, email: str, contact_id: int | None) -> int:
    """How many other contacts have this e-mail address (any case)."""
    q = select(func.count()).select_from(_c).where(_c.c.email == email.strip())
    if contact_id is not None:
        q = q.where(_c.c.id != contact_id)
    with project_file.connection() as conn:
        return int(conn.execute(q).scalar_one())


def contact_row(project_file: ProjectFile, contact_id: int) -> dict[str, Any] | None:
    """A contact's editable fields (None when there is no such contact)."""
    with project_file.connection() as conn:
        row = conn.execute(select(*(_c.c[k] for k in EDITABLE)).where(_c.c.id == contact_id)).mappings().first()
    return dict(row) if row is not None else None
