"""Benchmark (not a test): simulating the re-engagement journey of seed 002, engine and whole command.

Run: python -m benchmarks.bench_simulator        -- prints JSON figures (needs the `bench` extra: simpy)

- Engine: `simulate()` in this process on 1,000,000 synthetic contacts (drawn once, outside the timing): the
  run's world (the segments evaluated from their definitions over the period, with the contacts' own purchases
  fed back; background events; the calibrated figures), the run with its trace, the paired twin (each contact's
  events without the journey) and the named metrics. Repeated; median and best given (the machine may be
  shared), the first run apart (it also pays for memory the process has not touched before). The twin's part is
  measured inside the run and given on its own.
- SimPy: a process-per-contact model of the same journey and behaviour (simulator/baseline_simpy.py) on fewer
  contacts of the same kind (who enters when from the same world, worked out with NumPy, outside its timing);
  its cost grows linearly with the contacts entering, so its rate carries over.
- Command: `journey-studio simulate --contacts 1000000` on a project holding the journey, as a whole process
  (start-up, imports, the population, the run, the twin, the record and saving it in the project), median of
  three, with the parts the command prints.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from app.semantics.plan import Plan, compile_plan
from simulator.population import Population, population_for
from simulator.replicas import simulate
from simulator.world import build_world

SEED = 2


def _journey() -> tuple[Plan, dict[str, Any]]:
    j, _, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    return compile_plan(j), {s.name: s for s in segments}


def _time_engine(plan: Plan, pop: Population, repeats: int) -> dict[str, Any]:
    times, twins, worlds, entered = [], [], [], 0
    behaviour = BehaviourModel()
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = simulate(plan, pop, behaviour, SEED, 1)
        times.append(time.perf_counter() - t0)
        twins.append(result.timings.get("twin", 0.0))
        worlds.append(result.timings.get("world", 0.0))
        entered = len(result.trace.units["contact"])
        del result
    n = len(pop)
    median = statistics.median(times)
    walk = statistics.median(t - w for t, w in zip(times, worlds))  # the run, the twin and the metrics
    return {"contacts": n, "entered": entered, "seconds_first_run": round(times[0], 3),
            "seconds_median": round(median, 3), "seconds_best": round(min(times), 3),
            "contacts_per_s": round(n / median), "entered_per_s": round(entered / median),
            "world_seconds_median": round(statistics.median(worlds), 3),
            "run_twin_metrics_seconds_median": round(walk, 3), "entered_per_s_without_world": round(entered / walk),
            "twin_seconds_median": round(statistics.median(twins), 3),
            "twin_share_of_simulate": round(statistics.median(twins) / median, 3)}


def _time_simpy(plan: Plan, definitions: dict[str, Any], n: int) -> dict[str, Any]:
    from simulator.baseline_simpy import run_simpy
    pop = population_for(plan, n, SEED, definitions=definitions)
    world = build_world(plan, pop, BehaviourModel(), SEED)
    t0 = time.perf_counter()
    out = run_simpy(plan, pop, BehaviourModel(), SEED, world)
    seconds = time.perf_counter() - t0
    return {"contacts": n, "entered": out["entered"], "seconds": round(seconds, 3),
            "entered_per_s": round(out["entered"] / seconds), "contacts_per_s": round(n / seconds)}


_PART = re.compile(r"([a-z ]+) ([0-9.]+) s")


def _time_command(contacts: int, repeats: int = 3) -> dict[str, Any]:
    """The whole `journey-studio simulate` process, median of `repeats`, and the parts it reports."""
    exe = str(Path(sys.executable).with_name("journey-studio"))
    walls, parts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p.jstudio"
        subprocess.run([exe, "new", str(project)], check=True, capture_output=True)
        subprocess.run([exe, "import", str(project), str(resource_path("templates", "re-engagement.yaml"))],
                       check=True, capture_output=True)
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run([exe, "simulate", str(project), "--journey", "Re-engagement", "--contacts",
                                   str(contacts), "--seed", str(SEED), "--json", str(Path(tmp) / "run.json")],
                                  check=True, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            took = next(line for line in done.stderr.splitlines() if line.startswith("Took "))
            parts.append({k.strip().replace(" ", "_"): float(v) for k, v in _PART.findall(took.split("(", 1)[1])})
    median = statistics.median(walls)
    keys = parts[0].keys()
    return {"contacts": contacts, "seconds_median": round(median, 2), "seconds_all": [round(w, 2) for w in walls],
            "parts_median": {k: round(statistics.median(p[k] for p in parts), 2) for k in keys},
            "includes": "the whole process: start-up and imports, the population, the world, the run, the twin, "
                        "the run record and saving it in the project"}


def main(repeats: int = 5, simpy_contacts: int = 20_000) -> dict[str, Any]:
    plan, definitions = _journey()
    pop = population_for(plan, 1_000_000, SEED, definitions=definitions)
    engine = _time_engine(plan, pop, repeats)
    simpy = _time_simpy(plan, definitions, simpy_contacts)
    command = _time_command(1_000_000)
    result = {
        "benchmark": "simulate the re-engagement journey (seed 002) over synthetic contacts",
        "engine_1m": engine,
        "simpy_process_per_contact": simpy,
        "engine_vs_simpy_entered_per_s": round(engine["entered_per_s"] / simpy["entered_per_s"], 1),
        "engine_vs_simpy_entered_per_s_same_parts": round(engine["entered_per_s_without_world"]
                                                          / simpy["entered_per_s"], 1),
        "command_1m": command,
        "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
