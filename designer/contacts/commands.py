"""Undoable edits of the project's contacts and accounts (rows of the project file, not of the model). No Qt here.

They are FileCommands (designer/file_commands.py): on the document's undo stack like any edit. Each `do` records
what it changed: a deletion keeps the rows and everything that refers to them (a contact's list subscriptions,
interactions and static segment members; an account's contacts), so that undo puts all of it back.

The lists read a page at a time (`Listing.rows`: by id, after the last id shown), so that a view of 100,000
contacts costs what a view of 500 does until it is scrolled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from app.errors import ModelError
from app.model.project import Project
from app.store import ProjectFile
from app.store import schema as t
from designer.file_commands import FileCommand

_c, _a = t.contacts, t.accounts
EDITABLE = ("first_name", "last_name", "email", "mobile_phone", "city", "country", "consent_level")
CONTACT_FIELDS = (*EDITABLE, "account_id")  # what PutContact changes (account_id: an account's id, or None)
ACCOUNT_FIELDS = ("name", "industry", "size", "city")
MAX_TEXT = 200  # characters of a text field
MAX_SIZE = 10_000_000  # employees of an account
_REFERRING: tuple[Table, ...] = (t.contact_lists, t.interactions, t.segment_members)


def full_name(values: Mapping[str, Any]) -> str | None:
    name = " ".join(str(values.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return name or None


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _check_account_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"an account id is a whole number, not {value!r}")
    return value


class PutContact(FileCommand):
    """Add a contact (`contact_id` None: a new id) or change one's fields (those in `values`, of CONTACT_FIELDS)."""

    def __init__(self, project_file: ProjectFile, values: Mapping[str, Any], contact_id: int | None = None) -> None:
        unknown = set(values) - set(CONTACT_FIELDS)
        if unknown:
            raise ModelError(f"not a contact field: {', '.join(sorted(unknown))}")
        name = full_name(values) or values.get("email") or "contact"
        super().__init__(f"Add contact {name}" if contact_id is None else f"Edit contact {name}", project_file)
        self.values = {k: _check_account_id(v) if k == "account_id" else
                       (v.strip() if isinstance(v, str) else v) or None for k, v in values.items()}
        self.contact_id = contact_id
        self._before: dict[str, Any] | None = None

    def do(self, project: Project) -> None:
        self._start(project)
        with self.file.connection(write=True) as conn:
            account = self.values.get("account_id")
            if account is not None and conn.execute(select(_a.c.id).where(_a.c.id == account)).first() is None:
                raise ModelError(f"there is no account {account} (deleted meanwhile?)")
            keys = dict.fromkeys((*self.values, "first_name", "last_name", "full_name"))
            old = None if self.contact_id is None else conn.execute(
                select(*(_c.c[k] for k in keys)).where(_c.c.id == self.contact_id)).mappings().first()
            # the full name of the contact as it will be (a change of the first name alone keeps the last name)
            row = dict(self.values, full_name=full_name({**(old or {}), **self.values}))
            if old is None:  # a new contact (again, on redo: with the id it had)
                if self.contact_id is None:
                    self.contact_id = int(conn.execute(select(func.coalesce(func.max(_c.c.id), 0))).scalar_one()) + 1
                conn.execute(insert(_c).values(id=self.contact_id, created_on=t.utcnow(), **row))
            else:
                conn.execute(update(_c).where(_c.c.id == self.contact_id).values(**row))
        self._before = None if old is None else {k: old[k] for k in row}
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


