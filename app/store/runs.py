"""Saved simulation runs in a project file: save, list, load (to replay or compare) and delete.

A run is stored as one row of `simulation_runs`: the columns the run browser lists (journey, version, name,
population spec, seed, replicas, summary) and `data`, the run's bytes that replay it bit for bit. The store
keeps bytes and summaries: it does not know how to simulate or decode a run (`simulator.runs.load_run` does);
what it needs of a run to save one is `SavedRun`. Runs are a journey's history: they keep their journey id
after the journey is deleted. Saving also records a "simulated" milestone for the journey, in the same
transaction.

A reviewer names a run, writes notes on it and approves it (recording an "approved" milestone, in the same
transaction) or withdraws the approval; `approved_run` finds the run a journey's package shows.

`ProjectFile.save_run` / `runs` / `run_info` / `load_run` / `delete_run` / `rename_run` / `set_run_notes` /
`approve_run` / `withdraw_approval` / `approved_run` are thin wrappers around these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from sqlalchemy import Connection, Row, delete, insert, select, update

from app.errors import ModelError, ProjectFileError
from app.store import schema as t
from app.store.run_rows import SUMMARY_KEYS, created_at, milestone_detail, run_name, summary_of

if TYPE_CHECKING:
    from app.model.journey import Journey
    from app.store.project_file import ProjectFile


class SavedRun(Protocol):
    """What saving a run needs of it (the simulator's `RunRecord` is one)."""

    journey_id: str
    journey_version: int
    population: dict[str, Any]
    behaviour: dict[str, Any]
    seed: int
    replicas: int
    results: dict[str, Any]
    created_at: str

    def to_bytes(self) -> bytes: ...

    def behaviour_changes(self) -> tuple[tuple[str, Any, Any], ...]: ...

_r = t.simulation_runs
@dataclass(frozen=True)
class RunInfo:
    """What the run browser lists about a saved run (the replayable record is `ProjectFile.load_run(id)`)."""

    id: int
    journey_id: str
    journey_name: str
    journey_version: int
    current_version: int | None  # the journey's version now (its draft); None once the journey is deleted
    name: str
    created_at: datetime
    population: dict[str, Any]
    seed: int
    replicas: int
    summary: dict[str, Any]
    notes: str
    approved_at: datetime | None
    approved_by: str | None
    behaviour_changes: tuple[tuple[str, Any, Any], ...] = ()  # (figure, value, default), recorded when saved
    behaviour_recorded: bool = True  # False for a run saved before its behaviour changes were recorded

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    unchanged_since: int | None = None  # the released version the journey's draft still is (layout aside)

    @property
    def outdated(self) -> bool:
        """Whether the journey has changed since the run's version (or was deleted). A draft unchanged since the
        version it was released as is still that journey: packaging it reuses the version and its run."""
        return self.current_version != self.journey_version and self.unchanged_since != self.journey_version

    @property
    def population_text(self) -> str:
        """Who was simulated: "1,500 synthetic contacts", "320 members of segment 'VIP'"..."""
        pop = self.population
        if pop.get("kind") == "synthetic":
            return f"{pop.get('contacts', pop.get('size', 0)):,} synthetic contacts"
        if pop.get("kind") == "segment":
            return f"{pop.get('size', 0):,} members of segment '{pop.get('segment')}'"
        return f"{pop.get('size', 0):,} project contacts in the audience"

    @property
    def period_text(self) -> str:
        """The simulated period: "2026-12-01 08:00 to 2027-01-30 23:00 UTC"."""
        def moment(key: str) -> str:
            return str(self.summary.get(key, "?")).replace("T", " ").removesuffix("Z")[:16]
        return f"{moment('start')} to {moment('horizon')} UTC"

    @property
    def goal_text(self) -> str:
        """The share of entered contacts who reached the goal (whatever caused it), with its 95 % interval."""
        conv = self.summary.get("conversion") or {}
        mean, low, high = conv.get("mean"), conv.get("low"), conv.get("high")
        if not isinstance(mean, (int, float)):
            return "nobody entered"
        if self.replicas > 1 and isinstance(low, (int, float)) and isinstance(high, (int, float)):
            return f"{mean:.2%} (95% interval {low:.2%} to {high:.2%})"
        return f"{mean:.2%}"

    @property
    def outdated_text(self) -> str:
        """Why the run is outdated, as a sentence ("" when it is not)."""
        if not self.outdated:
            return ""
        made = f"This run was made on version {self.journey_version} of the journey"
        if self.current_version is None:
            return f"{made}; the journey was deleted."
        return f"{made}; the journey is now at version {self.current_version}."

    @property
    def version_tag(self) -> str:
        """The run's journey version for a narrow list: "v3", or "v3 (now v5)" / "v3 (deleted)" when outdated."""
        if not self.outdated:
            return f"v{self.journey_version}"
        now = "deleted" if self.current_version is None else f"now v{self.current_version}"
        return f"v{self.journey_version} ({now})"

    @property
    def approval_text(self) -> str:
        """'Approved by NAME on DATE UTC' or 'Not approved'."""
        if self.approved_at is None:
            return "Not approved"
        return f"Approved by {self.approved_by} on {self.approved_at:%Y-%m-%d %H:%M} UTC"

    @property
    def behaviour_text(self) -> str:
        """'Defaults', or how many behaviour figures differ from the defaults (see `behaviour_changes`)."""
        n = len(self.behaviour_changes)
        if not self.behaviour_recorded:
            return "Not recorded (saved by an earlier version)"
        if not n:
            return "Defaults"
        return f"Edited ({n} figure{'s differ' if n != 1 else ' differs'} from the defaults)"

    @property
    def replicas_text(self) -> str:
        """'3 (each drew its own population)', '3 (one population for all: intervals conditional on it)', '1'."""
        if self.replicas < 2 or self.population.get("kind") != "synthetic":
            return str(self.replicas)
        if self.population.get("per_replica"):
            return f"{self.replicas} (each drew its own population)"
        return f"{self.replicas} (one population for all: intervals conditional on it)"

    def assumptions(self) -> list[tuple[str, str]]:
        """What the run assumed, as (label, value): population, seed, replicas, period, behaviour, goal reached."""
        return [("Population", self.population_text), ("Seed", str(self.seed)), ("Replicas", self.replicas_text),
                ("Period", self.period_text), ("Behaviour", self.behaviour_text), ("Goal reached", self.goal_text)]

    @property
    def effect_text(self) -> str:
        """What the journey causes on its goal: '+0.26 points of purchase (95% interval +0.18 to +0.35)'; '' for a
        run saved before runs measured it, or a journey without a goal."""
        goal = self.summary.get("goal")
        inc = ((self.summary.get("effect") or {}).get(goal or "") or {}).get("incremental") or {}
        mean, low, high = inc.get("mean"), inc.get("low"), inc.get("high")
        if not isinstance(mean, (int, float)):
            return ""
        interval = f" (95% interval {low * 100:+.2f} to {high * 100:+.2f})" if isinstance(low, (int, float)) \
            and isinstance(high, (int, float)) else ""
        return f"{mean * 100:+.2f} points of {str(goal).replace('_', ' ')}{interval}"

    def description(self, max_changes: int = 8) -> str:
        """Everything about the run in a few lines (a tooltip): journey and version, approval, assumptions, notes."""
        lines = [f"{self.name}: {self.journey_name}, version {self.journey_version}"]
        lines += [self.outdated_text] if self.outdated else []
        lines.append(self.approval_text)
        if self.effect_text:
            lines.append(f"Caused by the journey: {self.effect_text}")
        lines += [f"{label}: {value}" for label, value in self.assumptions()]
        lines += [f"  {describe_change(*c)}" for c in self.behaviour_changes[:max_changes]]
        if len(self.behaviour_changes) > max_changes:
            lines.append(f"  … and {len(self.behaviour_changes) - max_changes} more")
        lines.append(f"Made {self.created_at:%Y-%m-%d %H:%M} UTC")
        if self.notes:
            first, *rest = self.notes.splitlines()
            lines.append(f"Notes: {first}" + (" …" if rest else ""))
        return "\n".join(lines)

    def to_plain(self) -> dict[str, Any]:
        """A JSON-able form (for `journey-studio runs --json`)."""
        return {"id": self.id, "journey": {"id": self.journey_id, "name": self.journey_name,
                                           "version": self.journey_version, "current_version": self.current_version},
                "name": self.name, "created_at": self.created_at.isoformat(timespec="seconds"),
                "population": self.population, "seed": self.seed, "replicas": self.replicas,
                "summary": self.summary, "notes": self.notes, "approved": self.approved,
                "approved_at": self.approved_at.isoformat(timespec="seconds") if self.approved_at else None,
                "approved_by": self.approved_by,
                "behaviour_changes": [{"figure": n, "label": figure_label(n), "value": v, "default": d}
                                      for n, v, d in self.behaviour_changes]}


def save_run(pf: ProjectFile, record: SavedRun, *, name: str = "") -> int:
    """Save a run (and a "simulated" milestone for its journey) in one transaction; returns the run's id."""
    pf._require_writable("save a simulation run")
    journey = pf.project.journey(record.journey_id)
    with pf._transaction("cannot save the simulation run") as conn:
        return insert_run(conn, record, name=name, journey_id=journey.id)


def insert_run(conn: Connection, record: SavedRun, *, name: str = "", journey_id: str | None = None) -> int:
    """Insert a run and its "simulated" milestone through `conn`, in the caller's transaction (a worker thread
    saves a large run on a connection of its own so that the editor never waits for it); returns the run's id."""
    name = run_name(record, name)
    blob = record.to_bytes()
    at = created_at(record)
    key = conn.execute(insert(_r).values(
        journey_id=record.journey_id, journey_version=record.journey_version, name=name, created_at=at,
        population=record.population, behaviour=record.behaviour, seed=record.seed, replicas=record.replicas,
        summary=summary_of(record), data=blob, notes="")).inserted_primary_key
    assert key is not None  # a single-row INSERT always reports the key it generated
    run_id = key[0]
    conn.execute(insert(t.milestones).values(
        journey_id=journey_id or record.journey_id, kind="simulated", at=t.utcnow(),
        detail=milestone_detail(run_id, record, name)))
    return int(run_id)


def figure_label(name: str) -> str:
    """A behaviour figure's dotted name in words: "channels.email.open" -> "email open"."""
    parts = name.split(".")
    words = [p.replace("_", " ") for p in parts]
    if parts[0] == "channels" and len(parts) == 3:
        return f"{words[1]} {words[2]}"
    if parts[0] == "messages" and len(parts) == 3:
        return f"step '{parts[1]}' {words[2]}"
    if parts[0] == "event_rates" and len(parts) == 2:
        return f"{words[1]} rate per day"
    if parts[0] == "engagement_effect" and len(parts) == 2:
        return f"engagement effect on {words[1]}"
    if name == "engagement_mean":
        return "mean engagement"
    return " ".join(words)


def _figure(v: Any) -> str:
    if v is None:
        return "not set"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return f"{len(v)} rule{'s' if len(v) != 1 else ''}"
    return str(v)


def describe_change(name: str, value: Any, default: Any) -> str:
    """One behaviour figure that differs from the default, in words: "email open 0.3 (default 0.2133)"."""
    return f"{figure_label(name)} {_figure(value)} (default {_figure(default)})"


_LISTED = [c for c in _r.c if c.name != "data"]


def _info(pf: ProjectFile, r: Row[Any], by_id: Mapping[str, Journey] | None = None,
          unchanged: dict[str, int | None] | None = None) -> RunInfo:
    by_id = by_id if by_id is not None else {j.id: j for j in pf.project.journeys}
    journey = by_id.get(r.journey_id)
    summary = dict(r.summary or {})
    name = journey.name if journey is not None else str(summary.get("journey", {}).get("name", r.journey_id))
    since = None
    if journey is not None and r.journey_version < journey.version:
        unchanged = unchanged if unchanged is not None else {}
        if journey.id not in unchanged:
            unchanged[journey.id] = unchanged_since(pf, journey)
        since = unchanged[journey.id]
    return RunInfo(r.id, r.journey_id, name, r.journey_version, journey.version if journey is not None else None,
                   r.name, r.created_at, dict(r.population or {}), r.seed, r.replicas, summary, r.notes or "",
                   r.approved_at, r.approved_by, *_changes(summary), unchanged_since=since)


def unchanged_since(pf: ProjectFile, journey: Journey) -> int | None:
    """The released version a journey's draft still is (its layout aside): the last one, when the draft is the
    version after it and nothing in it changed; else None. A damaged version is not taken to match."""
    from app.codec.plain import journey_to_doc, release_doc
    last = journey.version - 1
    if last < 1:
        return None
    try:
        j, contents, segments = pf.read_version(journey.id, last)
    except (ProjectFileError, ModelError):
        return None
    released = journey_to_doc(j, {c.name: c for c in contents}, {s.name: s for s in segments})
    draft = journey_to_doc(journey, pf.project.content, pf.project.segments)
    return last if release_doc(released) == release_doc(draft) else None


def _changes(summary: Mapping[str, Any]) -> tuple[tuple[tuple[str, Any, Any], ...], bool]:
    recorded = summary.get("behaviour_changes")
    if not isinstance(recorded, list):
        return (), False
    return tuple((str(c[0]), c[1], c[2]) for c in recorded if isinstance(c, list) and len(c) == 3), True


def _journey_id(pf: ProjectFile, journey_key: str) -> str:
    """A journey's id from its name or id; the id of a deleted journey stands for itself."""
    found = pf.project.find_journey(journey_key)
    return found.id if found is not None else journey_key


def runs(pf: ProjectFile, journey_key: str | None = None) -> list[RunInfo]:
    """Saved runs, oldest first; only those of one journey (by name or id) if `journey_key` is given."""
    q = select(*_LISTED).order_by(_r.c.id)
    if journey_key is not None:  # a journey's name or id; the id of a deleted journey still finds its runs
        q = q.where(_r.c.journey_id == _journey_id(pf, journey_key))
    with pf._transaction("cannot be read") as conn:
        rows = conn.execute(q).all()
    by_id = {j.id: j for j in pf.project.journeys}
    unchanged: dict[str, int | None] = {}  # per journey, worked out once for the listing
    return [_info(pf, r, by_id, unchanged) for r in rows]


def _missing(pf: ProjectFile, run_id: int) -> ProjectFileError:
    return ProjectFileError(f"{pf.path}: there is no saved simulation run {run_id}")


def run_info(pf: ProjectFile, run_id: int) -> RunInfo:
    """What the browser lists about one saved run (an unknown id is an error)."""
    with pf._transaction("cannot be read") as conn:
        row = conn.execute(select(*_LISTED).where(_r.c.id == run_id)).first()
    if row is None:
        raise _missing(pf, run_id)
    return _info(pf, row)


def load_run_bytes(pf: ProjectFile, run_id: int) -> bytes:
    """The saved bytes of run `run_id` (`simulator.runs.load_run` reads them as a record to replay)."""
    with pf._transaction("cannot be read") as conn:
        data = conn.execute(select(_r.c.data).where(_r.c.id == run_id)).scalar_one_or_none()
    if data is None:
        raise _missing(pf, run_id)
    return bytes(data)


def saved_journey_doc(pf: ProjectFile, run_id: int) -> dict[str, Any]:
    """The journey document a saved run simulated (from the run's `record.json`, without decoding the run)."""
    try:
        with zipfile.ZipFile(io.BytesIO(load_run_bytes(pf, run_id))) as z:
            doc = json.loads(z.read("record.json")).get("journey")
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError) as e:
        raise ProjectFileError(f"{pf.path}: saved simulation run {run_id} cannot be read: {e}") from None
    if not isinstance(doc, dict):
        raise ProjectFileError(f"{pf.path}: saved simulation run {run_id} has no journey document")
    return doc


