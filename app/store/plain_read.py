"""A project read from its file with the standard library's sqlite3 alone, for commands that only read it
(`journey-studio validate`): the same checks as `ProjectFile.open(path, readonly=True, check="never")` and the
same Project, without importing SQLAlchemy (about 0.3-0.5 s of a short command's time).

The file is refused as ProjectFile refuses it: not a project, damaged (in one line), saved by a newer version, or
of an older schema (upgrading it is a write). Tables and columns come from app.store.plain_schema, the rows are
decoded by app.store.decoding, as ProjectFile's are; tests/test_plain_read.py checks that both give the same.
"""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple
from pathlib import Path
from typing import Any

from app import APP_NAME
from app.errors import ProjectFileError, one_line
from app.model.project import Project
from app.store.decoding import project_from_rows
from app.store.opening import check_header, connect_readonly, inspect_schema, sqlite_error
from app.store.plain_schema import PROJECT_TABLES

ORDER = {"steps": "journey_id, ord", "journeys": "created_at, name", "content": "name", "segments": "name"}
"""How load_project orders each table's rows."""


def _rows(con: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> list[Any]:
    """Every row of `table`, its values as stored (JSON and time stamps as their text), read by attribute."""
    order = f" ORDER BY {ORDER[table]}" if table in ORDER else ""
    names = ", ".join(f'"{c}"' for c in columns)
    row = namedtuple(f"{table}_row", columns)  # type: ignore[misc]
    return [row._make(r) for r in con.execute(f'SELECT {names} FROM "{table}"{order}')]


def read_project(path: str | os.PathLike[str]) -> Project:
    """The project in the file at `path`, read once; the file is never written (a read-only connection)."""
    path = Path(path)
    check_header(path)
    state = inspect_schema(path, may_write=False)
    if not state.current:
        raise ProjectFileError(f"{path} uses schema {state.user_version} of an older {APP_NAME} and must be "
                               "upgraded, which cannot be done while it was opened read-only")
    try:
        con = connect_readonly(path)
        try:
            con.execute("PRAGMA query_only = ON")
            con.execute("BEGIN")  # one snapshot: a writer in another process cannot change it between tables
            rows = {table: _rows(con, table, columns) for table, columns in PROJECT_TABLES.items()
                    if table != "project"}
            head = _rows(con, "project", ("name", "settings"))
            con.execute("COMMIT")
        finally:
            con.close()
    except sqlite3.Error as e:
        raise sqlite_error(path, e) from None
    try:
        return project_from_rows(path, head, rows["steps"], rows["journeys"], rows["content"], rows["segments"])
    except ProjectFileError:
        raise
    except Exception as e:
        raise ProjectFileError(f"{path} cannot be read: {one_line(e)}") from None
