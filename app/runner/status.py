"""Live per-step counts of a run, from Temporal's visibility store (the workflows' search attributes), and the
runner's own state.

Each unit's workflow keeps `JourneyStep` (where it is), `JourneyPath` (every step it entered, and `step=outcome`
once it left one) and, at the end, `JourneyOutcome`; all carry `JourneyKey` (journey id and version). An
account's workflow and a cohort's (cohort.py) also keep `JourneyTally`: how many of their contacts each path key
counts (a cohort's also how many wait at each step, left with each outcome, reached the goal, are still in).
The figures are added up from **one listing** of the journey's workflows (a few pages: a run of 10,000 contacts
in cohorts of 500 is 20 workflows), never a count query per figure: each workflow's attributes are one record,
written at once, so the sum never shows a step with more contacts than the step before it passed on (a count
query per figure, each at its own moment, could: an SMS with 41 entered after an if/then's 38 "no"). They need
no state of the runner, so they work for a run on a cluster as well as on the local dev server. Visibility
trails the workflows by a moment.

A message step counts `sent`, `suppressed` (consent, the suppression list, an opt-out), `no_address`, `failed`
(the send failed for good: see `failures`) and `capped` apart; an action counts `failed` apart from `done`. The
runner's own state adds, read in one transaction (StateDb.snapshot), `messages` (how each send ended, one per
send key: a message whose transport was called twice, after a crash, counts once), `events` (the endpoint's
outbox) and `dead_letters` (events refused because no workflow of the run could take them). `funnel` has the
figures as the simulator's funnel names and orders them, for `compare --live`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.runner.calls import COHORT_WORKFLOW
from app.runner.runnable import Runnable, RunnerError, step_types
from app.runner.state_read import SECRET_SETTING, URL_SETTING, read_settings, snapshot
from app.semantics.plan import Kind

if TYPE_CHECKING:  # temporalio is imported when Temporal is asked: a run that is over needs none of it
    from temporalio.client import Client

    from app.runner.state import StateDb

OUTCOMES = {Kind.MESSAGE: ("sent", "suppressed", "no_address", "failed", "capped"), Kind.IF_EVENT: ("yes", "no"),
            Kind.IF_CONDITION: ("yes", "no"), Kind.IF_SEGMENT: ("yes", "no"), Kind.ACTION: ("done", "failed")}
FINAL = ("completed", "exited", "goal", "holdout", "stopped")


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _outcomes(s: Any) -> tuple[str, ...]:
    if s.kind == Kind.SPLIT:
        return tuple(f"path {c}" for c in "ABCDEFGHIJ"[:len(s.thresholds)]) + ("holdout",)
    if s.per_account:  # done once for the account; its other contacts share it
        return ("done", "shared", "failed")
    return OUTCOMES.get(s.kind, ())


@dataclass(frozen=True)
class Listed:
    """One workflow of a run as the visibility listing gives it: its type, state and search attributes."""

    workflow_type: str
    running: bool
    failed: bool
    step: str | None = None            # JourneyStep
    path: tuple[str, ...] = ()         # JourneyPath
    outcome: str | None = None         # JourneyOutcome
    goal: str | None = None            # JourneyGoal
    tally: tuple[str, ...] = ()        # JourneyTally: "KEY*n"


async def listing(client: Client, r: Runnable) -> list[Listed]:
    """Every workflow of the run's journey, from one visibility listing (pages of it: one query)."""
    from temporalio.client import WorkflowExecutionStatus as Status

    from app.runner.workflows import GOAL, OUTCOME, PATH, STEP, TALLY
    failed = (Status.FAILED, Status.TERMINATED, Status.TIMED_OUT)
    out: list[Listed] = []
    async for wf in client.list_workflows(f"JourneyKey = {_q(r.key)}", page_size=1000):
        sa = wf.typed_search_attributes
        out.append(Listed(str(wf.workflow_type), wf.status == Status.RUNNING, wf.status in failed,
                          sa.get(STEP), tuple(sa.get(PATH) or ()), sa.get(OUTCOME), sa.get(GOAL),
                          tuple(sa.get(TALLY) or ())))
    return out


async def step_counts(client: Client, r: Runnable) -> dict[str, Any]:
    """{journey, key, enrolled, running, failed, outcomes: {...}, goal_reached, attributing, steps: [{step, type,
    entered, waiting, ...}], funnel: [...]} from one listing of the journey's workflows. Each workflow's
    attributes are one record, written at once (a cohort publishes all its tallies together), so the figures
    added up from one listing never show a step with more contacts than the step before it passed on."""
    return tally(r, await listing(client, r))