def delete_run(pf: ProjectFile, run_id: int) -> None:
    """Delete a saved run (refused when read-only; an unknown id is an error)."""
    pf._require_writable("delete a simulation run")
    with pf._transaction("cannot delete the simulation run") as conn:
        if conn.execute(delete(_r).where(_r.c.id == run_id)).rowcount == 0:
            raise _missing(pf, run_id)


def _update(pf: ProjectFile, run_id: int, doing: str, **values: Any) -> RunInfo:
    with pf._transaction(f"cannot {doing}") as conn:
        if conn.execute(update(_r).where(_r.c.id == run_id).values(**values)).rowcount == 0:
            raise _missing(pf, run_id)
    return run_info(pf, run_id)


def set_run_notes(pf: ProjectFile, run_id: int, text: str) -> RunInfo:
    """Replace a run's review notes (surrounding blank space is dropped); returns the run as it is now."""
    pf._require_writable("change the notes of a simulation run")
    return _update(pf, run_id, "save the notes", notes=text.strip())


def rename_run(pf: ProjectFile, run_id: int, name: str) -> RunInfo:
    """Give a run another name (an empty name is refused); returns the run as it is now."""
    pf._require_writable("rename a simulation run")
    name = name.strip()
    if not name:
        raise ProjectFileError(f"{pf.path}: simulation run {run_id} needs a name; give a few words that say "
                               "what it tried")
    return _update(pf, run_id, "rename the simulation run", name=name)


