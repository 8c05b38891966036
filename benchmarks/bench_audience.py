"""Benchmark (not a test): generate a million contacts, then count segments on them.

Run: python -m benchmarks.bench_audience [contacts]   -- prints JSON figures and the machine.
Bars (issue 4): generation under 60 s; a three-row AND count under 300 ms; a Union / Exclude of two blocks
under 1 s (medians of repeated runs on a warm file).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from app.audience.members import count_where, segment_condition
from app.audience.population import generate
from app.model.segment import Segment
from app.store import ProjectFile

AS_OF = date(2026, 6, 1)
AT = datetime(2026, 6, 1, 12)


def _row(attribute: str, op: str, value: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "value": value}


QUERIES: dict[str, dict[str, Any]] = {
    # three rows, AND: French customers worth more than 200 in the upper loyalty tiers
    "and_3_rows": {"blocks": [{"where": {"all": [
        _row("country", "equals", "France"), _row("lifetime_value", "greater_than", 200),
        _row("loyalty_tier", "in", ["silver", "gold", "platinum"])]}}]},
    # three rows, AND, on a date, an option set and a text prefix
    "and_3_rows_recent": {"blocks": [{"where": {"all": [
        _row("consent_level", "in", ["marketing", "profiling"]), _row("last_purchase_date", "in_last_days", 60),
        _row("city", "begins_with", "New")]}}]},
    # union of a contacts block and an interactions block
    "union_2_blocks": {"blocks": [
        {"where": {"all": [_row("loyalty_tier", "in", ["gold", "platinum"])]}},
        {"op": "union", "root": "interactions", "where": {"all": [
            _row("kind", "equals", "purchase"), _row("at", "in_last_days", 30)]}}]},
    # exclude: marketable Americans without a purchase in the last 60 days
    "exclude_2_blocks": {"blocks": [
        {"where": {"all": [_row("country", "equals", "United States"),
                           _row("consent_level", "in", ["marketing", "profiling"])]}},
        {"op": "exclude", "root": "interactions", "where": {"all": [
            _row("kind", "equals", "purchase"), _row("at", "in_last_days", 60)]}}]},
    # exclude between two contact blocks (one on a subscription list)
    "exclude_2_contact_blocks": {"blocks": [
        {"where": {"all": [_row("lifetime_value", "at_least", 100)]}},
        {"op": "exclude", "where": {"all": [_row("subscription_lists", "contains", "Newsletter")]}}]},
}


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu or "unknown", "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def main(contacts: int = 1_000_000, repeats: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "audience.jstudio"
        with ProjectFile.create(path, name="Bench") as pf:
            started = time.perf_counter()
            report = generate(pf, contacts, seed=1, locales=("en_US", "fr_FR"), as_of=AS_OF)
            generated = time.perf_counter() - started  # includes the commit
        size_mb = path.stat().st_size / 1e6
        counts: dict[str, Any] = {}
        with ProjectFile.open(path, readonly=True) as pf, pf.connection() as conn:
            for name, q in QUERIES.items():
                condition = segment_condition(Segment(name, query=q), {}, AT)
                times, n = [], 0
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    n = count_where(conn, condition)
                    times.append(time.perf_counter() - t0)
                counts[name] = {"members": n, "median_ms": round(statistics.median(times) * 1000, 1),
                                "max_ms": round(max(times) * 1000, 1)}
    result = {
        "benchmark": "audience: population and segment counts",
        "contacts": report.contacts, "accounts": report.accounts, "interactions": report.interactions,
        "list_subscriptions": report.subscriptions, "file_mb": round(size_mb, 1),
        "generate_s": round(generated, 2),
        "counts": counts,
        "bars": {"generate_s": 60, "and_3_rows_ms": 300, "union_exclude_ms": 1000},
        "within_bars": (generated < 60
                        and all(counts[k]["median_ms"] < 300 for k in counts if k.startswith("and_"))
                        and all(counts[k]["median_ms"] < 1000 for k in counts if not k.startswith("and_"))),
        "repeats": repeats,
        "machine": _machine(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
