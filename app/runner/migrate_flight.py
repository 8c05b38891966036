"""Versions in flight, carried out: when the run of version N+1 starts with `--replaces` the state folder of the run
of version N, the contacts waiting on N are finished on N, moved to N+1 or made to leave, as the plan in N+1's
package says (app/package/in_flight.py).

Durable and exactly once, through a ledger in N+1's state (`in_flight_moves`, one row per unit of N):

1. the running units of N and the step each waits at are listed (a `progress` query per workflow of N) and a row
   is written for each unit the plan moves or makes leave, before anything is done (written again after a crash:
   `INSERT OR IGNORE`); every contact N enrolled is recorded as taken (`in_flight_taken`), so that N+1's enrolment
   does not enter it again from the start;
2. for each row not settled: N's unit is signalled (`IN_FLIGHT_EVENT`, naming the step); it stops there only if it
   still waits there (outcome `stopped` on N). A `progress` query confirms it: stopped at that step, or it had
   moved on first (then it stays on N: `stayed`);
3. a unit confirmed stopped is started on N+1 at the target step, in a workflow of its own whose id comes from
   N+1's key, the contact (or, a journey that targets accounts, the account) and the iteration
   (`REJECT_DUPLICATE`: started once however often this runs), and recorded as enrolled in N+1; or, told to leave,
   it is left. Then the row is settled (`moved`, `left`). An account's unit moves whole: one workflow for all the
   contacts it had on N (its members), with the account and the time zone it had there (the ledger's row keeps
   them), so its path is one, its tasks are once per account and its contacts' events go to it;
4. once every row is settled, N's state is marked as replaced (`REPLACED`): N's enrolment, which admits each page
   in one transaction with the mark (`admit_page`), enrols nobody new (they belong to N+1), after a restart too;
   the pages it admitted before the mark are waited for (`in_flight_pages`, until each has recorded whom it
   started), then the contacts N enrolled while the take-over ran are recorded as taken as well.

A crash anywhere redoes only unsettled rows; a signal again is harmless, a start again is refused by Temporal, so
nobody is lost or moved twice. A move never sends a message twice: the plan's check refuses a target from which
N+1 reaches a message the contact may have been sent on N (in_flight.sent_again).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.runner.calls import (CONTACT_WORKFLOW, IN_FLIGHT_EVENT, ContactInput, Event, contact_workflow_id,
                              unit_workflow_id)
from app.runner.runnable import RunnerError
from app.runner.state_read import read_settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from app.package.in_flight import Plan
    from app.runner.state import StateDb
    from app.runner.worker import Run

LEDGER = ("CREATE TABLE IF NOT EXISTS in_flight_moves (unit TEXT PRIMARY KEY, workflow TEXT NOT NULL, "
          "iteration INTEGER NOT NULL, contacts TEXT NOT NULL, from_step TEXT NOT NULL, action TEXT NOT NULL, "
          "target TEXT, status TEXT NOT NULL, sim_at INTEGER, account INTEGER NOT NULL DEFAULT -1, timezone TEXT)")
LATER_COLUMNS = {"account": "INTEGER NOT NULL DEFAULT -1", "timezone": "TEXT"}  # added to a ledger written before
TAKEN = ("CREATE TABLE IF NOT EXISTS in_flight_taken (journey TEXT NOT NULL, iteration INTEGER NOT NULL, "
         "contact_id INTEGER NOT NULL, PRIMARY KEY (journey, iteration, contact_id))")
SOURCE = "CREATE TABLE IF NOT EXISTS in_flight_source (journey TEXT PRIMARY KEY, source TEXT NOT NULL)"
PAGES = "CREATE TABLE IF NOT EXISTS in_flight_pages (page TEXT PRIMARY KEY, since REAL NOT NULL)"  # in a run's own
PAGE_SECONDS = 300.0  # how long the hand-over waits for the previous version's enrolment pages in progress
PAGE_PAUSE = 0.2  # ... looking again this often
LISTED = "in_flight_listed"  # the state's setting: the units of N were listed into the ledger
MILESTONE = "in_flight_milestone"  # ... and the take-over was recorded as a milestone of the journey
REPLACED = "replaced_by"  # N's state setting, written by N+1 once its ledger is complete: N enrols nobody new
PLANNED, MOVED, LEFT, STAYED = "planned", "moved", "left", "stayed"
CONFIRM_SECONDS = 60.0  # how long a unit of N is given to take the signal


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 30000")
    return con


def _ensure(path: Path) -> None:
    con = _connect(path)
    try:
        con.execute(LEDGER)
        con.execute(TAKEN)
        have = {row[1] for row in con.execute("PRAGMA table_info(in_flight_moves)")}
        for name, kind in LATER_COLUMNS.items():
            if name not in have:
                con.execute(f"ALTER TABLE in_flight_moves ADD COLUMN {name} {kind}")
    finally:
        con.close()


def taken(db: Path, journey: str, iteration: int, contacts: list[int]) -> set[int]:
    """Which of these contacts the run of the previous version had (enrolment of this version skips them): those
    the take-over recorded, and, once it handed over, those N's own state records now."""
    if not contacts or not db.is_file():
        return set()
    con = _connect(db)
    try:
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'in_flight_taken'").fetchone() is None:
            return set()
        out = _among(con, "SELECT contact_id FROM in_flight_taken WHERE journey = ? AND iteration = ?",
                     (journey, iteration), contacts)
        source = None
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'in_flight_source'").fetchone() is not None:
            row = con.execute("SELECT source FROM in_flight_source WHERE journey = ?", (journey,)).fetchone()
            source = json.loads(row[0]) if row else None
    finally:
        con.close()
    if not isinstance(source, dict):
        return out
    old_db = Path(str(source.get("db", "")))
    if old_db.is_file():
        con = _connect(old_db)
        try:
            out |= _among(con, "SELECT contact_id FROM enrolments WHERE journey = ? AND iteration = ?",
                          (str(source.get("key", "")), iteration), contacts)
        except sqlite3.Error:
            pass  # N's state cannot be read now: the records taken at the hand-over stand
        finally:
            con.close()
    return out