def approve_run(pf: ProjectFile, run_id: int, by: str) -> RunInfo:
    """Mark a run approved by `by` now, and record an "approved" milestone for its journey, in one transaction.

    Approving again records who approved it last, and when. A run of an older version of the journey can be
    approved: it is what a package of that (frozen) version shows.
    """
    pf._require_writable("approve a simulation run")
    by = by.strip()
    if not by:
        raise ProjectFileError(f"{pf.path}: approving simulation run {run_id} needs the reviewer's name")
    now = t.utcnow()
    with pf._transaction("cannot approve the simulation run") as conn:
        row = conn.execute(select(_r.c.journey_id, _r.c.journey_version, _r.c.name).where(_r.c.id == run_id)).first()
        if row is None:
            raise _missing(pf, run_id)
        conn.execute(update(_r).where(_r.c.id == run_id).values(approved_at=now, approved_by=by))
        conn.execute(insert(t.milestones).values(
            journey_id=row.journey_id, kind="approved", at=now,
            detail=f"run {run_id}: version {row.journey_version}, {row.name}, approved by {by}"))
    return run_info(pf, run_id)


def withdraw_approval(pf: ProjectFile, run_id: int) -> RunInfo:
    """Take back a run's approval (recorded as an "approval-withdrawn" milestone); nothing to do if it has none."""
    pf._require_writable("withdraw the approval of a simulation run")
    with pf._transaction("cannot withdraw the approval") as conn:
        row = conn.execute(select(_r.c.journey_id, _r.c.journey_version, _r.c.name, _r.c.approved_by)
                           .where(_r.c.id == run_id)).first()
        if row is None:
            raise _missing(pf, run_id)
        if row.approved_by is not None:
            conn.execute(update(_r).where(_r.c.id == run_id).values(approved_at=None, approved_by=None))
            conn.execute(insert(t.milestones).values(
                journey_id=row.journey_id, kind="approval-withdrawn", at=t.utcnow(),
                detail=f"run {run_id}: version {row.journey_version}, {row.name}, was approved by {row.approved_by}"))
    return run_info(pf, run_id)


