"""Help > About shows the version and the build: 'development' from source, the commit and date of a build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import __version__
from app.cli.buildinfo import BuildInfo, build_info

pytestmark = pytest.mark.gui


def test_from_source_the_build_is_development() -> None:
    info = build_info()
    assert info == BuildInfo(__version__)
    assert info.describe() == f"{__version__} (development)"


def test_a_build_reads_what_was_baked_in(tmp_path: Path) -> None:
    f = tmp_path / "build_info.json"
    f.write_text(json.dumps({"version": "1.2.3", "commit": "1a2b3c4d5e", "date": "2026-12-03 12:00 UTC",
                             "platform": "linux-x86_64"}), encoding="utf-8")
    info = build_info(f)
    assert info.packaged
    assert info.describe() == "1.2.3 (build 1a2b3c4d5e, 2026-12-03 12:00 UTC)"
    f.write_text("not json", encoding="utf-8")
    assert build_info(f) == BuildInfo(__version__)  # a damaged file: a development copy, not a crash


def test_about_shows_version_and_development_build(qtbot) -> None:
    from designer.about import show_about
    dialog = show_about(None)
    qtbot.addWidget(dialog)
    qtbot.waitExposed(dialog)
    assert dialog.isVisible()
    assert dialog.version_label.text() == f"Version {__version__}"
    assert "development" in dialog.build_label.text()
    Path("/tmp/shots").mkdir(exist_ok=True)
    dialog.grab().save("/tmp/shots/about.png")
    dialog.copy_button.click()
    from PySide6.QtGui import QGuiApplication
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith(f"Journey Studio {__version__}\nBuild: development")
    assert "Python" in copied and "Qt" in copied
    dialog.close()


def test_about_shows_a_packaged_build(qtbot) -> None:
    from designer.about import AboutDialog
    dialog = AboutDialog(None, BuildInfo("0.1.0", "1a2b3c4d5e", "2026-12-03 12:00 UTC", "linux-x86_64"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.build_label.text() == "Build: commit 1a2b3c4d5e, 2026-12-03 12:00 UTC"
    dialog.grab().save("/tmp/shots/about-build.png")
    dialog.reject()
    assert not dialog.isVisible()


def test_help_about_in_the_main_window_opens_it(qtbot, tmp_path: Path, leftover_windows_closed) -> None:
    from PySide6.QtWidgets import QApplication

    from designer.about import AboutDialog
    from tests.window_helpers import template_window
    w = template_window(qtbot, tmp_path / "p.jstudio", "re-engagement.yaml")
    w.actions.about.trigger()
    qtbot.waitUntil(lambda: any(isinstance(d, AboutDialog) and d.isVisible()
                                for d in QApplication.topLevelWidgets()), timeout=5000)
    [dialog] = [d for d in QApplication.topLevelWidgets() if isinstance(d, AboutDialog) and d.isVisible()]
    assert dialog.version_label.text() == f"Version {__version__}"
    dialog.close()
    w.document.undo_stack.setClean()
    w.close()
