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
from sqlalchemy import inspect

from app.errors import ProjectFileError
from app.model.journey import Journey, Step
from app.model.project import Project
from app.store import APPLICATION_ID, ProjectFile, migrate
from app.store.opening import make_engine
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
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = '0002'")
        con.execute("PRAGMA user_version = 2")
    con.close()
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(ProjectFileError, match=r"made by a newer version of Journey Studio \(schema 2\); "
                                                   r"this version reads up to schema 1\."):
            ProjectFile.open(path, readonly=readonly)
    assert path.read_bytes() == before


def test_unknown_revision_id_counts_as_newer(tmp_path: Path) -> None:
    path = _make(tmp_path / "p.jstudio")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    con.close()
    with pytest.raises(ProjectFileError, match="newer version of Journey Studio"):
        ProjectFile.open(path)


SECOND_REVISION = '''
"""Schema 2 (test only): step notes."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("text", sa.Text()))
    {fail}
    op.execute("PRAGMA user_version = 2")


def downgrade() -> None:
    op.drop_table("notes")
'''


def _second_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    body = SECOND_REVISION.replace("{fail}", 'raise RuntimeError("migration failed")' if fail else "pass")
    (scripts / "versions" / "0002_notes.py").write_text(textwrap.dedent(body))
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", scripts)
    monkeypatch.setattr(migrate, "HEAD_REVISION", "0002")
    monkeypatch.setattr(migrate, "SCHEMA_VERSION", 2)


def test_older_file_is_migrated_to_head_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make(tmp_path / "p.jstudio")
    _second_revision(tmp_path, monkeypatch)
    before = path.read_bytes()
    with pytest.raises(ProjectFileError, match=r"uses schema 1 of an older Journey Studio and must be upgraded"):
        ProjectFile.open(path, readonly=True)
    assert path.read_bytes() == before
    with ProjectFile.open(path) as f:
        assert not f.readonly and f.schema_version() == 2
        assert f.project.journey("One").step("bye").props == {"reason": "done"}
    assert _pragmas(path) == (APPLICATION_ID, 2, ["0002"])
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    con.close()


def test_failed_migration_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make(tmp_path / "p.jstudio")
    _second_revision(tmp_path, monkeypatch, fail=True)
    with pytest.raises(ProjectFileError, match="could not be upgraded from schema 1 to schema 2: migration failed"):
        ProjectFile.open(path)
    assert _pragmas(path) == (APPLICATION_ID, 1, ["0001"])
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "notes" not in tables
    assert not path.with_name(path.name + "-lock").exists()
