"""Schema revisions of project files: head on creation, idempotent upgrade, migration on open, refusal of
newer files, and the migrations matching the SQLAlchemy tables."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from app.errors import ProjectFileError
from app.model.journey import Journey, Step
from app.model.project import Project
from app.store import APPLICATION_ID, ProjectFile, migrate
from app.store.opening import make_engine
from app.store import schema
from app.store.schema import metadata


def _make(path: Path) -> Path:
    project = Project("Migrated")
    j = Journey("j1", "One")
    j.add_step(Step("bye", "exit", props={"reason": "done"}))
    project.add_journey(j)
    ProjectFile.create(path, project=project).close()
    return path


def _pragmas(path: Path) -> tuple[int, int, list[str]]:
    with sqlite3.connect(path) as con:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        user_version = con.execute("PRAGMA user_version").fetchone()[0]
        revisions = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
    con.close()
    return app_id, user_version, revisions


def test_head_constants_match_the_scripts() -> None:
    assert migrate.script_head() == migrate.HEAD_REVISION
    assert migrate.schema_number(migrate.HEAD_REVISION) == migrate.SCHEMA_VERSION
    assert migrate.HEAD_REVISION in migrate.known_revisions()


def test_migration_files_are_found_from_the_package() -> None:
    assert (migrate.SCRIPT_LOCATION / "env.py").is_file()
    assert (migrate.SCRIPT_LOCATION / "versions" / "0001_initial.py").is_file()


def test_created_file_is_at_head(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    assert _pragmas(path) == (APPLICATION_ID, migrate.SCHEMA_VERSION, [migrate.HEAD_REVISION])
    with ProjectFile.open(path) as f:
        assert f.schema_version() == migrate.SCHEMA_VERSION


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    engine = make_engine(path, readonly=False)
    try:
        with engine.connect() as conn:
            for _ in range(2):
                with conn.begin():
                    migrate.upgrade(conn)
            with conn.begin():
                assert migrate.current_revision(conn) == migrate.HEAD_REVISION
    finally:
        engine.dispose()
    assert _pragmas(path) == (APPLICATION_ID, migrate.SCHEMA_VERSION, [migrate.HEAD_REVISION])
    with ProjectFile.open(path) as f:
        assert f.project.journey("One").step("bye").props == {"reason": "done"}


def test_migrations_produce_the_metadata_schema(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    engine = make_engine(path, readonly=True)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            tables = set(insp.get_table_names()) - {"alembic_version"}
            assert tables == set(metadata.tables)
            for name, table in metadata.tables.items():
                assert [c["name"] for c in insp.get_columns(name)] == [c.name for c in table.columns]
                assert ({i["name"] for i in insp.get_indexes(name)}
                        == {i.name for i in table.indexes})
                assert (insp.get_pk_constraint(name)["constrained_columns"]
                        == [c.name for c in table.primary_key.columns])
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diff == []
    finally:
        engine.dispose()


def test_newer_revision_is_refused_and_the_file_untouched(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    newer = migrate.SCHEMA_VERSION + 1
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = ?", (f"{newer:04d}",))
        con.execute(f"PRAGMA user_version = {newer}")
    con.close()
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(ProjectFileError, match=rf"saved by a newer version of Journey Studio than this one .*"
                                                   rf"\(file format {newer}; this version reads up to "
                                                   rf"{migrate.SCHEMA_VERSION}\)\. Install the newer Journey Studio"):
            ProjectFile.open(path, readonly=readonly)
    assert path.read_bytes() == before


def test_unknown_revision_id_counts_as_newer(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    con.close()
    with pytest.raises(ProjectFileError, match="newer version of Journey Studio") as e:
        ProjectFile.open(path)
    assert "a file format this version does not know" in str(e.value)  # no "schema 3; reads up to 3"


NEXT = migrate.SCHEMA_VERSION + 1
NEXT_REVISION = '''
"""Schema {next} (test only): step notes."""
import sqlalchemy as sa
from alembic import op

revision = "{next:04d}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("text", sa.Text()))
    {fail}
    op.execute("PRAGMA user_version = {next}")


def downgrade() -> None:
    op.drop_table("notes")
'''


def _next_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> None:
    """A test-only revision after the real head, so that the current schema becomes the "older" one."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    body = (NEXT_REVISION.replace("{fail}", 'raise RuntimeError("migration failed")' if fail else "pass")
            .replace("{next:04d}", f"{NEXT:04d}").replace("{next}", str(NEXT))
            .replace("{head}", migrate.HEAD_REVISION))
    (scripts / "versions" / f"{NEXT:04d}_notes.py").write_text(textwrap.dedent(body))
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", scripts)
    monkeypatch.setattr(migrate, "HEAD_REVISION", f"{NEXT:04d}")
    monkeypatch.setattr(migrate, "SCHEMA_VERSION", NEXT)


