"""Running a journey live: Temporal (a local dev server, or a cluster), the worker, the tracking endpoint.

`run_journey(runnable, settings)` does what `journey-studio run` does: it keeps the run's state in a folder
(by default next to the package: `NAME.jpkg.run/`), starts a local Temporal dev server there unless it is
given a cluster, registers the journey with this process's workflows, serves the tracking endpoint, starts
(or rejoins) the enrolment workflow, and works until the journey is done (everybody enrolled has left) or
it is stopped. Stopped and started again with the same state folder, it picks up where the run was: the clock,
the tracking address and its secret, the enrolments and the sends are in `runner.db`; the workflows are in
Temporal.

The run's events secret (`events_secret`) is made at its first start, printed once, and kept in `runner.db`
(readable by its owner only): `POST /events` needs it, and `GET /status` unless `public_status`. The commands
that talk to the endpoint (`journey-studio event`) read it, and the endpoint's local address, from there
(access.py).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from app.runner.access import URL_SETTING, events_secret, local_url
from app.runner.activities import Activities
from app.runner.calls import ENROLMENT_WORKFLOW, EnrolInput, enrolment_workflow_id
from app.runner.channels import SmsChannel, SmtpChannel, Tokens
from app.runner.clock import Clock
from app.runner.contacts import ContactsDb
from app.runner.devserver import SEARCH_ATTRIBUTES, DevServer, _die_with_parent, connect, free_port, port_open
from app.runner.runnable import Runnable, RunnerError, register
from app.runner.state import CapLedger, StateDb
from app.runner.status import state_figures, step_counts
from app.runner.tracking import TrackingServer
from app.runner.cohort import CohortWorkflow
from app.runner.workflows import ContactWorkflow, EnrolmentWorkflow
from app.semantics.plan import Kind

NAMESPACE = "default"
WORKFLOWS = [ContactWorkflow, CohortWorkflow, EnrolmentWorkflow]


@dataclass
class RunSettings:
    """What `journey-studio run` is told."""

    contacts_db: str
    state_dir: Path
    temporal: str | None = None  # HOST:PORT of a cluster; None: a local dev server in the state folder
    temporal_port: int | None = None  # the local dev server's port (default: the one it had, else a free one)
    smtp: tuple[str, int] | None = None
    sms_url: str | None = None
    push_url: str | None = None
    time_scale: float = 1.0
    listen: tuple[str, int] = ("127.0.0.1", 0)  # the tracking endpoint (port 0: the one it had, else free)
    public_url: str | None = None  # the tracking endpoint as emails link to it (default http://HOST:PORT)
    seed: int = 0
    poll: int = 3600
    page: int = 500
    # units per cohort workflow (cohort.py); 0: a workflow per unit (ContactWorkflow). Half a page: a page's two
    # cohorts start together, so two worker processes share even a small audience (bench_runner, runner README)
    cohort: int = 250
    send_timeout: float = 60.0
    until_done: bool = True  # stop when everybody has left the journey (not for ongoing journeys without end)
    sender: str = "journeys@localhost"
    max_concurrent_activities: int = 64
    namespace: str = NAMESPACE
    extra: dict[str, Any] = field(default_factory=dict)
    # a rehearsal (rehearsal.py): logical time, and what each contact does; None: live
    script: dict[int, list[dict[str, Any]]] | None = None
    secret: str | None = None  # the events secret (None: the run's own, made at its first start and kept)
    public_status: bool = False  # GET /status without the secret (it names the journey and its key)
    workers: int = 1  # worker processes: this one and workers - 1 that join it (`journey-studio run --join`)
    package: str | None = None  # the package file, for the extra workers to load
    public_key: str | None = None  # ... and the key its signature is checked with
    caps_ledger: str | None = None  # where the project's frequency caps count sends (None: the run's own state)
    replaces: str | None = None  # the state folder of the previous version's run (migrate_flight.py)


@dataclass
class RunSummary:
    """How a run ended."""

    key: str
    enrolled: int
    counts: dict[str, Any]
    temporal: str
    tracking_url: str


def default_state_dir(package: str | Path) -> Path:
    """Where a package's run keeps its state by default: NAME.jpkg.run next to the package."""
    p = Path(package).resolve()
    return p.with_name(p.name + ".run")


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the runner's search attributes on a cluster (the dev server is started with them)."""
    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
             "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST}
    try:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            search_attributes={n: kinds[k] for n, k in SEARCH_ATTRIBUTES.items()}, namespace=namespace))
    except RPCError as e:
        if "already" not in e.message.lower():
            raise RunnerError(f"cannot register the runner's search attributes on {namespace}: {e.message}") from None


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with the project's pure modules passed through (imported once, not per workflow)."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "app", "simulator", "numpy", "sqlalchemy", "yaml", "networkx", "zoneinfo"))


