"""The open project in the designer: its file, undo stack, current journey and live check for errors.

Views listen to `changed` (every model change, as it happens) and never edit the model themselves: they hand a
command to `run()`, which puts it on the undo stack. Every command is one transaction in the project file.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from app.errors import JourneyStudioError
from app.model.journey import Change, Journey
from app.model.project import Project
from app.store import ProjectFile
from app.validation.checks import check_journey
from app.validation.findings import Finding
from designer.undo import UndoEntry


class Document(QObject):
    """A project file opened in a window."""

    changed = Signal(object)               # app.model.journey.Change
    currentJourneyChanged = Signal(object)  # journey id or None
    findingsChanged = Signal()
    selectRequested = Signal(str, object)   # journey id, step id (or None): show it on the canvas
    message = Signal(str)                  # a line for the status bar
    failed = Signal(str)                   # an edit that could not be saved: the window tells the user

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

    def close(self) -> None:
        self._findings_timer.stop()
        self.project.changed.disconnect(self._on_model_change)
        self.file.close()
