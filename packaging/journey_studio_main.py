"""The packaged program's entry point: the `journey-studio` command (no arguments or a project: the designer;
a command: the command line), frozen by journey_studio.spec into one executable.

Two things only a packaged program needs, handled here before the command line sees its arguments:

- `-m app.cli.main ARGS...`: the live runner starts extra worker processes as `sys.executable -m app.cli.main
  run ...` (app/runner/worker.py). In a packaged program `sys.executable` is this program, so those words are
  dropped and the rest is run as a command.
- `--smoke-test REPORT.json` (first, before any other argument): start the designer as usual (offscreen with
  QT_QPA_PLATFORM=offscreen), wait until its main window is shown on a project, write what it shows to REPORT
  (window title, project file, journeys, time to the first window; a screenshot beside it as REPORT.png), close
  it and exit 0; exit 1 with the reason in REPORT if no window came within JOURNEY_STUDIO_SMOKE_TIMEOUT seconds
  (default 180); with JOURNEY_STUDIO_SMOKE_SETTLE=SECONDS it waits that long after the window is first seen
  before the report and screenshot. packaging/smoke_test.py uses it on the built program; it also works from source:
  `python packaging/journey_studio_main.py --smoke-test /tmp/report.json`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

STARTED = time.monotonic()


def _write(report: Path, data: dict[str, Any]) -> None:
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")


def install_smoke_hook(report: Path, timeout: float, settle: float = 0.0) -> None:
    """Watch for the designer's main window; when it is shown, report it and quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from designer.launch import application

    app = application()  # designer.launch.launch() uses this same application
    settled: list[float] = []  # the time the window was first seen, once the hook waits for it to settle

    def look() -> None:
        from designer.main_window import MainWindow
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        elapsed = time.monotonic() - STARTED
        if not windows:
            if elapsed > timeout:
                _write(report, {"ok": False, "error": f"no main window after {elapsed:.1f} s"})
                app.exit(1)
                return
            QTimer.singleShot(50, look)
            return
        window = windows[0]
        app.processEvents()  # the first paint
        if settle > 0 and not settled:  # let start-up animations finish before the screenshot
            settled.append(elapsed)
            QTimer.singleShot(int(settle * 1000), look)
            return
        if settled:
            elapsed = settled[0]
        document = window.document
        data = {
            "ok": True,
            "seconds_to_window": round(elapsed, 3),
            "title": window.windowTitle().replace("[*]", ""),
            "project": str(document.file.path),
            "project_name": document.project.name,
            "journeys": [j.name for j in document.project.journeys],
            "current_journey": document.current_journey.name if document.current_journey else None,
            "readonly": bool(document.readonly),
            "frozen": bool(getattr(sys, "frozen", False)),
            "qt_platform": app.platformName(),
        }
        try:
            from app.cli.buildinfo import build_info
            data["build"] = build_info().describe()
        except Exception as e:  # noqa: BLE001 - reported, not fatal to the smoke test's other checks
            data["build"] = f"unreadable: {e}"
        shot = window.grab()
        report.parent.mkdir(parents=True, exist_ok=True)
        data["screenshot"] = str(report.with_suffix(".png")) if shot.save(str(report.with_suffix(".png"))) \
            else f"not saved ({shot.width()}x{shot.height()})"
        _write(report, data)
        for w in windows:
            w.close()
        app.quit()

    QTimer.singleShot(50, look)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["-m", "app.cli.main"]:
        args = args[2:]
    if args[:1] == ["--smoke-test"]:
        if len(args) < 2:
            print("journey-studio: error: --smoke-test needs a report file", file=sys.stderr)
            return 2
        report = Path(args[1])
        args = args[2:]
        install_smoke_hook(report, float(os.environ.get("JOURNEY_STUDIO_SMOKE_TIMEOUT", "180")),
                           float(os.environ.get("JOURNEY_STUDIO_SMOKE_SETTLE", "0")))
    from app.cli.main import main as cli_main
    return cli_main(args)


if __name__ == "__main__":
    # a sweep's worker processes (simulator/sweep.py, spawned) start this program again: in a frozen program
    # freeze_support runs the worker's part and exits instead of starting the command line or the designer
    import multiprocessing
    multiprocessing.freeze_support()
    sys.exit(main())
