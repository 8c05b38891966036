"""Saved simulation runs in a project file: save, list, load (to replay or compare) and delete.

A run is stored as one row of `simulation_runs`: the columns the run browser lists (journey, version, name,
population spec, seed, replicas, summary) and `data`, the `simulator.runs.RunRecord` blob that replays it bit
for bit. Runs are a journey's history: they keep their journey id after the journey is deleted. Saving also
records a "simulated" milestone for the journey, in the same transaction.

`ProjectFile.save_run` / `runs` / `load_run` / `delete_run` are thin wrappers around these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from app.errors import ProjectFileError
from app.store import schema as t

if TYPE_CHECKING:
    from app.store.project_file import ProjectFile
    from simulator.runs import RunRecord

_r = t.simulation_runs
SUMMARY_KEYS = ("journey", "seed", "replicas", "contacts", "start", "horizon", "interval", "funnel", "conversion")


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

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    @property
    def outdated(self) -> bool:
        """Whether the journey has changed version since the run (or was deleted)."""
        return self.current_version != self.journey_version

    def to_plain(self) -> dict[str, Any]:
        """A JSON-able form (for `journey-studio runs --json`)."""
        return {"id": self.id, "journey": {"id": self.journey_id, "name": self.journey_name,
                                           "version": self.journey_version, "current_version": self.current_version},
                "name": self.name, "created_at": self.created_at.isoformat(timespec="seconds"),
                "population": self.population, "seed": self.seed, "replicas": self.replicas,
                "summary": self.summary, "notes": self.notes, "approved": self.approved,
                "approved_at": self.approved_at.isoformat(timespec="seconds") if self.approved_at else None,
                "approved_by": self.approved_by}


def summary_of(record: RunRecord) -> dict[str, Any]:
    """The part of a run's results the browser lists: funnel with intervals, conversion (no time series)."""
    return {k: record.results[k] for k in SUMMARY_KEYS if k in record.results}


def _created_at(record: RunRecord) -> datetime:
    try:
        at = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
    except ValueError:
        return t.utcnow()
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def save_run(pf: ProjectFile, record: RunRecord, *, name: str = "") -> int:
    """Save a run (and a "simulated" milestone for its journey) in one transaction; returns the run's id."""
    pf._require_writable("save a simulation run")
    journey = pf.project.journey(record.journey_id)
    name = name.strip() or f"seed {record.seed}, {record.replicas} replica{'s' if record.replicas != 1 else ''}"
    blob = record.to_bytes()
    at = _created_at(record)
    with pf._transaction("cannot save the simulation run") as conn:
        run_id = conn.execute(insert(_r).values(
            journey_id=record.journey_id, journey_version=record.journey_version, name=name, created_at=at,
            population=record.population, behaviour=record.behaviour, seed=record.seed, replicas=record.replicas,
            summary=summary_of(record), data=blob, notes="")).inserted_primary_key[0]
        conn.execute(insert(t.milestones).values(
            journey_id=journey.id, kind="simulated", at=t.utcnow(),
            detail=f"run {run_id}: version {record.journey_version}, {name}"))
    return int(run_id)


def runs(pf: ProjectFile, journey_key: str | None = None) -> list[RunInfo]:
    """Saved runs, oldest first; only those of one journey (by name or id) if `journey_key` is given."""
    cols = [c for c in _r.c if c.name not in ("data", "behaviour")]
    q = select(*cols).order_by(_r.c.id)
    if journey_key is not None:  # a journey's name or id; the id of a deleted journey still finds its runs
        found = pf.project.find_journey(journey_key)
        q = q.where(_r.c.journey_id == (found.id if found is not None else journey_key))
    with pf._transaction("cannot be read") as conn:
        rows = conn.execute(q).all()
    by_id = {j.id: j for j in pf.project.journeys}
    out = []
    for r in rows:
        journey = by_id.get(r.journey_id)
        summary = dict(r.summary or {})
        name = journey.name if journey is not None else str(summary.get("journey", {}).get("name", r.journey_id))
        out.append(RunInfo(r.id, r.journey_id, name, r.journey_version,
                           journey.version if journey is not None else None, r.name, r.created_at,
                           dict(r.population or {}), r.seed, r.replicas, summary, r.notes, r.approved_at,
                           r.approved_by))
    return out


def _missing(pf: ProjectFile, run_id: int) -> ProjectFileError:
    return ProjectFileError(f"{pf.path}: there is no saved simulation run {run_id}")


def load_run(pf: ProjectFile, run_id: int) -> RunRecord:
    """The saved record of run `run_id` (replay it with `.replay()`)."""
    from simulator.runs import RunRecord

    with pf._transaction("cannot be read") as conn:
        data = conn.execute(select(_r.c.data).where(_r.c.id == run_id)).scalar_one_or_none()
    if data is None:
        raise _missing(pf, run_id)
    try:
        return RunRecord.from_bytes(bytes(data))
    except Exception as e:  # noqa: BLE001 - a damaged blob: one clear line
        raise ProjectFileError(f"{pf.path}: saved simulation run {run_id} cannot be read: {e}") from None


def delete_run(pf: ProjectFile, run_id: int) -> None:
    """Delete a saved run (refused when read-only; an unknown id is an error)."""
    pf._require_writable("delete a simulation run")
    with pf._transaction("cannot delete the simulation run") as conn:
        if conn.execute(delete(_r).where(_r.c.id == run_id)).rowcount == 0:
            raise _missing(pf, run_id)


__all__ = ["RunInfo", "delete_run", "load_run", "runs", "save_run", "summary_of"]
