"""The version and build of this copy of Journey Studio, for Help > About and bug reports.

A packaged build (packaging/journey_studio.spec) carries `app/cli/build_info.json`, written when it was built: the
git commit it was built from and the build date. Run from source there is no such file and the build is
"development". Standard library only, no Qt: the command line and the designer (Help > About) both use it; it
lives in the front door, `app.cli`, which both the packaged entry point and the designer's About reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app import __version__

BUILD_FILE = Path(__file__).resolve().parent / "build_info.json"
DEVELOPMENT = "development"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str | None = None  # the git commit a build was made from (short hash, '+dirty' for local edits)
    date: str | None = None  # the build date, ISO 8601 (UTC)
    platform: str | None = None  # what it was built for, e.g. 'linux-x86_64'

    @property
    def packaged(self) -> bool:
        return self.commit is not None or self.date is not None

    @property
    def build(self) -> str:
        """'build 1a2b3c4, 2026-12-03', or 'development' when run from source."""
        if not self.packaged:
            return DEVELOPMENT
        return "build " + ", ".join(x for x in (self.commit, self.date) if x)

    def describe(self) -> str:
        """'0.1.0 (build 1a2b3c4, 2026-12-03)' or '0.1.0 (development)'."""
        return f"{self.version} ({self.build})"


def build_info(path: Path | None = None) -> BuildInfo:
    """This copy's version and build (a file that cannot be read counts as a development copy)."""
    try:
        data = json.loads((path or BUILD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return BuildInfo(__version__)
    if not isinstance(data, dict):
        return BuildInfo(__version__)

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    return BuildInfo(text("version") or __version__, text("commit"), text("date"), text("platform"))