def approved_run(pf: ProjectFile, journey_key: str, version: int | None = None) -> RunInfo | None:
    """The run of a journey (by name or id) approved last, optionally only among runs of journey `version`.

    None when no run is approved; a journey that is neither in the project nor in the saved runs is an error.
    """
    jid = _journey_id(pf, journey_key)
    q = (select(*_LISTED).where(_r.c.journey_id == jid, _r.c.approved_at.is_not(None))
         .order_by(_r.c.approved_at.desc(), _r.c.id.desc()).limit(1))
    if version is not None:
        q = q.where(_r.c.journey_version == version)
    with pf._transaction("cannot be read") as conn:
        row = conn.execute(q).first()
        known = row is not None or conn.execute(select(_r.c.id).where(_r.c.journey_id == jid).limit(1)).first()
    if not known and pf.project.find_journey(journey_key) is None:
        pf.project.journey(journey_key)  # the usual error, naming the journeys
    return _info(pf, row) if row is not None else None


__all__ = ["RunInfo", "approve_run", "approved_run", "delete_run", "describe_change",
           "figure_label", "insert_run", "load_run_bytes", "saved_journey_doc", "SavedRun", "rename_run", "run_info",
           "runs", "save_run", "set_run_notes", "summary_of", "SUMMARY_KEYS", "withdraw_approval"]
