"""Benchmark (not a test): how fast the live runner enrols contacts and sends their first message.

Run: python -m benchmarks.bench_runner [contacts]   -- prints JSON figures and the machine.

On loopback: a local Temporal dev server (its SQLite state in a temporary folder), an SMTP sink, and the
announcement journey over a project of `contacts` contacts (default 1,000; every contact in the audience). The
clock starts when the runner is asked to run (the dev server is already up) and stops when the SMTP sink holds
every contact's email; the figure is contacts enrolled and emailed per second. The run then goes on to its end
(a simulated day later at the benchmark's time scale) and the sink must hold exactly one email per contact.

For scale, a baseline: the same dev server running a bare workflow that only runs one activity (started the
same way, 32 starts in flight; no sandbox), in workflows completed per second.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
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
from app.runner.worker import RunSettings, run_journey
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t
from tests.runner_helpers import SmsSink, SmtpSink, announcement_text, contact_of, package_of

SCALE = 86_400.0  # a simulated day lasts a second


def _project(path: Path, n: int) -> None:
    project = Project("Runner benchmark")
    j, contents, segments = read_journey_text(announcement_text())
    import_journey(project, j, contents, segments)
    rows = [{"id": i, "first_name": f"N{i}", "email": f"c{i}@example.com", "mobile_phone": f"+33{i:09d}",
             "time_zone": "Europe/Paris", "consent_level": "marketing", "lifetime_value": 1000.0}
            for i in range(1, n + 1)]
    with ProjectFile.create(path, project=project) as pf, pf.connection(write=True) as conn:
        conn.execute(insert(t.contacts), rows)


def run(n: int) -> dict[str, Any]:
    """Enrol and email `n` contacts; the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        d = Path(tmp)
        _project(d / "contacts.jstudio", n)
        r = from_package(package_of(d / "contacts.jstudio", d / "announcement.jpkg"))
        server = DevServer(d / "temporal" / "temporal.db").start()
        first_all: list[float] = []
        smtp = SmtpSink(on_mail=lambda m: len(smtp.mails) == n and first_all.append(time.perf_counter()))
        smtp.start()
        sms = SmsSink().start()
        try:
            settings = RunSettings(contacts_db=str(d / "contacts.jstudio"), state_dir=d / "state",
                                   temporal=server.address, smtp=("127.0.0.1", smtp.port), sms_url=sms.url,
                                   time_scale=SCALE, send_timeout=30)
            t0 = time.perf_counter()
            summary = asyncio.run(run_journey(r, settings))
            t_end = time.perf_counter()
        finally:
            smtp.stop()
            sms.stop()
            server.stop()
        mails = smtp.snapshot()
        once = Counter(contact_of(m) for m in mails) == Counter(range(1, n + 1))
        seconds = first_all[0] - t0 if first_all else float("nan")
        return {"contacts": n, "enrolled": summary.enrolled, "emails": len(mails), "exactly_once": once,
                "seconds_to_all_first_messages": round(seconds, 2),
                "contacts_enrolled_and_emailed_per_second": round(n / seconds, 1),
                "seconds_whole_run": round(t_end - t0, 2)}


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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    figures = run(n)
    figures["baseline"] = baseline(n)
    figures["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform(), "threads": threading.active_count()}
    print(json.dumps(figures, indent=2))
    print(f"{figures['contacts_enrolled_and_emailed_per_second']:.1f} contacts enrolled and first message sent "
          f"per second ({n} contacts, local Temporal dev server; a bare one-activity workflow: "
          f"{figures['baseline']['bare_workflows_per_second']:.1f}/s)")


if __name__ == "__main__":
    main()
