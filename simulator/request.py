"""One simulation run asked for by the user: its inputs as plain data, and `execute`, which does what
`journey-studio simulate` does (pure: no Qt, so the run panel calls it in a worker thread and the command line
can call it too).

`RunRequest` holds the inputs (journey, population, seed, horizon, replicas, behaviour, name). `execute` reads
the journey and the project through a `RunSource`: a snapshot taken on the UI thread (the journey rebuilt from
its document, the content, segments and custom attributes copied) and a way to open a connection for the
project's own contacts, opened in the thread that runs. It compiles the plan, makes the population, runs the
replicas and builds the `RunRecord` with its bytes already computed, so the UI thread only has to insert them.
Anything about the journey or the project that stops the run is one `RunError` line naming the journey or the
segment; a cancelled run raises `simulator.engine.Cancelled`. A journey the check for errors finds errors in
is refused (`JourneyHasErrors`, with the findings) unless the request allows errors; what the run then had to
read its own way (a split whose shares do not add up, a recurrence that does not fit) is in `Plan.notes`.

A synthetic population is drawn anew for every replica (from the seed for the first, from derived seeds for
the others), so that the intervals include who happens to be in the population; `shared_population` keeps one
for all replicas, and the intervals are then conditional on it.
"""

from __future__ import annotations

import copy
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from app.codec.plain import journey_from_doc, journey_to_doc
from app.errors import AudienceError, JourneyStudioError
from app.model.content import Content
from app.model.journey import Journey
from app.model.project import Project
from app.model.segment import Segment
from app.audience.profile import PopulationProfile
from app.validation.findings import Finding
from simulator.behaviour import BehaviourModel
from simulator.engine import DEFAULT_CHUNK, CancelToken, Cancelled, Progress
from app.semantics.plan import DAY, Plan, PlanError, compile_plan
from simulator.population import MIXED, Population, locale_of, population_for, replica_seed
from simulator.replicas import SimulationResult, simulate
from simulator.runs import RunRecord

if TYPE_CHECKING:  # only named in annotations: importing SQLAlchemy costs 0.3-0.5 s
    from sqlalchemy import Connection

POPULATION_KINDS = ("synthetic", "project", "segment")
MAX_CONTACTS = 20_000_000
MAX_REPLICAS = 1000
MAX_HORIZON_DAYS = 3660
# weights of the progress bar's parts, measured roughly on a million contacts: making the population, each
# replica (its world, run and twin), and building the record (the trace's digest and packed bytes)
_POPULATION_WEIGHT, _REPLICA_WEIGHT, _RECORD_WEIGHT = 1.0, 1.0, 0.2


class RunError(JourneyStudioError):
    """A run that cannot be made, as one line naming the journey or segment and what to change."""


class JourneyHasErrors(RunError):
    """The check for errors finds errors in the journey: a run would simulate something else than was meant."""

    def __init__(self, journey: str, findings: tuple[Finding, ...]) -> None:
        self.journey = journey
        self.findings = findings
        errors = [f for f in findings if f.is_error]
        first = errors[0]
        where = first.step or "journey"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"'{journey}' has {len(errors)} error{'s' if len(errors) != 1 else ''}: {where}: "
                         f"{first.message}{more} Fix them first, or allow errors to simulate it as it is.")


@dataclass(frozen=True)
class RunRequest:
    """The inputs of one run (see the module docstring); `validate()` says what is wrong with them, if anything."""

    journey_id: str
    population: str = "synthetic"  # "synthetic" | "project" | "segment"
    contacts: int = 20_000  # synthetic populations only
    locale: str = MIXED  # synthetic populations only
    seed: int = 1
    segment: str | None = None  # "segment" populations only
    as_of: datetime | date | None = None  # project and segment populations (None: the journey's start)
    horizon_days: int | None = None  # None: until the schedule ends (or 90 days), as compile_plan decides
    replicas: int = 1
    behaviour: BehaviourModel = field(default_factory=BehaviourModel)
    name: str = ""
    chunk_size: int = DEFAULT_CHUNK
    profile: PopulationProfile | None = None  # synthetic populations: None is the default profile in `locale`
    fit_profile: bool = False  # synthetic populations: a profile fitted to the project's own contacts
    shared_population: bool = False  # synthetic populations: one population for every replica
    allow_errors: bool = False  # simulate a journey the check finds errors in (its plan's notes say how)

    def validate(self) -> None:
        """RunError on inputs no run can take (the panel's controls already keep them in range)."""
        if self.population not in POPULATION_KINDS:
            raise RunError(f"unknown population {self.population!r}: use one of {', '.join(POPULATION_KINDS)}")
        if self.population == "synthetic":
            if not 1 <= self.contacts <= MAX_CONTACTS:
                raise RunError(f"a synthetic population has from 1 to {MAX_CONTACTS:,} contacts, not "
                               f"{self.contacts:,}")
            try:
                locale_of(self.locale)
            except ValueError as e:
                raise RunError(str(e)) from None
        if self.population == "segment" and not self.segment:
            raise RunError("choose the segment whose members are simulated")
        if not 0 <= self.seed < 2 ** 63:
            raise RunError(f"the seed is a whole number from 0 to {2 ** 63 - 1}, not {self.seed}")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise RunError(f"replicas go from 1 to {MAX_REPLICAS}, not {self.replicas}")
        if self.horizon_days is not None and not 1 <= self.horizon_days <= MAX_HORIZON_DAYS:
            raise RunError(f"the horizon goes from 1 to {MAX_HORIZON_DAYS} days, not {self.horizon_days}")


