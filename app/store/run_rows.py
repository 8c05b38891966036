"""A saved run's row, as both writers make it: ProjectFile's (app/store/runs.py, through SQLAlchemy) and
`simulate`'s sqlite3 writer (app/store/plain_write.py). Imports neither SQLAlchemy nor the simulator."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.store.runs import SavedRun

SUMMARY_KEYS = ("journey", "seed", "replicas", "contacts", "start", "horizon", "interval", "funnel", "conversion",
                "goal", "goal_window_days", "target", "entries", "effect", "effect_method", "behaviour_figures",
                "population_per_replica", "notes", "allowed_errors")
"""What a run's summary column holds of its results."""


def summary_of(record: SavedRun) -> dict[str, Any]:
    """The part of a run's results the browser lists: funnel with intervals, conversion (no time series), and
    the behaviour figures that differ from the defaults."""
    summary = {k: record.results[k] for k in SUMMARY_KEYS if k in record.results}
    summary["behaviour_changes"] = [list(c) for c in record.behaviour_changes()]
    return summary


def created_at(record: SavedRun) -> datetime:
    """The record's time stamp (UTC), now when it cannot be read."""
    try:
        at = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def run_name(record: SavedRun, name: str = "") -> str:
    """The name a run is saved under: the one given, else its seed and replicas."""
    return name.strip() or f"seed {record.seed}, {record.replicas} replica{'s' if record.replicas != 1 else ''}"


def milestone_detail(run_id: int, record: SavedRun, name: str) -> str:
    """The "simulated" milestone's text for a saved run."""
    return f"run {run_id}: version {record.journey_version}, {name}"
