"""Benchmark (not a test): how fast the live runner enrols contacts and sends their first message.

Run: python -m benchmarks.bench_runner [contacts ...]   (default: 1000 10000)   -- prints JSON figures.

On loopback: a local Temporal dev server (its SQLite state in a temporary folder, a fresh one per round), an SMTP
sink, and the announcement journey over a project of `contacts` contacts (every contact in the audience). For
each size, two rounds: the runner alone (`journey-studio run` as its own process: one worker), and the runner with
one more worker process (`journey-studio run --join`, started before the round and waiting for the run, as one
keeps workers up) against the same dev server.

The clock starts when the runner says it is running (its dev-server connection, worker, tracking endpoint and
enrolment workflow are up: the process's start-up and imports are not counted, they are reported apart) and
stops when the SMTP sink holds every contact's email: the figure is contacts enrolled and emailed per second.
Then the runner is stopped (SIGTERM) and the sink must hold exactly one email per contact. The schedule is sized
for the count: the time scale gives the journey's schedule at least max(120, contacts / 10) seconds, so that a
runner slower than 10 contacts/s, not the schedule, is what a round reports. A round that does not reach every
contact says why and the benchmark exits 1: it never prints NaN.

Peak RSS: each runner and worker process's own (os.wait4's ru_maxrss), and the dev server's is not included.

The transport's own ceiling, in the same session: a process of its own hands TRANSPORT_EMAILS emails to the same
kind of SMTP sink through the runner's SMTP channel, from as many threads as the runner sends from (the sink is a
Python server in this process: on a busy 2-core machine it, not the runner, can be what limits a round).

For scale, a baseline in the same session: a fresh dev server running a bare workflow that only runs one
activity (32 starts in flight; no sandbox), in workflows completed per second (BASELINE_WORKFLOWS of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import insert
from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from app.codec.yamlio import read_journey_text
from app.model.project import Project
from app.runner.devserver import DevServer, connect
from app.runner.runnable import from_package
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t
from tests.runner_helpers import SmsSink, SmtpSink, announcement_text, contact_of, package_of

ROOT = Path(__file__).resolve().parent.parent
BASELINE_WORKFLOWS = 500
TRANSPORT_EMAILS = 2000  # the transport ceiling: emails handed to the SMTP sink by a bare sender
MIN_SCHEDULE = 120.0  # seconds of schedule at least, and a tenth of a second per contact


def _project(path: Path, n: int) -> None:
    project = Project("Runner benchmark")
    j, contents, segments = read_journey_text(announcement_text())
    import_journey(project, j, contents, segments)
    rows = [{"id": i, "first_name": f"N{i}", "email": f"c{i}@example.com", "mobile_phone": f"+33{i:09d}",
             "time_zone": "Europe/Paris", "consent_level": "marketing", "lifetime_value": 1000.0}
            for i in range(1, n + 1)]
    with ProjectFile.create(path, project=project) as pf, pf.connection(write=True) as conn:
        conn.execute(insert(t.contacts), rows)


def _wait_rss(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> tuple[int | None, float | None]:
    """Wait for a process to end: (its exit status, its peak RSS in MiB, None when it was reaped elsewhere)."""
    deadline = time.monotonic() + timeout
    if proc.returncode is not None:  # reaped already: its usage is gone (printed as null, never NaN)
        return proc.returncode, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024
        time.sleep(0.05)


def _ended(proc: subprocess.Popen[bytes]) -> bool:
    """Whether a process has ended, without reaping it (its peak RSS is read when it is reaped)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def run(d: Path, n: int, workers: int) -> dict[str, Any]:
    """Enrol and email `n` contacts with `workers` worker processes on a fresh dev server; the figures."""
    db, pkg = d / "contacts.jstudio", d / "announcement.jpkg"
    r = from_package(pkg)
    span = r.plan.cutoff(0)[0] - r.plan.start
    scale = span / max(MIN_SCHEDULE, n / 10)
    rnd = Path(tempfile.mkdtemp(prefix=f"round-{n}-{workers}-", dir=d))
    state = rnd / "state"
    server = DevServer(rnd / "temporal" / "temporal.db").start()
    all_in = threading.Event()

    def on_mail(_mail: Any) -> None:
        if len(smtp.mails) >= n:
            all_in.set()

    smtp = SmtpSink(on_mail=on_mail)
    smtp.start()
    sms = SmsSink().start()
    log = open(rnd / "runner.log", "wb")
    extra: list[subprocess.Popen[bytes]] = []
    runner: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(workers - 1):  # up and waiting for the run before the round starts
            extra.append(subprocess.Popen([sys.executable, "-m", "app.cli.main", "run", str(pkg), "--join",
                                           "--state-dir", str(state)], cwd=ROOT, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL))
        time.sleep(3.0 if extra else 0.0)  # their imports
        t_launch = time.perf_counter()
        runner = subprocess.Popen([sys.executable, "-m", "app.cli.main", "run", str(pkg), "--contacts-db", str(db),
                                   "--temporal", server.address, "--smtp", f"127.0.0.1:{smtp.port}",
                                   "--sms-url", sms.url, "--time-scale", repr(scale), "--state-dir", str(state),
                                   "--send-timeout", "30"],
                                  cwd=ROOT, stdout=log, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        running: list[float] = []

        def read_stderr() -> None:
            assert runner is not None and runner.stderr is not None
            for line in runner.stderr:
                if line.startswith(b"Running '") and not running:
                    running.append(time.perf_counter())
                log.write(line)

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        limit = MIN_SCHEDULE + n / 5
        while not all_in.wait(0.2):
            if _ended(runner) or time.perf_counter() - t_launch > limit:
                break
        t_all = time.perf_counter()
        why = None
        if not all_in.is_set():
            why = (f"the runner ended (status {runner.returncode}) with {len(smtp.mails)} of {n} emails sent"
                   if _ended(runner) else f"{len(smtp.mails)} of {n} emails after {limit:.0f} s")
        history = asyncio.run(_longest_history(server.address, r.key))
        runner.send_signal(signal.SIGTERM)
        status, rss = _wait_rss(runner)
        reader.join(5)
        for p in extra:
            p.send_signal(signal.SIGTERM)
        extra_rss = [None if m is None else round(m, 1) for m in (_wait_rss(p)[1] for p in extra)]
    finally:
        for p in [*extra, *([runner] if runner is not None else [])]:
            if p.poll() is None:
                p.kill()
                p.wait()
        smtp.stop()
        sms.stop()
        server.stop()
        log.close()
    mails = smtp.snapshot()
    once = Counter(contact_of(m) for m in mails) == Counter(range(1, n + 1))
    out: dict[str, Any] = {"contacts": n, "workers": workers, "time_scale": round(scale, 1), "emails": len(mails),
                           "exactly_once": once, "runner_exit_status": status,
                           "runner_peak_rss_mib": None if rss is None else round(rss, 1),
                           "extra_workers_peak_rss_mib": extra_rss, "longest_workflow_history": history}
    if why or not running:
        out["failed"] = why or "the runner never said it was running"
        return out
    seconds = t_all - running[0]
    out.update({"seconds_start_up": round(running[0] - t_launch, 2), "seconds_to_all_first_messages":
                round(seconds, 2), "contacts_enrolled_and_emailed_per_second": round(n / seconds, 1)})
    return out


async def _longest_history(address: str, key: str) -> int:
    client = await connect(address)
    longest = 0
    async for wf in client.list_workflows(f"JourneyKey = '{key}'"):
        desc = await client.get_workflow_handle(wf.id, run_id=wf.run_id).describe()
        longest = max(longest, desc.raw_description.workflow_execution_info.history_length)
    return longest


@activity.defn(name="bench_nothing")
def _nothing(i: int) -> int:
    return i


@workflow.defn(name="BenchBare")
class _Bare:
    @workflow.run
    async def run(self, i: int) -> int:
        return await workflow.execute_activity("bench_nothing", i, start_to_close_timeout=timedelta(seconds=30))


async def _baseline(address: str, n: int) -> float:
    client = await connect(address)
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> Any:
        async with gate:
            return await client.start_workflow("BenchBare", i, id=f"bare-{i}", task_queue="bench")

    with ThreadPoolExecutor(64) as pool:
        async with Worker(client, task_queue="bench", workflows=[_Bare], activities=[_nothing],
                          activity_executor=pool, max_concurrent_activities=64,
                          workflow_runner=UnsandboxedWorkflowRunner()):  # this module imports test helpers
            t0 = time.perf_counter()
            handles = await asyncio.gather(*(one(i) for i in range(n)))
            await asyncio.gather(*(h.result() for h in handles))
            return time.perf_counter() - t0


def baseline(n: int) -> dict[str, Any]:
    """Bare workflows (one activity each) per second on a fresh dev server."""
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        server = DevServer(Path(tmp) / "temporal.db").start()
        try:
            seconds = asyncio.run(_baseline(server.address, n))
        finally:
            server.stop()
    return {"workflows": n, "seconds": round(seconds, 2), "bare_workflows_per_second": round(n / seconds, 1)}


_SENDER = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from app.runner.activities import SEND_THREADS
from app.runner.channels import SmtpChannel
port, n = int(sys.argv[1]), int(sys.argv[2])
def message(i):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "news@shop.example", f"c{i}@example.com", "Hi", f"<{i}@b>"
    m.set_content(f"Hello N{i}, see http://127.0.0.1:1/c/{'x' * 120}")
    m.add_alternative(f"<p>Hello N{i}</p>", subtype="html")
    return m
messages = [message(i) for i in range(n)]
channel = SmtpChannel("127.0.0.1", port, "news@shop.example")
t0 = time.perf_counter()
with ThreadPoolExecutor(SEND_THREADS) as pool:
    list(pool.map(channel.send, messages))
print(time.perf_counter() - t0)
channel.close()
"""


def transport(n: int) -> dict[str, Any]:
    """The transport's own ceiling: `n` emails handed over by a process of their own (the runner's SMTP channel,
    with as many threads as the runner sends from) to the same SMTP sink the rounds use, in emails per second."""
    smtp = SmtpSink().start()
    try:
        out = subprocess.run([sys.executable, "-c", _SENDER, str(smtp.port), str(n)], cwd=ROOT, capture_output=True,
                             text=True, timeout=600, check=True)
        seconds = float(out.stdout.strip().splitlines()[-1])
        assert len(smtp.snapshot()) == n
    finally:
        smtp.stop()
    return {"emails": n, "seconds": round(seconds, 2), "emails_per_second": round(n / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contacts", nargs="*", type=int, default=[1000, 10000], help="sizes (default 1000 10000)")
    sizes = parser.parse_args().contacts
    # the announcement template's start is a fixed date, so its readiness is checked against a fixed clock, as
    # the tests do (the rounds' schedule is the journey's span scaled to the count, not this clock)
    os.environ.setdefault("JOURNEY_STUDIO_NOW", "2000-01-01T00:00Z")
    rounds = [int(w) for w in os.environ.get("BENCH_RUNNER_WORKERS", "1 2").split()]
    figures: dict[str, Any] = {"rounds": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        for n in sizes:
            d = Path(tmp) / f"n{n}"
            d.mkdir()
            _project(d / "contacts.jstudio", n)
            package_of(d / "contacts.jstudio", d / "announcement.jpkg")
            for workers in rounds:
                f = run(d, n, workers)
                figures["rounds"].append(f)
                print(json.dumps(f, allow_nan=False), file=sys.stderr, flush=True)
                failed = failed or "failed" in f or not f["exactly_once"]
    figures["baseline"] = baseline(BASELINE_WORKFLOWS)
    figures["transport"] = transport(TRANSPORT_EMAILS)
    figures["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform(), "load_average": os.getloadavg()}
    print(json.dumps(figures, indent=2, allow_nan=False))
    bare = figures["baseline"]["bare_workflows_per_second"]
    ceiling = figures["transport"]["emails_per_second"]
    for f in figures["rounds"]:
        what = (f"{f['contacts_enrolled_and_emailed_per_second']:.1f} contacts enrolled and first message sent per "
                f"second" if "failed" not in f else f"FAILED: {f['failed']}")
        print(f"{f['contacts']:>6} contacts, {f['workers']} worker(s): {what}; runner peak RSS "
              f"{f['runner_peak_rss_mib']} MiB; a bare one-activity workflow: {bare:.1f}/s; the SMTP sink alone "
              f"takes {ceiling:.1f} emails/s")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
