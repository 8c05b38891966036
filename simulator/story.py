"""One contact's story: a saved run re-derived for one contact, every step with when and why.

A saved run (simulator/runs.py) keeps what made it: the journey, the population's spec (or its data), the
behaviour, the seed and, for an A/B split with a test period, each replica's decision. Every draw is keyed by the
contact (app/semantics/draws.py), so one contact's run can be made again on its own: the population and the
world are rebuilt, the decisions put back in the plan (`with_route`), and the reference interpreter
(app/semantics/reference.py) is driven for that contact's unit exactly as the reference run drives it
(simulator/reference_run.py), recording at each move what the interpreter looked at: the event waited for and
its time against the limit, the attribute tested, the segment at that moment, the split's draw and thresholds,
the quiet hours, the cap, the suppression or the opt-out that held a message back, the goal or exit.

The story is checked against the saved trace of replica 0 row for row (visits, messages, units): `checked`
says so, or says why it could not be (another replica's trace is not kept; a run made by another engine version
cannot be re-derived, and then only the saved trace's path and times are told, without reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from app.semantics.ab_test import PATH_NAMES
from app.semantics.draws import derive_seed
from app.semantics.outcomes import LABELS
from app.semantics.plan import Plan, with_route
from app.semantics.reference import NEVER, ContactState
from app.semantics.timezones import utc_iso, zone
from simulator.behaviour import BehaviourModel
from simulator.engine import ENGINE_VERSION
from simulator.population import Population
from simulator.reference_run import PopulationFacts, entry_time
from simulator.runs import RunRecord
from simulator.trace import TABLES, Trace, TraceBuilder
from simulator.world import World, build_world

FORMAT = "contact-story/1"
MAX_REPLICA = 1000


class StoryError(ValueError):
    """A story that cannot be told (one line: the run, the contact, what is wrong)."""


@dataclass(frozen=True)
class Happening:
    """Something the contact did with a message, or an event of its own (times UTC seconds)."""

    at: int
    what: str  # delivered, bounced, hard_bounced, opened, clicked, unsubscribed, converted, or an own event
    text: str


@dataclass
class StepStory:
    """One step of one iteration: entered and left when, with which outcome, and why."""

    iteration: int
    index: int  # the step's index in the plan (the virtual end: len(plan.steps))
    step: str
    name: str
    type: str
    entered: int
    left: int
    outcome: str
    why: str
    reason: dict[str, Any] = field(default_factory=dict)
    happenings: list[Happening] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "step": self.step, "name": self.name, "type": self.type,
                "entered": utc_iso(self.entered), "left": utc_iso(self.left), "outcome": self.outcome,
                "why": self.why, "reason": self.reason,
                "did": [{"at": utc_iso(h.at), "what": h.what, "text": h.text} for h in self.happenings]}


@dataclass
class Story:
    """A contact's way through a run (see the module docstring)."""

    journey: str
    timezone: str
    contact: int  # the contact's id
    row: int  # its row in the run's population (as the trace names it)
    replica: int
    run: int | None
    steps: list[StepStory]
    entered: bool
    audience: str  # why the contact did or did not enter, in words
    checked: str  # whether the story agrees with the saved trace, in words
    agrees: bool | None  # True / False when checked; None when there was nothing to check against
    reasons: bool = True  # False: told from the saved trace alone (no reasons)
    notes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        """The JSON form (`trace --json`)."""
        return {"format": FORMAT, "run": self.run, "replica": self.replica + 1, "journey": self.journey,
                "timezone": self.timezone, "contact": self.contact, "entered": self.entered,
                "audience": self.audience, "reasons": self.reasons, "agrees_with_trace": self.agrees,
                "checked": self.checked, "notes": self.notes, "steps": [s.to_plain() for s in self.steps]}

    def when(self, t: int) -> str:
        """A time as a reviewer reads it, in the journey's time zone."""
        return local_text(t, self.timezone)

    def lines(self) -> list[str]:
        """The story as text, one step a paragraph (`trace`'s output)."""
        where = f"run {self.run}" if self.run is not None else "the run"
        out = [f"Contact {self.contact} in {where} of '{self.journey}' (replica {self.replica + 1}; times in "
               f"{self.timezone})", f"  {self.audience}"]
        iteration = -1
        for s in self.steps:
            if s.iteration != iteration and any(x.iteration > 0 for x in self.steps):
                out.append(f"Repetition {s.iteration + 1}:")
            iteration = s.iteration
            span = self.when(s.entered) if s.left == s.entered else \
                f"{self.when(s.entered)} -> {self.when(s.left)}"
            out.append(f"{span}  {s.name} [{s.outcome}]")
            out.append(f"    why: {s.why}")
            for h in s.happenings:
                out.append(f"    {self.when(h.at)}  {h.text}")
        out.append(self.checked)
        out.extend(f"Note: {n}" for n in self.notes)
        return out


