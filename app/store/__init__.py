"""The project file: one SQLite file per project (`.jstudio`), written through as the project is edited."""

from app.store.lock import held_by
from app.store.project_file import MILESTONE_KINDS, ProjectFile, is_project_file
from app.store.schema import APPLICATION_ID, FILE_SUFFIX

__all__ = ["APPLICATION_ID", "FILE_SUFFIX", "MILESTONE_KINDS", "ProjectFile", "held_by", "is_project_file"]