class RunSource(Protocol):
    """What `execute` reads of the project: a snapshot, and the contacts through a connection of its own."""

    @property
    def journey(self) -> Journey: ...

    @property
    def content(self) -> Mapping[str, Content]: ...

    @property
    def segments(self) -> Mapping[str, Segment]: ...

    @property
    def custom_attributes(self) -> Mapping[str, str]: ...

    def connection(self) -> AbstractContextManager[Connection]:
        """A connection to the project file, inside a transaction, opened in the calling thread."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """A `RunSource` made of copies: `connect` opens the connection when (and in the thread where) it is needed."""

    journey: Journey
    content: Mapping[str, Content]
    segments: Mapping[str, Segment]
    custom_attributes: Mapping[str, str]
    connect: Callable[[], AbstractContextManager[Connection]] | None = None
    findings: tuple[Finding, ...] = ()  # the check for errors on the journey, when the snapshot was taken

    def connection(self) -> AbstractContextManager[Connection]:
        """A connection to the project's contacts (RunError when the snapshot has none)."""
        if self.connect is None:
            raise RunError("this run has no project contacts to read: use a synthetic population")
        return self.connect()


def snapshot(project: Project, journey_id: str,
             connect: Callable[[], AbstractContextManager[Connection]] | None = None) -> Snapshot:
    """Copies of what a run of `journey_id` reads, taken now (the journey rebuilt from its document)."""
    from app.validation.checks import check_journey
    live = project.journey(journey_id)
    journey = journey_from_doc(journey_to_doc(live), journey_id=live.id)[0]
    return Snapshot(journey, dict(project.content), copy.deepcopy(dict(project.segments)),
                    dict(project.settings.custom_attributes or {}), connect, tuple(check_journey(live, project)))


@dataclass
class RunOutcome:
    """A finished run: its figures, its record (bytes computed) and what its population was, in words."""

    result: SimulationResult
    record: RunRecord
    population: str  # e.g. "20,000 synthetic contacts (en_GB)"
    population_data: Population | None = None  # the (first replica's) population itself


def population_label(request: RunRequest, size: int) -> str:
    """The population of a run in words, as the command line prints it (the locale added when not mixed)."""
    if request.population == "synthetic":
        where = "" if request.locale == MIXED or request.profile is not None else f" ({request.locale})"
        if request.fit_profile:
            where = " (profile fitted to the project's contacts)"
        elif request.profile is not None and request.profile.source != "default":
            where = f" (profile: {request.profile.source})"
        drawn = ", one population for every replica" if request.shared_population and request.replicas > 1 else ""
        return f"{size:,} synthetic contacts{where}{drawn}"
    if request.population == "project":
        return f"{size:,} project contacts in the audience"
    return f"{size:,} members of segment '{request.segment}'"


def _as_of_text(moment: datetime | date | None) -> str:
    if moment is None:
        return "at the journey's start"
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return f"on {moment:%Y-%m-%d}" if moment.time() == datetime.min.time() else f"on {moment:%Y-%m-%d %H:%M} UTC"
    return f"on {moment:%Y-%m-%d}"


def compile_for(request: RunRequest, journey: Journey, content: Mapping[str, Content] | None = None) -> Plan:
    """The plan of a run: the journey compiled (its messages' links from `content`), up to the request's
    horizon; RunError naming the journey."""
    try:
        plan = compile_plan(journey, content=content)
        if request.horizon_days is not None:
            plan = compile_plan(journey, horizon=plan.start + request.horizon_days * DAY, content=content)
    except PlanError as e:
        raise RunError(f"cannot simulate '{journey.name}': {e}") from None
    return plan