def local_text(t: int, tz: str) -> str:
    """`t` (UTC seconds) as 'Tue 1 Dec 09:00' in zone `tz` (the year when not the journey's start's)."""
    d = datetime.fromtimestamp(t, tz=timezone.utc).astimezone(zone(tz))
    return f"{d:%a} {d.day} {d:%b %Y %H:%M}"


def _plan_with_decisions(record: RunRecord, replica: int) -> tuple[Plan, list[str], dict[str, dict[str, Any]]]:
    """The run's plan with replica `replica`'s A/B decisions put back (read from the saved results, as
    simulator/ab_winner.py decided them), the notes, and each decision as saved (by step id)."""
    plan = record.plan()
    notes: list[str] = []
    decisions: dict[str, dict[str, Any]] = {}
    for test in record.results.get("ab_tests") or []:
        decided = test.get("replicas") or []
        step = next((s for s in plan.steps if s.id == test.get("step")), None)
        if step is None:
            continue
        if replica >= len(decided):
            notes.append(f"the A/B test at '{step.name}' has no saved decision for this replica")
            continue
        decisions[step.id] = dict(decided[replica])
        route = decided[replica].get("route")
        if route is not None:
            plan = with_route(plan, step.index, PATH_NAMES.index(route))
    return plan, notes, decisions


def _row_of(pop: Population, contact: int) -> int | None:
    hit = np.flatnonzero(pop.contact_id == contact)
    return int(hit[0]) if len(hit) else None


def _not_entered(plan: Plan, facts: PopulationFacts, row: int, iterations: int) -> str:
    """Why contact `row` never entered, in words (consent, audience, exclusions, when it qualified)."""
    from app.model.attributes import CONSENT_LEVELS
    pop, aud, tz = facts.pop, plan.audience, plan.timezone
    rows = np.array([row])
    consent = int(pop.consent[row])
    if consent < aud.min_consent:
        have = CONSENT_LEVELS[consent] if 0 <= consent < len(CONSENT_LEVELS) else str(consent)
        return (f"It never entered: its consent ({have}) is below the journey's minimum "
                f"({CONSENT_LEVELS[aud.min_consent]}); it was not in the audience")
    begin = plan.iterations[0][0]
    inside = [s for s in aud.segments if bool(facts.world.member(s, rows, begin)[0])]
    excluded = [s for s in aud.exclude if bool(facts.world.member(s, rows, begin)[0])]
    if excluded:
        return (f"It never entered: it was in the exclusion segment '{excluded[0]}' at "
                f"{local_text(begin, tz)}; it was not in the audience")
    if aud.segments and not inside:
        named = ", ".join(f"'{s}'" for s in aud.segments)
        return (f"It never entered: it was in none of the audience segments ({named}) at {local_text(begin, tz)}"
                + (" nor joined them before the journey ended" if plan.frequency == "ongoing" else "")
                + "; it was not in the audience")
    return ("It never entered: it was in the audience but joined too late (at or after the journey's end or the "
            "simulation's horizon)")


def _rows_of(trace: Trace, table: str, row: int, iterations: set[int] | None = None) -> list[tuple[int, ...]]:
    cols = getattr(trace, table)
    keep = np.flatnonzero(cols["contact"] == row)
    return sorted(zip(*(cols[c][keep].tolist() for c in TABLES[table])))


