"""Benchmark (not a test): a project file with many contacts as the user feels it, each figure beside a yardstick
run in the same session.

Run: python -m benchmarks.bench_project_file [contacts ...]   (default 100000 1000000) -- prints JSON.

At each size:
- `population_s`: the whole `journey-studio population` command (a new process: start-up, imports, drawing the
  contacts, formatting, inserting, building the 9 indexes, ANALYZE, commit with fsync; from 300,000 rows the
  interactions and memberships are written by a second process and copied in). Yardstick
  `plain_insert_s`: in this process, the same rows (already formatted) inserted with the sqlite3 driver's
  executemany into tables with no index, no key and no constraint, in one transaction, commit included.
- `population_phases`: the same load in this process, each phase timed on the loading thread (wall and CPU
  seconds), with the CPU of the whole process and of the side process: the profile of the command, steadier
  than its wall time on a shared machine.
- `counts`: a segment count in process on the open file, two ways: `ms`, through SQL (`count_where` on the
  compiled segment; median of repeats, warm page cache), beside a hand-written SQL query of the same segment
  run on a plain sqlite3 connection (`yardstick_ms`, compound SELECTs with UNION / EXCEPT); and on NumPy
  columns cached on the connection (app.audience.moment, what `members.count` does): `columnar_first_ms` is
  the first count with nothing cached on the connection (the columns the segment needs read from those the
  population kept in the file, app.audience.column_store, else from the rows; then counting),
  `columnar_ms` the median of the counts after it (columns cached, data unchanged). `same` says all found
  the same count.
- `union_cache_ms`: the union count through `members.count` on a writable file: the first (columns read),
  after a journey is added (the cache is kept: a cached count), after a contact is edited (read again).
- `simulate_project_population`: `journey-studio simulate --population project --no-save` of the re-engagement
  template over the project's own contacts (a new process: start-up, imports, reading the contacts who may
  enter and what the journey's segments need, the run and its no-journey twin), median of 3, beside the same
  command over as many synthetic contacts drawn in the process (`synthetic_yardstick_s`); again after a
  contact is edited (`project_after_contact_edit_s`: the kept columns are stale, so the rows are read).
- `open_ms`: `ProjectFile.open` of the file, read-only and for writing (median; a clean-closed file, so no
  full check is due), beside `sqlite3.connect` + reading the schema (`yardstick_open_ms`).
Issue 15's floors: population at 1M <= 15 s; union and exclude at 1M <= 150 ms (read against `columnar_ms`,
with `columnar_first_ms` the price of the first count); open <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np

from benchmarks.bench_audience import AS_OF, AT, QUERIES, _machine

LOCALES = ("en_US", "fr_FR")
SEED = 1
REPEATS = 7
FLOORS = {"population_1m_s": 15.0, "union_exclude_1m_ms": 150.0, "open_ms": 100.0}


def _moment(days: int) -> str:
    return (AT - timedelta(days=days)).isoformat(timespec="seconds")


def _now() -> str:
    return AT.isoformat(timespec="seconds")


# the bench_audience queries, written by hand (AT is 2026-06-01 12:00 UTC)
HAND_SQL: dict[str, str] = {
    "and_3_rows": "SELECT count(*) FROM contacts WHERE country = 'France' AND lifetime_value > 200 "
                  "AND loyalty_tier IN ('silver', 'gold', 'platinum')",
    "and_3_rows_recent": "SELECT count(*) FROM contacts WHERE consent_level IN ('marketing', 'profiling') "
                         f"AND last_purchase_date BETWEEN '{(AT - timedelta(days=60)).date()}' AND '{AT.date()}' "
                         "AND city LIKE 'New%'",
    "union_2_blocks": "SELECT count(*) FROM (SELECT id FROM contacts WHERE loyalty_tier IN ('gold', 'platinum') "
                      "UNION SELECT contact_id FROM interactions WHERE kind = 'purchase' "
                      f"AND at BETWEEN '{_moment(30)}' AND '{_now()}')",
    "exclude_2_blocks": "SELECT count(*) FROM (SELECT id FROM contacts WHERE country = 'United States' "
                        "AND consent_level IN ('marketing', 'profiling') EXCEPT SELECT contact_id FROM interactions "
                        f"WHERE kind = 'purchase' AND at BETWEEN '{_moment(60)}' AND '{_now()}')",
    "exclude_2_contact_blocks": "SELECT count(*) FROM (SELECT id FROM contacts WHERE lifetime_value >= 100 "
                                "EXCEPT SELECT contact_id FROM contact_lists WHERE list = 'Newsletter')",
}


def _median_ms(run: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1), result


def _cli(*args: str) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("journey-studio")
    t0 = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, done.stdout.strip()


def _plain_insert(path: Path, contacts: int) -> float:
    """The yardstick: the population's rows, formatted beforehand, into index-free tables (seconds)."""
    from app.audience.base import ACCOUNT_COLUMNS, CONTACT_COLUMNS, _contact_columns, second_texts
    from app.audience.population import DEFAULT_LISTS, _profile_for
    from app.audience.synthetic import synthesize
    from app.model.attributes import INTERACTION_KINDS

    base = synthesize(contacts, SEED, _profile_for(None, LOCALES, DEFAULT_LISTS),
                      as_of=(AS_OF - date(1970, 1, 1)).days * 86_400)
    acc_columns, columns = _contact_columns(base)
    inter = base.interactions
    order = np.lexsort((inter.kind, inter.at, inter.contact))
    value = inter.value[order]
    inter_rows = list(zip(range(1, len(order) + 1), base.ids[inter.contact[order]].tolist(),
                          np.array(INTERACTION_KINDS, dtype=object)[inter.kind[order]].tolist(),
                          second_texts(inter.at[order].astype(np.float64)),
                          np.where(np.isnan(value), cast(Any, None), value.astype(object)).tolist()))
    names = np.array(base.lists.values, dtype=object)[base.lists.codes]
    list_rows = list(zip(base.ids[base.lists.owners].tolist(), names.tolist()))
    tables = {"accounts": (("id", *ACCOUNT_COLUMNS), list(zip(*acc_columns))),
              "contacts": (CONTACT_COLUMNS, list(zip(*columns))),
              "contact_lists": (("contact_id", "list"), list_rows),
              "interactions": (("id", "contact_id", "kind", "at", "value"), inter_rows)}
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for name, (cols, _) in tables.items():
            con.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
        t0 = time.perf_counter()
        con.execute("BEGIN")
        for name, (cols, rows) in tables.items():
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})", rows)
        con.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        con.close()


