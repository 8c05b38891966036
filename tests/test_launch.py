"""`journey-studio` with no command (or a project path) opens the designer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.cli.main import main


@pytest.mark.parametrize("argv,expected", [([], None), (["shop.jstudio"], "shop.jstudio")])
def test_bare_command_and_a_project_path_open_the_designer(monkeypatch, argv, expected) -> None:
    import designer.launch
    opened: list[str | None] = []
    monkeypatch.setattr(designer.launch, "launch", lambda project=None: opened.append(project) or 0)
    assert main(argv) == 0
    assert opened == [expected]


def test_the_real_launch_opens_the_demo_on_a_first_start_and_quits_cleanly(tmp_path: Path) -> None:
    """The whole start path in a process of its own: first start, demo project, window, event loop, exit."""
    code = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        import designer.launch as launch
        from PySide6.QtWidgets import QProgressDialog
        app = launch.application()
        def done():
            from designer.main_window import MainWindow
            shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
            if any(isinstance(w, QProgressDialog) for w in shown):
                print("PROGRESS", flush=True)  # the demo is being built, and the user is told so
            windows = [w for w in shown if isinstance(w, MainWindow)]
            if not windows:
                QTimer.singleShot(100, done)  # still building the demo: look again
                return
            print("WINDOW", windows[0].windowTitle())
            for w in windows:
                w.close()
            app.quit()
        QTimer.singleShot(300, done)
        sys.exit(launch.launch(None))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", JOURNEY_STUDIO_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-800:]
    assert "WINDOW Product announcement — Demo project.jstudio" in out.stdout
    assert "PROGRESS" in out.stdout  # the first start said what it was doing while it built the demo
    assert (tmp_path / "data" / "Demo project.jstudio").exists()
