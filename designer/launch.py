"""Start the designer: open the given project, else the last one, else (first start) the demo project."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app import APP_NAME
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
        build_demo(demo)
    return demo


def build_demo(path: Path) -> None:
    """Build the demo project; with a QApplication running, a window says what is happening meanwhile (the
    build takes seconds: journeys from the product documents and 5,000 synthetic contacts)."""
    from PySide6.QtWidgets import QProgressDialog

    # Imported here, in the main thread (only a first start needs them): importing NumPy and Faker in the
    # builder's thread while this thread runs Qt's events crashed the interpreter.
    import app.audience.population  # noqa: F401
    from app.services import create_demo_project
    part = path.with_name(path.name + ".part")  # built aside, then put in place: never a half-built demo

    def build() -> None:
        part.unlink(missing_ok=True)
        create_demo_project(part)
        os.replace(part, path)

    app = QApplication.instance()
    if app is None:
        build()
        return
    failure: list[BaseException] = []

    def work() -> None:
        try:
            build()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            failure.append(e)

    dialog = QProgressDialog("Building the demo project: three journeys from the product documents and 5,000 "
                             "synthetic contacts…", "", 0, 0)
    dialog.setWindowTitle(APP_NAME)
    dialog.setCancelButton(None)  # type: ignore[arg-type]
    dialog.setMinimumDuration(0)
    dialog.show()
    thread = threading.Thread(target=work, name="demo-project", daemon=True)
    thread.start()
    while thread.is_alive():
        app.processEvents()
        thread.join(0.03)
    dialog.close()
    dialog.deleteLater()
    if failure:
        raise failure[0]


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("Journey Studio")
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def launch(project: str | None = None) -> int:
    """Open the main window on a project and run the event loop; returns the exit status."""
    from designer import crash
    from designer.main_window import MainWindow
    app = application()
    crash.install()  # an uncaught error or a native fault: a local crash log and a dialog with its path
    path = initial_project(project)  # a first start builds the demo, with a window saying so
    window = MainWindow.open(path)
    if window is None:  # the project could not be opened: the window said why; start on the demo instead
        window = MainWindow.open(initial_project(None)) if project else None
        if window is None:
            return 2
    window.show()
    return app.exec()