def _phases(path: Path, contacts: int) -> dict[str, Any]:
    """Where the time of a population load goes: the same load as the command, in this process, each phase
    timed by the loading thread (wall and CPU seconds; CPU is what a loaded machine shares out, so it is the
    steadier figure), beside the CPU of the whole process and of the side process (app.audience.side_load)."""
    import resource

    from app.audience import bulk
    from app.audience.population import generate
    from app.store import ProjectFile

    def child_cpu() -> float:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        return used.ru_utime + used.ru_stime

    bulk.PHASES = []
    children, cpu, t0 = child_cpu(), time.process_time(), time.perf_counter()
    try:
        with ProjectFile.create(path) as pf:
            generate(pf, contacts, SEED, LOCALES, as_of=AS_OF)
        phases = bulk.PHASES
    finally:
        bulk.PHASES = None
    return {"wall_s": round(time.perf_counter() - t0, 2), "process_cpu_s": round(time.process_time() - cpu, 2),
            "side_process_cpu_s": round(child_cpu() - children, 2),
            "phases": [{"phase": name, "wall_s": round(wall, 2), "cpu_s": round(used, 2)}
                       for name, wall, used in phases]}


def measure(contacts: int, folder: Path) -> dict[str, Any]:
    from app.audience.members import count as members_count
    from app.audience.members import count_where, segment_condition
    from app.audience.moment import count_at, forget
    from app.model.segment import Segment
    from app.store import ProjectFile

    project = folder / f"p{contacts}.jstudio"
    _cli("new", str(project))
    population_s, said = _cli("population", str(project), "--contacts", str(contacts), "--seed", str(SEED),
                              *(a for loc in LOCALES for a in ("--locale", loc)), "--as-of", AS_OF.isoformat())
    plain_s = _plain_insert(folder / f"plain{contacts}.db", contacts)
    phases = _phases(folder / f"phases{contacts}.jstudio", contacts)

    counts: dict[str, Any] = {}
    with ProjectFile.open(project, readonly=True) as pf, pf.connection() as conn:
        for name, q in QUERIES.items():
            condition = segment_condition(Segment(name, query=q), {}, AT)
            ms, n = _median_ms(lambda: count_where(conn, condition))
            counts[name] = {"members": n, "ms": ms}
    with ProjectFile.open(project, readonly=True) as pf, pf.connection() as conn:
        for name, q in QUERIES.items():
            segment = Segment(name, query=q)
            forget(conn)
            t0 = time.perf_counter()
            first = count_at(conn, segment, AT)
            first_ms = round((time.perf_counter() - t0) * 1000, 1)
            ms, n = _median_ms(lambda: count_at(conn, segment, AT))
            counts[name] |= {"columnar_first_ms": first_ms, "columnar_ms": ms,
                             "columnar_same": n == first == counts[name]["members"]}
    raw = sqlite3.connect(project.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        for name, sql in HAND_SQL.items():
            ms, n = _median_ms(lambda: raw.execute(sql).fetchone()[0])
            counts[name] |= {"yardstick_ms": ms, "same": n == counts[name]["members"] and counts[name].pop(
                                 "columnar_same"),
                             "ratio": round(counts[name]["ms"] / ms, 2) if ms else None}
    finally:
        raw.close()
    # a simulation of the project's own contacts (their columns kept in the file by the population) beside the
    # same journey over as many synthetic contacts drawn in the process: whole commands, medians of 3
    template = Path(__file__).resolve().parents[1] / "resources" / "templates" / "re-engagement.yaml"
    _cli("import", str(project), str(template))
    sim = ("simulate", str(project), "--journey", "Re-engagement", "--seed", "1", "--no-save")

    def sim_s(*more: str) -> float:
        return round(statistics.median(_cli(*sim, *more)[0] for _ in range(3)), 2)

    simulate = {"project_s": sim_s("--population", "project"),
                "synthetic_yardstick_s": sim_s("--population", "synthetic", "--contacts", str(contacts))}
    # the cache after an edit outside the audience (a journey added through the file's own connection), then
    # after an edit of the contacts (last: it changes the data the counts above measured)
    from app.model.journey import Journey
    from sqlalchemy import text
    union = Segment("union_2_blocks", query=QUERIES["union_2_blocks"])
    with ProjectFile.open(project) as pf:
        count_at_ms = lambda: _median_ms(lambda: members_count(pf, union, AT), 1)[0]  # noqa: E731
        warm = count_at_ms()
        pf.project.add_journey(Journey("bench-edit", "Bench edit"))
        after_journey = count_at_ms()
        with pf.connection(write=True) as conn:
            conn.execute(text("UPDATE contacts SET loyalty_tier = 'gold' WHERE id = 1"))
        after_contact = count_at_ms()
    cache = {"first_ms": warm, "after_journey_edit_ms": after_journey, "after_contact_edit_ms": after_contact}
    # after that edit the kept columns are stale: a read-only simulation reads the rows every time
    simulate["project_after_contact_edit_s"] = sim_s("--population", "project")
    simulate["ratio_kept"] = round(simulate["project_s"] / simulate["synthetic_yardstick_s"], 2)
    simulate["ratio_after_edit"] = round(simulate["project_after_contact_edit_s"] / simulate["synthetic_yardstick_s"],
                                         2)

    def open_close(readonly: bool) -> None:
        ProjectFile.open(project, readonly=readonly).close()

    def plain_open() -> None:
        con = sqlite3.connect(project)
        con.execute("SELECT name FROM sqlite_master").fetchall()
        con.close()

    open_ro, _ = _median_ms(lambda: open_close(True))
    open_rw, _ = _median_ms(lambda: open_close(False))
    plain_open_ms, _ = _median_ms(plain_open)
    return {"contacts": contacts, "file_mb": round(project.stat().st_size / 1e6, 1), "cli_said": said,
            "population_s": round(population_s, 2), "plain_insert_s": round(plain_s, 2),
            "population_ratio": round(population_s / plain_s, 2), "population_phases": phases,
            "counts": counts, "union_cache_ms": cache, "simulate_project_population": simulate,
            "open_ms": {"readonly": open_ro, "writable": open_rw},
            "yardstick_open_ms": plain_open_ms}


def main(sizes: list[int]) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as d:
        home = Path(d) / "home"  # a user folder of its own (clean-close records), not the developer's
        os.environ["JOURNEY_STUDIO_HOME"] = str(home)
        for n in sizes:
            results.append(measure(n, Path(d)))
    out = {"benchmark": "project file: population, segment counts and open, with yardsticks",
           "sizes": results, "floors": FLOORS, "repeats": REPEATS, "machine": _machine()}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contacts", nargs="*", type=int, default=[100_000, 1_000_000],
                        help="sizes (default 100000 1000000)")
    main(parser.parse_args().contacts)
