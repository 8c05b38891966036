"""Benchmark (not a test): the re-engagement journey of seed 002 at 100k, 1M and 10M synthetic contacts.

Run: python -m benchmarks.bench_simulator [--sizes 100000,1000000] [--repeats 3]
(needs the `bench` extra: simpy). Prints JSON; every figure of a size is measured in the same session, so the
ratios hold even on a shared machine (absolute seconds move with its load):

- NumPy model: the same journey written by hand over the whole population (benchmarks/sim_numpy_model.py), in
  this process, median of the repeats: the yardstick of the engine's speed.
- Engine: `simulate()` in this process on the same population (drawn once, outside the timing): the run's
  world (segments evaluated from their definitions over the period with the contacts' own purchases fed back,
  background events, calibration), the run with its trace, the paired twin and the named metrics; median of
  the repeats, with its parts.
- SimPy: a process-per-contact model of the same journey (simulator/baseline_simpy.py), once per size (its
  inputs - who enters when, engagement, zone - worked out with NumPy before its clock starts); its own scaling
  is measured at every size, not extrapolated.
- Command: `journey-studio simulate --contacts N --json FILE` on a project holding the journey, as a whole
  process (interpreter start-up, imports, the population, the world, the run, the twin, the record, saving it in
  the project, the JSON), median of the repeats (one at 10M), its peak RSS, its CPU time, the machine's load
  when it started, and the parts it prints. `--compare-tree DIR` runs the same command from another checkout
  too (the code before a change), alternated round by round, with the ratios; `--command-only` skips the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from app.semantics.plan import Plan, compile_plan
from benchmarks.sim_numpy_model import run_numpy_model
from simulator.behaviour import BehaviourModel
from simulator.population import Population, population_for
from simulator.replicas import simulate
from simulator.world import build_world

SEED = 2
SIZES = (100_000, 1_000_000, 10_000_000)


def _journey() -> tuple[Plan, dict[str, Any]]:
    j, _, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    return compile_plan(j), {s.name: s for s in segments}


def _ratio(a: float, b: float) -> float | None:
    """a / b rounded, None (JSON null) instead of NaN or infinity."""
    return round(a / b, 2) if b > 0 and a >= 0 else None


def _median_of(repeats: int, work: Callable[[], Any]) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def _time_numpy(plan: Plan, pop: Population, repeats: int) -> dict[str, Any]:
    median, times, out = _median_of(repeats, lambda: run_numpy_model(plan, pop, BehaviourModel(), SEED))
    return {"seconds_median": round(median, 3), "seconds_all": [round(t, 3) for t in times],
            "entered": out["entered"], "funnel": out["funnel"],
            "purchase_with": round(out["purchase_with"], 4), "purchase_without": round(out["purchase_without"], 4)}


def _time_engine(plan: Plan, pop: Population, repeats: int) -> dict[str, Any]:
    parts: list[dict[str, float]] = []

    def once() -> int:
        result = simulate(plan, pop, BehaviourModel(), SEED, 1)
        parts.append(dict(result.timings))
        return len(result.trace.units["contact"])

    median, times, entered = _median_of(repeats, once)
    keys = [k for k in parts[0] if k != "population"]
    return {"seconds_median": round(median, 3), "seconds_all": [round(t, 3) for t in times], "entered": entered,
            "parts_median": {k: round(statistics.median(p.get(k, 0.0) for p in parts), 3) for k in keys},
            "contacts_per_s": round(len(pop) / median), "microseconds_per_contact": round(1e6 * median / len(pop), 3)}


def _time_simpy(plan: Plan, pop: Population) -> dict[str, Any]:
    from simulator.baseline_simpy import inputs, run_simpy
    behaviour = BehaviourModel()
    given = inputs(plan, pop, build_world(plan, pop, behaviour, SEED))
    t0 = time.perf_counter()
    out = run_simpy(plan, pop, behaviour, SEED, given=given)
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "entered": out["entered"], "contacts_per_s": round(len(pop) / seconds),
            "entered_per_s": round(out["entered"] / seconds),
            "microseconds_per_contact": round(1e6 * seconds / len(pop), 3)}


_PART = re.compile(r"([a-z -]+) ([0-9.]+) s")


# Started from this (large) process, a command's peak RSS would count ours: a child made by vfork or
# posix_spawn takes its parent's high-water mark at exec (the 10M round read 5.1 GB for a 3.7 GB command). A
# small launcher process starts the command and reports its wall time and peak RSS.
_LAUNCH = """import os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.perf_counter() - t0} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} "
            f"{usage.ru_utime + usage.ru_stime}")
"""


def _run_measured(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run `cmd`; (wall seconds, peak RSS in MiB, CPU seconds (user and system), standard error)."""
    report = Path(str(out) + ".measured")
    with open(out, "w") as so, open(str(out) + ".err", "w") as se:
        subprocess.run([sys.executable, "-c", _LAUNCH, str(report), *cmd], stdout=so, stderr=se, check=False,
                       env=env)
    err = Path(str(out) + ".err").read_text()
    wall, peak_kib, code, cpu = report.read_text().split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return float(wall), int(peak_kib) / 1024, float(cpu), err


