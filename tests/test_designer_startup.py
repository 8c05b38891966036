"""The designer's first window loads what it shows: the simulator, NumPy and pyqtgraph come with the first
simulation panel or run opened, and the panels built on first use work as before (no timing here: the figures
are in benchmarks/bench_startup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from app.cli.main import main

LATER = ("numpy", "pyqtgraph", "simulator", "networkx", "temporalio", "cryptography", "scipy")


def test_the_first_window_imports_no_simulation_or_plot_library(tmp_path: Path) -> None:
    project = tmp_path / "shop.jstudio"
    assert main(["new", str(project)]) == 0
    code = textwrap.dedent("""
        import json, sys
        from PySide6.QtWidgets import QApplication
        from designer.launch import application
        from designer.main_window import MainWindow
        app = application()
        window = MainWindow.open(sys.argv[1])
        window.show()
        app.processEvents()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in set(sys.argv[2].split(",")))
        window.simulation.show_docks("plots")  # a panel shown is built, with what it needs
        app.processEvents()
        print(json.dumps([heavy, "pyqtgraph" in sys.modules, window.simulation.plots.isVisible()]))
        window.close()
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", JOURNEY_STUDIO_HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "config"))  # a first start: no saved layout with Plots in front
    done = subprocess.run([sys.executable, "-c", code, str(project), ",".join(LATER)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    heavy, plots_loaded, plots_visible = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert plots_loaded and plots_visible
