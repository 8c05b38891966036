"""What the runner's workflows, activities and signals exchange (plain dataclasses, JSON in Temporal's history).

Times are simulated UTC seconds (see clock.py). A journey is named by its key and digest (runnable.py), never
carried whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONTACT_WORKFLOW = "JourneyContact"
COHORT_WORKFLOW = "JourneyCohort"
ENROLMENT_WORKFLOW = "JourneyEnrolment"


def contact_workflow_id(key: str, contact: int, iteration: int) -> str:
    """The id of a contact's workflow for one iteration: the same however often enrolment runs."""
    return f"journey:{key}:contact:{contact}:it:{iteration}"


def unit_workflow_id(key: str, account: int, iteration: int) -> str:
    """The id of an account's workflow for one iteration (a journey that targets accounts: the contacts of an
    account that enter together are one unit, seed 003)."""
    return f"journey:{key}:account:{account}:it:{iteration}"


def cohort_workflow_id(key: str, iteration: int, unit_ids: list[str]) -> str:
    """The id of a cohort's workflow: its iteration, its first unit, and a digest of all its units, so that an
    enrolment page that starts again (a retry after a crash) finds the cohort it started before."""
    import hashlib
    digest = hashlib.sha256("\n".join(unit_ids).encode("utf-8")).hexdigest()[:12]
    first = unit_ids[0].rsplit(":it:", 1)[0].rsplit(":", 2)[-2:] if unit_ids else ["none", "0"]
    return f"journey:{key}:it:{iteration}:cohort:{'-'.join(first)}:{len(unit_ids)}:{digest}"


def enrolment_workflow_id(key: str) -> str:
    """The id of a journey version's enrolment workflow."""
    return f"journey:{key}:enrolment"


IN_FLIGHT_EVENT = "in-flight:taken"  # a unit's signal: the next version takes it from the step named (step_id)


@dataclass
class ContactInput:
    """Start of a unit's workflow: one contact, or (`account` >= 0) the contacts of an account entering together
    (`contact` first, then `members`; the unit's time zone is its first contact's)."""

    journey: str
    digest: str
    contact: int
    iteration: int
    entered_at: int
    timezone: str | None
    clock: list[float]
    seed: int = 0
    send_timeout: float = 60.0
    poll: int = 3600  # simulated seconds between two looks at the segments of exit and goal conditions
    exact: bool = False  # a rehearsal on logical time: moves at the interpreter's moments (rehearsal.py)
    script: list[dict[str, Any]] = field(default_factory=list)  # what the contacts do in a rehearsal ("contact": id)
    members: list[int] = field(default_factory=list)  # the unit's other contacts (an account's)
    account: int = -1
    start_step: str = ""  # moved here from the previous version's run (migrate_flight.py): it enters at this step

    @property
    def contacts(self) -> list[int]:
        return [self.contact, *self.members]


@dataclass
class EnrolInput:
    """Start (or continuation) of the enrolment workflow."""

    journey: str
    digest: str
    clock: list[float]
    seed: int = 0
    page: int = 500
    poll: int = 3600  # simulated seconds between two looks at an ongoing journey's audience
    send_timeout: float = 60.0
    iteration: int = 0
    after: int = 0
    enrolled: int = 0
    exact: bool = False
    cohort: int = 0  # units per cohort workflow (0: a workflow per unit)


@dataclass
class EnrolPage:
    """One page of enrolment: contacts of the audience at `at` with ids above `after`."""

    journey: str
    digest: str
    iteration: int
    at: int
    entered_at: int
    after: int
    limit: int
    clock: list[float]
    seed: int
    send_timeout: float
    poll: int = 3600
    exact: bool = False
    cohort: int = 0  # units per cohort workflow (0: a workflow per unit)


@dataclass
class CohortInput:
    """Start of a cohort's workflow: the units of one enrolment page. `base` is what they share (a ContactInput of
    the first unit); each of `units` is [contact, members, account, time zone, script], plain JSON, because
    decoding hundreds of dataclasses costs the worker more than the cohort's whole work."""

    base: ContactInput
    units: list[list[Any]]
    ids: list[str]  # each unit's id (what its own workflow's id would be): its sends' keys, tokens and events

    def unit_inputs(self) -> list[ContactInput]:
        """Each unit's ContactInput, as its own workflow would have started."""
        b = self.base
        return [ContactInput(b.journey, b.digest, int(c), b.iteration, b.entered_at, zone, b.clock, b.seed,
                             b.send_timeout, b.poll, b.exact, list(script), [int(m) for m in members], int(account))
                for c, members, account, zone, script in self.units]


@dataclass
class EnrolResult:
    """How far a page got: the cursor for the next page (None: the audience is done) and how many started."""

    after: int | None
    started: int


@dataclass
class FactsRequest:
    """Segment memberships and attribute values of a unit's contacts at a simulated moment."""

    journey: str
    digest: str
    contacts: list[int]
    at: int
    segments: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)


@dataclass
class FactsAnswer:
    """The answer to a FactsRequest: per segment or attribute, one answer per contact (in the request's order)."""

    members: dict[str, list[bool]]
    attributes: dict[str, list[Any]]


@dataclass
class StepRequest:
    """Carry out a step's effect (send a message, create a task...) for one contact."""

    journey: str
    digest: str
    workflow_id: str
    contact: int
    iteration: int
    step_id: str
    at: int
    account: int = -1  # the unit's account: an effect per contact of the unit has its own key

    @property
    def key(self) -> str:
        """The idempotency key of this effect: workflow and step (and the contact, in an account's workflow)."""
        return f"{self.workflow_id}:{self.step_id}" + (f":{self.contact}" if self.account >= 0 else "")


@dataclass
class SendResult:
    """How a send ended: sent, suppressed (consent or suppression at send time), no_address or failed (why in
    `reason`)."""

    outcome: str
    transport_id: str = ""
    reason: str = ""


@dataclass
class Event:
    """Something that happened to a contact: a message event (opened, clicked...) of a step, or a contact event."""

    name: str
    at: int
    step_id: str = ""  # set for message events
    contact: int = -1  # whose event, in an account's workflow (-1: the workflow's first contact)
    unit: str = ""  # the unit it is for, in a cohort's workflow (the unit's id)
