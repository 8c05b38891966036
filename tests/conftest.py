"""Test set-up: Qt runs offscreen (CI has no display); hypothesis profiles."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# go-live checks look at the start and end from now (app/validation/time_rules.py): the suite's journeys and
# templates are checked as of a fixed moment before any of their dates, not as of the day the suite runs
os.environ.setdefault("JOURNEY_STUDIO_NOW", "2000-01-01T00:00Z")
if "JOURNEY_STUDIO_HOME" not in os.environ:  # the user's own recent list and file records stay untouched
    import atexit
    import shutil
    import tempfile
    _home = tempfile.mkdtemp(prefix="journey-studio-tests-")
    os.environ["JOURNEY_STUDIO_HOME"] = _home
    atexit.register(shutil.rmtree, _home, True)

from hypothesis import settings

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")

pytest_plugins = ["tests.window_helpers"]  # the leftover_windows_closed fixture of the main-window tests


# --- tiers -------------------------------------------------------------------------------------------
# `-m "not gui and not temporal"` is a headless core run. A test is `gui` when it uses qtbot or its module
# imports Qt, the designer or pyqtgraph (read from the module's imports, not by importing anything).

import ast
from functools import cache
from pathlib import Path

import pytest

_GUI_ROOTS = {"PySide6", "designer", "pyqtgraph", "pytestqt"}


@cache
def _module_is_gui(path: str) -> bool:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        if any(name.split(".")[0] in _GUI_ROOTS for name in names):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "qtbot" in fixtures or _module_is_gui(str(item.path)):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def _settings_of_its_own(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each GUI test starts with no saved window layout and writes none into the user's own settings."""
    if request.node.get_closest_marker("gui") is None:
        yield
        return
    from PySide6.QtCore import QSettings
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, folder)
    yield