def test_older_file_is_migrated_to_head_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make(tmp_path / "p.jstudio")
    old = migrate.SCHEMA_VERSION
    _next_revision(tmp_path, monkeypatch)
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match=rf"uses schema {old} of an older Journey Studio and must be upgraded"):
        ProjectFile.open(path, readonly=True)
    assert path.read_bytes() == before
    with ProjectFile.open(path) as f:
        assert not f.readonly and f.schema_version() == NEXT
        assert f.project.journey("One").step("bye").props == {"reason": "done"}
    assert _pragmas(path) == (APPLICATION_ID, NEXT, [f"{NEXT:04d}"])
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    con.close()


def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make(tmp_path / "p.jstudio")
    old, head = migrate.SCHEMA_VERSION, migrate.HEAD_REVISION
    _next_revision(tmp_path, monkeypatch, fail=True)
    with pytest.raises(ProjectFileError,
                       match=f"could not be upgraded from schema {old} to schema {NEXT}: migration failed"):
        ProjectFile.open(path)
    assert _pragmas(path) == (APPLICATION_ID, old, [head])
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "notes" not in tables
    assert not path.with_name(path.name + "-lock").exists()


# --- schema 1 -> 2 (the audience tables) ---------------------------------------------------------------------

def _schema1_file(path: Path, revision: str = "0001") -> Path:
    """A project file exactly as an older schema wrote it: the migrations up to `revision` only, then a
    journey."""
    from app.store.loading import encode_settings
    from app.store.writing import write_project

    project = Project("Old")
    j = Journey("j1", "One")
    j.add_step(Step("bye", "exit", props={"reason": "done"}))
    project.add_journey(j)
    path.touch()
    engine = make_engine(path, readonly=False)
    try:
        with engine.connect() as conn, conn.begin():
            migrate.upgrade(conn, revision)
            conn.execute(schema.project.insert().values(id=1, name=project.name,
                                                        settings=encode_settings(project.settings)))
            write_project(conn, project, schema.utcnow())
    finally:
        engine.dispose()
    return path


def test_schema_1_file_is_migrated_to_the_audience_schema(tmp_path: Path) -> None:
    path = _schema1_file(tmp_path / "old.jstudio")
    assert _pragmas(path) == (APPLICATION_ID, 1, ["0001"])
    with sqlite3.connect(path) as con:
        old_tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert not old_tables & set(schema.AUDIENCE_TABLES)
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match=r"uses schema 1 of an older Journey Studio and must be upgraded, "
                                               r"which cannot be done while it was opened read-only"):
        ProjectFile.open(path, readonly=True)
    assert path.read_bytes() == before
    with ProjectFile.open(path) as f:
        assert f.schema_version() == migrate.SCHEMA_VERSION
        assert f.project.journey("One").step("bye").props == {"reason": "done"}
        with f.connection() as conn:
            insp = inspect(conn)
            for name in schema.AUDIENCE_TABLES:
                assert [c["name"] for c in insp.get_columns(name)] == [c.name for c in metadata.tables[name].columns]
                assert {i["name"] for i in insp.get_indexes(name)} == {i.name for i in metadata.tables[name].indexes}
            assert conn.execute(select(func.count()).select_from(schema.contacts)).scalar_one() == 0
    assert _pragmas(path) == (APPLICATION_ID, migrate.SCHEMA_VERSION, [migrate.HEAD_REVISION])
    with ProjectFile.open(path, readonly=True) as f:  # now current: read-only opening works
        assert f.project.journey("One").name == "One"


