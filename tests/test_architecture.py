"""Architecture rules: the core imports no Qt; the Qt version in use is not the one that aborts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CORE_PACKAGES = ["app", "simulator"]
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")


def test_core_imports_no_qt() -> None:
    """Import every module of the core in a fresh interpreter and check that no Qt module came along."""
    code = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        for top in {CORE_PACKAGES!r}:
            pkg = importlib.import_module(top)
            for m in pkgutil.walk_packages(pkg.__path__, top + "."):
                if ".migrations.versions." in m.name or m.name.endswith(".migrations.env"):
                    continue  # alembic scripts are loaded by alembic, not imported
                if m.name == "simulator.baseline_simpy":
                    continue  # the benchmark's SimPy baseline (the 'bench' extra), not part of the product
                importlib.import_module(m.name)
        bad = sorted(n for n in sys.modules if n.split(".")[0] in {QT_MODULES!r})
        print(",".join(bad))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core modules pulled in Qt: {out.stdout.strip()}"


def test_pyside_version_is_pinned_below_the_broken_release() -> None:
    import PySide6
    major, minor = (int(x) for x in PySide6.__version__.split(".")[:2])
    assert (6, 8) <= (major, minor) < (6, 12), PySide6.__version__


def test_none_refcount_does_not_fall_across_void_qt_calls(qtbot) -> None:
    """Canary for the PySide6 6.12.0 bug where every void call drops a reference to None until it aborts."""
    from PySide6.QtWidgets import QWidget
    w = QWidget()
    qtbot.addWidget(w)
    before = sys.getrefcount(None)
    for i in range(1000):
        w.setVisible(i % 2 == 0)
    assert sys.getrefcount(None) >= before


def test_process_exits_cleanly_after_a_copy_to_the_clipboard() -> None:
    """Qt destroys the clipboard after Python has finalised; our data must be gone by then (was a segfault)."""
    code = textwrap.dedent("""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QMimeData
        from PySide6.QtWidgets import QApplication
        from designer.clipboard import set_mime_data
        app = QApplication([])
        mime = QMimeData()
        mime.setText("steps")
        set_mime_data(mime)
        print(QApplication.clipboard().text())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.returncode, out.stderr[-500:])
    assert out.stdout.strip() == "steps"
