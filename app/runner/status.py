"""Live per-step counts of a run, from Temporal's visibility store (the workflows' search attributes).

Each contact workflow keeps `JourneyStep` (where it is), `JourneyPath` (every step it entered, and
`step=outcome` once it left one) and, at the end, `JourneyOutcome`; all carry `JourneyKey` (journey id and
version). A count query per figure answers, so the figures need no state of the runner and work for a run on
a cluster as well as on the local dev server. Visibility trails the workflows by a moment.

A journey that targets accounts has one workflow per account (and per contact without one), and a run with
cohorts (cohort.py) one workflow per cohort of units: their figures count contacts all the same, added up from
each workflow's `JourneyTally` (how many of its contacts each path key counts; a cohort's also says how many
wait at each step, left with each outcome, reached the goal, are still in), one listing of the journey's
workflows instead of a count query per figure.

A message step counts `sent`, `suppressed` (consent, the suppression list, an opt-out), `no_address`, `failed`
(the send failed for good: see `failures`) and `capped` apart; an action counts `failed` apart from `done`. The
runner's own state adds `messages` (how each send ended, one per send key: a message whose transport was called
twice, after a crash, counts once), `events` (the endpoint's outbox) and `dead_letters` (events refused because
no workflow of the run could take them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from app.runner.calls import COHORT_WORKFLOW
from app.runner.runnable import Runnable, RunnerError, step_types
from app.runner.state import StateDb
from app.semantics.plan import Kind

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


async def step_counts(client: Client, r: Runnable) -> dict[str, Any]:
    """{journey, version, enrolled, running, failed, outcomes: {...}, steps: [{step, type, entered, waiting, ...}]}."""
    base = f"JourneyKey = {_q(r.key)}"
    if r.plan.accounts or (await client.count_workflows(f"{base} AND WorkflowType = {_q(COHORT_WORKFLOW)}")).count:
        return await unit_counts(client, r)

    async def count(extra: str = "") -> int:
        return (await client.count_workflows(base + (f" AND {extra}" if extra else ""))).count

    types = step_types(r)
    rows = []
    for s in r.plan.steps:
        row: dict[str, Any] = {"step": s.id, "type": types[s.id],
                               "entered": await count(f"JourneyPath = {_q(s.id)}"),
                               "waiting": await count(f"JourneyStep = {_q(s.id)} AND ExecutionStatus = 'Running'")}
        for o in _outcomes(s):
            row[o] = await count(f"JourneyPath = {_q(f'{s.id}={o}')}")
        rows.append(row)
    return {"journey": r.plan.journey_name, "key": r.key, "enrolled": await count(),
            "running": await count("ExecutionStatus = 'Running'"),
            "failed": await count("ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')"),
            "outcomes": {o: await count(f"JourneyOutcome = {_q(o)}") for o in FINAL},
            # the goal, one definition (Plan.goal_deadline): within its window after entry, left or not
            "goal_reached": await count("JourneyGoal = 'reached'"),
            "attributing": await count("JourneyStep = 'end' AND ExecutionStatus = 'Running'"),
            "steps": rows}


FAILED = (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT)


async def unit_counts(client: Client, r: Runnable) -> dict[str, Any]:
    """The same figures for a journey that targets accounts, in contacts: each workflow counts its contacts."""
    from app.runner.workflows import GOAL, OUTCOME, PATH, STEP, TALLY
    types = step_types(r)
    rows: list[dict[str, Any]] = [{"step": s.id, "type": types[s.id], "entered": 0, "waiting": 0,
                                   **{o: 0 for o in _outcomes(s)}}
            for s in r.plan.steps]
    totals = {"enrolled": 0, "running": 0, "failed": 0, "goal_reached": 0, "attributing": 0}
    finals = {o: 0 for o in FINAL}
    async for wf in client.list_workflows(f"JourneyKey = {_q(r.key)}"):
        sa = wf.typed_search_attributes
        tally: dict[str, int] = {}
        for item in sa.get(TALLY) or []:
            key, _, n = item.rpartition("*")
            tally[key] = int(n)
        path = set(sa.get(PATH) or [])
        size = tally.get("", 1)  # a contact without an account is a unit of one

        def count(key: str) -> int:
            return tally.get(key, 1 if key in path and not tally else 0)

        running = wf.status == WorkflowExecutionStatus.RUNNING
        if wf.workflow_type == COHORT_WORKFLOW:
            _add_cohort(tally, running, wf.status in FAILED, r, rows, totals, finals)
            continue
        where = sa.get(STEP)
        totals["enrolled"] += size
        totals["running"] += size if running else 0
        totals["failed"] += size if wf.status in FAILED else 0
        totals["goal_reached"] += size if sa.get(GOAL) == "reached" else 0
        totals["attributing"] += size if running and where == "end" else 0
        outcome = sa.get(OUTCOME)
        if outcome in finals:
            finals[str(outcome)] += size
        for s, row in zip(r.plan.steps, rows):
            row["entered"] += count(s.id)
            row["waiting"] += size if running and where == s.id else 0
            for o in _outcomes(s):
                row[o] += count(f"{s.id}={o}")
    return {"journey": r.plan.journey_name, "key": r.key, **totals, "outcomes": finals, "steps": rows}


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


def state_figures(state: StateDb, journey: str) -> dict[str, Any]:
    """What the runner's own state adds to the counts: sends by key, the event outbox, dead letters."""
    return {"messages": state.message_counts(journey), "failures": state.failures(journey),
            "events": state.event_counts(), "dead_letters": state.dead_letter_count()}