def _among(con: sqlite3.Connection, sql: str, args: tuple[Any, ...], contacts: list[int]) -> set[int]:
    """The contacts of `contacts` a query (ending in its WHERE conditions) finds, 500 at a time."""
    out: set[int] = set()
    for i in range(0, len(contacts), 500):
        part = contacts[i:i + 500]
        marks = ", ".join("?" for _ in part)
        out |= {int(c) for (c,) in con.execute(f"{sql} AND contact_id IN ({marks})", (*args, *part))}
    return out


def ledger_counts(db: Path) -> dict[str, Any]:
    """What the ledger holds, for `status`: contacts per status, and per (step, action); a journey that targets
    accounts adds `accounts`, the accounts' units per status (a contact without an account is a unit of its own,
    counted in contacts only)."""
    if not db.is_file():
        return {}
    con = _connect(db)
    try:
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'in_flight_moves'").fetchone() is None:
            return {}
        columns = {row[1] for row in con.execute("PRAGMA table_info(in_flight_moves)")}
        account = "account" if "account" in columns else "-1"  # a ledger written before accounts could move
        contacts: dict[str, int] = {}
        accounts: dict[str, int] = {}
        steps: dict[str, dict[str, int]] = {}
        for status, step, action, target, people, acc in con.execute(
                f"SELECT status, from_step, action, target, contacts, {account} FROM in_flight_moves"):
            n = len(json.loads(people))
            contacts[status] = contacts.get(status, 0) + n
            if int(acc) >= 0:
                accounts[status] = accounts.get(status, 0) + 1
            key = f"{action} {target}" if target else str(action)
            per = steps.setdefault(str(step), {})
            per[f"{key}: {status}"] = per.get(f"{key}: {status}", 0) + n
        return {"contacts": contacts, "steps": steps, **({"accounts": accounts} if accounts else {})}
    finally:
        con.close()


def taken_over_text(counts: dict[str, Any]) -> str:
    """The ledger's figures in words (ledger_counts): "12 left, 412 moved"; with accounts, "3 left (1 account), 6
    moved (2 accounts)" (contacts, and the accounts among the units)."""
    contacts, accounts = counts.get("contacts") or {}, counts.get("accounts") or {}

    def part(status: str, n: int) -> str:
        a = int(accounts.get(status, 0))
        return f"{n:,} {status}" + (f" ({a:,} account{'s' if a != 1 else ''})" if a else "")
    return ", ".join(part(k, int(n)) for k, n in sorted(contacts.items()))


