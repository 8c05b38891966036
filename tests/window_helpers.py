"""Main-window tests: close what a test left open, and open a window over a new project with one template."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from designer.main_window import MainWindow


@pytest.fixture
def leftover_windows_closed() -> Iterator[None]:
    """Windows delete themselves on close; close what a failing test left open, answering no prompts."""
    yield
    import shiboken6
    from designer import main_window
    for window in list(main_window._open_windows):
        if shiboken6.isValid(window):
            window.document.undo_stack.setClean()
            window.close()


def template_window(qtbot: object, path: Path, template: str) -> MainWindow:
    """A shown main window over a new project at `path` holding one journey template."""
    pf = ProjectFile.create(path)
    import_journey(pf.project, *read_journey_file(resource_path("templates", template)))
    pf.close()
    w = MainWindow.open(path)
    assert w is not None
    w.show()
    qtbot.waitExposed(w)  # type: ignore[attr-defined]
    return w
