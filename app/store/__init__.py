"""The project file: one SQLite file per project (`.jstudio`), written through as the project is edited.

Its names are imported when first used, so that a command that only reads a project (app.store.plain_read)
does not import SQLAlchemy through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.store.lock import held_by
    from app.store.plain_schema import APPLICATION_ID, FILE_SUFFIX
    from app.store.project_file import MILESTONE_KINDS, ProjectFile, is_project_file

__all__ = ["APPLICATION_ID", "FILE_SUFFIX", "MILESTONE_KINDS", "ProjectFile", "held_by", "is_project_file"]

_WHERE = {"APPLICATION_ID": "app.store.plain_schema", "FILE_SUFFIX": "app.store.plain_schema",
          "MILESTONE_KINDS": "app.store.project_file", "ProjectFile": "app.store.project_file",
          "is_project_file": "app.store.project_file", "held_by": "app.store.lock"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(_WHERE[name]), name)
