"""The simulator is pure: it imports no Qt, and SimPy only in the benchmark's baseline."""

from __future__ import annotations

import subprocess
import sys
import textwrap

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph")


def test_simulator_imports_no_qt_and_no_simpy() -> None:
    code = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        import simulator
        for m in pkgutil.walk_packages(simulator.__path__, "simulator."):
            if m.name != "simulator.baseline_simpy":
                importlib.import_module(m.name)
        importlib.import_module("app.cli.simulate")
        bad = sorted(n for n in sys.modules if n.split(".")[0] in {QT_MODULES!r} + ("simpy",))
        print(",".join(bad))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the simulator pulled in: {out.stdout.strip()}"