def _load() -> float | None:
    """The 1-minute load average (other work on a shared machine), None where there is none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _time_command(contacts: int, repeats: int, other_tree: str | None = None) -> dict[str, Any]:
    """The whole `journey-studio simulate` process, median of `repeats`, its peak RSS, CPU time and the parts it
    reports; with `other_tree` (a checkout of another version, e.g. `git worktree add /tmp/before REV`), the same
    command from that tree too, the two alternated round by round (so that both see the same load)."""
    exe = str(Path(sys.executable).with_name("journey-studio"))
    trees: dict[str, dict[str, str] | None] = {"this": None}
    if other_tree:
        trees["other"] = {**os.environ, "PYTHONPATH": str(Path(other_tree).resolve())}
    runs: dict[str, dict[str, list[Any]]] = {k: {"wall": [], "rss": [], "cpu": [], "parts": [], "load": []}
                                             for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p.jstudio"
        subprocess.run([exe, "new", str(project)], check=True, capture_output=True)
        subprocess.run([exe, "import", str(project), str(resource_path("templates", "re-engagement.yaml"))],
                       check=True, capture_output=True)
        for _ in range(repeats):
            for name, env in trees.items():
                r = runs[name]
                r["load"].append(_load())
                wall, peak, cpu, err = _run_measured([exe, "simulate", str(project), "--journey", "Re-engagement",
                                                      "--contacts", str(contacts), "--seed", str(SEED), "--json",
                                                      str(Path(tmp) / "run.json")], Path(tmp) / "out.txt", env)
                r["wall"].append(wall)
                r["rss"].append(peak)
                r["cpu"].append(cpu)
                took = next(line for line in err.splitlines() if line.startswith("Took "))
                r["parts"].append({k.strip().replace(" ", "_"): float(v)
                                   for k, v in _PART.findall(took.split("(", 1)[1])})
        saved = project.stat().st_size
    out: dict[str, Any] = {}
    for name, r in runs.items():
        median = statistics.median(r["wall"])
        parts = r["parts"]
        out[name] = {"contacts": contacts, "seconds_median": round(median, 2),
                     "seconds_all": [round(w, 2) for w in r["wall"]],
                     "cpu_seconds_median": round(statistics.median(r["cpu"]), 2),
                     "peak_rss_mib_max": round(max(r["rss"])), "load_1min": r["load"],
                     "parts_median": {k: round(statistics.median(p.get(k, 0.0) for p in parts), 2) for k in parts[0]},
                     "microseconds_per_contact": round(1e6 * median / contacts, 3)}
    result = out["this"]
    result["project_file_mib"] = round(saved / 2**20, 1)
    if other_tree:
        other = out["other"]
        result["other_tree"] = {"tree": str(other_tree), **other,
                                "this_over_other_seconds": _ratio(result["seconds_median"], other["seconds_median"]),
                                "this_over_other_cpu": _ratio(result["cpu_seconds_median"],
                                                              other["cpu_seconds_median"])}
    return result


def measure(n: int, repeats: int, other_tree: str | None = None) -> dict[str, Any]:
    """Every figure at one size (see the module docstring)."""
    plan, definitions = _journey()
    t0 = time.perf_counter()
    pop = population_for(plan, n, SEED, definitions=definitions)
    population_seconds = time.perf_counter() - t0
    numpy_model = _time_numpy(plan, pop, repeats)
    engine = _time_engine(plan, pop, repeats)
    simpy = _time_simpy(plan, pop)
    del pop
    command = _time_command(n, repeats if n < 10_000_000 else 1, other_tree)
    return {"contacts": n, "population_in_process_seconds": round(population_seconds, 3),
            "numpy_model": numpy_model, "engine": engine, "simpy": simpy, "command": command,
            "engine_over_numpy_model": _ratio(engine["seconds_median"], numpy_model["seconds_median"]),
            "simpy_over_engine": _ratio(simpy["seconds"], engine["seconds_median"]),
            "command_over_engine": _ratio(command["seconds_median"], engine["seconds_median"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="population sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each in-process timing and command")
    parser.add_argument("--compare-tree", metavar="DIR",
                        help="also run the command from this checkout (e.g. the code before a change: git worktree "
                             "add DIR REV), alternated with this one round by round")
    parser.add_argument("--command-only", action="store_true",
                        help="time the whole command only (not the NumPy model, the engine or SimPy)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    by_size: list[dict[str, Any]] = []
    for n in sizes:  # each size's figures also go to standard error as soon as they are measured
        if args.command_only:
            by_size.append({"contacts": n, "command": _time_command(n, max(1, args.repeats), args.compare_tree)})
        else:
            by_size.append(measure(n, max(1, args.repeats), args.compare_tree))
        print(json.dumps(by_size[-1], allow_nan=False), file=sys.stderr, flush=True)
    scaling = {}
    if len(by_size) > 1 and not args.command_only:
        first, last = by_size[0], by_size[-1]
        grow = last["contacts"] / first["contacts"]
        for what, key in (("engine", "seconds_median"), ("numpy_model", "seconds_median"), ("simpy", "seconds"),
                          ("command", "seconds_median")):
            scaling[what] = _ratio(last[what][key] / first[what][key], grow) if first[what][key] > 0 else None
    result = {
        "benchmark": "simulate the re-engagement journey (seed 002) over synthetic contacts",
        "sizes": by_size,
        "cost_growth_over_size_growth": scaling,  # 1.0: linear in the contacts
        "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2, allow_nan=False))
    return result


if __name__ == "__main__":
    main()