class RunStories:
    """Stories of a saved run's contacts: the run's population and world made once (for one replica), then any
    contact's story told from them (`tell`). StoryError (one line) for a replica the run does not have."""

    def __init__(self, record: RunRecord, *, replica: int = 0, run: int | None = None,
                 trace: Trace | None = None) -> None:
        where = f"run {run}" if run is not None else "the run"
        if not 0 <= replica < min(record.replicas, MAX_REPLICA):
            raise StoryError(f"{where} has {record.replicas} replica{'s' if record.replicas != 1 else ''}: "
                             f"there is no replica {replica + 1}")
        self.record, self.replica, self.run = record, replica, run
        self.journey = record.journey()
        self.content = record.content()  # name -> Content, as the run had it
        self.plan, self.notes, self.decisions = _plan_with_decisions(record, replica)
        self.saved = trace if trace is not None else (record.trace() if replica == 0 else None)
        self.derivable = record.engine_version == ENGINE_VERSION
        if not self.derivable:
            if replica != 0:
                raise StoryError(f"{where} was made by engine version {record.engine_version}; this version "
                                 f"({ENGINE_VERSION}) cannot re-derive it, and only replica 1's trace is kept")
            return
        self.pop = record.population_(replica)
        self.behaviour = BehaviourModel.from_plain(record.behaviour)
        self.seed = derive_seed(record.seed, replica)
        self.world = build_world(self.plan, self.pop, self.behaviour, self.seed)

    def contacts(self) -> np.ndarray:
        """The ids of the run's contacts (its population), in row order."""
        return self.pop.contact_id if self.derivable else np.zeros(0, dtype=np.int64)

    def tell(self, contact: int) -> Story:
        """The story of contact `contact` (its id); StoryError when it is not in the run's population."""
        if not self.derivable:
            assert self.saved is not None
            return _from_trace(self.record, self.plan, self.saved, contact, self.run)
        row = _row_of(self.pop, contact)
        if row is None:
            raise StoryError(_absent(self.pop, contact, self.run, self.replica, str(self.record.population.get("kind")),
                                     self.record.population.get("segment")))
        return _tell(self.journey, self.plan, self.pop, self.world, self.seed, row, contact, self.replica,
                     self.run, self.saved, list(self.notes), self.decisions, self.content)


def tell(record: RunRecord, contact: int, *, replica: int = 0, run: int | None = None,
         trace: Trace | None = None) -> Story:
    """The story of contact `contact` (its id) in saved run `record`, replica `replica` (0-based); see
    `RunStories`. A run made by another engine version is told from its saved trace alone (no reasons)."""
    return RunStories(record, replica=replica, run=run, trace=trace).tell(contact)


def _absent(pop: Population, contact: int, run: int | None, replica: int, kind: str = "synthetic",
            segment: str | None = None) -> str:
    ids = pop.contact_id
    span = f" (ids {int(ids.min())} to {int(ids.max())})" if len(ids) else ""
    where = f"run {run}" if run is not None else "the run"
    rep = f", replica {replica + 1}" if replica else ""
    if kind == "project":
        return (f"contact {contact} is not in {where}: the run simulated the {len(ids):,} project contacts who could "
                "enter the journey, so it was not in the audience (its segments, exclusions and minimum consent) "
                "when the run read it, or it is not a contact of the project")
    if kind == "segment":
        return (f"contact {contact} is not in {where}: the run simulated the {len(ids):,} members of segment "
                f"'{segment}', and it was not one of them when the run read it")
    return f"contact {contact} is not in {where}{rep}: its population has {len(ids):,} synthetic contacts{span}"