def make_population(request: RunRequest, source: RunSource, plan: Plan) -> Population:
    """The run's (first) population: synthetic from the seed, or the project's contacts read through the source."""
    journey = source.journey
    if request.population == "synthetic":
        return synthetic_for(request, source, plan, 0)
    from simulator.project_population import population_from_connection
    segment = request.segment if request.population == "segment" else None
    try:
        with source.connection() as conn:
            pop = population_from_connection(conn, journey, source.segments, source.custom_attributes,
                                              segment=segment, as_of=request.as_of, plan=plan,
                                              behaviour=request.behaviour)
    except AudienceError as e:
        raise RunError(f"cannot simulate '{journey.name}': {e}") from None
    if len(pop) == 0:
        when = _as_of_text(request.as_of)
        if segment is not None:
            raise RunError(f"segment '{segment}' has no members {when}: nobody to simulate")
        raise RunError(f"nobody is in the audience of '{journey.name}' {when} (its segments, exclusions and "
                       "minimum consent leave no contact): nobody to simulate")
    return pop


def fitted_profile(source: RunSource) -> PopulationProfile:
    """A population profile fitted to the project's contacts (aggregates only); RunError without contacts."""
    from app.audience.fit import fit_profile
    try:
        with source.connection() as conn:
            return fit_profile(conn, project="the project")
    except AudienceError as e:
        raise RunError(f"cannot fit a population profile: {e}") from None


def synthetic_for(request: RunRequest, source: RunSource, plan: Plan, replica: int) -> Population:
    """Replica `replica`'s synthetic population, with the journey's segments from the project's definitions."""
    try:
        return population_for(plan, request.contacts, replica_seed(request.seed, replica),
                              definitions=source.segments, profile=request.profile,
                              locale=request.locale if request.profile is None else None,
                              custom=source.custom_attributes)
    except AudienceError as e:
        raise RunError(f"cannot simulate '{source.journey.name}': {e}") from None


def execute(request: RunRequest, source: RunSource, *, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> RunOutcome:
    """Make the run `request` asks for, reading the project through `source` (see the module docstring).

    `progress(fraction, message)` covers the whole run (population, replicas, record); `cancel` stops it
    between steps with `Cancelled`.
    """
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the simulation was cancelled")

    request.validate()
    journey = source.journey
    findings = tuple(getattr(source, "findings", ()))
    if not request.allow_errors and any(f.is_error for f in findings):
        raise JourneyHasErrors(journey.name, findings)
    plan = compile_for(request, journey, source.content)
    if request.population == "synthetic" and request.fit_profile:
        report(0.0, "fitting the population profile to the project's contacts")
        request = replace(request, profile=fitted_profile(source))
    check()
    report(0.0, "reading the project's contacts" if request.population != "synthetic"
           else f"making {request.contacts:,} synthetic contacts")
    made = time.perf_counter()
    pop = make_population(request, source, plan)
    made = time.perf_counter() - made
    check()
    total = _POPULATION_WEIGHT + _REPLICA_WEIGHT * request.replicas + _RECORD_WEIGHT
    before, span = _POPULATION_WEIGHT / total, _REPLICA_WEIGHT * request.replicas / total

    def step(fraction: float, message: str) -> None:
        report(before + span * fraction, message)

    per_replica = request.population == "synthetic" and not request.shared_population and request.replicas > 1

    def replica_population(r: int) -> Population:
        return pop if r == 0 else synthetic_for(request, source, plan, r)

    try:
        result = simulate(plan, replica_population if per_replica else pop, request.behaviour, request.seed,
                          request.replicas, chunk_size=request.chunk_size, progress=step, cancel=cancel)
    except KeyError as e:  # a condition on an attribute the population lacks
        raise RunError(f"cannot simulate '{journey.name}': {e.args[0] if e.args else e}") from None
    except (ValueError, AudienceError) as e:  # e.g. a behaviour multiplier on an unknown loyalty tier
        raise RunError(f"cannot simulate '{journey.name}': {e}") from None
    result.timings["population"] = result.timings.get("population", 0.0) + made
    check()
    report(before + span, "keeping the run (its trace packed)")
    keeping = time.perf_counter()
    spec = {**pop.spec, "per_replica": per_replica} if request.population == "synthetic" else dict(pop.spec)
    record = RunRecord.from_result(result, journey, spec, request.behaviour, chunk_size=request.chunk_size,
                                   content=source.content, segments=source.segments, population=pop,
                                   custom=source.custom_attributes)
    record.results["population"] = spec
    record.results["notes"] = list(plan.notes)
    record.results["allowed_errors"] = [f.to_dict() for f in findings if f.is_error] if request.allow_errors else []
    record.to_bytes()  # computed here, in the worker: the UI thread only inserts them (RunRecord keeps them)
    result.timings["record"] = time.perf_counter() - keeping
    check()
    report(1.0, "done")
    return RunOutcome(result, record, population_label(request, len(pop)), pop)