def plan_of_package(source: str) -> Plan | None:
    """The plan for contacts in flight the package carries (None: none)."""
    import zipfile

    from app.package.in_flight import from_plain
    from app.package.manifest import MANIFEST, MAX_SMALL_BYTES, parse_manifest
    with zipfile.ZipFile(source) as zf:
        if zf.getinfo(MANIFEST).file_size > MAX_SMALL_BYTES:
            raise RunnerError(f"{source}: manifest.json is too large")
        manifest = parse_manifest(zf.read(MANIFEST), source)
    doc = manifest.get("in_flight")
    return from_plain(doc, source) if doc is not None else None


UnitRow = tuple[str, str, int, list[int], str, int, str | None]  # unit and workflow id, iteration, contacts, step,
#                                                                    account (-1: none), time zone
UNKNOWN_ZONE = "?"  # a unit whose worker does not say its time zone (its code is older than this module's)


async def _units_of(client: Client, key: str) -> list[UnitRow]:
    """(unit id, workflow id, iteration, contacts, step it is at, account, time zone) of every unit of N still
    running; an account's unit lists all its contacts, its first (whose time zone the unit keeps) first."""
    from app.runner.calls import COHORT_WORKFLOW
    out: list[UnitRow] = []
    query = f"JourneyKey = '{key}' AND ExecutionStatus = 'Running'"
    async for wf in client.list_workflows(query, page_size=1000):
        found = await _ask(client, wf.id)
        units = found.get("units", {}) if wf.workflow_type == COHORT_WORKFLOW else {wf.id: found}
        for uid, p in units.items():
            visits = p.get("visits") or []
            if visits and visits[-1][3] in ("stopped", "completed", "exited", "goal", "holdout"):
                continue  # it has left
            step = str(p.get("step") or "")
            if not step or step == "end":
                continue
            it = int(uid.rsplit(":it:", 1)[1]) if ":it:" in uid else 0
            zone = p.get("timezone") if isinstance(p.get("timezone"), str) else None if "timezone" in p \
                else UNKNOWN_ZONE
            out.append((uid, wf.id, it, [int(c) for c in (p.get("paths") or {})], step, _account_of(key, uid, p),
                        zone))
    return out


def _account_of(key: str, uid: str, progress: dict[str, Any]) -> int:
    """The account a unit of N is (-1: a contact): as its progress says, else as its id names it
    (calls.unit_workflow_id: a worker of N that does not say it)."""
    found = progress.get("account")
    if isinstance(found, int) and not isinstance(found, bool):
        return found
    head = f"journey:{key}:account:"
    number = uid[len(head):].split(":it:", 1)[0] if uid.startswith(head) else ""
    return int(number) if number.isdigit() else -1