def tally(r: Runnable, workflows: Iterable[Listed]) -> dict[str, Any]:
    """The run's figures, in contacts, added up from its workflows: a contact's own (its path), an account's or a
    cohort's (their `JourneyTally`: how many of their contacts each path key counts)."""
    types = step_types(r)
    rows: list[dict[str, Any]] = [{"step": s.id, "type": types[s.id], "entered": 0, "waiting": 0,
                                   **{o: 0 for o in _outcomes(s)}}
                                  for s in r.plan.steps]
    totals = {"enrolled": 0, "running": 0, "failed": 0, "goal_reached": 0, "attributing": 0}
    finals = {o: 0 for o in FINAL}
    for wf in workflows:
        counted: dict[str, int] = {}
        for item in wf.tally:
            key, _, n = item.rpartition("*")
            counted[key] = int(n) if n.isdigit() else 0
        if wf.workflow_type == COHORT_WORKFLOW:
            _add_cohort(counted, wf.running, wf.failed, r, rows, totals, finals)
            continue
        path = set(wf.path)
        size = counted.get("", 1)  # a contact without an account is a unit of one

        def count(key: str) -> int:
            return counted.get(key, 1 if key in path and not counted else 0)

        totals["enrolled"] += size
        totals["running"] += size if wf.running else 0
        totals["failed"] += size if wf.failed else 0
        totals["goal_reached"] += size if wf.goal == "reached" else 0
        totals["attributing"] += size if wf.running and wf.step == "end" else 0
        if wf.outcome in finals:
            finals[str(wf.outcome)] += size
        for s, row in zip(r.plan.steps, rows):
            row["entered"] += count(s.id)
            row["waiting"] += size if wf.running and wf.step == s.id else 0
            for o in _outcomes(s):
                row[o] += count(f"{s.id}={o}")
    counts = {"journey": r.plan.journey_name, "key": r.key, **totals, "outcomes": finals, "steps": rows}
    counts["funnel"] = funnel_rows(r, counts)
    return counts


def _add_cohort(tally: dict[str, int], running: bool, failed: bool, r: Runnable, rows: list[dict[str, Any]],
                totals: dict[str, int], finals: dict[str, int]) -> None:
    """Add a cohort's tallies (cohort.py: `@STEP` waiting, `=OUTCOME`, `~running`, `~goal`, path keys) to the
    figures; a cohort that failed or was terminated counts its contacts failed, as a unit's workflow would."""
    size = tally.get("", 0)
    totals["enrolled"] += size
    totals["running"] += tally.get("~running", 0) if running else 0
    totals["failed"] += size if failed else 0
    totals["goal_reached"] += tally.get("~goal", 0)
    totals["attributing"] += tally.get("@end", 0) if running else 0
    for o in finals:
        finals[o] += tally.get(f"={o}", 0)
    for s, row in zip(r.plan.steps, rows):
        row["entered"] += tally.get(s.id, 0)
        row["waiting"] += tally.get(f"@{s.id}", 0) if running else 0
        for o in _outcomes(s):
            row[o] += tally.get(f"{s.id}={o}", 0)


def funnel_rows(r: Runnable, counts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The figures per step as the simulator's funnel has them (simulator/metrics.py `funnel`, a saved run's
    `funnel` rows): steps in the plan's order, the virtual 'end' last; step id, name and tile type; `entered`
    and the outcomes under the funnel's names (`path_A`...). Live only: `waiting` (at the step now), and a
    message's `no_address` and `failed`, which the simulator counts as `suppressed` (not sent)."""
    rows: list[dict[str, Any]] = []
    for s, row in zip(r.plan.steps, counts.get("steps") or ()):
        out: dict[str, Any] = {"step": s.id, "name": s.name, "type": s.type}
        out.update({k.replace("path ", "path_"): v for k, v in row.items() if k not in ("step", "type")})
        rows.append(out)
    finals = counts.get("outcomes") or {}
    rows.append({"step": "end", "name": "(end)", "type": "end", "entered": int(finals.get("completed", 0)),
                 "completed": int(finals.get("completed", 0))})
    return rows


def state_figures(state: StateDb, journey: str) -> dict[str, Any]:
    """What the runner's own state adds to the counts (sends by key, the event outbox, dead letters), read in one
    transaction."""
    snap = state.snapshot(journey)
    return {k: snap[k] for k in ("messages", "failures", "events", "dead_letters")}


