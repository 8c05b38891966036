"""Benchmark (not a test): how often an A/B split's winner rule names a winner, over many seeds.

Run: python -m benchmarks.bench_ab_winner [--replicas 1000] [--contacts 900] [--power-contacts 1500] [--seed 1]
[--only null|power|rule]   -- prints JSON lines.

The journey of tests/test_ab_winner.py: weekly for three weeks, an A/B test of two or three emails, winner by
opens, a 3-day test period (the first week's contacts are the test), at least 100 contacts a path, level 5 %.
Each replica of one `simulate` call is its own seed and decides its own winner, so `--replicas` is the number of
seeds. For each case it prints the share of replicas that named a winner (and which), with a 95 % Wilson
interval:

- no true difference (every email opened at the default 21.3 %), two and three paths: the false-winner rate,
  which the rule bounds by its level (two paths: a two-sided test at 5 %, a little conservative with its
  continuity correction; three paths: Bonferroni over the paths, well under 5 %);
- a true winner (B opened at 32 %), two paths, 1,500 contacts as in the test: how often B is named (the power).

Then the rule alone on binomial draws (no simulator), 200,000 tests per cell, over sample sizes and rates: the
largest false-winner rate seen, which must not exceed the level.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from app.semantics.ab_test import decide
from app.semantics.plan import ABTest, compile_plan
from simulator.behaviour import BehaviourModel
from simulator.population import population_for
from simulator.replicas import simulate
from app.model.journey import Frequency, Journey, Schedule, Step, Trigger
from app.model.registry import END

START = datetime(2027, 1, 11, 9, 0)


def ab_journey(paths: int) -> Journey:
    """Weekly for three weeks, an A/B test of `paths` emails by opens over the first three days."""
    names = "ABCDE"[:paths]
    j = Journey("j", "AB", schedule=Schedule(START, START + timedelta(days=30), "Europe/Paris"),
                frequency=Frequency("repeating", timedelta(days=7), 3), goal=Trigger(event="purchase"))
    j.add_step(Step("ab", "ab-split", "Subject test", props={
        "split": tuple([100 / paths] * paths), "winner_metric": "opened", "test_period": timedelta(days=3),
        "min_sample": 100, "significance": 5}, outputs={p: f"mail_{p}" for p in names}))
    for p in names:
        j.add_step(Step(f"mail_{p}", "email", f"Subject {p}", props={"content": p}, outputs={"next": END}))
    return j


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson interval of a proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def simulated(paths: int, b_open: float | None, contacts: int, replicas: int, seed: int) -> dict[str, object]:
    plan = compile_plan(ab_journey(paths))
    behaviour = BehaviourModel() if b_open is None else replace(BehaviourModel(), messages={"mail_B": {"open": b_open}})
    started = time.perf_counter()
    res = simulate(plan, population_for(plan, contacts, seed), behaviour, seed, replicas, chunk_size=4096)
    summary = res.to_json()["ab_tests"][0]
    named = replicas - summary["no_winner"]
    low, high = wilson(named, replicas)
    return {"case": "no true difference" if b_open is None else f"B opens {b_open:.0%}", "paths": paths,
            "contacts": contacts, "replicas": replicas, "winner_named": named, "rate": round(named / replicas, 4),
            "interval95": [round(low, 4), round(high, 4)], "wins": summary["wins"], "level": 0.05,
            "seconds": round(time.perf_counter() - started, 1)}


def rule_alone(tests: int = 200_000) -> dict[str, object]:
    rng = np.random.default_rng(0)
    worst: dict[str, object] = {"rate": 0.0}
    for paths in (2, 3, 5):
        for n in (100, 400, 2000):
            for p in (0.02, 0.2, 0.5):
                x = rng.binomial(n, p, size=(tests // paths // 3, paths))
                test = ABTest("opened", 0, 100, 0.05)
                counts = np.full(paths, n)
                rate = sum(decide("s", test, counts, row).winner >= 0 for row in x) / len(x)
                if rate > float(worst["rate"]):  # type: ignore[arg-type]
                    worst = {"rate": round(rate, 4), "paths": paths, "contacts_per_path": n, "open_rate": p,
                             "tests": len(x)}
    return {"case": "the rule on binomial draws: the largest false-winner rate over paths 2/3/5, 100-2000 "
                    "contacts a path, rates 2-50 %", "level": 0.05, "worst": worst}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--contacts", type=int, default=900, help="contacts with no true difference")
    ap.add_argument("--power-contacts", type=int, default=1500, help="contacts with a true winner (as the test)")
    ap.add_argument("--only", choices=("null", "power", "rule"), help="one part only")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    for paths, b_open in ((2, None), (3, None), (2, 0.32)):
        if a.only in (None, "power" if b_open else "null"):
            contacts = a.power_contacts if b_open else a.contacts
            print(json.dumps(simulated(paths, b_open, contacts, a.replicas, a.seed)), flush=True)
    if a.only in (None, "rule"):
        print(json.dumps(rule_alone()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