async def _still_open(port: int, grace: float) -> bool:
    """Whether a server keeps listening on a local port for `grace` seconds (a dying one stops sooner)."""
    deadline = time.monotonic() + grace
    while port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            return True
        await asyncio.sleep(0.1)
    return False


def check_channels(r: Runnable, settings: RunSettings) -> None:
    """Refuse to start a journey whose messages would have nowhere to go."""
    channels = {s.channel for s in r.plan.steps if s.kind == Kind.MESSAGE}
    if "email" in channels and settings.smtp is None:
        raise RunnerError(f"{r.source or r.plan.journey_name}: the journey sends email; give an SMTP server with "
                          "--smtp HOST:PORT")
    if "sms" in channels and not settings.sms_url:
        raise RunnerError(f"{r.source or r.plan.journey_name}: the journey sends text messages; give a gateway with "
                          "--sms-url URL")
    if "push" in channels and not settings.push_url:
        raise RunnerError(f"{r.source or r.plan.journey_name}: the journey sends push notifications; give a gateway "
                          "with --push-url URL")


class Run:
    """One runner process for one journey version: set up with `start`, torn down with `stop`."""

    def __init__(self, r: Runnable, settings: RunSettings, say: Callable[[str], None] = lambda s: None) -> None:
        self.r, self.settings, self.say = r, settings, say
        self.server: DevServer | None = None
        self.worker: Worker | None = None
        self.tracking: TrackingServer | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.contacts: ContactsDb | None = None
        self.state: StateDb | None = None
        self.smtp: SmtpChannel | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self.children: list[subprocess.Popen[bytes]] = []  # extra worker processes (RunSettings.workers)

    async def start(self) -> None:
        """Everything up: state, Temporal, worker, tracking endpoint, enrolment."""
        s, r = self.settings, self.r
        check_channels(r, s)
        register(r)
        self.contacts = ContactsDb(s.contacts_db)
        self.state = StateDb(Path(s.state_dir) / "runner.db")
        first = self.state.setdefault("journey", {"key": r.key, "digest": r.digest})
        if first["key"] != r.key or first["digest"] != r.digest:
            raise RunnerError(f"{s.state_dir} holds the run of another journey or build ({first['key']}); "
                              "give another --state-dir")
        clock = Clock.starting(r.plan.start, s.time_scale, time.time())
        self.clock = Clock.from_plain(self.state.setdefault("clock", clock.to_plain()))
        if self.clock.scale != float(s.time_scale):
            raise RunnerError(f"this run was started at time scale {self.clock.scale:g}; it cannot go on at "
                              f"{s.time_scale:g} (give another --state-dir for a new run)")
        secret = self.state.setdefault("secret", secrets.token_hex(16))

        if s.temporal is None:
            port = int(s.temporal_port or self.state.get("temporal_port") or free_port())
            if self.state.get("temporal_port") == port and await _still_open(port, 3.0):
                self.address = f"127.0.0.1:{port}"  # this run's dev server outlived a runner: join it
                self.say(f"Joining the run's Temporal dev server, still up on {self.address}")
            else:
                self.server = DevServer(Path(s.state_dir) / "temporal.db", port=port, namespace=s.namespace)
                self.say(f"Starting a local Temporal dev server on {self.server.address} "
                         f"(state in {self.server.db_file})")
                self.server.start()  # from this thread: the server stops if this process dies
                self.state.put("temporal_port", self.server.port)
                self.address = self.server.address
        else:
            self.address = s.temporal
        self.client = await connect(self.address, s.namespace)
        if s.temporal is not None:
            await ensure_search_attributes(self.client, s.namespace)
        self.state.put("temporal", self.address)

        host, port = s.listen
        port = port or int(self.state.get("tracking_port") or 0)
        tokens = Tokens(secret)
        events, made = events_secret(self.state, s.secret)
        self.tracking = TrackingServer(self.client, r, self.clock, tokens, self.state, status=self.counts,
                                       secret=events, public_status=s.public_status)
        port = await self.tracking.start(host, port)
        self.state.put("tracking_port", port)
        self.state.put(URL_SETTING, local_url(host, port))
        if made:
            self.say(f"Events secret (shown once): {events}\n  POST /events needs 'Authorization: Bearer SECRET'"
                     f"{'' if s.public_status else ', and so does GET /status'}; it is kept in "
                     f"{self.state.path} (readable by you only), where journey-studio event finds it")
        self.tracking_url = (s.public_url or f"http://{host}:{port}").rstrip("/")
        self.state.put("tracking_url", self.tracking_url)

        doc = worker_settings(s, self.address, self.tracking_url)
        self.state.put(WORKER_SETTING, doc)
        self.worker, self.executor, self.smtp = make_worker(self.client, r, doc, self.contacts, self.state, tokens)
        self.children = [spawn_worker(s, k) for k in range(1, s.workers)]
        self._worker_task = asyncio.create_task(self.worker.run())
        if s.replaces:  # the contacts in flight on the previous version, as the package's plan says
            from app.runner.migrate_flight import migrate
            self.say(f"Contacts in flight on the previous version: {await migrate(self, Path(s.replaces))}")
        await self.start_enrolment()

    async def start_enrolment(self) -> None:
        """Start the enrolment workflow, or leave the one that is there."""
        s, r = self.settings, self.r
        inp = EnrolInput(r.key, r.digest, self.clock.to_plain(), s.seed, s.page, s.poll, s.send_timeout,
                         exact=s.script is not None, cohort=s.cohort)
        try:
            await self.client.start_workflow(ENROLMENT_WORKFLOW, inp, id=enrolment_workflow_id(r.key),
                                             task_queue=r.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass

    async def counts(self) -> dict[str, Any]:
        """The live per-step counts, with the figures of the runner's own state (sends by key, events)."""
        assert self.state is not None
        return {**await step_counts(self.client, self.r),
                **await asyncio.to_thread(state_figures, self.state, self.r.key)}

    async def done(self) -> bool:
        """Whether the journey is over: enrolment finished and every enrolled contact has left."""
        assert self.state is not None
        desc = await self.client.get_workflow_handle(enrolment_workflow_id(self.r.key)).describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            return False
        if desc.status != WorkflowExecutionStatus.COMPLETED:
            raise RunnerError(f"the enrolment workflow ended {desc.status.name.lower() if desc.status else '?'}; "
                              "see the Temporal server's history")
        key = f"JourneyKey = '{self.r.key}'"
        total = (await self.client.count_workflows(key)).count
        running = (await self.client.count_workflows(key + " AND ExecutionStatus = 'Running'")).count
        return running == 0 and total >= self.state.workflow_count(self.r.key)

    async def wait(self, stop: asyncio.Event | None = None, every: float = 0.5) -> None:
        """Work until the journey is done (or `stop` is set, or the worker fails)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if self._worker_task is not None and self._worker_task.done():
                self._worker_task.result()  # raises the worker's failure
                raise RunnerError("the worker stopped")
            try:
                if self.settings.until_done and await self.done():
                    return
            except RPCError as e:
                self.say(f"Temporal is not answering ({e.message}); waiting")
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        """Tear everything down (the run's state stays: start again to go on)."""
        await asyncio.to_thread(stop_children, self.children)
        if self.tracking is not None:
            await self.tracking.close()
        if self.worker is not None:
            try:
                await asyncio.wait_for(self.worker.shutdown(), 30)
            except (asyncio.TimeoutError, RuntimeError):
                pass
        if self._worker_task is not None:
            self._worker_task.cancel()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        if self.smtp is not None:
            self.smtp.close()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        for db in (self.contacts, self.state):
            if db is not None:
                db.close()


WORKER_SETTING = "worker"  # what a worker process that joins the run needs (Run.start keeps it in the state)


def worker_settings(s: RunSettings, temporal: str, tracking_url: str) -> dict[str, Any]:
    """The run's settings a joining worker needs: where Temporal, the contacts, the channels and the endpoint are."""
    return {"temporal": temporal, "namespace": s.namespace, "contacts_db": s.contacts_db, "tracking_url": tracking_url,
            "smtp": list(s.smtp) if s.smtp else None, "sms_url": s.sms_url, "push_url": s.push_url,
            "sender": s.sender, "max_concurrent_activities": s.max_concurrent_activities,
            "script": {str(c): items for c, items in s.script.items()} if s.script is not None else None,
            "caps_ledger": str(Path(s.caps_ledger).resolve()) if s.caps_ledger else None,
            "seed": s.seed}  # the split seed, for `trace` to re-derive a contact's splits


def make_worker(client: Client, r: Runnable, doc: dict[str, Any], contacts: ContactsDb, state: StateDb,
                tokens: Tokens) -> tuple[Worker, ThreadPoolExecutor, SmtpChannel | None]:
    """A worker of the run's task queue with its activities (its thread pool and SMTP channel, to close)."""
    smtp = SmtpChannel(str(doc["smtp"][0]), int(doc["smtp"][1]), str(doc["sender"])) if doc.get("smtp") else None
    sms = SmsChannel(doc["sms_url"]) if doc.get("sms_url") else None
    push = SmsChannel(doc["push_url"], label="push gateway") if doc.get("push_url") else None
    script = {int(c): items for c, items in (doc.get("script") or {}).items()}
    acts = Activities(contacts, state, tokens, str(doc["tracking_url"]), smtp, sms, client, push, script)
    if r.caps:  # the project's frequency caps: counted in the shared ledger, else in the run's own state
        acts.ledger = CapLedger(Path(doc.get("caps_ledger") or state.path))
    most = int(doc.get("max_concurrent_activities") or 64)
    executor = ThreadPoolExecutor(max_workers=max(8, most))
    worker = Worker(client, task_queue=r.task_queue, workflows=WORKFLOWS, activities=acts.all(),
                    activity_executor=executor, workflow_runner=workflow_runner(), max_concurrent_activities=most,
                    max_concurrent_local_activities=most)
    return worker, executor, smtp


def spawn_worker(s: RunSettings, k: int) -> subprocess.Popen[bytes]:
    """Start worker process `k` (`journey-studio run PACKAGE --join`), its output in the state folder."""
    if not s.package:
        raise RunnerError("extra workers need the package file (RunSettings.package)")
    cmd = [sys.executable, "-m", "app.cli.main", "run", str(s.package), "--join", "--state-dir", str(s.state_dir)]
    if s.public_key:
        cmd += ["--public-key", s.public_key]
    with open(Path(s.state_dir) / f"worker-{k}.log", "ab") as log:
        # on Linux it is told to stop when this process dies (as the dev server is: devserver._die_with_parent)
        return subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def stop_children(children: list[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """Stop worker processes this run started: asked first (SIGTERM: they finish their tasks), then killed."""
    for p in children:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in children:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def join_run(r: Runnable, state_dir: Path, say: Callable[[str], None] = lambda s: None,
                   stop: asyncio.Event | None = None, patience: float = 120.0) -> None:
    """Work for a run of the same package started elsewhere (`journey-studio run`), on its task queue, until
    `stop` is set: its workflows and activities are shared among the workers. Waits up to `patience` seconds for
    the run to write its settings (a worker may start before the run)."""
    register(r)
    stop = stop or asyncio.Event()
    db = Path(state_dir) / "runner.db"
    deadline = time.monotonic() + patience
    doc = None
    while doc is None:
        if db.exists():
            probe = StateDb(db)
            try:
                first, doc = probe.get("journey"), probe.get(WORKER_SETTING)
            finally:
                probe.close()
            if first is not None and (first.get("key"), first.get("digest")) != (r.key, r.digest):
                raise RunnerError(f"{state_dir} holds the run of another journey or build ({first.get('key')})")
        if doc is None:
            if time.monotonic() > deadline or stop.is_set():
                raise RunnerError(f"{state_dir}: no run of this package started there (start it with "
                                  "journey-studio run)")
            await asyncio.sleep(0.2)
    contacts, state = ContactsDb(str(doc["contacts_db"])), StateDb(db)
    executor: ThreadPoolExecutor | None = None
    smtp: SmtpChannel | None = None
    try:
        client = await connect(str(doc["temporal"]), str(doc.get("namespace") or NAMESPACE))
        worker, executor, smtp = make_worker(client, r, doc, contacts, state, Tokens(str(state.get("secret"))))
        say(f"Working for '{r.plan.journey_name}' ({r.key}) on Temporal at {doc['temporal']}")
        task = asyncio.create_task(worker.run())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()
            raise RunnerError("the worker stopped")
        try:
            await asyncio.wait_for(worker.shutdown(), 30)
        except (asyncio.TimeoutError, RuntimeError):
            task.cancel()
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if smtp is not None:
            smtp.close()
        contacts.close()
        state.close()


async def run_journey(r: Runnable, settings: RunSettings, say: Callable[[str], None] = lambda s: None,
                      stop: asyncio.Event | None = None) -> RunSummary:
    """Run a journey until it is done (or `stop` is set); the final counts."""
    run = Run(r, settings, say)
    try:
        await run.start()
        say(f"Running '{r.plan.journey_name}' ({r.key}) on Temporal at {run.address}; tracking endpoint "
            f"{run.tracking_url}; time scale {run.clock.scale:g}")
        await run.wait(stop)
        try:
            counts = await run.counts()
        except RPCError as e:  # stopped while Temporal is away: the run is intact, the figures are not at hand
            say(f"No counts: Temporal does not answer ({e.message}); see them later with journey-studio status")
            counts = {}
        assert run.state is not None
        return RunSummary(r.key, run.state.enrolment_count(r.key), counts, run.address, run.tracking_url)
    finally:
        await run.stop()
