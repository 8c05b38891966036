"""What the designer does when it fails: a local crash log and a dialog that says where it is. Nothing is sent.

Two kinds of failure:
- a Python exception nobody caught (in a slot, a timer, a worker thread): `CrashReporter.handle` writes a log
  (the version, the platform, the time, the traceback) in the user's log folder and shows `CrashDialog`, with
  the log's path and buttons to copy the details or open the folder. The application goes on: Qt has already
  unwound the slot that raised, and the user decides whether to save and restart.
- a native fault (a segmentation fault in Qt or NumPy): Python cannot run any more, so `faulthandler` writes the
  stacks of every thread into this process's own fault file. A clean exit deletes that file; the next start finds
  a non-empty one left by a process that is gone, keeps it as a crash log and says so once the window is up.

Only one dialog is open at a time; errors that come while it is open are logged and counted in it.
"""

from __future__ import annotations

import faulthandler
import os
import platform
import sys
import threading
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QStyle, QVBoxLayout, QWidget)

from app import APP_NAME, __version__
from app.userdirs import log_dir

MESSAGE_MAX = 400  # characters of the exception's message shown in the dialog (the log keeps all of it)
KEEP_LOGS = 50  # crash logs kept in the folder; older ones are removed when a new one is written
_FAULT_PREFIX = "fault-"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d-%H%M%S-%f")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: leave its file alone
    return True


def _header(kind: str, when: datetime, pid: int | None = None) -> str:
    return (f"{APP_NAME} {__version__} - {kind}\n"
            f"time: {when.isoformat(timespec='seconds')}\n"
            f"python: {sys.version.split()[0]} on {platform.platform()}\n"
            f"pid: {os.getpid() if pid is None else pid}\n\n")


class _Bridge(QObject):
    """Carries a crash from any thread to the main thread (a queued signal to a slot of this object, which lives
    in the main thread), where the dialog may be shown."""
    crashed = Signal(str, str)  # summary, log path

    def __init__(self, target: Any) -> None:
        super().__init__()
        self._target = target
        self.crashed.connect(self.deliver)

    @Slot(str, str)
    def deliver(self, summary: str, path: str) -> None:
        self._target(summary, path)


class CrashDialog(QDialog):
    """Says that something went wrong, where the log is, and offers to copy the details; sends nothing."""

    def __init__(self, summary: str, path: Path, details: str, parent: QWidget | None = None,
                 native: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} - {'stopped unexpectedly' if native else 'internal error'}")
        self._details = details
        self._path = path
        self._more = 0
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        head = QLabel("<b>" + ("Journey Studio stopped unexpectedly the last time it ran." if native else
                               "Journey Studio hit an internal error and could not finish what it was doing.")
                      + "</b>")
        head.setWordWrap(True)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        advice = QLabel("Your project file holds everything saved before this. If the window behaves oddly, "
                        "save your work under a new name and restart. A crash log was written on this computer "
                        "only; nothing was sent anywhere." if not native else
                        "A crash log was written on this computer only; nothing was sent anywhere. "
                        "If this keeps happening, please pass the details on to your support contact.")
        advice.setWordWrap(True)
        self.path_field = QLineEdit(str(path))
        self.path_field.setReadOnly(True)
        self.path_field.setCursorPosition(0)
        self.more = QLabel("")
        self.more.setVisible(False)
        buttons = QDialogButtonBox()
        self.copy_button = QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        self.open_button = QPushButton("Open log folder")
        self.open_button.clicked.connect(self._open_folder)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.accept)
        top = QHBoxLayout()
        top.addWidget(icon, 0)
        text = QVBoxLayout()
        text.addWidget(head)
        text.addWidget(self.summary)
        text.addWidget(advice)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("Crash log:"))
        layout.addWidget(self.path_field)
        layout.addWidget(self.more)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.setMinimumWidth(640)
        self.resize(640, self.heightForWidth(640) if self.hasHeightForWidth() else self.sizeHint().height())

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self._details)
        self.copy_button.setText("Copied")

    def _open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._path.parent)))

    def count_another(self) -> None:
        self._more += 1
        self.more.setText(f"{self._more} more error{'s' if self._more > 1 else ''} since: also in {self._path.parent}")
        self.more.setVisible(True)


