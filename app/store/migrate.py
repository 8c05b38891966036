"""Schema revisions of project files: Alembic, configured in code, run on a connection we pass in.

Revision ids are the zero-padded schema numbers ("0001" is schema 1) and each revision sets
`PRAGMA user_version` to its number, so the schema number can be read from the file header without Alembic.
Alembic itself is imported only when a file must be created or migrated (it costs ~0.2 s to import).

To add a revision: write `migrations/versions/000N_<what>.py` (down_revision = the previous id; end with
`op.execute("PRAGMA user_version = N")`), update `schema.py`, and bump HEAD_REVISION and SCHEMA_VERSION.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0004"
SCHEMA_VERSION = 4


def schema_number(revision: str | None) -> int:
    """The schema number of a revision id ("0003" -> 3); 0 for no revision, -1 for an id that is no number."""
    if revision is None:
        return 0
    return int(revision) if revision.isdigit() else -1


def make_config(connection: Connection | None = None, script_location: Path | None = None) -> Config:
    """An Alembic Config built in code (no alembic.ini); `connection` reaches env.py via `attributes`."""
    from alembic.config import Config

    cfg = Config()
    location = str(script_location or SCRIPT_LOCATION)
    cfg.set_main_option("script_location", location.replace("%", "%%"))  # configparser interpolation
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def known_revisions(script_location: Path | None = None) -> frozenset[str]:
    """Every revision id this version of Journey Studio has a migration for."""
    return _known_revisions(script_location or SCRIPT_LOCATION)


@lru_cache(maxsize=8)
def _known_revisions(script_location: Path) -> frozenset[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(make_config(script_location=script_location))
    return frozenset(rev.revision for rev in script.walk_revisions())


def script_head(script_location: Path | None = None) -> str:
    """The head revision according to the migration scripts (a test checks it equals HEAD_REVISION)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(make_config(script_location=script_location or SCRIPT_LOCATION))
    head = script.get_current_head()
    assert head is not None
    return head


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database on `connection` to `revision`, inside the caller's transaction."""
    from alembic import command

    command.upgrade(make_config(connection), revision)


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the file's alembic_version table (None if there is none)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
