"""Benchmark (not a test): how long `status` takes to read a run's figures.

Run: python -m benchmarks.bench_status [contacts ...] [--live]   (default: 500 10000)   -- prints JSON figures.

Offline (always): a runner state file (StateDb) with `contacts` enrolments and two sends each (every send key
settled), and the visibility listing of the run as status reads it: cohorts of 500 (the runner's default) and,
for comparison, one workflow per contact (`cohort = 0`). Timed in this process, the median of REPEAT rounds:
`StateDb.snapshot` (every state figure, one read transaction), `tally` (the per-step figures added up from the
listing) and `format_counts`; the yardstick is a bare sqlite3 `SELECT count(*)` of the run's enrolments on the
same file, in the same process.

Live (`--live`, needs the Temporal CLI): the announcement journey run by `journey-studio run --keep-running` on
a fresh local dev server with an SMTP sink, over `contacts` contacts; once every contact has had the email (the
contacts are still in the journey, the runner still writing), timed: `step_counts` (one listing), the way status
counted before (a count query per figure, reimplemented here as the yardstick it was) and one bare count query;
then `journey-studio status PACKAGE --state-dir DIR` as a process of its own, start-up and imports included,
next to `python -c pass` and `journey-studio --help`: wall time and CPU time (user + system of the process,
which a machine busy with other work inflates far less than the wall time).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 20
COHORT = 500


def _median_ms(work: Callable[[], Any], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)


def _runnable(folder: Path, n: int = 3) -> Any:
    """The announcement journey compiled for the runner, from a package of a small project."""
    os.environ.setdefault("JOURNEY_STUDIO_NOW", "2000-01-01T00:00Z")  # the template's dates are fixed in the past
    from app.runner.runnable import from_package
    from tests.runner_helpers import contacts_project, package_of
    db = folder / "contacts.jstudio"
    contacts_project(db, n)
    return from_package(package_of(db, folder / "announcement.jpkg"))


def offline(n: int, folder: Path, r: Any) -> dict[str, Any]:
    """Snapshot, tally and table times on a state of `n` contacts; a bare count query as the yardstick."""
    from app.runner.calls import COHORT_WORKFLOW, CONTACT_WORKFLOW
    from app.runner.state import SENT, StateDb
    from app.runner.status import Listed, format_counts, tally
    state = StateDb(folder / f"state-{n}" / "runner.db")
    key = r.key
    for lo in range(1, n + 1, 1000):
        ids = range(lo, min(lo + 1000, n + 1))
        state.record_enrolments(key, 0, [(c, f"{key}:contact:{c}:it:0", 0) for c in ids])
        rows = [{"key": f"{key}:contact:{c}:it:0:{step}", "journey": key, "contact": c, "iteration": 0,
                 "step_id": step, "channel": ch, "transport_id": f"t{c}{step}"}
                for c in ids for step, ch in (("announce", "email"), ("launched", "sms"))]
        state.claim_many(rows)
        state.mark_many([(row["key"], SENT, 0) for row in rows])
    bare = sqlite3.connect(state.path)
    yardstick = _median_ms(lambda: bare.execute("SELECT count(*) FROM enrolments WHERE journey = ?",
                                                (key,)).fetchone())
    snapshot = _median_ms(lambda: state.snapshot(key))
    keys = {"announce": COHORT, "announce=sent": COHORT, "clicked": COHORT, "clicked=no": 300, "clicked=yes": 150,
            "@clicked": 50, "launch": 150, "launched": 150, "launched=sent": 150, "~running": 50, "=completed": 450}
    cohorts = [Listed(COHORT_WORKFLOW, True, False, tally=(f"*{COHORT}", *(f"{k}*{v}" for k, v in keys.items())))
               for _ in range(max(1, n // COHORT))]
    contacts = [Listed(CONTACT_WORKFLOW, False, False, "end", ("announce", "announce=sent", "clicked", "clicked=no"),
                       "completed") for _ in range(n)]
    counts = tally(r, cohorts)
    out = {"contacts": n, "bare_count_query_ms": yardstick, "state_snapshot_ms": snapshot,
           f"tally_{len(cohorts)}_cohorts_ms": _median_ms(lambda: tally(r, cohorts)),
           f"tally_{n}_contact_workflows_ms": _median_ms(lambda: tally(r, contacts), 5),
           "format_counts_ms": _median_ms(lambda: format_counts(counts))}
    bare.close()
    state.close()
    return out


async def _per_figure(client: Any, r: Any) -> int:
    """The way status counted before: a count query per figure (the yardstick); how many queries it made."""
    from app.runner.status import FINAL, _outcomes, _q
    base = f"JourneyKey = {_q(r.key)}"
    queries = [""]
    for s in r.plan.steps:
        queries += [f"JourneyPath = {_q(s.id)}", f"JourneyStep = {_q(s.id)} AND ExecutionStatus = 'Running'"]
        queries += [f"JourneyPath = {_q(f'{s.id}={o}')}" for o in _outcomes(s)]
    queries += ["ExecutionStatus = 'Running'", "ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')",
                "JourneyGoal = 'reached'", "JourneyStep = 'end' AND ExecutionStatus = 'Running'"]
    queries += [f"JourneyOutcome = {_q(o)}" for o in FINAL]
    for q in queries:
        await client.count_workflows(base + (f" AND {q}" if q else ""))
    return len(queries)


async def _timed_async(work: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await work()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1)


def _process_ms(args: list[str], repeat: int = 3) -> dict[str, float]:
    """A command's wall time and its CPU time (user + system: what a loaded machine inflates least), medians."""
    import resource
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return {"wall_ms": round(statistics.median(wall) * 1000, 1), "cpu_ms": round(statistics.median(cpu) * 1000, 1)}


