"""Import real contacts from a CSV file: column mapping, type inference, and a per-row error report.

Columns map to contact attributes by header (name, label or a common synonym, ignoring case and punctuation:
"Address 1: City", "city" and "Town" all map to city), or as the caller says. Other columns become custom
attributes, typed by what they hold (number, date, date-time, true/false, else text), and are declared in the
project settings. Every row is checked (dates, numbers, e-mail addresses, consent levels...) and each problem
is reported with its line. A file with errors imports nothing unless the caller accepts skipping bad rows;
either way the import is one transaction.

Every cell is bounded: at most MAX_CELL characters, no NUL; the standard attributes (names, e-mail address,
phone, city...) are one line, without line breaks, tabs or other control characters (a name goes into an e-mail
header, where a line break would start a header of its own); custom text may span lines. Numbers lie within
app.model.values.MAX_NUMBER either way (a longer integer, say an 18-digit customer id, makes a column text),
dates and date-times from MIN_DATE to MAX_DATE. Messages are one line: cell text is quoted with its control
characters escaped. `ImportReport.first_error` says the first problem as an AudienceError naming the file, the
line and the column.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, func, insert, select

from app.audience.column_store import stamp_paused
from app.audience.bulk import analyze, announce, insert_rows
from app.audience.base import CONTACT_COLUMNS
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS, STANDARD_ATTRIBUTES
from app.model.values import MAX_NUMBER, date_range, in_date_range, printable, shown
from app.store import ProjectFile
from app.store import schema as t

MAX_ERRORS = 1000  # reported in detail; the count goes on
MAX_CELL = 10_000  # characters in one cell
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CHUNK = 5000
SNIFF_BYTES = 64 * 1024
CUSTOM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE = re.compile(r"^\+?[0-9 ().\-/]{6,24}$")
TRUE, FALSE = frozenset({"true", "yes", "y"}), frozenset({"false", "no", "n"})
SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "given name", "forename"),
    "last_name": ("lastname", "surname", "family name"),
    "full_name": ("name", "fullname", "contact name"),
    "email": ("e mail", "email address", "e mail address", "mail"),
    "mobile_phone": ("mobile", "mobile number", "cell", "cell phone", "phone", "phone number"),
    "city": ("town", "address city"),
    "country": ("address 1 country region", "country region", "address country"),
    "time_zone": ("timezone", "tz"),
    "language": ("preferred language", "lang", "locale"),
    "birth_date": ("birthday", "date of birth", "dob", "birthdate"),
    "created_on": ("created", "created at", "creation date", "signup date", "signed up"),
    "consent_level": ("consent",),
    "subscription_lists": ("lists", "subscriptions", "subscription list"),
    "loyalty_tier": ("tier", "loyalty", "loyalty level"),
    "lifetime_value": ("ltv", "clv", "customer lifetime value", "total spent"),
    "last_purchase_date": ("last purchase", "last order date", "last purchased"),
    "account": ("company", "company name", "account name", "organisation", "organization", "employer"),
}
NOT_IMPORTED = frozenset({"account.name"})  # the same as "account"
ACCOUNT_FIELDS = {"account.industry": "industry", "account.size": "size", "account.city": "city"}


@dataclass(frozen=True)
class RowError:
    """One problem in the file: the line it is on (1 is the header), the column, and what is wrong."""

    line: int
    column: str | None
    message: str

    def format(self) -> str:
        column = f", column '{printable(self.column)}'" if self.column else ""
        return f"line {self.line}{column}: {printable(self.message)}"


@dataclass
class ImportReport:
    """What an import did: rows imported, rows with errors (and the errors), how columns were understood."""

    rows_ok: int = 0
    rows_bad: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)  # imported all the same (a shared e-mail address)
    mapping: dict[str, str | None] = field(default_factory=dict)  # column -> attribute (None: not imported)
    new_custom: dict[str, str] = field(default_factory=dict)  # custom attributes declared by this import
    accounts_created: int = 0
    file: str = ""  # the file imported

    @property
    def has_errors(self) -> bool:
        return self.rows_bad > 0

    def first_error(self) -> AudienceError | None:
        """The first problem as one line naming the file, line and column, and how many rows have errors."""
        if not self.errors:
            return None
        more = f" ({self.rows_bad:,} rows have errors)" if self.rows_bad > 1 else ""
        return AudienceError(f"{printable(self.file)}: {self.errors[0].format()}{more}")


def norm(text: str) -> str:
    """A header or label for matching: lower case, words only ("Address 1: City" -> "address 1 city")."""
    return " ".join(re.findall(r"[0-9a-z]+", text.casefold()))


def _auto_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, attr in STANDARD_ATTRIBUTES.items():
        if name not in NOT_IMPORTED:
            names[norm(name)] = name
            names[norm(attr.label)] = name
    for name, words in SYNONYMS.items():
        for w in words:
            names.setdefault(norm(w), name)
    return names


def custom_name(header: str) -> str:
    """A custom attribute name made from a header ("Shoe size (EU)" -> "shoe_size_eu")."""
    name = "_".join(norm(header).split()) or "column"
    return name if not name[0].isdigit() else f"c_{name}"


def _target(value: str, custom: Mapping[str, str]) -> str:
    """What a mapping value names: a standard attribute (by name or label), or a custom attribute."""
    by_name = _auto_names()
    found = value if value in STANDARD_ATTRIBUTES else by_name.get(norm(value))
    if found and found not in NOT_IMPORTED:
        return found
    if found == "account.name":
        return "account"
    if value in custom or CUSTOM_NAME.fullmatch(value):
        return value
    raise AudienceError(f"{shown(value)} is not an attribute; map a column to a contact attribute (e.g. city, email) "
                        "or to a custom attribute name (letters, digits and _)")


def resolve_mapping(header: list[str], mapping: Mapping[str, str | None] | None,
                    custom: Mapping[str, str]) -> dict[str, str | None]:
    """Column -> attribute for every column: the caller's mapping first, then by header, else custom."""
    by_norm = {norm(h): h for h in header}
    given: dict[str, str | None] = {}
    for column, target in (mapping or {}).items():
        real = column if column in header else by_norm.get(norm(column))
        if real is None:
            raise AudienceError(f"the mapping names column {shown(column)}, which the file does not have "
                                f"(columns: {printable(', '.join(header))})")
        given[real] = _target(target, custom) if target else None
    auto = _auto_names()
    result: dict[str, str | None] = {}
    for h in header:
        result[h] = given[h] if h in given else auto.get(norm(h)) or custom_name(h)
    targets = [a for a in result.values() if a]
    twice = sorted({a for a in targets if targets.count(a) > 1})
    if twice:
        cols = [h for h, a in result.items() if a == twice[0]]
        raise AudienceError(f"columns {', '.join(shown(c) for c in cols)} all map to {shown(twice[0])}; map one of "
                            "them elsewhere (or to nothing)")
    return result


