"""When a project file's pages are checked in full, the check itself, and a salvage copy of a damaged file.

Reading every page of a large project (`PRAGMA integrity_check`) takes seconds, so an ordinary open does not:
it checks the header (the page count must match the file's size) and reads the schema. The full check runs
when there is a reason to doubt the pages:

- the file was not closed cleanly (its write lock's sidecar was left behind by a process that stopped);
- the file is not the one Journey Studio last closed on this computer (size, modification time and inode
  differ from what was recorded at the last clean close: another program, a copy, a disk error), or it was
  never closed here;
- on request (`journey-studio check`).

A file that fails is opened read-only with a line saying why; `repair` copies what can be read into a new file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ProjectFileError

RECORD_NAME = "closed-cleanly.json"
RECORD_MAX = 200  # files remembered (the most recently closed)
RECORD_BYTES_MAX = 256_000
PROBLEMS_MAX = 10
UNCLEAN = "it was not closed cleanly (the program writing it stopped)"
UNKNOWN = "it has not been checked on this computer since it last changed"


def _record_file() -> Path:
    from app.userdirs import data_dir
    return data_dir() / RECORD_NAME


def fingerprint(path: Path) -> list[int]:
    """What identifies the file's bytes as they were left: size, modification time (ns) and inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_record() -> dict[str, Any]:
    try:
        f = _record_file()
        if f.stat().st_size > RECORD_BYTES_MAX:
            return {}
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_clean_close(path: Path) -> None:
    """Remember the file as Journey Studio leaves it (best effort: a record that cannot be written only means
    a full check the next time)."""
    try:
        key, value = str(path.resolve()), fingerprint(path)
        data = _read_record()
        data.pop(key, None)
        data[key] = value
        while len(data) > RECORD_MAX:
            data.pop(next(iter(data)))
        target = _record_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


def forget(path: Path) -> None:
    """Drop the record of a file (it failed its check, or was replaced)."""
    try:
        data = _read_record()
        if data.pop(str(path.resolve()), None) is not None:
            target = _record_file()
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, target)
    except OSError:
        pass


def doubt(path: Path, *, unclean: bool) -> str | None:
    """Why the file's pages should be checked in full before it is written to (None: no reason)."""
    if unclean:
        return UNCLEAN
    try:
        known = _read_record().get(str(path.resolve()))
        return None if known == fingerprint(path) else UNKNOWN
    except OSError:
        return UNKNOWN


def full_check(path: Path) -> list[str]:
    """Every page read and checked (`PRAGMA integrity_check`): the problems found, [] when the file is sound."""
    from app.store.opening import connect_readonly
    try:
        con = connect_readonly(path)
    except sqlite3.Error as e:
        return [str(e).splitlines()[0] if str(e) else type(e).__name__]
    try:
        rows = [str(r[0]) for r in con.execute(f"PRAGMA integrity_check({PROBLEMS_MAX})")]
    except sqlite3.Error as e:
        return [str(e).splitlines()[0] if str(e) else type(e).__name__]
    finally:
        con.close()
    return [] if rows == ["ok"] else rows


def damage_reason(problems: list[str]) -> str:
    """The read-only reason for a file that failed its check."""
    first = problems[0].splitlines()[0][:200] if problems else "unknown damage"
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    return (f"it is damaged (the full check found: {first}{more}); nothing was written to it. Run "
            f"'journey-studio repair' to copy what can be read into a new file")


@dataclass
class RepairReport:
    """What a repair copied: per table, rows copied and rows that could not be read."""

    copied: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    unreadable_tables: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not any(self.lost.values()) and not self.unreadable_tables

    def lines(self) -> list[str]:
        out = [f"{name}: {n:,} rows copied" + (f", {self.lost[name]:,} could not be read" if self.lost.get(name)
                                                else "") for name, n in self.copied.items() if n or self.lost.get(name)]
        out += [f"{name}: could not be read at all" for name in self.unreadable_tables]
        return out


