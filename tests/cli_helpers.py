"""Running the command line in tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from app.resources import resource_path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run `journey-studio ARGS` in-process; (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def template_project(path: Path, template: str, capsys: pytest.CaptureFixture[str] | None = None) -> Path:
    """A new project file at `path` holding one of resources/templates (its file name), made with the command
    line; what the commands printed is dropped when `capsys` is given."""
    assert main(["new", str(path)]) == 0
    assert main(["import", str(path), str(resource_path("templates", template))]) == 0
    if capsys is not None:
        capsys.readouterr()
    return path