# the columns of the table, in the simulator's funnel order (simulator/metrics.py FUNNEL_OUTCOMES), with the
# live-only ones beside their kin: waiting after entered, no_address and failed after suppressed
COLUMNS = ("entered", "waiting", "sent", "suppressed", "no_address", "failed", "capped", "yes", "no", "done",
           "shared", "holdout", *(f"path_{c}" for c in "ABCDEFGHIJ"), "completed")


def format_counts(counts: dict[str, Any]) -> list[str]:
    """The counts as a table of lines: a step a row, in the plan's order as the simulator's funnel has them,
    the virtual end last; the figures under the funnel's names."""
    labels = {r["step"]: r["type"] for r in counts.get("steps") or ()}
    rows = counts.get("funnel") or [{k.replace("path ", "path_"): v for k, v in r.items()}
                                    for r in counts.get("steps") or ()]
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    head = ["step", "type", *cols]
    body = [[r["step"], labels.get(r["step"], r.get("type", "")), *(f"{r[c]:,}" if isinstance(r.get(c), int)
                                                                   else "" for c in cols)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    attributing = counts.get("attributing", 0)
    over = [f"The run is over (ended {counts.get('ended_at', '?')}): its final figures."] if counts.get("final") \
        else []
    lines = over + [f"{counts['journey']} ({counts['key']}): {counts['enrolled']:,} enrolled, "
             f"{counts['running'] - attributing:,} in the journey, "
             + ", ".join(f"{v:,} {k}" for k, v in counts["outcomes"].items() if v)
             + (f", {counts['failed']:,} failed" if counts["failed"] else "")]
    if "goal_reached" in counts:
        lines.append(f"Goal reached (within its window after entry, left or not): {counts['goal_reached']:,}"
                     + (f"; {attributing:,} who left are still within their window" if attributing else ""))
    lines.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    for line in body:
        lines.append("  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(line, widths))).rstrip())
    return lines + _state_lines(counts)


def _state_lines(counts: dict[str, Any]) -> list[str]:
    lines = []
    msgs = counts.get("messages")
    if msgs:
        lines.append(f"Messages (one per send key): {msgs['sent']} sent, {msgs['suppressed']} suppressed, "
                     f"{msgs['no_address']} without an address, {msgs['failed']} failed"
                     + (f", {msgs['capped']} capped (the project's frequency caps)" if msgs.get("capped") else "")
                     + (f", {msgs['sending']} being sent" if msgs.get("sending") else "")
                     + (f"; {msgs['retried']} needed more than one attempt" if msgs.get("retried") else ""))
    for f in counts.get("failures") or []:
        lines.append(f"  failed: contact {f['contact']} at {f['step']}: {f['reason']}")
    events = counts.get("events")
    if events is not None or "dead_letters" in counts:
        events = events or {}
        lines.append(f"Events: {events.get('delivered', 0)} delivered, {events.get('pending', 0)} waiting, "
                     f"{events.get('not_running', 0)} after their contact had left; "
                     f"{counts.get('dead_letters', 0)} refused for unknown contacts (dead letters)")
    lines += [str(t.get("line")) for t in counts.get("ab_tests") or () if isinstance(t, dict)]
    flight = counts.get("in_flight")  # migrate_flight.py: the contacts this run took over from the previous version
    if isinstance(flight, dict) and isinstance(flight.get("contacts"), dict) and flight["contacts"]:
        from app.runner.migrate_flight import taken_over_text  # "12 left, 412 moved" (with accounts, how many)
        lines.append(f"Contacts in flight on the previous version: {taken_over_text(flight)}")
    by = counts.get("replaced_by")  # migrate_flight.hand_over: the next version's run took this one over
    if isinstance(by, dict):
        lines.append(f"Taken over by the run of version {by.get('version')} ({str(by.get('at', ''))[:20]}): this run "
                     "enrols nobody new; those on it finish here or were moved as the plan says")
    return lines


FINAL_COUNTS = "final_counts"  # the state's setting: the counts of a run that is over (see keep_final_counts)


def keep_final_counts(state_dir: Path, counts: Mapping[str, Any]) -> None:
    """Keep the counts of a run that is over (every workflow of it has ended: they cannot change) in its state,
    so that `status` answers without a Temporal server. Not for a run stopped before its end."""
    from datetime import datetime, timezone

    from app.runner.state import StateDb
    state = StateDb(Path(state_dir) / "runner.db")
    try:
        state.put(FINAL_COUNTS, {**counts, "final": True,
                                 "ended_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    finally:
        state.close()


async def read_counts(r: Runnable, state_dir: Path, temporal: str | None = None) -> dict[str, Any]:
    """The counts of a run (`_read_counts`), with its A/B tests' decisions as kept in its state (ab_live.py)."""
    from app.runner.ab_live import decisions
    from app.runner.migrate_flight import ledger_counts
    counts = await _read_counts(r, state_dir, temporal)
    tests = decisions(Path(state_dir) / "runner.db", r.plan, r.key)
    flight = ledger_counts(Path(state_dir) / "runner.db")  # the contacts taken over from the previous version
    counts = {**counts, "in_flight": flight} if flight else counts
    from app.runner.migrate_flight import replaced_by
    by = replaced_by(Path(state_dir) / "runner.db")  # taken over by the next version's run: it enrols nobody new
    counts = {**counts, "replaced_by": by} if by else counts
    return {**counts, "ab_tests": tests} if tests else counts


async def _read_counts(r: Runnable, state_dir: Path, temporal: str | None = None) -> dict[str, Any]:
    """The counts of a run: those kept when it ended, else from `temporal`, else from the run's own dev server
    (started for a moment if it is down); the runner's state read with sqlite3 alone (state_read), in one
    transaction."""
    db = Path(state_dir) / "runner.db"
    extra: dict[str, Any] = {}
    address = None
    if db.is_file():
        found = read_settings(db, "journey", "temporal", FINAL_COUNTS, URL_SETTING, SECRET_SETTING)
        ran = found.get("journey")
        if isinstance(ran, dict) and ran.get("key") not in (None, r.key):
            raise RunnerError(f"{state_dir}: the run kept there is of journey version {ran.get('key')}, not of "
                              f"this package's {r.key}; give that run's package or state folder")
        final = found.get(FINAL_COUNTS)
        if isinstance(final, dict) and final.get("key") == r.key and isinstance(final.get("steps"), list):
            return final
        url, secret = found.get(URL_SETTING), found.get(SECRET_SETTING)
        if temporal is None and isinstance(url, str) and isinstance(secret, str):
            import asyncio
            served = await asyncio.to_thread(runner_counts, url, secret, r.key)
            if served is not None:
                return served
        address = found.get("temporal")
        snap = snapshot(db, r.key)
        extra = {k: snap[k] for k in ("messages", "failures", "events", "dead_letters")}
    elif temporal is None:
        raise RunnerError(f"{state_dir}: no run of this package here (start one with journey-studio run, or give "
                          "--state-dir or --temporal)")
    return {**await _temporal_counts(r, state_dir, temporal, address), **extra}


RUNNER_ANSWER_MAX = 64 * 1024 * 1024  # bytes of a runner's /status answer read at most


def runner_counts(url: str, secret: str, key: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """The counts the run's own process serves (`GET /status` with the run's secret), or None when nothing
    answers there, the answer is not 200 (Temporal away: 503) or it is of another journey version."""
    import json
    import urllib.error
    import urllib.request
    if not url.startswith("http://"):
        return None  # the runner keeps its own endpoint's address (access.local_url); nothing else is asked
    req = urllib.request.Request(url.rstrip("/") + "/status", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:  # noqa: S310 - the run's own local address
            if answer.status != 200:
                return None
            doc = json.loads(answer.read(RUNNER_ANSWER_MAX + 1)[:RUNNER_ANSWER_MAX])
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("steps"), list):
        return doc
    return None


async def _temporal_counts(r: Runnable, state_dir: Path, temporal: str | None, address: str | None) -> dict[str, Any]:
    from app.runner.devserver import DevServer, connect, port_open
    if temporal is not None:
        return await step_counts(await connect(temporal, timeout=10), r)
    if address:
        host, _, port = str(address).rpartition(":")
        if port_open(host, int(port)):
            return await step_counts(await connect(str(address), timeout=10), r)
    if not (Path(state_dir) / "temporal.db").exists():
        where = f"cannot reach Temporal at {address}" if address else "no Temporal server on record"
        raise RunnerError(f"{state_dir}: {where} for this run, and no Temporal database of its own to read; give "
                          "--temporal HOST:PORT")
    server = DevServer(Path(state_dir) / "temporal.db", log_file=Path(state_dir) / "temporal-status.log")
    server.start()  # the run's server is down: read its database with a server of our own for a moment
    try:
        return await step_counts(await connect(server.address), r)
    finally:
        server.stop()