# --- reading -----------------------------------------------------------------------------------------------

def _open(path: Path) -> tuple[TextIO, csv.Dialect | type[csv.Dialect]]:
    if not path.exists():
        raise AudienceError(f"{path}: no such file")
    if not path.is_file():
        raise AudienceError(f"{path}: not a file")
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        raise AudienceError(f"{path}: this is a spreadsheet workbook, not CSV; save it as 'CSV UTF-8' first")
    if b"\x00" in head:
        raise AudienceError(f"{path}: not a CSV file (it holds binary data); save it as 'CSV UTF-8'")
    try:
        sample = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the sample
            line = head[:e.start].count(b"\n") + 1
            raise AudienceError(f"{path}: line {line} is not UTF-8 text; save the file as 'CSV UTF-8'") from None
        sample = head[:e.start].decode("utf-8-sig")
    if not sample.strip():
        raise AudienceError(f"{path}: the file is empty")
    try:  # only the separator is guessed (from the header); quoting is always Excel's
        delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], ",;\t|").delimiter
    except csv.Error:
        delimiter = ","

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    return open(path, encoding="utf-8-sig", newline=""), Dialect


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, fields) for every non-blank record; the header first."""
    f, dialect = _open(path)
    with f:
        reader = csv.reader(f, dialect)
        line = 1
        try:
            for fields in reader:
                if fields and any(v.strip() for v in fields):
                    yield line, fields
                line = reader.line_num + 1
        except UnicodeDecodeError:
            raise AudienceError(f"{path}: line {reader.line_num + 1} is not UTF-8 text; save the file as "
                                "'CSV UTF-8'") from None
        except csv.Error as e:
            raise AudienceError(f"{path}: line {reader.line_num}: not valid CSV ({printable(str(e))})") from None


# --- values ------------------------------------------------------------------------------------------------

def _number(text: str) -> float | int:
    if len(text) > 40:
        raise ValueError
    value: float | int = int(text) if re.fullmatch(r"[-+]?[0-9]+", text) else float(text)
    if not math.isfinite(value):
        raise ValueError
    if abs(value) > MAX_NUMBER:
        raise CellError(f"{shown(text)} is out of range (numbers go from -{MAX_NUMBER:,} to {MAX_NUMBER:,})")
    return value


def _in_range(day: date, text: str) -> None:
    if not in_date_range(day):
        raise CellError(f"{shown(text)} is out of range ({date_range()})")


def _date(text: str) -> str:
    if len(text) != 10:
        _fail()
    day = date.fromisoformat(text)
    _in_range(day, text)
    return day.isoformat()


def _datetime(text: str) -> str:
    if len(text) == 10:
        return _date(text) + "T00:00:00"
    if len(text) > 40:
        _fail()
    moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    _in_range(moment.date(), text)  # far enough from year 1 and 9999 for the offset to be taken away
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def _boolean(text: str) -> bool:
    low = text.casefold()
    return True if low in TRUE else False if low in FALSE else _fail()


def _fail() -> Any:
    raise ValueError


class CellError(ValueError):
    """A cell value that is wrong, with the message for the report."""


def infer_type(values: list[str]) -> str:
    """The custom attribute type that fits every (non-empty) value: boolean, number, date, datetime or text
    (a value out of range for a number or a date makes the column text)."""
    for kind, parse in (("boolean", _boolean), ("number", _number), ("date", _date), ("datetime", _datetime)):
        try:
            for v in values:
                parse(v)
        except ValueError:
            continue
        return kind if values else "text"
    return "text"


def _choice(choices: tuple[str, ...], what: str) -> Callable[[str], str]:
    by_norm = {norm(c): c for c in choices}

    def parse(text: str) -> str:
        found = by_norm.get(norm(text))
        if found is None:
            raise CellError(f"{shown(text)} is not {what}; use one of: {', '.join(choices)}")
        return found
    return parse


def _email(text: str) -> str:
    if not EMAIL.fullmatch(text):
        raise CellError(f"{shown(text)} is not an e-mail address")
    return text


def _phone(text: str) -> str:
    if not PHONE.fullmatch(text) or sum(ch.isdigit() for ch in text) < 6:
        raise CellError(f"{shown(text)} is not a phone number")
    return text


def _non_negative(text: str) -> float | int:
    value = _number(text)
    if value < 0:
        raise CellError(f"{printable(text[:40])} is negative; a lifetime value cannot be")
    return value


def _lists(text: str) -> list[str]:
    names: dict[str, str] = {}
    for name in re.split(r"[;|,]", text):
        if name.strip():
            names.setdefault(name.strip().casefold(), name.strip())  # list names ignore case, as the column
    return list(names.values())


_EXPECT = {"number": "a number such as 1234.50", "date": "a date such as 2026-12-31",
           "datetime": "a date-time such as 2026-12-31T09:30 (UTC)", "boolean": "true or false"}
_PARSERS: dict[str, Callable[[str], Any]] = {"number": _number, "date": _date, "datetime": _datetime,
                                             "boolean": _boolean, "text": str}
_STANDARD: dict[str, Callable[[str], Any]] = {
    "email": _email, "mobile_phone": _phone, "birth_date": _date, "last_purchase_date": _date,
    "created_on": _datetime, "lifetime_value": _non_negative, "subscription_lists": _lists,
    "consent_level": _choice(CONSENT_LEVELS, "a consent level"),
    "loyalty_tier": _choice(LOYALTY_TIERS, "a loyalty tier"), "account.size": _number,
}


def _parse(attribute: str, kind: str, text: str) -> Any:
    """The stored value of a cell; ValueError with a message for the report."""
    if len(text) > MAX_CELL:
        raise CellError(f"the value is {len(text):,} characters long; a cell holds at most {MAX_CELL:,}")
    if "\x00" in text:
        raise CellError(f"{shown(text)} holds a NUL character")
    if attribute in STANDARD_ATTRIBUTES and _CONTROL.search(text):
        raise CellError(f"{shown(text)} holds a line break, a tab or another control character; "
                        f"{STANDARD_ATTRIBUTES[attribute].label.lower()} is one line of text")
    parse = _STANDARD.get(attribute) or _PARSERS.get(kind, str)
    try:
        return parse(text)
    except CellError:
        raise
    except (ValueError, OverflowError):
        raise CellError(f"{shown(text)} is not {_EXPECT.get(kind, 'valid')}") from None


# --- importing ---------------------------------------------------------------------------------------------

class _Rollback(Exception):
    """Raised inside the transaction to undo an import that found errors."""


def import_contacts(pf: ProjectFile, path: str | Path, mapping: Mapping[str, str | None] | None = None,
                    skip_bad_rows: bool = False, *, now: datetime | None = None) -> ImportReport:
    """Import contacts from a CSV file into the project (see the module doc); returns the report.

    `mapping` maps columns to attributes (None or "" leaves a column out) and wins over the headers. With
    errors and not `skip_bad_rows`, nothing is imported and the report says why.
    """
    path = Path(path)
    if pf.readonly:
        raise AudienceError(f"{pf.path}: cannot import contacts: {pf.readonly_reason}")
    custom = dict(pf.project.settings.custom_attributes or {})
    records = _records(path)
    header_line = next(records, None)
    if header_line is None:
        raise AudienceError(f"{path}: the file is empty")
    header = [h.strip() for h in header_line[1]]
    for i, h in enumerate(header):
        if not h:
            raise AudienceError(f"{path}: column {i + 1} has no header; name every column in the first line")
    seen = {norm(h) for h in header}
    if len(seen) != len(header):
        raise AudienceError(f"{path}: the header names a column twice; give every column its own name")
    report = ImportReport(mapping=resolve_mapping(header, mapping, custom), file=str(path))
    kinds = _kinds(path, header, report, custom)
    announce("checking and writing the rows")
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    try:
        with pf.connection(write=True) as conn, stamp_paused(conn.connection.driver_connection):
            # (the audience stamp moves once for the whole import, not once per row)
            _Importer(conn, header, report, kinds, moment).run(records)
            if report.has_errors and not skip_bad_rows:
                raise _Rollback
            if report.imported >= 10_000:
                announce("gathering statistics for segment counts")
                analyze(conn)
            announce("saving the project file")
    except _Rollback:
        report.imported = report.accounts_created = 0
        return report
    if report.new_custom and report.imported:
        pf.project.update_settings(custom_attributes={**custom, **report.new_custom})
    return report


def _kinds(path: Path, header: list[str], report: ImportReport, custom: dict[str, str]) -> dict[str, str]:
    """Attribute -> value type for every mapped column; new custom columns are typed from a first pass."""
    kinds: dict[str, str] = {}
    new: list[int] = []
    for i, h in enumerate(header):
        a = report.mapping[h]
        if a is None:
            continue
        if a in STANDARD_ATTRIBUTES:
            kinds[a] = STANDARD_ATTRIBUTES[a].type
        elif a in custom:
            kinds[a] = custom[a] if custom[a] in _PARSERS else "text"
        else:
            new.append(i)
    if new:
        announce("reading the file for the new columns' types")
        values: dict[int, list[str]] = {i: [] for i in new}
        records = _records(path)
        next(records, None)
        for _, fields in records:
            for i in new:
                if i < len(fields) and fields[i].strip():
                    values[i].append(fields[i].strip())
        for i in new:
            name = report.mapping[header[i]]
            assert name is not None
            kinds[name] = report.new_custom[name] = infer_type(values[i])
    return kinds


class _Importer:
    """Checks and converts rows, and writes the good ones in chunks (inside the caller's transaction)."""

    def __init__(self, conn: Connection, header: list[str], report: ImportReport, kinds: dict[str, str],
                 moment: datetime) -> None:
        self.conn, self.header, self.report, self.kinds = conn, header, report, kinds
        self.created = moment.isoformat(timespec="seconds")
        self.next_id = int(conn.execute(select(func.coalesce(func.max(t.contacts.c.id), 0))).scalar_one()) + 1
        self.accounts: dict[str, int] = {}
        self.emails: dict[str, int] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.lists: list[tuple[int, str]] = []

    def error(self, line: int, column: str | None, message: str) -> None:
        if len(self.report.errors) < MAX_ERRORS:
            self.report.errors.append(RowError(line, column, message))

    def warn(self, line: int, column: str | None, message: str) -> None:
        if len(self.report.warnings) < MAX_ERRORS:
            self.report.warnings.append(RowError(line, column, message))

    def run(self, records: Iterator[tuple[int, list[str]]]) -> None:
        for line, fields in records:
            values = self.check(line, fields)
            if values is None:
                self.report.rows_bad += 1
                continue
            self.report.rows_ok += 1
            self.add(values)
            if len(self.rows) >= CHUNK:
                self.flush()
        self.flush()

    def check(self, line: int, fields: list[str]) -> dict[str, Any] | None:
        """The row's values by attribute, or None after reporting what is wrong with it."""
        if len(fields) != len(self.header):
            self.error(line, None, f"it has {len(fields)} fields but the header has {len(self.header)}")
            return None
        values: dict[str, Any] = {}
        ok = True
        for h, text in zip(self.header, fields):
            attribute = self.report.mapping[h]
            text = text.strip()
            if attribute is None or not text:
                continue
            try:
                values[attribute] = _parse(attribute, self.kinds[attribute], text)
            except ValueError as e:
                self.error(line, h, str(e))
                ok = False
        email = values.get("email")
        if isinstance(email, str):  # several contacts may share an address (seed 004 makes two with one): said
            first = self.emails.setdefault(email.casefold(), line)
            if first != line:
                self.warn(line, None, f"the e-mail address {email} is also on line {first}; both are imported "
                                      "as contacts of their own")
        return values if ok else None

    def account_id(self, values: dict[str, Any]) -> int | None:
        name = values.get("account")
        if not name:
            return None
        key = str(name).casefold()
        if key not in self.accounts:
            a = t.accounts
            found = self.conn.execute(select(a.c.id).where(a.c.name == name).limit(1)).scalar()
            if found is None:
                extra = {col: values.get(attr) for attr, col in ACCOUNT_FIELDS.items()}
                found = self.conn.execute(insert(a).values(name=name, **extra).returning(a.c.id)).scalar_one()
                self.report.accounts_created += 1
            self.accounts[key] = int(found)
        return self.accounts[key]

    def add(self, v: dict[str, Any]) -> None:
        cid = self.next_id
        self.next_id += 1
        first, last, full = v.get("first_name"), v.get("last_name"), v.get("full_name")
        if full is None and (first or last):
            full = " ".join(p for p in (first, last) if p)
        elif full is not None and first is None and last is None and " " in full:
            first, last = full.rsplit(" ", 1)
        standard = {**v, "id": cid, "first_name": first, "last_name": last, "full_name": full,
                    "created_on": v.get("created_on") or self.created, "account_id": self.account_id(v),
                    "engagement": None}
        custom = {k: val for k, val in v.items() if k not in STANDARD_ATTRIBUTES}
        self.rows.append(tuple(standard.get(c) for c in CONTACT_COLUMNS)
                         + (json.dumps(custom, ensure_ascii=False) if custom else None,))
        self.lists += [(cid, name) for name in v.get("subscription_lists") or ()]

    def flush(self) -> None:
        if self.rows:
            self.report.imported += insert_rows(self.conn, t.contacts, CONTACT_COLUMNS + ("custom",), self.rows)
            insert_rows(self.conn, t.contact_lists, ("contact_id", "list"), self.lists)
            announce(f"checking and writing the rows: {self.report.rows_ok + self.report.rows_bad:,} read")
        self.rows, self.lists = [], []


__all__ = ["ImportReport", "RowError", "custom_name", "import_contacts", "infer_type", "norm", "resolve_mapping"]
