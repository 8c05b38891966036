"""Per-user places: the demo project, the recent-projects list (JOURNEY_STUDIO_HOME overrides, for tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir, user_log_dir

RECENT_MAX = 10


def data_dir() -> Path:
    home = os.environ.get("JOURNEY_STUDIO_HOME")
    return Path(home) / "data" if home else Path(user_data_dir("journey-studio", appauthor=False))


def config_dir() -> Path:
    home = os.environ.get("JOURNEY_STUDIO_HOME")
    return Path(home) / "config" if home else Path(user_config_dir("journey-studio", appauthor=False))


def log_dir() -> Path:
    """Where crash logs go (local only: nothing is ever sent anywhere)."""
    home = os.environ.get("JOURNEY_STUDIO_HOME")
    return Path(home) / "logs" if home else Path(user_log_dir("journey-studio", appauthor=False))


def demo_project_path() -> Path:
    return data_dir() / "Demo project.jstudio"


def _recent_file() -> Path:
    return config_dir() / "recent.json"


def recent_projects() -> list[Path]:
    """Recently opened projects, newest first, that still exist."""
    try:
        items = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [Path(p) for p in items if isinstance(p, str) and Path(p).exists()]


def add_recent_project(path: Path) -> None:
    """Put a project at the top of the recent list (best effort: a failure to write is not an error)."""
    path = path.resolve()
    items = [str(path)] + [str(p) for p in recent_projects() if p.resolve() != path]
    try:
        _recent_file().parent.mkdir(parents=True, exist_ok=True)
        tmp = _recent_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(items[:RECENT_MAX], indent=1), encoding="utf-8")
        os.replace(tmp, _recent_file())
    except OSError:
        pass
