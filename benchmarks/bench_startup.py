"""Benchmark (not a test): start-up as the user feels it, each figure a whole process beside its yardstick.

Run: python -m benchmarks.bench_startup [--rounds N]   -- prints JSON figures (seconds, and ratios)

Each case is a fresh interpreter, timed from spawning it to its exit (so it includes Python's own start, every
import and the work), `rounds` times, the cases interleaved so that a busy moment of the machine hits all of
them alike; medians and minima are printed, and each case's median as a ratio to its yardstick's median
measured in the same rounds:

- `python -c pass` is the yardstick of the commands: `journey-studio --help`, and `journey-studio validate` on
  a 4-step project (the announcement template).
- A bare PySide6 main window (QApplication, a 1440 x 900 QMainWindow shown, its first events processed) is the
  yardstick of the designer's first window: `journey-studio PROJECT` on the demo project a first start builds
  (three journeys, 5,000 contacts), up to the same point: the window shown and the first events after show()
  processed (the first paint), then the process ends without tearing Qt down (os._exit), as the yardstick does.
  Both run with QT_QPA_PLATFORM=offscreen.

The goals (issue 15) are given as seconds on the machine it was filed on, whose yardsticks were 0.05 s (python)
and 0.36 s (bare window); `goal_ratio` is the goal over that yardstick, to compare with `ratio`.

Bytecode: an installed application runs from compiled bytecode (pip and the packaged build write it). A shell
with PYTHONDONTWRITEBYTECODE set (as on the machine these figures were taken on) would make every start compile
the application's modules again, a fifth of the designer's start-up there. So the processes timed here write
and read their bytecode under a private folder of the run (PYTHONPYCACHEPREFIX; the warm-up round writes it),
never into the source tree; `--no-bytecode-cache` times them as the shell's settings have it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys\nfrom app.cli.main import main\nsys.exit(main())"

BARE_WINDOW = """import os
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow()
w.resize(1440, 900)
w.show()
app.processEvents()
os._exit(0)
"""

FIRST_WINDOW = """import os, sys
from PySide6.QtWidgets import QApplication

def first_window_then_exit(*args):  # the event loop's first round, then the process ends as BARE_WINDOW's does
    QApplication.processEvents()
    sys.stdout.flush()
    os._exit(0)

QApplication.exec = first_window_then_exit
from app.cli.main import main
sys.exit(main())
"""

GOALS = {"help": (0.2, 0.05), "validate": (0.4, 0.05), "designer_first_window": (1.2, 0.36)}


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[-1]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def _projects(folder: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A 4-step project (the announcement template) and the demo project (not timed)."""
    from app.resources import resource_path
    small = folder / "shop.jstudio"
    for args in (["new", str(small)], ["import", str(small), str(resource_path("templates", "announcement.yaml"))]):
        subprocess.run([sys.executable, "-c", CLI, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    demo = folder / "demo.jstudio"
    subprocess.run([sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
                    "from app.services import create_demo_project\ncreate_demo_project(Path(sys.argv[1]))",
                    str(demo)], env=env, check=True)
    return small, demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="time the processes with the shell's bytecode settings (see the docstring)")
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        # a first start: its own recent list and no saved window layout (one with Plots in front builds them)
        env = dict(os.environ, JOURNEY_STUDIO_HOME=str(Path(tmp) / "home"), XDG_CONFIG_HOME=str(Path(tmp) / "config"),
                   QT_QPA_PLATFORM="offscreen")
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "bytecode")
        small, demo = _projects(Path(tmp), env)
        cases = {
            "python_pass": [py, "-c", "pass"],
            "help": [py, "-c", CLI, "--help"],
            "validate": [py, "-c", CLI, "validate", str(small)],
            "bare_pyside6_window": [py, "-c", BARE_WINDOW],
            "designer_first_window": [py, "-c", FIRST_WINDOW, str(demo)],
        }
        for argv_ in cases.values():  # warm the file cache: the figures are of warm starts
            _time(argv_, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, argv_ in cases.items():
                times[name].append(_time(argv_, env))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    yardstick = {"help": "python_pass", "validate": "python_pass", "designer_first_window": "bare_pyside6_window"}
    figures: dict[str, object] = {}
    for name, ts in times.items():
        entry: dict[str, object] = {"median_s": round(med[name], 3), "min_s": round(min(ts), 3),
                                    "max_s": round(max(ts), 3)}
        if name in yardstick:
            goal, filed_yardstick = GOALS[name]
            entry.update({"yardstick": yardstick[name], "ratio": round(med[name] / med[yardstick[name]], 2),
                          "goal_s": goal, "goal_ratio": round(goal / filed_yardstick, 2)})
        figures[name] = entry
    print(json.dumps({"benchmark": "start-up, whole processes", "rounds": args.rounds,
                      "bytecode": "as the shell has it" if args.no_bytecode_cache else "cached (private folder)",
                      "figures": figures,
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