def format_counts(counts: dict[str, Any]) -> list[str]:
    """The counts as a table of lines."""
    rows = counts["steps"]
    known = ("sent", "suppressed", "no_address", "failed", "capped", "yes", "no", "done", "shared", "holdout")
    cols = ["entered", "waiting"] + [c for c in known if any(c in r for r in rows)]
    cols += sorted({k for r in rows for k in r if k.startswith("path ")})
    head = ["step", "type", *cols]
    body = [[r["step"], r["type"], *(str(r.get(c, "")) for c in cols)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    attributing = counts.get("attributing", 0)
    lines = [f"{counts['journey']} ({counts['key']}): {counts['enrolled']} enrolled, "
             f"{counts['running'] - attributing} in the journey, "
             + ", ".join(f"{v} {k}" for k, v in counts["outcomes"].items() if v)
             + (f", {counts['failed']} failed" if counts["failed"] else "")]
    if "goal_reached" in counts:
        lines.append(f"Goal reached (within its window after entry, left or not): {counts['goal_reached']}"
                     + (f"; {attributing} who left are still within their window" if attributing else ""))
    lines.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    for line in body:
        lines.append("  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(line, widths))))
    return lines + _state_lines(counts)


def _state_lines(counts: dict[str, Any]) -> list[str]:
    lines = []
    msgs = counts.get("messages")
    if msgs:
        lines.append(f"Messages (one per send key): {msgs['sent']} sent, {msgs['suppressed']} suppressed, "
                     f"{msgs['no_address']} without an address, {msgs['failed']} failed"
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
    return lines


async def read_counts(r: Runnable, state_dir: Path, temporal: str | None = None) -> dict[str, Any]:
    """The counts of a run: from `temporal`, else the run's own dev server (started for a moment if it is down)."""
    db = Path(state_dir) / "runner.db"
    extra: dict[str, Any] = {}
    address = None
    if db.exists():
        state = StateDb(db)
        try:
            address = state.get("temporal")
            extra = state_figures(state, r.key)
        finally:
            state.close()
    elif temporal is None:
        raise RunnerError(f"{state_dir}: no run of this package here (start one with journey-studio run, or give "
                          "--state-dir or --temporal)")
    return {**await _temporal_counts(r, state_dir, temporal, address), **extra}


async def _temporal_counts(r: Runnable, state_dir: Path, temporal: str | None, address: str | None) -> dict[str, Any]:
    from app.runner.devserver import DevServer, connect, port_open
    if temporal is not None:
        return await step_counts(await connect(temporal, timeout=10), r)
    if address:
        host, _, port = str(address).rpartition(":")
        if port_open(host, int(port)):
            return await step_counts(await connect(str(address), timeout=10), r)
    if not (Path(state_dir) / "temporal.db").exists():
        raise RunnerError(f"cannot reach Temporal at {address} for this run; give --temporal HOST:PORT")
    server = DevServer(Path(state_dir) / "temporal.db", log_file=Path(state_dir) / "temporal-status.log")
    server.start()  # the run's server is down: read its database with a server of our own for a moment
    try:
        return await step_counts(await connect(server.address), r)
    finally:
        server.stop()