async def _ask(client: Client, workflow: str) -> dict[str, Any]:
    """A workflow's progress: asked of it while it runs, else read from its result (no worker needed)."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
    from temporalio.service import RPCError
    handle = client.get_workflow_handle(workflow)
    try:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            found = await asyncio.wait_for(handle.query("progress"), 30)
        else:
            found = await handle.result()
    except (RPCError, WorkflowQueryFailedError, asyncio.TimeoutError) as e:
        raise RunnerError(f"workflow {workflow} of the previous version does not answer ({e or 'no worker'}): its "
                          "runner must be running to hand its contacts over; start this run again then") from None
    return found if isinstance(found, dict) else {}


async def _progress(client: Client, workflow: str, unit: str) -> dict[str, Any]:
    """A unit's progress (of a cohort's units, or of a workflow of its own)."""
    found = await _ask(client, workflow)
    p = found.get("units", {}).get(unit, {}) if "units" in found else found
    return p if isinstance(p, dict) else {}


async def _signal(client: Client, workflow: str, unit: str, step: str) -> None:
    """Tell a unit of N that N+1 takes it from `step` (nothing when its workflow has ended)."""
    from temporalio.service import RPCError
    try:
        await client.get_workflow_handle(workflow).signal("event", Event(IN_FLIGHT_EVENT, 0, step, -1, unit))
    except RPCError:
        pass  # ended already (a run again after a crash, or it left meanwhile): its progress says which


async def _confirm(client: Client, workflow: str, unit: str, step: str) -> bool:
    """Whether the unit stopped at `step` (True) or had moved on first (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONFIRM_SECONDS
    while True:
        p = await _progress(client, workflow, unit)
        visits = p.get("visits") or []
        if visits and visits[-1][3] == "stopped":
            return bool(visits[-1][0] == step)
        if str(p.get("step") or "") != step:
            return False  # it moved on before the signal came
        if loop.time() > deadline:
            raise RunnerError(f"unit {unit} of the previous version did not take the signal in {CONFIRM_SECONDS:g} "
                              "s; start the run again to go on")
        await asyncio.sleep(0.1)


async def migrate(run: Run, replaces: Path) -> dict[str, int]:
    """Carry out the plan of the run's package for the contacts in flight on the run in `replaces`; contacts per
    outcome (moved, left, stayed: moved on first; finished: on N as the plan says)."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from app.package.in_flight import FINISH, LEAVE, MOVE
    from app.runner.devserver import connect
    from app.runner.workflows import KEY, TALLY
    r, s = run.r, run.settings
    state: StateDb | None = run.state
    assert state is not None
    if s.script is not None:
        raise RunnerError("--replaces does not go with --rehearse: a rehearsal starts on its own logical time")
    if not r.source or not Path(r.source).is_file():
        raise RunnerError("--replaces needs the package file of this version, to read its plan")
    plan = plan_of_package(r.source)
    if plan is None:
        raise RunnerError(f"{r.source}: the package says nothing of the contacts in flight on the previous version; "
                          "make it with package --in-flight (or run it without --replaces)")
    old_db = Path(replaces) / "runner.db"
    if not old_db.is_file():
        raise RunnerError(f"{replaces}: not a run's state folder (no runner.db)")
    found = read_settings(old_db, "journey", "temporal")
    old_key = str((found.get("journey") or {}).get("key", ""))
    expected = f"{r.plan.journey_id}:v{plan.from_version}"
    if old_key != expected:
        raise RunnerError(f"{replaces}: the run there is of {old_key or 'nothing'}, not of {expected}, the version "
                          "this package's plan is for")
    address = str(found.get("temporal") or "")
    old_client = run.client if address in ("", run.address) else await connect(address, s.namespace, timeout=10)
    db = state.path
    await asyncio.to_thread(_ensure, db)
    if not state.get(LISTED):
        units = [u for u in await _units_of(old_client, old_key) if plan.decision(u[4]).action != FINISH]
        unknown = {u[3][0] for u in units if u[6] == UNKNOWN_ZONE and u[3]}
        zones = await asyncio.to_thread(_zones_of, run, sorted(unknown)) if unknown else {}
        rows = [(uid, wid, it, json.dumps(cs), step, plan.decision(step).action, plan.decision(step).target, PLANNED,
                 account, zones.get(cs[0]) if zone == UNKNOWN_ZONE and cs else zone)
                for uid, wid, it, cs, step, account, zone in units]
        enrolled = await asyncio.to_thread(_enrolled_of, old_db, old_key)

        def write() -> None:
            con = _connect(db)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR IGNORE INTO in_flight_moves (unit, workflow, iteration, contacts, "
                                "from_step, action, target, status, account, timezone) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                con.executemany("INSERT OR IGNORE INTO in_flight_taken VALUES (?, ?, ?)",
                                [(r.key, it, c) for it, c in enrolled])
                con.execute("COMMIT")
            finally:
                con.close()
        await asyncio.to_thread(write)
        state.put(LISTED, True)
    pending = await asyncio.to_thread(_pending, db)

    async def start(new_id: str, inp: ContactInput) -> None:
        pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(KEY, r.key)]
        if inp.account >= 0:  # counted in contacts from its start, as enrolment's units are (status.tally)
            pairs.append(SearchAttributePair(TALLY, [f"*{len(inp.contacts)}"]))
        try:
            await run.client.start_workflow(CONTACT_WORKFLOW, inp, id=new_id, task_queue=r.task_queue,
                                            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                            search_attributes=TypedSearchAttributes(pairs))
        except WorkflowAlreadyStartedError:
            pass  # started before a crash: not again
        await asyncio.to_thread(state.record_enrolments, r.key, inp.iteration,
                                [(c, new_id, inp.entered_at) for c in inp.contacts])

    for uid, wid, it, contacts, step, action, target, account, zone in pending:
        await _signal(old_client, wid, uid, step)
        status = STAYED
        if await _confirm(old_client, wid, uid, step):
            if action == MOVE and target:
                now = run.clock.sim(time.time())

                def unit(first: int, members: list[int], acc: int, tz: str | None) -> ContactInput:
                    return ContactInput(r.key, r.digest, first, it, now, tz, run.clock.to_plain(), s.seed,
                                        s.send_timeout, s.poll, False, [], members, acc, str(target))
                if account >= 0 and r.plan.accounts and contacts:  # the account's unit, whole: one workflow
                    await start(unit_workflow_id(r.key, account, it), unit(contacts[0], contacts[1:], account, zone))
                else:  # a contact (or, N+1 targeting contacts, each contact of N's account) on its own
                    own = {contacts[0]: zone} if len(contacts) == 1 else await asyncio.to_thread(_zones_of, run,
                                                                                                 contacts)
                    for c in contacts:
                        await start(contact_workflow_id(r.key, c, it), unit(c, [], -1, own.get(c)))
                status = MOVED
            elif action == LEAVE:
                status = LEFT
        await asyncio.to_thread(_settle, db, uid, status)
    # the ledger is complete: N enrols nobody new from now on (they belong to N+1), and whom N enrolled meanwhile
    await asyncio.to_thread(hand_over, old_db, db, old_key, r.key, plan.to_version)
    counts = await asyncio.to_thread(ledger_counts, db)
    taken_over = dict(counts.get("contacts", {}))
    if not state.get(MILESTONE):
        detail = (f"the run of version {plan.to_version} took over the run of version {plan.from_version}: "
                  + (taken_over_text(counts) or "nobody was waiting") + f" ({replaces})")
        if await asyncio.to_thread(_milestone, s.contacts_db, r.plan.journey_id, detail):
            state.put(MILESTONE, True)
    return taken_over


def admit_page(db: Path, page: str) -> bool:
    """Before an enrolment page starts anyone: whether it may (the run has not been taken over, or this page was
    admitted before the take-over and is being done again after a failure); an admitted page is recorded in
    progress (`in_flight_pages`) until `page_done`, and `hand_over` waits for it. One transaction with the
    take-over's mark (`BEGIN IMMEDIATE` on both sides), so a page either sees the mark or is waited for."""
    con = _connect(db)
    try:
        con.execute(PAGES)
        con.execute("BEGIN IMMEDIATE")
        try:
            again = con.execute("SELECT 1 FROM in_flight_pages WHERE page = ?", (page,)).fetchone() is not None
            over = con.execute("SELECT 1 FROM settings WHERE name = ?", (REPLACED,)).fetchone() is not None
            if again or not over:
                con.execute("INSERT OR REPLACE INTO in_flight_pages (page, since) VALUES (?, ?)", (page, time.time()))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return again or not over
    finally:
        con.close()


def page_done(db: Path, page: str) -> None:
    """An admitted enrolment page has recorded whom it started (admit_page)."""
    con = _connect(db)
    try:
        con.execute("DELETE FROM in_flight_pages WHERE page = ?", (page,))
    finally:
        con.close()


def _pages_in_progress(db: Path) -> list[tuple[str, float]]:
    con = _connect(db)
    try:
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'in_flight_pages'").fetchone() is None:
            return []
        return [(str(p), float(t)) for p, t in con.execute("SELECT page, since FROM in_flight_pages")]
    finally:
        con.close()


def hand_over(old_db: Path, new_db: Path, old_key: str, new_key: str, version: int,
              pause: Callable[[float], None] = time.sleep) -> None:
    """Once the ledger is complete: mark N's state as replaced (`REPLACED`, read by N's enrolment before every page,
    so a restart of N enrols nobody new either), wait for the pages N admitted before the mark to record whom they
    started (admit_page), then record as taken every contact N enrolled (those it enrolled while the take-over ran
    stay on N, and N+1's enrolment skips them). Harmless to do again."""
    mark = json.dumps({"key": new_key, "version": version, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    con = _connect(old_db)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (REPLACED, mark))
        con.execute("COMMIT")
    finally:
        con.close()
    tries = 0
    while pages := _pages_in_progress(old_db):
        if tries * PAGE_PAUSE >= PAGE_SECONDS:
            raise RunnerError(f"the run of the previous version has been enrolling a page for {PAGE_SECONDS:g} s ("
                              f"{pages[0][0]}): its runner must be running to finish it; start this run again then")
        pause(PAGE_PAUSE)
        tries += 1
    enrolled = _enrolled_of(old_db, old_key)
    source = json.dumps({"db": str(Path(old_db).resolve()), "key": old_key})
    con = _connect(new_db)
    try:
        con.execute(TAKEN)
        con.execute(SOURCE)
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT OR IGNORE INTO in_flight_taken VALUES (?, ?, ?)",
                        [(new_key, it, c) for it, c in enrolled])
        con.execute("INSERT OR REPLACE INTO in_flight_source (journey, source) VALUES (?, ?)", (new_key, source))
        con.execute("COMMIT")
    finally:
        con.close()


def replaced_by(db: Path) -> dict[str, Any] | None:
    """The run that took this one over (its key, version and when), from this run's state; None: none did."""
    if not db.is_file():
        return None
    try:
        found = read_settings(db, REPLACED).get(REPLACED)
    except sqlite3.Error:  # a state without its settings yet
        return None
    return found if isinstance(found, dict) else None


def _milestone(contacts_db: str, journey_id: str, detail: str) -> bool:
    """Record the take-over as an "in-flight" milestone of the journey, when the contacts are its project file
    (and it can be written: a project open for writing elsewhere is not); whether it was recorded."""
    from app.errors import JourneyStudioError
    from app.store import ProjectFile, is_project_file
    path = Path(contacts_db)
    if not path.is_file() or not is_project_file(path):
        return False
    try:
        with ProjectFile.open(path, check="never") as pf:
            if pf.readonly or journey_id not in {j.id for j in pf.project.journeys}:
                return False
            pf.add_milestone(journey_id, "in-flight", detail[:500])
            return True
    except JourneyStudioError:
        return False


def _enrolled_of(old_db: Path, key: str) -> list[tuple[int, int]]:
    con = _connect(old_db)
    try:
        return [(int(it), int(c)) for it, c in con.execute(
            "SELECT iteration, contact_id FROM enrolments WHERE journey = ?", (key,))]
    finally:
        con.close()


def _pending(db: Path) -> list[tuple[str, str, int, list[int], str, str, str | None, int, str | None]]:
    con = _connect(db)
    try:
        return [(str(u), str(w), int(it), [int(c) for c in json.loads(cs)], str(st), str(a), t, int(acc), tz)
                for u, w, it, cs, st, a, t, acc, tz in con.execute(
                    "SELECT unit, workflow, iteration, contacts, from_step, action, target, account, timezone "
                    "FROM in_flight_moves WHERE status = ? ORDER BY unit", (PLANNED,))]
    finally:
        con.close()


def _zones_of(run: Run, contacts: list[int]) -> dict[int, str | None]:
    """The time zones of these contacts in the contacts database (a zone Python does not know: none), for a unit
    whose own N's worker did not say."""
    import zoneinfo
    assert run.contacts is not None
    out: dict[int, str | None] = {}
    for c, row in run.contacts.contacts(contacts).items():
        name = row.get("time_zone")
        try:
            out[c] = str(name) if name and zoneinfo.ZoneInfo(str(name)) else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out[c] = None
    return out


def _settle(db: Path, unit: str, status: str) -> None:
    con = _connect(db)
    try:
        con.execute("UPDATE in_flight_moves SET status = ? WHERE unit = ?", (status, unit))
    finally:
        con.close()


__all__ = ["IN_FLIGHT_EVENT", "REPLACED", "admit_page", "hand_over", "ledger_counts", "migrate", "page_done",
           "plan_of_package", "replaced_by", "taken", "taken_over_text"]
