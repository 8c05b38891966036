"""Benchmark (not a test): open a project holding a 1,000-step journey and check it for errors.

Run: python -m benchmarks.bench_foundation   -- prints JSON figures (median of repeated runs).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.store import ProjectFile
from app.validation.checks import check_journey
from benchmarks.journeys import big_project


def main(n_steps: int = 1000, repeats: int = 7) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.jstudio"
        pf, journey = big_project(path, n_steps)
        pf.close()
        opens, checks, totals = [], [], []
        findings = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pf = ProjectFile.open(path, readonly=True)
            t1 = time.perf_counter()
            findings = check_journey(pf.project.journey(journey.name), pf.project, for_export=True)
            t2 = time.perf_counter()
            pf.close()
            opens.append(t1 - t0)
            checks.append(t2 - t1)
            totals.append(t2 - t0)
    edits = _edits(n_steps)
    result = {
        "benchmark": "open and validate a journey, and edit it",
        "edit_and_undo_ms": edits,
        "steps": n_steps,
        "open_s": round(statistics.median(opens), 4),
        "validate_s": round(statistics.median(checks), 4),
        "open_and_validate_s": round(statistics.median(totals), 4),
        "findings": len(findings),
        "errors": sum(f.is_error for f in findings),
        "repeats": repeats,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}",
    }
    print(json.dumps(result, indent=2))
    return result


def _edits(n: int) -> dict[str, float]:
    """Each kind of edit done and undone on a journey of `n` steps (the slowest of 5 tries, in ms)."""
    from datetime import timedelta

    from app.model.commands import (
        AddStep,
        Connect,
        Disconnect,
        DuplicateSteps,
        InsertOnLink,
        MoveSteps,
        RemoveSteps,
        SetProps,
    )
    from app.model.journey import Journey, Position, Step
    from app.model.project import Project
    p = Project()
    j = Journey("big", "Big")
    for i in range(n):
        j.add_step(Step(f"s{i}", "wait", props={"duration": timedelta(hours=1)},
                        outputs={"next": f"s{i + 1}"} if i + 1 < n else {}, position=Position(i * 10.0, 0)))
    p.add_journey(j)
    mid = [f"s{i}" for i in range(n // 2, n // 2 + 10)]

    def wait(sid: str) -> Step:
        return Step(sid, "wait", props={"duration": timedelta(hours=1)})
    commands = {
        "add": AddStep("big", wait("new"), index=n // 2, connect_from=(f"s{n // 2 - 1}", "next")),
        "insert_on_link": InsertOnLink("big", wait("new"), f"s{n // 2}", "next"),
        "remove": RemoveSteps("big", [f"s{n // 2}"]), "remove_10_healed": RemoveSteps("big", mid, heal=True),
        "connect": Connect("big", "s10", "next", f"s{n - 100}"), "disconnect": Disconnect("big", "s10", "next"),
        "set_props": SetProps("big", "s10", {"duration": timedelta(days=3)}),
        "move_10": MoveSteps("big", {s: Position(0, 0) for s in mid}), "duplicate_10": DuplicateSteps("big", mid)}
    out = {}
    for name, cmd in commands.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            cmd.do(p)
            cmd.undo(p)
            times.append(time.perf_counter() - t0)
        out[name] = round(max(times) * 1000, 3)
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