def test_audience_migration_downgrades_cleanly(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    engine = make_engine(path, readonly=False)
    try:
        with engine.connect() as conn, conn.begin():
            from alembic import command
            command.downgrade(migrate.make_config(conn), "0001")
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert not tables & set(schema.AUDIENCE_TABLES) and "journeys" in tables
    assert _pragmas(path)[1:] == (1, ["0001"])


# --- schema 2 -> 3 (saved simulation runs) -------------------------------------------------------------------

def test_schema_2_file_is_migrated_to_the_runs_schema(tmp_path: Path) -> None:
    path = _schema1_file(tmp_path / "old2.jstudio", "0002")
    assert _pragmas(path) == (APPLICATION_ID, 2, ["0002"])
    with sqlite3.connect(path) as con:  # audience data written by schema 2 must survive the migration
        con.execute("INSERT INTO contacts (id, full_name, engagement) VALUES (7, 'Ada', 0.5)")
        con.execute("INSERT INTO segment_members (segment, contact_id) VALUES ('VIP', 7)")
        old_tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "simulation_runs" not in old_tables
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match=r"uses schema 2 of an older Journey Studio and must be upgraded"):
        ProjectFile.open(path, readonly=True)
    assert path.read_bytes() == before
    with ProjectFile.open(path) as f:
        assert f.schema_version() == migrate.SCHEMA_VERSION >= 3
        assert f.project.journey("One").step("bye").props == {"reason": "done"}
        assert f.runs() == []
        with f.connection() as conn:
            insp = inspect(conn)
            table = metadata.tables["simulation_runs"]
            assert [c["name"] for c in insp.get_columns("simulation_runs")] == [c.name for c in table.columns]
            assert conn.execute(select(schema.contacts.c.full_name, schema.contacts.c.engagement)).all() == [
                ("Ada", 0.5)]
            assert conn.execute(select(schema.segment_members.c.segment)).scalars().all() == ["VIP"]
    assert _pragmas(path) == (APPLICATION_ID, migrate.SCHEMA_VERSION, [migrate.HEAD_REVISION])


def test_runs_migration_downgrades_cleanly(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    engine = make_engine(path, readonly=False)
    try:
        with engine.connect() as conn, conn.begin():
            from alembic import command
            command.downgrade(migrate.make_config(conn), "0002")
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert "simulation_runs" not in tables and "contacts" in tables
    assert _pragmas(path)[1:] == (2, ["0002"])


# --- schema 3 -> 4 (the audience stamp and kept columns) -----------------------------------------------------

def test_schema_3_file_is_migrated_to_the_stamped_schema(tmp_path: Path) -> None:
    path = _schema1_file(tmp_path / "old3.jstudio", "0003")
    assert _pragmas(path) == (APPLICATION_ID, 3, ["0003"])
    with sqlite3.connect(path) as con:
        con.execute("INSERT INTO contacts (id, full_name, lifetime_value) VALUES (7, 'Ada', 12.5)")
    con.close()
    with ProjectFile.open(path) as f:
        assert f.schema_version() == migrate.SCHEMA_VERSION >= 4
        with f.connection() as conn:
            assert conn.execute(select(schema.contacts.c.full_name)).scalars().all() == ["Ada"]
            stamps = select(schema.audience_stamp.c.tbl, schema.audience_stamp.c.n)
            assert dict(conn.execute(stamps).all()) == dict.fromkeys(schema.AUDIENCE_TABLES, 0)
        with f.connection(write=True) as conn:
            conn.execute(schema.contacts.update().values(lifetime_value=13))
        with f.connection() as conn:
            assert dict(conn.execute(stamps).all()) == {**dict.fromkeys(schema.AUDIENCE_TABLES, 0), "contacts": 1}
    with sqlite3.connect(path) as con:
        made = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
    con.close()
    assert made == dict(schema.stamp_triggers())


def test_stamp_migration_downgrades_cleanly(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    engine = make_engine(path, readonly=False)
    try:
        with engine.connect() as conn, conn.begin():
            from alembic import command
            command.downgrade(migrate.make_config(conn), "0003")
            tables = set(inspect(conn).get_table_names())
            triggers = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").scalar()
    finally:
        engine.dispose()
    assert not tables & {"audience_stamp", "audience_columns"} and "simulation_runs" in tables and triggers == 0
    assert _pragmas(path)[1:] == (3, ["0003"])