def live(n: int, folder: Path) -> dict[str, Any]:
    """Run the announcement over `n` contacts, and time status while it runs."""
    from app.runner.devserver import DevServer, connect
    from app.runner.runnable import from_package
    from app.runner.status import step_counts
    from benchmarks.bench_runner import _project
    from tests.runner_helpers import SmsSink, SmtpSink, package_of
    rnd = Path(tempfile.mkdtemp(prefix=f"live-{n}-", dir=folder))
    db, state = rnd / "contacts.jstudio", rnd / "state"
    _project(db, n)
    pkg = package_of(db, rnd / "announcement.jpkg")
    r = from_package(pkg)
    server = DevServer(rnd / "temporal" / "temporal.db").start()
    all_in = threading.Event()
    smtp = SmtpSink(on_mail=lambda _m: all_in.set() if len(smtp.mails) >= n else None).start()
    sms = SmsSink().start()
    log = open(rnd / "runner.log", "wb")
    scale = (r.plan.cutoff(0)[0] - r.plan.start) / max(600.0, n / 5)  # the journey outlasts the benchmark
    runner = subprocess.Popen([sys.executable, "-m", "app.cli.main", "run", str(pkg), "--contacts-db", str(db),
                               "--temporal", server.address, "--smtp", f"127.0.0.1:{smtp.port}", "--sms-url", sms.url,
                               "--time-scale", repr(scale), "--state-dir", str(state), "--keep-running"],
                              cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        if not all_in.wait(120 + n / 5):
            return {"contacts": n, "failed": f"{len(smtp.mails)} of {n} emails; see {rnd / 'runner.log'}"}
        time.sleep(2.0)  # visibility trails the workflows by a moment

        async def measure() -> dict[str, Any]:
            client = await connect(server.address)
            counts = await step_counts(client, r)
            queries = await _per_figure(client, r)
            return {"enrolled_seen": counts["enrolled"],
                    "one_listing_ms": await _timed_async(lambda: step_counts(client, r)),
                    "per_figure_queries": queries,
                    "per_figure_ms": await _timed_async(lambda: _per_figure(client, r)),
                    "one_bare_count_query_ms": await _timed_async(
                        lambda: client.count_workflows(f"JourneyKey = '{r.key}'"))}

        out: dict[str, Any] = {"contacts": n, "time_scale": round(scale, 1), **asyncio.run(measure())}
        out["status_process"] = _process_ms([sys.executable, "-m", "app.cli.main", "status", str(pkg),
                                                "--state-dir", str(state)])
        out["python_pass_process"] = _process_ms([sys.executable, "-c", "pass"])
        out["cli_help_process"] = _process_ms([sys.executable, "-m", "app.cli.main", "--help"])
        return out
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(60)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        smtp.stop()
        sms.stop()
        server.stop()
        log.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sizes = [int(a) for a in args] or [500, 10_000]
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        folder = Path(tmp)
        r = _runnable(folder)
        report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                                  "load_average": [round(x, 2) for x in os.getloadavg()],
                                  "offline": [offline(n, folder, r) for n in sizes]}
        if "--live" in sys.argv[1:]:
            report["live"] = [live(n, folder) for n in sizes]
        report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
