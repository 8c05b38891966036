"""Benchmark (not a test): the replay view's index and scrubbing, on a 1,000,000-contact run and a 1,000-step journey.

Run: python -m benchmarks.bench_replay [--contacts N] [--big-contacts N]     -- prints JSON figures

- Re-engagement journey (seed 002), 1,000,000 contacts all entering (as benchmarks/bench_simulator.py), 2
  replicas so the hover figures carry intervals: the time to build `Replay` from the trace (and from a saved
  record, which adds reading the trace's npz), then for 200 scrub positions spread over the simulated time,
  `at(t)` alone and `at(t)` with `status_line` for every step (median and 95th percentile), and
  `tooltip_lines` of one step.
- The 1,000-step journey of benchmarks/journeys.py (`big_journey`, one year) with fewer contacts, the same way.
- The size of the record's steps.npz (the per-step daily intervals kept with a saved run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from typing import Any

import numpy as np

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from benchmarks.journeys import big_journey
from simulator.behaviour import BehaviourModel
from app.semantics.plan import Plan, compile_plan
from simulator.population import Population, population_for
from simulator.replay import Replay
from simulator.replicas import simulate
from simulator.runs import RunRecord

SEED = 2
POSITIONS = 200


def _everyone_enters(plan: Plan, pop: Population) -> Population:
    return dataclasses.replace(pop, consent=np.maximum(pop.consent, plan.audience.min_consent).astype(np.int8))


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1000, 3),
            "p95_ms": round(xs[min(len(xs) - 1, int(0.95 * len(xs)))] * 1000, 3),
            "max_ms": round(xs[-1] * 1000, 3)}


def _case(label: str, journey: Any, contents: Any, segments: Any, contacts: int, replicas: int) -> dict[str, Any]:
    plan = compile_plan(journey)
    pop = _everyone_enters(plan, population_for(plan, contacts, SEED))
    t = time.perf_counter()
    result = simulate(plan, pop, BehaviourModel(), SEED, replicas)
    simulated = time.perf_counter() - t
    record = RunRecord.from_result(result, journey, pop.spec, BehaviourModel(), chunk_size=125_000,
                                   content={c.name: c for c in contents}, segments={s.name: s for s in segments})
    t = time.perf_counter()
    replay = Replay(result.trace, plan, result.step_intervals())
    built = time.perf_counter() - t
    t = time.perf_counter()
    Replay.from_record(record)
    from_record = time.perf_counter() - t
    positions = np.linspace(replay.t0, replay.horizon, POSITIONS).astype(np.int64).tolist()
    at_only, with_status = [], []
    for p in positions:
        t = time.perf_counter()
        frame = replay.at(p)
        at_only.append(time.perf_counter() - t)
        for sid in replay.steps:
            replay.status_line(frame, sid)
        with_status.append(time.perf_counter() - t)
    frame = replay.at(positions[len(positions) // 3])
    t = time.perf_counter()
    lines = replay.tooltip_lines(frame, replay.steps[0])
    tooltip = time.perf_counter() - t
    visits = len(result.trace.visits["step"])
    return {"case": label, "contacts": contacts, "steps": len(replay.steps), "replicas": replicas,
            "days": result.trace.days, "visit_rows": visits, "message_rows": len(result.trace.messages["sent"]),
            "index_keys": int(len(replay._keys)), "simulate_s": round(simulated, 2),
            "build_from_trace_s": round(built, 3), "build_from_record_s": round(from_record, 3),
            "at": _ms(at_only), "at_and_status_lines_every_step": _ms(with_status),
            "tooltip_ms": round(tooltip * 1000, 3), "tooltip_example": lines[:4],
            "steps_npz_bytes": len(record.steps_npz), "trace_npz_bytes": len(record.trace_npz),
            "status_example": {sid: replay.status_line(frame, sid) for sid in replay.steps[:4]}}


def main(contacts: int = 1_000_000, big_contacts: int = 20_000) -> dict[str, Any]:
    j, contents, segments = read_journey_file(resource_path("templates", "re-engagement.yaml"))
    realistic = _case("re-engagement (seed 002)", j, contents, segments, contacts, 2)
    bj, bcontents, bsegments = big_journey(1000)
    big = _case("big_journey(1000)", bj, bcontents, bsegments, big_contacts, 2)
    result = {"benchmark": "replay index and scrubbing", "positions": POSITIONS, "realistic": realistic,
              "big": big,
              "bars": {"at_under_5ms_1m": realistic["at"]["median_ms"] < 5,
                       "at_under_20ms_1000_steps": big["at"]["median_ms"] < 20},
              "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--big-contacts", type=int, default=20_000)
    a = ap.parse_args()
    main(a.contacts, a.big_contacts)
