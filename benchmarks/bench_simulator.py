"""Benchmark (not a test): the vectorised engine on the re-engagement journey of seed 002.

Run: python -m benchmarks.bench_simulator        -- prints JSON figures (needs the `bench` extra: simpy)

- Engine: 1,000,000 contacts, every one of them entering the journey (the synthetic population's consent is
  raised to the journey's minimum, so no contact is filtered out before the first step); the time covers the
  run with its trace and the named metrics (funnel, time series, conversion). Repeated; median and best are
  given (the machine may be shared), and the first run apart (it also pays for memory the process has not
  touched before). The population as generated (about a third pass the consent filter) is timed too.
- SimPy: a process-per-contact model of the same journey and behaviour (simulator/baseline_simpy.py) on fewer
  contacts; its cost grows linearly with the contacts, so its contacts/s carries over to 1,000,000.
- Memory: 10,000,000 contacts in a fresh process: population, run, trace and metrics; its peak RSS.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from simulator.engine import DEFAULT_CHUNK, run
from simulator.memory import keep_freed_memory
from simulator.metrics import figures
from simulator.replicas import simulate
from simulator.plan import Plan, compile_plan
from simulator.population import Population, population_for

SEED = 2


def _plan() -> Plan:
    return compile_plan(read_journey_file(resource_path("templates", "re-engagement.yaml"))[0])


def _everyone_enters(plan: Plan, pop: Population) -> Population:
    return dataclasses.replace(pop, consent=np.maximum(pop.consent, plan.audience.min_consent).astype(np.int8))


def _time_engine(plan: Plan, pop: Population, repeats: int) -> dict[str, Any]:
    times, entered, rows = [], 0, 0
    behaviour = BehaviourModel()
    for _ in range(repeats):  # simulate(): the run, its trace and the named metrics of one replica
        t0 = time.perf_counter()
        result = simulate(plan, pop, behaviour, SEED, 1)
        times.append(time.perf_counter() - t0)
        trace = result.trace
        entered, rows = len(trace.units["contact"]), len(trace.visits["step"]) + len(trace.messages["sent"])
        del trace, result
    n = len(pop)
    return {"contacts": n, "entered": entered, "trace_rows": rows, "chunk_size": DEFAULT_CHUNK,
            "seconds_first_run": round(times[0], 4), "seconds_median": round(statistics.median(times), 4),
            "seconds_best": round(min(times), 4), "contacts_per_s": round(n / statistics.median(times)),
            "contacts_per_s_best": round(n / min(times))}


def _time_simpy(plan: Plan, n: int) -> dict[str, Any]:
    from simulator.baseline_simpy import run_simpy
    pop = _everyone_enters(plan, population_for(plan, n, SEED))
    t0 = time.perf_counter()
    out = run_simpy(plan, pop, BehaviourModel(), SEED)
    seconds = time.perf_counter() - t0
    return {"contacts": n, "entered": out["entered"], "seconds": round(seconds, 3),
            "contacts_per_s": round(n / seconds)}


def child_10m(n: int = 10_000_000) -> dict[str, Any]:
    """Run in a fresh process: population, run and metrics for `n` contacts; peak RSS of this process."""
    plan = _plan()
    t0 = time.perf_counter()
    pop = _everyone_enters(plan, population_for(plan, n, SEED))
    t1 = time.perf_counter()
    with keep_freed_memory():  # as simulate() does, for run and metrics together
        trace = run(plan, pop, BehaviourModel(), SEED)
        f = figures(trace)
    t2 = time.perf_counter()
    times = resource.getrusage(resource.RUSAGE_SELF)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"contacts": n, "entered": len(trace.units["contact"]), "trace_rows": len(trace.visits["step"]),
            "population_s": round(t1 - t0, 2), "run_and_metrics_s": round(t2 - t1, 2),
            "contacts_per_s": round(n / (t2 - t1)), "peak_rss_gb": round(peak / 2**30, 3),
            "process_user_s": round(times.ru_utime, 2), "process_system_s": round(times.ru_stime, 2),
            "goal_reached": int(f["conversion"] * len(trace.units["contact"]))}


def main(repeats: int = 5, simpy_contacts: int = 20_000) -> dict[str, Any]:
    plan = _plan()
    generated = population_for(plan, 1_000_000, SEED)
    everyone = _everyone_enters(plan, generated)
    engine = _time_engine(plan, everyone, repeats)
    as_generated = _time_engine(plan, generated, repeats)
    simpy = _time_simpy(plan, simpy_contacts)
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_simulator", "--child-10m"], capture_output=True,
                           text=True, check=True)
    big = json.loads(child.stdout)
    result = {
        "benchmark": "simulate the re-engagement journey (seed 002)",
        "engine_1m_everyone_enters": engine,
        "engine_1m_population_as_generated": as_generated,
        "simpy_process_per_contact": simpy,
        "speedup_vs_simpy": round(engine["contacts_per_s"] / simpy["contacts_per_s"], 1),
        "engine_10m": big,
        "bars": {"contacts_per_s_at_least_2m": engine["contacts_per_s"] >= 2_000_000,
                 "at_least_20x_simpy": engine["contacts_per_s"] >= 20 * simpy["contacts_per_s"],
                 "10m_peak_rss_under_4gb": big["peak_rss_gb"] < 4.0},
        "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    if "--child-10m" in sys.argv:
        print(json.dumps(child_10m()))
    else:
        main()