class CrashReporter:
    """Installs the hooks (exceptions in the main thread and in other threads, native faults) and reports."""

    def __init__(self, folder: Path | str | None = None, show_dialogs: bool = True) -> None:
        self.folder = Path(folder) if folder is not None else log_dir() / "crashes"
        self.show_dialogs = show_dialogs
        self.dialog: CrashDialog | None = None
        self.logged: list[Path] = []
        self._bridge: _Bridge | None = None
        self._fault_file: IO[str] | None = None
        self._previous: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    # --- hooks -------------------------------------------------------------------------------------------
    def install(self) -> list[Path]:
        """Hook in; returns the native crashes left by earlier runs (already kept as logs) to tell the user of."""
        left = self.collect_native_crashes()
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._except_hook
        threading.excepthook = self._thread_hook
        self._bridge = _Bridge(self._show)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fault_file = open(self._fault_path(os.getpid()), "w", encoding="utf-8")  # noqa: SIM115
            faulthandler.enable(file=self._fault_file, all_threads=True)
        except OSError:
            self._fault_file = None  # no writable log folder: faults go to standard error, as without us
        return left

    def uninstall(self) -> None:
        """Undo `install` (a clean exit): the fault file, empty after a clean run, is removed."""
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None
        if self._fault_file is not None:
            if faulthandler.is_enabled():
                faulthandler.disable()
            name = self._fault_file.name
            self._fault_file.close()
            self._fault_file = None
            try:
                if os.path.getsize(name) == 0:
                    os.unlink(name)
            except OSError:
                pass

    def _except_hook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self.handle(kind, exc, tb)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a worker thread"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, where=f"thread {name!r}")

    # --- reporting ---------------------------------------------------------------------------------------
    def handle(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None,
               where: str = "the main thread") -> Path | None:
        """Log one uncaught exception and (on the main thread, via a queued signal) show the dialog."""
        when = datetime.now(timezone.utc)
        details = _header(f"uncaught {kind.__name__} in {where}", when) + "".join(
            traceback.format_exception(kind, exc, tb))
        path = self._write(f"crash-{_stamp(when)}.log", details)
        message = str(exc).replace("\x00", "")
        if len(message) > MESSAGE_MAX:
            message = message[:MESSAGE_MAX] + "…"
        summary = f"{kind.__name__}: {message}" if message else kind.__name__
        try:
            sys.__stderr__.write(f"{APP_NAME}: internal error: {summary} (details in {path or 'standard error'})\n")
            if path is None:
                sys.__stderr__.write(details)
        except (AttributeError, OSError, ValueError):
            pass
        if self.show_dialogs and self._bridge is not None and path is not None:
            self._bridge.crashed.emit(summary, str(path))
        return path

    def _write(self, name: str, text: str) -> Path | None:
        with self._lock:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / name
                path.write_text(text, encoding="utf-8")
                self.logged.append(path)
                self._prune()
                return path
            except OSError:
                return None

    def _prune(self) -> None:
        logs = sorted((p for p in self.folder.glob("*.log") if not p.name.startswith(_FAULT_PREFIX)),
                      key=lambda p: p.name)
        for old in logs[:-KEEP_LOGS]:
            try:
                old.unlink()
            except OSError:
                pass

    def _show(self, summary: str, path: str, native: bool = False) -> None:
        if QApplication.instance() is None:
            return
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.count_another()
            return
        try:
            details = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            details = summary
        parent = QApplication.activeWindow()
        self.dialog = CrashDialog(summary, Path(path), details, parent, native=native)
        self.dialog.setModal(True)
        self.dialog.show()

    def show_native(self, path: Path) -> None:
        """Tell the user of a native crash found at start-up (the first lines of the fault's stack)."""
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        fault = next((ln.strip() for ln in lines if ln.startswith("Fatal Python error")), "a native fault")
        self._show(fault, str(path), native=True)

    # --- native faults of earlier runs -------------------------------------------------------------------
    def _fault_path(self, pid: int) -> Path:
        return self.folder / f"{_FAULT_PREFIX}{pid}.log"

    def collect_native_crashes(self) -> list[Path]:
        """Fault files left by processes that are gone: empty ones removed, others kept as crash logs."""
        found: list[Path] = []
        try:
            candidates = sorted(self.folder.glob(f"{_FAULT_PREFIX}*.log"))
        except OSError:
            return found
        for path in candidates:
            try:
                pid = int(path.stem[len(_FAULT_PREFIX):])
            except ValueError:
                continue
            if _alive(pid):
                continue
            try:
                if path.stat().st_size == 0:
                    path.unlink()
                    continue
                when = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
                text = path.read_text(encoding="utf-8", errors="replace")
                kept = self.folder / f"native-{_stamp(when)}-{pid}.log"
                kept.write_text(_header("native fault (found at the next start)", when, pid) + text,
                                encoding="utf-8")
                path.unlink()
                found.append(kept)
            except OSError:
                continue
        return found


_reporter: CrashReporter | None = None


def install(show_dialogs: bool = True) -> CrashReporter:
    """Install the designer's crash reporter once per process; native crashes of earlier runs are shown once
    the event loop runs."""
    global _reporter
    if _reporter is None:
        _reporter = CrashReporter(show_dialogs=show_dialogs)
        left = _reporter.install()
        if left and show_dialogs:
            from PySide6.QtCore import QTimer
            reporter = _reporter
            QTimer.singleShot(0, lambda: reporter.show_native(left[-1]))
        import atexit
        atexit.register(_reporter.uninstall)
    return _reporter


def reporter() -> CrashReporter | None:
    return _reporter


__all__ = ["CrashDialog", "CrashReporter", "install", "reporter"]