_CHUNK = 512


def _rows(con: sqlite3.Connection, table: str, columns: list[str], lo: int, hi: int,
          report: RepairReport) -> list[tuple[Any, ...]]:
    """Rows of rowid in [lo, hi): read in one go, or split until the unreadable ones are isolated.

    The range is read from both ends (rowid up from `lo`, and down from `hi`): a damaged page can hold a cell
    whose garbage rowid lies past the range, which ends a walk through it without an error, so one walk would
    silently leave out every row after the damage; the other walk reads those from the far side."""
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'SELECT rowid, {cols} FROM "{table}" WHERE rowid >= ? AND rowid < ? ORDER BY rowid'
    try:
        up = con.execute(sql, (lo, hi)).fetchall()
        down = con.execute(sql + " DESC", (lo, hi)).fetchall()
        rows: dict[int, tuple[Any, ...]] = {}
        for row in (*up, *down):
            rows.setdefault(row[0], row[1:])
        return [rows[rowid] for rowid in sorted(rows)]
    except sqlite3.DatabaseError:
        if hi - lo <= 1:
            report.lost[table] = report.lost.get(table, 0) + 1
            return []
        mid = (lo + hi) // 2
        return _rows(con, table, columns, lo, mid, report) + _rows(con, table, columns, mid, hi, report)


def repair(source: Path, target: Path) -> RepairReport:
    """Copy what can be read of a damaged project into a new project file `target` (which must not exist):
    the current schema, then each table's readable rows; rows on damaged pages are counted as lost."""
    from app.store.opening import check_header, connect_readonly, inspect_schema
    from app.store.project_file import ProjectFile

    if target.exists():
        raise ProjectFileError(f"{target} already exists: give a new file for the repaired copy")
    check_header(source)
    try:
        inspect_schema(source, may_write=False)
    except ProjectFileError as e:
        if "newer version" in str(e):
            raise
    ProjectFile.create(target).close()
    report = RepairReport()
    src = connect_readonly(source)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        tables = [r[0] for r in dst.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT IN ('alembic_version', 'audience_columns', 'audience_stamp')")]
        # (the audience's kept columns are not copied: rows on damaged pages may be lost, so the copy's columns
        # are read from its own rows when first needed; the copy keeps its own stamp)
        dst.execute("PRAGMA foreign_keys = OFF")
        dst.execute("BEGIN")
        for table in tables:
            columns = [r[1] for r in dst.execute(f'PRAGMA table_info("{table}")')]
            try:
                src_cols = {r[1] for r in src.execute(f'PRAGMA table_info("{table}")')}
                bounds = src.execute(f'SELECT min(rowid), max(rowid) FROM "{table}"').fetchone()
            except sqlite3.DatabaseError:
                report.unreadable_tables.append(table)
                continue
            columns = [c for c in columns if c in src_cols]
            report.copied[table] = 0
            if not columns or bounds is None or bounds[0] is None:
                continue
            dst.execute(f'DELETE FROM "{table}"')  # the new file's own rows (its project row) give way
            lo, hi = int(bounds[0]), int(bounds[1]) + 1
            marks = ", ".join("?" for _ in columns)
            names = ", ".join(f'"{c}"' for c in columns)
            for start in range(lo, hi, _CHUNK):
                rows = _rows(src, table, columns, start, min(hi, start + _CHUNK), report)
                if rows:
                    dst.executemany(f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({marks})', rows)
                    report.copied[table] += len(rows)
        dst.execute("COMMIT")
    except BaseException:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        dst.close()
        src.close()
        target.unlink(missing_ok=True)
        raise
    dst.close()
    src.close()
    problems = full_check(target)
    if problems:  # pragma: no cover - a fresh file written by SQLite itself
        raise ProjectFileError(f"{target}: the repaired copy did not pass its check: {problems[0]}")
    record_clean_close(target)
    return report
