"""Start the designer: open the given project, else the last one, else (first start) the demo project."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from typing import Any

from PySide6.QtCore import QEvent, QTimer
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
    app = QApplication.instance() or StudioApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("Journey Studio")
    app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def is_package(path: str | Path) -> bool:
    return str(path).lower().endswith(".jpkg")


def open_given_file(path: str) -> None:
    """Open what the system hands the running application (on macOS a double-clicked document arrives as a
    QFileOpenEvent, not as an argument): a project in a window of its own; a package offered for import into
    the active project (checked first, as File > Import does)."""
    from designer.main_window import MainWindow
    if is_package(path):
        window = _front_window()
        if window is not None:
            offer_package(window, path)
        return
    window = MainWindow.open(path, _front_window())
    if window is not None:
        window.show()


class StudioApplication(QApplication):
    """The application object; it takes the system's file-open events (events sent to the application object
    only, so this costs nothing for the events of every widget, as an application-wide filter would)."""

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.FileOpen:
            path = e.file()  # type: ignore[attr-defined]
            if path:
                open_given_file(path)
                return True
        return super().event(e)


def _front_window() -> Any:
    from designer.main_window import MainWindow, _open_windows
    active = QApplication.activeWindow()
    if isinstance(active, MainWindow):
        return active
    return next((w for w in reversed(list(_open_windows)) if w.isVisible()), None)


def offer_package(window: Any, path: str) -> None:
    """A package given to the application (argument or double-click): import it into the window's project once the
    window is up; the import checks it, asks about a name clash and says what happened."""
    QTimer.singleShot(0, lambda: ask_to_import(window, path))


def ask_to_import(window: Any, path: str) -> bool:
    """Ask before importing a package handed to the application into the open project (the import then says
    what it did); True when the user agreed."""
    from PySide6.QtWidgets import QMessageBox

    from designer.import_file import import_journey_file
    project = window.document.file.path.name
    answer = QMessageBox.question(
        window, APP_NAME, f"Import the journey package {Path(path).name} into {project}?\n\nThe package is checked "
        "first (its signature against the trusted keys, every file against its manifest); the import can be undone.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
    if answer != QMessageBox.StandardButton.Yes:
        return False
    import_journey_file(window, path)
    return True


def launch(project: str | None = None) -> int:
    """Open the main window on a project (or, given a package, on the last project with the package offered for
    import) and run the event loop; returns the exit status."""
    from designer import crash
    from designer.main_window import MainWindow
    app = application()
    crash.install()  # an uncaught error or a native fault: a local crash log and a dialog with its path
    package = project if project and is_package(project) else None
    if package:
        project = None
    path = initial_project(project)  # a first start builds the demo, with a window saying so
    window = MainWindow.open(path)
    if window is None:  # the project could not be opened: the window said why; start on the demo instead
        window = MainWindow.open(initial_project(None)) if project else None
        if window is None:
            return 2
    window.show()
    if package:
        offer_package(window, package)
    return app.exec()
