"""The open project in the designer: its file, undo stack, current journey and live check for errors.

Views listen to `changed` (every model change, as it happens) and never edit the model themselves: they hand a
command to `run()`, which puts it on the undo stack. Every command is one transaction in the project file.

Saved simulation runs are history, not edits (no undo): `save_run`, `rename_run`, `set_run_notes`, `approve_run`
... go straight to the project file and announce themselves with `runsChanged`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from app.errors import JourneyStudioError, ProjectFileError, one_line
from app.model.journey import Change, Journey
from app.model.project import Project
from app.store import ProjectFile
from app.store.runs import RunInfo
from app.validation.checks import check_journey
from app.validation.findings import Finding
from designer.undo import UndoEntry

if TYPE_CHECKING:
    from simulator.runs import RunRecord

T = TypeVar("T")


class Document(QObject):
    """A project file opened in a window."""

    changed = Signal(object)               # app.model.journey.Change
    currentJourneyChanged = Signal(object)  # journey id or None
    findingsChanged = Signal()
    selectRequested = Signal(str, object)   # journey id, step id (or None): show it on the canvas
    message = Signal(str)                  # a line for the status bar
    failed = Signal(str)                   # an edit that could not be saved: the window tells the user
    runsChanged = Signal()                 # a simulation run was saved, renamed, annotated, approved or deleted
    milestonesChanged = Signal(str)        # a journey's milestones changed (its id)

    FINDINGS_DELAY_MS = 150

    def __init__(self, project_file: ProjectFile, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.file = project_file
        self.undo_stack = QUndoStack(self)
        self._current: str | None = None
        self._findings: dict[str, list[Finding]] = {}
        self._stale: set[str] = set()
        self._findings_timer = QTimer(self)
        self._findings_timer.setSingleShot(True)
        self._findings_timer.setInterval(self.FINDINGS_DELAY_MS)
        self._findings_timer.timeout.connect(self.refresh_findings)
        self.project.changed.connect(self._on_model_change)
        journeys = self.project.journeys
        if journeys:
            self._current = journeys[0].id
        self._stale = {j.id for j in journeys}
        self.refresh_findings()

    # --- state ------------------------------------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return self.file.project

    @property
    def readonly(self) -> bool:
        return self.file.readonly

    @property
    def current_journey(self) -> Journey | None:
        return self.project.find_journey(self._current) if self._current else None

    def set_current_journey(self, journey_id: str | None) -> None:
        if journey_id == self._current:
            return
        self._current = journey_id
        self.currentJourneyChanged.emit(journey_id)

    def add_milestone(self, journey_id: str, kind: str, detail: str = "") -> None:
        """Record a milestone of a journey in the project file and tell the views (its timeline)."""
        self.file.add_milestone(journey_id, kind, detail)
        self.milestonesChanged.emit(journey_id)

    def new_blank_journey(self, name: str = "New journey") -> str | None:
        """Add an empty journey with a free name (one undoable edit) and open it; its id (None: refused)."""
        from app.model.journey import Journey
        from app.model.project_commands import AddJourney
        journey = Journey(self.project.new_journey_id(), self.project.unique_journey_name(name))
        if not self.run(AddJourney(journey)):
            return None
        self.set_current_journey(journey.id)
        return journey.id

    # --- editing ----------------------------------------------------------------------------------------------
    def run(self, command: Any) -> bool:
        """Do a command and put it on the undo stack; a refused edit leaves a status message, not a crash."""
        if self.readonly:
            self.message.emit(f"Read-only: {self.file.readonly_reason}. Use File > Save As to edit a copy.")
            return False
        if not self.apply(command.do):
            return False
        self.undo_stack.push(UndoEntry(self, command, already_done=True))
        return True

    def apply(self, action: Callable[[Project], None]) -> bool:
        try:
            action(self.project)
        except JourneyStudioError as e:
            self.message.emit(str(e))
            if "project file" in type(e).__name__.lower() or type(e).__name__ == "ProjectFileError":
                self.failed.emit(str(e))
            return False
        return True

    # --- check for errors -------------------------------------------------------------------------------------
    def _on_model_change(self, change: Change) -> None:
        if change.journey:
            self._stale.add(change.journey)
        else:  # content, segments, settings: every journey may be affected
            self._stale.update(j.id for j in self.project.journeys)
        self.changed.emit(change)
        self._findings_timer.start()

    def refresh_findings(self) -> None:
        """Re-check the journeys changed since the last check (debounced after edits)."""
        for jid in list(self._stale):
            journey = self.project.find_journey(jid)
            if journey is None:
                self._findings.pop(jid, None)
            else:
                self._findings[jid] = check_journey(journey, self.project)
        self._stale.clear()
        self.findingsChanged.emit()

    def findings(self, journey_id: str | None = None) -> list[Finding]:
        jid = journey_id or self._current
        if jid in self._stale:
            self.refresh_findings()
        return self._findings.get(jid or "", [])

    # --- saved simulation runs ----------------------------------------------------------------------------------
    def _runs_call(self, action: Callable[[], T], doing: str | None = None, *, quiet: bool = False) -> T | None:
        """Call the project file for a run: `doing` marks a change (refused when read-only, then `runsChanged`).

        A refusal is a status message; a project file error is one line on `failed` too, unless `quiet` (reads
        made to refresh a view, where a dialog would interrupt the user for something they did not ask).
        """
        if doing is not None and self.readonly:
            self.message.emit(f"Read-only: cannot {doing}: {self.file.readonly_reason}. "
                              "Use File > Save As to work on a copy.")
            return None
        try:
            result = action()
        except JourneyStudioError as e:
            line = one_line(e)
            self.message.emit(line)
            if isinstance(e, ProjectFileError) and not quiet:
                self.failed.emit(line)
            return None
        if doing is not None:
            self.runsChanged.emit()
        return result

    def save_run(self, record: RunRecord, name: str = "") -> int | None:
        """Save a simulation run in the project; its id, or None when it cannot be saved (the reason is shown)."""
        run_id = self._runs_call(lambda: self.file.save_run(record, name=name), "save the simulation run")
        if run_id is not None:
            self.message.emit(f"Saved simulation run {run_id}.")
        return run_id

    def run_saved(self, run_id: int) -> None:
        """A run was stored by a worker on a connection of its own: tell the views, as `save_run` does."""
        self.runsChanged.emit()
        self.message.emit(f"Saved simulation run {run_id}.")

    def runs(self, journey_id: str | None = None) -> list[RunInfo]:
        """The saved runs, oldest first (of one journey if given); none when they cannot be read."""
        return self._runs_call(lambda: self.file.runs(journey_id), quiet=True) or []

    def run_info(self, run_id: int) -> RunInfo | None:
        """What the browser lists about one saved run, or None when there is no such run."""
        return self._runs_call(lambda: self.file.run_info(run_id), quiet=True)

    def load_run(self, run_id: int) -> RunRecord | None:
        """A saved run's record to replay or compare, or None when it cannot be read (the reason is shown)."""
        from simulator.runs import load_run  # here: the simulator and NumPy load when a run is first opened
        return self._runs_call(lambda: load_run(self.file, run_id))

    def delete_run(self, run_id: int) -> bool:
        """Delete a saved run; False when refused or failed."""
        return self._runs_call(lambda: self.file.delete_run(run_id) or True, "delete the simulation run") is True

    def rename_run(self, run_id: int, name: str) -> RunInfo | None:
        """Give a saved run another name; the run as it is now, or None."""
        if not name.strip():
            self.message.emit("A simulation run needs a name.")
            return None
        return self._runs_call(lambda: self.file.rename_run(run_id, name), "rename the simulation run")

    def set_run_notes(self, run_id: int, text: str) -> RunInfo | None:
        """Replace a saved run's review notes; the run as it is now, or None."""
        return self._runs_call(lambda: self.file.set_run_notes(run_id, text), "save the notes")

    def approve_run(self, run_id: int, by: str) -> RunInfo | None:
        """Approve a saved run in the name of `by`; the run as it is now, or None."""
        if not by.strip():
            self.message.emit("Approving a run needs the reviewer's name.")
            return None
        return self._runs_call(lambda: self.file.approve_run(run_id, by), "approve the simulation run")

    def withdraw_approval(self, run_id: int) -> RunInfo | None:
        """Take back a saved run's approval; the run as it is now, or None."""
        return self._runs_call(lambda: self.file.withdraw_approval(run_id), "withdraw the approval")

    def close(self) -> None:
        self._findings_timer.stop()
        self.project.changed.disconnect(self._on_model_change)
        self.file.close()
