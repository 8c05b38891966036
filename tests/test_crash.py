"""The designer's crash reporter: an uncaught exception (main thread or worker thread) or a native fault writes a
local crash log and the user sees a dialog with its path and a way to copy the details; nothing is sent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication

from designer.crash import CrashDialog, CrashReporter

SHOTS = Path(os.environ.get("JOURNEY_STUDIO_SHOTS", "/tmp/shots"))


@pytest.fixture
def reporter(qapp, tmp_path):
    rep = CrashReporter(folder=tmp_path / "crashes")
    left = rep.install()
    assert left == []
    yield rep
    rep.uninstall()
    if rep.dialog is not None:
        rep.dialog.close()
        rep.dialog.deleteLater()


def _raise_in_slot() -> None:
    raise ValueError("the segment 'VIP' has no query\x00 (tile 'Email 1')")


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_and_shown(qtbot, reporter, tmp_path):
    QTimer.singleShot(0, _raise_in_slot)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    [log] = reporter.logged
    text = log.read_text(encoding="utf-8")
    assert log.parent == tmp_path / "crashes"
    assert "uncaught ValueError in the main thread" in text
    assert "_raise_in_slot" in text  # the traceback is in the log
    assert "Journey Studio" in text and "python:" in text
    dialog = reporter.dialog
    assert dialog.path_field.text() == str(log)
    assert "ValueError: the segment 'VIP' has no query" in dialog.summary.text()
    assert "\x00" not in dialog.summary.text()
    assert "Traceback" not in dialog.summary.text()  # the dialog says what and where; the trace is in the log
    dialog.copy_details()
    assert QGuiApplication.clipboard().text() == text
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "crash_dialog.png"))


@pytest.mark.qt_no_exception_capture
def test_errors_while_the_dialog_is_open_are_logged_and_counted(qtbot, reporter):
    QTimer.singleShot(0, _raise_in_slot)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    first = reporter.dialog
    QTimer.singleShot(0, _raise_in_slot)
    QTimer.singleShot(0, _raise_in_slot)
    qtbot.waitUntil(lambda: len(reporter.logged) == 3, timeout=5000)
    qtbot.waitUntil(lambda: "2 more errors" in first.more.text(), timeout=5000)
    assert reporter.dialog is first  # one dialog, not three


def test_an_exception_in_a_worker_thread_reaches_the_main_thread(qtbot, reporter):
    def work() -> None:
        raise RuntimeError("the worker failed")

    thread = threading.Thread(target=work, name="counter")
    thread.start()
    thread.join(10)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    [log] = reporter.logged
    assert "uncaught RuntimeError in thread 'counter'" in log.read_text(encoding="utf-8")
    assert "RuntimeError: the worker failed" in reporter.dialog.summary.text()


def test_logs_are_kept_within_bounds(qapp, tmp_path):
    rep = CrashReporter(folder=tmp_path / "c", show_dialogs=False)
    from designer import crash
    for i in range(crash.KEEP_LOGS + 5):
        try:
            raise KeyError(i)
        except KeyError as e:
            rep.handle(KeyError, e, e.__traceback__)
    assert len(list((tmp_path / "c").glob("crash-*.log"))) == crash.KEEP_LOGS


def test_an_unwritable_log_folder_still_reports_on_standard_error(qapp, tmp_path, capfd):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rep = CrashReporter(folder=blocker / "crashes", show_dialogs=False)
    try:
        raise OSError("disk gone")
    except OSError as e:
        assert rep.handle(OSError, e, e.__traceback__) is None
    err = capfd.readouterr().err
    assert "internal error: OSError: disk gone (details in standard error)" in err
    assert "Traceback" in err


def test_a_native_fault_is_kept_and_shown_at_the_next_start(qtbot, tmp_path):
    folder = tmp_path / "crashes"
    script = textwrap.dedent(f"""
        import faulthandler, sys
        from designer.crash import CrashReporter
        rep = CrashReporter(folder={str(folder)!r}, show_dialogs=False)
        rep.install()
        faulthandler._sigsegv()
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode != 0
    [fault] = folder.glob("fault-*.log")
    assert "Fatal Python error" in fault.read_text(encoding="utf-8")

    rep = CrashReporter(folder=folder)
    try:
        [kept] = rep.install()
        assert not list(folder.glob(f"fault-{fault.stem.split('-')[1]}.log"))  # moved, not reported twice
        text = kept.read_text(encoding="utf-8")
        assert "native fault" in text and "Segmentation fault" in text
        rep.show_native(kept)
        assert isinstance(rep.dialog, CrashDialog) and rep.dialog.isVisible()
        assert "stopped unexpectedly" in rep.dialog.windowTitle()
        assert rep.dialog.path_field.text() == str(kept)
        SHOTS.mkdir(parents=True, exist_ok=True)
        rep.dialog.grab().save(str(SHOTS / "crash_native.png"))
    finally:
        rep.uninstall()
        if rep.dialog is not None:
            rep.dialog.close()
    # a clean exit leaves no fault file behind
    assert not [p for p in folder.glob("fault-*.log") if p.stat().st_size == 0]
    assert CrashReporter(folder=folder).collect_native_crashes() == []


def test_the_designer_installs_the_reporter_and_a_clean_exit_leaves_no_fault_file(tmp_path):
    """The real start path: an error in a slot of the running designer is logged under the user's log folder
    and shown; the window stays up; quitting removes this run's (empty) fault file."""
    code = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        import designer.launch as launch
        from designer import crash
        from designer.main_window import MainWindow
        app = launch.application()
        def fail():
            raise LookupError("no such tile 't9'")
        def check():
            rep = crash.reporter()
            if rep is None or rep.dialog is None:
                QTimer.singleShot(100, check)
                return
            windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
            print("LOGGED", rep.logged[0], "WINDOWS", len(windows), flush=True)
            rep.dialog.close()
            for w in windows:
                w.close()
            app.quit()
        def start():
            windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
            if not windows:
                QTimer.singleShot(100, start)
                return
            QTimer.singleShot(0, fail)
            QTimer.singleShot(50, check)
        QTimer.singleShot(300, start)
        sys.exit(launch.launch(None))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", JOURNEY_STUDIO_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-800:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("LOGGED"))
    log = Path(line.split()[1])
    assert log.parent == tmp_path / "logs" / "crashes"
    assert "LookupError: no such tile 't9'" in log.read_text(encoding="utf-8")
    assert line.endswith("WINDOWS 1")  # the designer is still there
    assert "internal error: LookupError" in out.stderr
    assert list((tmp_path / "logs" / "crashes").glob("fault-*.log")) == []
