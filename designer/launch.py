"""Start the designer: open the given project, else the last one, else (first start) the demo project."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app import APP_NAME
from app.services import create_demo_project
from app.userdirs import demo_project_path, recent_projects
from designer.icons import app_icon


def initial_project(requested: str | None) -> Path:
    """The project to open: the one asked for, the most recent one, or the demo (created on a first start)."""
    if requested:
        return Path(requested)
    recent = recent_projects()
    if recent:
        return recent[0]
    demo = demo_project_path()
    if not demo.exists():
        demo.parent.mkdir(parents=True, exist_ok=True)
        create_demo_project(demo)
    return demo


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("Journey Studio")
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def launch(project: str | None = None) -> int:
    """Open the main window on a project and run the event loop; returns the exit status."""
    from designer.main_window import MainWindow
    app = application()
    path = initial_project(project)
    window = MainWindow.open(path)
    if window is None:  # the project could not be opened: the window said why; start on the demo instead
        window = MainWindow.open(initial_project(None)) if project else None
        if window is None:
            return 2
    window.show()
    return app.exec()