# --- accounts -------------------------------------------------------------------------------------------------
def account_values(values: Mapping[str, Any], *, new: bool) -> dict[str, Any]:
    """An account's fields, checked and tidied (text stripped, empty as None); ModelError says what is wrong."""
    unknown = set(values) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ModelError(f"not an account field: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "size":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= MAX_SIZE):
                raise ModelError(f"an account's size is a whole number of employees from 0 to {MAX_SIZE:,}, "
                                 f"not {value!r}")
            out[key] = value
            continue
        if value is not None and not isinstance(value, str):
            raise ModelError(f"an account's {key} is text, not {value!r}")
        text = (value or "").strip()
        if len(text) > MAX_TEXT or "\x00" in text:
            raise ModelError(f"an account's {key} is at most {MAX_TEXT} characters, with no NUL character")
        out[key] = text or None
    if (new or "name" in out) and not out.get("name"):
        raise ModelError("an account needs a name")
    return out


class PutAccount(FileCommand):
    """Add an account (`account_id` None: a new id) or change one's fields (those in `values`, of ACCOUNT_FIELDS)."""

    def __init__(self, project_file: ProjectFile, values: Mapping[str, Any], account_id: int | None = None) -> None:
        self.values = account_values(values, new=account_id is None)
        name = self.values.get("name") or f"#{account_id}"
        super().__init__(f"Add account {name}" if account_id is None else f"Edit account {name}", project_file)
        self.account_id = account_id
        self._created = account_id is None  # whether `do` inserts the row (again, on redo: with the id it had)
        self._before: dict[str, Any] | None = None

    def do(self, project: Project) -> None:
        self._start(project)
        with self.file.connection(write=True) as conn:
            if self._created:
                if self.account_id is None:
                    self.account_id = int(conn.execute(select(func.coalesce(func.max(_a.c.id), 0))).scalar_one()) + 1
                conn.execute(insert(_a).values(id=self.account_id, **self.values))
                self._before = None
            else:
                old = conn.execute(select(*(_a.c[k] for k in self.values)).where(
                    _a.c.id == self.account_id)).mappings().first()
                if old is None:
                    raise ModelError(f"there is no account {self.account_id} (deleted meanwhile?)")
                if self.values:
                    conn.execute(update(_a).where(_a.c.id == self.account_id).values(**self.values))
                self._before = dict(old)
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        with self.file.connection(write=True) as conn:
            if self._created:  # no contact can point at it: linking one was a later edit, undone before this
                conn.execute(delete(_a).where(_a.c.id == self.account_id))
            elif self._before:
                conn.execute(update(_a).where(_a.c.id == self.account_id).values(**self._before))
        self._done = False


class RemoveAccounts(FileCommand):
    """Delete accounts; their contacts stay, with no account (undo links them again)."""

    def __init__(self, project_file: ProjectFile, ids: Iterable[int]) -> None:
        self.ids = sorted(set(int(i) for i in ids))
        super().__init__(f"Delete {len(self.ids)} account{'s' * (len(self.ids) != 1)}", project_file)
        self._rows: list[dict[str, Any]] = []
        self._links: list[dict[str, int]] = []  # {"cid": contact id, "aid": account id}

    def do(self, project: Project) -> None:
        self._start(project)
        with self.file.connection(write=True) as conn:
            self._rows = [dict(r) for r in conn.execute(select(_a).where(_a.c.id.in_(self.ids))).mappings()]
            self._links = [{"cid": int(cid), "aid": int(aid)} for cid, aid in conn.execute(
                select(_c.c.id, _c.c.account_id).where(_c.c.account_id.in_(self.ids)))]
            # explicitly, whether or not the connection enforces the foreign key's ON DELETE SET NULL
            conn.execute(update(_c).where(_c.c.account_id.in_(self.ids)).values(account_id=None))
            conn.execute(delete(_a).where(_a.c.id.in_(self.ids)))
        self._done = True

    def undo(self, project: Project) -> None:
        self._finish_undo()
        with self.file.connection(write=True) as conn:
            if self._rows:
                conn.execute(insert(_a), self._rows)
            if self._links:
                conn.execute(update(_c).where(_c.c.id == bindparam("cid")).values(account_id=bindparam("aid")),
                             self._links)
        self._done = False


# --- reading, a page at a time ----------------------------------------------------------------------------------
# Searches use LIKE through `contains(..., autoescape=True)`: % and _ typed are plain characters, not wildcards.
def _contacts_match(text: str) -> Any:
    accounts = select(_a.c.id).where(_a.c.name.contains(text, autoescape=True))
    return (_c.c.full_name.contains(text, autoescape=True) | _c.c.email.contains(text, autoescape=True)
            | _c.c.city.contains(text, autoescape=True) | _c.c.first_name.contains(text, autoescape=True)
            | _c.c.last_name.contains(text, autoescape=True) | _c.c.account_id.in_(accounts))


def _contacts_select() -> Any:
    return select(_c.c.id, *(_c.c[k] for k in EDITABLE), _c.c.account_id, _a.c.name.label("account")) \
        .select_from(_c.outerjoin(_a, _a.c.id == _c.c.account_id))


def _accounts_match(text: str) -> Any:
    return (_a.c.name.contains(text, autoescape=True) | _a.c.industry.contains(text, autoescape=True)
            | _a.c.city.contains(text, autoescape=True))


def _accounts_select() -> Any:
    members = select(func.count()).select_from(_c).where(_c.c.account_id == _a.c.id).scalar_subquery()
    return select(_a.c.id, *(_a.c[k] for k in ACCOUNT_FIELDS), members.label("contacts"))


@dataclass(frozen=True)
class Listing:
    """One table as a list shows it: rows by id a page at a time, a search, how many rows there are."""

    noun: str  # "contact": what a row is
    table: Table
    fields: tuple[str, ...]  # the keys of a row's columns after its id
    _select: Callable[[], Any]
    _match: Callable[[str], Any]

    def rows(self, project_file: ProjectFile, search: str = "", after: int = 0,
             limit: int = 500) -> list[dict[str, Any]]:
        """Up to `limit` rows with an id above `after` that match `search` (any case), by id."""
        q = self._select().where(self.table.c.id > after).order_by(self.table.c.id).limit(max(0, limit))
        if search.strip():
            q = q.where(self._match(search.strip()))
        with project_file.connection() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def count(self, project_file: ProjectFile, search: str = "") -> int:
        """How many rows match `search` (all of them when it is empty)."""
        q = select(func.count()).select_from(self.table)
        if search.strip():
            q = q.where(self._match(search.strip()))
        with project_file.connection() as conn:
            return int(conn.execute(q).scalar_one())

    def count_text(self, matches: int, total: int, search: str = "") -> str:
        """'12,000 contacts', or when searching '3 of 12,000 contacts match'."""
        if not search.strip():
            return _plural(total, self.noun)
        return f"{matches:,} of {_plural(total, self.noun)} match{'es' * (matches == 1)}"


CONTACTS = Listing("contact", _c, (*EDITABLE, "account"), _contacts_select, _contacts_match)
ACCOUNTS = Listing("account", _a, (*ACCOUNT_FIELDS, "contacts"), _accounts_select, _accounts_match)


def contacts_page(project_file: ProjectFile, search: str = "", limit: int = 500,
                  after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` contacts after id `after` whose name, e-mail, city or account's name contains `search` (any
    case), by id; and how many match."""
    return CONTACTS.rows(project_file, search, after, limit), CONTACTS.count(project_file, search)


def accounts_page(project_file: ProjectFile, search: str = "", limit: int = 500,
                  after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` accounts after id `after` whose name, industry or city contains `search` (any case), by id,
    each with how many contacts it has; and how many match."""
    return ACCOUNTS.rows(project_file, search, after, limit), ACCOUNTS.count(project_file, search)


def others_with_email(project_file: ProjectFile, email: str, contact_id: int | None) -> int:
    """How many other contacts have this e-mail address (any case)."""
    q = select(func.count()).select_from(_c).where(_c.c.email == email.strip())
    if contact_id is not None:
        q = q.where(_c.c.id != contact_id)
    with project_file.connection() as conn:
        return int(conn.execute(q).scalar_one())


def contact_row(project_file: ProjectFile, contact_id: int) -> dict[str, Any] | None:
    """A contact's fields that PutContact changes (None when there is no such contact)."""
    with project_file.connection() as conn:
        row = conn.execute(select(*(_c.c[k] for k in CONTACT_FIELDS)).where(
            _c.c.id == contact_id)).mappings().first()
    return dict(row) if row is not None else None


def account_row(project_file: ProjectFile, account_id: int) -> dict[str, Any] | None:
    """An account's fields (None when there is no such account)."""
    with project_file.connection() as conn:
        row = conn.execute(select(*(_a.c[k] for k in ACCOUNT_FIELDS)).where(_a.c.id == account_id)).mappings().first()
    return dict(row) if row is not None else None


def account_choices(project_file: ProjectFile) -> list[tuple[int, str]]:
    """Every account as (id, label) by name: the label is the name, 'Name (id)' when another has that name."""
    with project_file.connection() as conn:
        rows = [(int(i), str(n)) for i, n in conn.execute(select(_a.c.id, _a.c.name).order_by(_a.c.name, _a.c.id))]
    seen: dict[str, int] = {}
    for _i, name in rows:
        seen[name.casefold()] = seen.get(name.casefold(), 0) + 1
    return [(i, f"{name} ({i})" if seen[name.casefold()] > 1 else name) for i, name in rows]