def _tell(journey: Any, plan: Plan, pop: Population, world: World, seed: int, row: int, contact: int,
          replica: int, run: int | None, saved: Trace | None, notes: list[str],
          decisions: Mapping[str, dict[str, Any]], content: Mapping[str, Any] | None = None) -> Story:
    facts = PopulationFacts(pop, world)
    out = TraceBuilder(plan)
    props = {s.id: s.props for s in journey.steps.values()}
    from simulator.story_teller import Teller
    teller = Teller(plan, facts, world.behaviour, seed, row, props, out)
    teller.decisions = decisions
    teller.content = content or {}
    carried: dict[int, ContactState] = {}
    entered_any = False
    audience = ""
    for k in range(len(plan.iterations)):
        members, t, account = _unit_of(plan, facts, row, k)
        if not members:
            continue
        contacts = [carried.setdefault(r, ContactState(r)) for r in members]
        teller.run_unit(k, contacts, t, account)
        if not entered_any:
            audience = _entered_text(plan, pop, row, k, t, account, len(members))
        entered_any = True
    if not entered_any:
        audience = _not_entered(plan, facts, row, len(plan.iterations))
    mine = out.finish()
    checked, agrees = "", None
    if saved is not None:
        diffs = [t for t in ("visits", "messages", "units")
                 if _rows_of(mine, t, row) != _rows_of(saved, t, row)]
        agrees = not diffs
        checked = ("Agrees with the run's saved trace (every step, time and message of this contact)." if agrees
                   else f"Does NOT agree with the run's saved trace ({', '.join(diffs)} differ): the story may "
                        "be wrong; please report it.")
    else:
        checked = (f"Replica {replica + 1}'s trace is not kept with the run (only replica 1's is), so this story "
                   "was not checked against one.")
    return Story(plan.journey_name, plan.timezone, contact, row, replica, run, teller.stories, entered_any,
                 audience, checked, agrees, True, notes)


def _unit_of(plan: Plan, facts: PopulationFacts, row: int, k: int) -> tuple[list[int], int, int]:
    """The unit contact `row` enters iteration `k` with (its rows, when, its account or -1); ([], NEVER, -1)
    when it does not enter (as reference_run._units forms units)."""
    t = entry_time(plan, facts, row, k)
    pop = facts.pop
    acc = int(pop.account_id[row]) if plan.accounts else -1
    if acc < 0:
        return ([row], t, -1) if t < NEVER else ([], NEVER, -1)
    rows = np.flatnonzero(pop.account_id == acc).tolist()
    times = {r: entry_time(plan, facts, r, k) for r in rows}
    first = min(times.values())
    if first >= NEVER or times[row] != first:
        return [], NEVER, -1
    return sorted(r for r, tr in times.items() if tr == first), first, acc


def _entered_text(plan: Plan, pop: Population, row: int, k: int, t: int, account: int, n: int) -> str:
    tz = plan.timezone
    aud = plan.audience
    segs = " / ".join(f"'{s}'" for s in aud.segments) or "everyone"
    how = (f"joined the audience ({segs}) at {local_text(t, tz)} and entered then" if plan.frequency == "ongoing"
           and t > plan.iterations[k][0] else f"was in the audience ({segs}) at the start and entered at "
                                              f"{local_text(t, tz)}")
    if account >= 0:
        how += f", with its account ({n} contact{'s' if n != 1 else ''} entering together)"
    return f"It {how}."


def _from_trace(record: RunRecord, plan: Plan, saved: Trace, contact: int, run: int | None) -> Story:
    """A story told from the saved trace alone (a run this engine version cannot re-derive): path and times."""
    pop_ids: np.ndarray | None = None
    try:
        pop_ids = record.population_(0).contact_id
    except Exception:  # noqa: BLE001 - an old spec this version cannot rebuild: ids are then rows
        pop_ids = None
    if pop_ids is not None:
        hit = np.flatnonzero(pop_ids == contact)
        if not len(hit):
            raise StoryError(f"contact {contact} is not in run {run}'s population")
        row = int(hit[0])
    else:
        row = contact
    v = saved.visits
    keep = np.flatnonzero(v["contact"] == row)
    order = keep[np.lexsort((v["t_enter"][keep], v["iteration"][keep]))]
    steps = []
    for i in order.tolist():
        idx = int(v["step"][i])
        sp = plan.steps[idx] if idx < plan.end else None
        steps.append(StepStory(int(v["iteration"][i]), idx, sp.id if sp else "end", sp.name if sp else "End",
                               sp.type if sp else "end", int(v["t_enter"][i]) + saved.t0,
                               int(v["t_leave"][i]) + saved.t0, LABELS.get(int(v["outcome"][i]), "?"),
                               "(not re-derived: no reason kept)", {}))
    note = (f"This run was made by engine version {record.engine_version}; this version ({ENGINE_VERSION}) cannot "
            "re-derive it, so only its saved path and times are told, without the reasons.")
    return Story(plan.journey_name, plan.timezone, contact, row, 0, run, steps, bool(steps),
                 "It entered the journey." if steps else "It never entered the journey.", note, None, False, [])

