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
    result = {
        "benchmark": "open and validate a journey",
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
