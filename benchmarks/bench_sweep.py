"""Benchmark (not a test): a what-if sweep of 12 points at 100,000 contacts, run one point after the other and in
worker processes: the same JSON, bit for bit, and the speed-up.

Run: python -m benchmarks.bench_sweep [contacts] [rounds] [workers] [replicas]   -- prints JSON figures.
Creates a temporary project like the demo and sweeps its re-engagement journey (an email, a 5-day wait, an
if/then on an open, an offer) over the wait's duration (3d, 5d, 7d) and the email open rate (0.15 to 0.3): 12
points and the baseline, one replica each (`replicas`: more, for longer points), seed 7, 13 runs in all (no point
is at the current values).

Each figure is a whole command, `journey-studio sweep ... --json` started as a new process and timed from its
start to its exit (Python's start, the imports, reading the project, the check, the points, the JSON written):
`--workers 1` (serial: the points one after the other, each run's chunks on the engine's threads, two by
default, as `simulate` runs them), `--workers N` (parallel, default: the number of CPUs; each worker process is
spawned, imports the simulator and runs its points on one thread) and `--workers 1` with
JOURNEY_STUDIO_SIM_THREADS=1 (serial on one thread: what the processes add over one core). The yardstick,
measured in the same session, is one whole `journey-studio simulate` of the same journey at the same size with
--no-save (one run: the sweep's 13 runs cost about 13 of it serially, less the start-up it pays once). The four
alternate `rounds` times (default 3), so a busy moment of a shared machine falls on each; the figures are
medians. `speedup` is the serial median over the parallel one (`speedup_over_one_thread`: the one-thread serial
median over the parallel one); `identical` says the three JSON files were the same bytes in every round. The
load average when it started is given: on a machine other work shares, the speed-up is less than the workers'
count.
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
from typing import Any

JOURNEY = "Re-engagement"
GRID = ("--vary", "wait5.duration=3d,5d,7d", "--vary", "behaviour.email.open=0.15,0.2,0.25,0.3")
SEED = "7"


def _timed(args: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds from the command's start to its exit (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])}... failed: {done.stderr.strip()[-400:]}")
    return took


def main(contacts: int = 100_000, rounds: int = 3, workers: int = 0, replicas: int = 1) -> dict[str, Any]:
    """Measure and return the figures."""
    from app.services import create_demo_project
    workers = workers or os.cpu_count() or 1
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    project = folder / "bench.jstudio"
    create_demo_project(project, contacts=200)
    cli = [sys.executable, "-m", "app.cli.main"] if not Path(sys.executable).with_name("journey-studio").exists() \
        else [str(Path(sys.executable).with_name("journey-studio"))]
    sweep = [*cli, "sweep", str(project), "--journey", JOURNEY, *GRID, "--contacts", str(contacts),
             "--replicas", str(replicas), "--seed", SEED]
    yardstick = [*cli, "simulate", str(project), "--journey", JOURNEY, "--contacts", str(contacts), "--seed", SEED,
                 "--replicas", str(replicas), "--no-save"]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    times: dict[str, list[float]] = {"serial": [], "parallel": [], "yardstick": [], "serial_one_thread": []}
    one_thread = {**os.environ, "JOURNEY_STUDIO_SIM_THREADS": "1"}
    identical = True
    for r in range(rounds):
        serial_json, parallel_json = folder / f"serial{r}.json", folder / f"parallel{r}.json"
        times["yardstick"].append(_timed(yardstick))
        times["serial"].append(_timed([*sweep, "--workers", "1", "--json", str(serial_json)]))
        times["parallel"].append(_timed([*sweep, "--workers", str(workers), "--json", str(parallel_json)]))
        one_json = folder / f"one{r}.json"
        times["serial_one_thread"].append(_timed([*sweep, "--workers", "1", "--json", str(one_json)], one_thread))
        identical = identical and serial_json.read_bytes() == parallel_json.read_bytes() == one_json.read_bytes()
    doc = json.loads((folder / "serial0.json").read_text(encoding="utf-8"))
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "what": f"journey-studio sweep of {len(doc['points'])} points ({doc['runs']} runs with the baseline) at "
                f"{contacts:,} contacts, {replicas} replica(s), '{JOURNEY}'; whole commands (process start to exit)",
        "identical": identical,
        "serial_s": round(median["serial"], 2),
        "parallel_s": round(median["parallel"], 2),
        "workers": workers,
        "speedup": round(median["serial"] / median["parallel"], 2),
        "serial_one_thread_s": round(median["serial_one_thread"], 2),
        "speedup_over_one_thread": round(median["serial_one_thread"] / median["parallel"], 2),
        "yardstick": f"journey-studio simulate of the same journey at {contacts:,} contacts, {replicas} replica(s), "
                     "--no-save "
                     "(whole command)",
        "yardstick_s": round(median["yardstick"], 2),
        "serial_per_yardstick": round(median["serial"] / median["yardstick"], 2),
        "parallel_per_yardstick": round(median["parallel"] / median["yardstick"], 2),
        "rounds": rounds,
        "all_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "load_average_at_start": None if load is None else [round(x, 2) for x in load],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contacts", nargs="?", type=int, default=100_000)
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("workers", nargs="?", type=int, default=0, help="worker processes (default: the CPUs)")
    parser.add_argument("replicas", nargs="?", type=int, default=1)
    a = parser.parse_args()
    print(json.dumps(main(a.contacts, a.rounds, a.workers, a.replicas), indent=1))
