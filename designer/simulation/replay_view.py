"""The time-warp replay of a simulation run on the canvas: the replay bar (what is replayed, a warning when the
journey has changed since, the timeline and the journey's running totals) and the controller that draws each
simulated moment on the canvas.

At each moment the controller asks the pure `simulator.replay.Replay` for the frame (one vectorised search over
the run's sorted event times) and gives the scene each tile's status line (contacts waiting, running totals) and
each link's flow (width and count). Tooltips carry every figure with its interval; they are written once the
timeline rests, not on every frame of playback.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from designer.simulation.timeline import Timeline

if TYPE_CHECKING:
    from designer.canvas.scene import JourneyScene
    from designer.document import Document
    from simulator.replay import Frame, Replay

NOTES_DELAY_MS = 150  # write tooltips once the timeline has rested this long


@dataclass(frozen=True)
class ReplaySource:
    """What is replayed: the run (id when saved), its name and the journey version it was made on."""

    run_id: int | None
    name: str
    journey_id: str
    journey_version: int
    contacts: int
    replicas: int
    effect: str = ""  # what the journey causes, in one sentence (simulator.effect_text.headline)


class ReplayBar(QWidget):
    """The replay's heading, its warning line, the timeline and the running totals."""

    closeRequested = Signal()
    storyRequested = Signal()  # "Contact's story": one contact's way through the run, beside the canvas

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No run is being replayed. Run a simulation, or open a saved run from the Project "
                            "panel (Simulation runs).")
        self.effect = QLabel()
        self.effect.setWordWrap(True)
        self.effect.setAccessibleName("What the journey causes")
        self.effect.setToolTip("Against the same contacts without the journey (same seeds, same events of their "
                               "own): what the journey adds, for the contacts who entered")
        self.effect.hide()
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #b45309;")
        self.warning.hide()
        self.close_button = QToolButton()
        self.close_button.setText("Close replay")
        self.close_button.setToolTip("Stop replaying: tiles show their settings again")
        self.close_button.clicked.connect(self.closeRequested)
        self.close_button.setEnabled(False)
        self.story_button = QToolButton()
        self.story_button.setText("Contact's story…")
        self.story_button.setToolTip("Follow one contact through the run: each step, when, and why")
        self.story_button.clicked.connect(self.storyRequested)
        self.story_button.setEnabled(False)
        self.timeline = Timeline()
        self.timeline.setEnabled(False)
        self.totals = QLabel()
        self.totals.setToolTip("The journey's running totals at the moment shown")
        for label in (self.title, self.totals):  # long lines wrap: they never widen the window
            label.setWordWrap(True)
        self.totals.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head = QHBoxLayout()
        head.addWidget(self.title, 3)
        head.addSpacing(16)
        head.addWidget(self.totals, 2)
        head.addWidget(self.story_button)
        head.addWidget(self.close_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 4, 8, 6)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.effect)
        box.addWidget(self.warning)
        box.addWidget(self.timeline)

    def show_source(self, source: ReplaySource | None, warning: str = "") -> None:
        if source is None:
            self.title.setText("No run is being replayed. Run a simulation, or open a saved run from the Project "
                               "panel (Simulation runs).")
            self.totals.clear()
            self.effect.hide()
        else:
            lead, _, detail = source.effect.partition(". ")
            self.effect.setText(f"<b>{html.escape(lead)}{'.' if detail else ''}</b> {html.escape(detail)}"
                                if source.effect else "")
            self.effect.setVisible(bool(source.effect))
            saved = f"run {source.run_id}" if source.run_id is not None else "not saved"
            self.title.setText(f"<b>Replaying {html.escape(source.name)}</b> ({saved}) · journey version "
                               f"{source.journey_version} · {source.contacts:,} contacts · {source.replicas} "
                               f"replica{'s' if source.replicas != 1 else ''}")
        self.warning.setText(warning)
        self.warning.setVisible(bool(warning))
        self.close_button.setEnabled(source is not None)
        self.story_button.setEnabled(source is not None)
        self.timeline.setEnabled(source is not None)


class ReplayController(QObject):
    """Draws the replay's current moment on the scene; clears it when the replay closes."""

    frameShown = Signal(int)  # the simulated moment now drawn (UTC seconds)

    def __init__(self, scene: JourneyScene, bar: ReplayBar, document: Document, parent: QObject | None = None):
        super().__init__(parent)
        self.scene, self.bar, self.document = scene, bar, document
        self.replay: Replay | None = None
        self.source: ReplaySource | None = None
        self.frame: Frame | None = None
        self._scale = 0
        self._lines: Mapping[str, str] = {}  # the status lines of the frame shown
        self.last_frame_ms = 0.0   # how long drawing the last moment took (for the benchmark)
        self._notes_timer = QTimer(self)
        self._notes_timer.setSingleShot(True)
        self._notes_timer.setInterval(NOTES_DELAY_MS)
        self._notes_timer.timeout.connect(self._write_notes)
        bar.timeline.timeChanged.connect(self.show)
        bar.closeRequested.connect(self.close)
        scene.journeyShown.connect(lambda _jid: self._redraw())
        document.changed.connect(self._model_changed)

    @property
    def active(self) -> bool:
        return self.replay is not None

    def load(self, replay: Replay, source: ReplaySource) -> None:
        """Replay `replay` from its start."""
        self.replay, self.source = replay, source
        self._scale = int(replay.at(replay.horizon).journey.get("entered", 0))
        self.bar.show_source(source, self._warning())
        self.bar.timeline.set_range(replay.t0, replay.horizon, next_event=replay.next_event,
                                    prev_event=replay.prev_event)
        self.show(self.bar.timeline.time())

    def close(self) -> None:
        """Stop replaying: tiles show their summaries again and links their plain stroke."""
        self.bar.timeline.pause()
        self.replay = self.source = self.frame = None
        self._notes_timer.stop()
        self.scene.set_status_lines({})
        self.scene.set_flows(None)
        self.bar.show_source(None)

    def _on_canvas(self) -> bool:
        journey = self.document.current_journey
        return (self.replay is not None and self.source is not None and journey is not None
                and journey.id == self.source.journey_id)

    def show(self, t: int) -> None:
        """Draw simulated moment `t` on the canvas (when the canvas shows the replayed journey)."""
        if self.replay is None:
            return
        started = time.perf_counter()
        self.frame = frame = self.replay.at(t)
        if self._on_canvas():
            self._lines = FrameLines(self.replay, frame)  # each worked out when a tile shows or tells it
            self.scene.set_status_lines(self._lines)
            self.scene.set_flows(frame.flows, self._scale)
            self._notes_timer.start()
        self.bar.totals.setText(_totals_text(frame.journey))
        self.last_frame_ms = (time.perf_counter() - started) * 1000.0
        self.frameShown.emit(t)

    def _write_notes(self) -> None:
        if self.replay is None or self.frame is None or not self._on_canvas():
            return
        notes = {sid: self.replay.tooltip_lines(self.frame, sid) for sid in self.replay.steps}
        self.scene.set_status_lines(self._lines, notes)  # the lines of the frame shown, now with their figures

    def _redraw(self) -> None:
        if self.replay is None:
            return
        if self._on_canvas():
            self.show(self.bar.timeline.time())
        else:  # another journey is shown: its tiles keep their summaries
            self.scene.set_status_lines({})
            self.scene.set_flows(None)

    def _model_changed(self, change: Any) -> None:
        if self.source is not None and getattr(change, "journey", None) == self.source.journey_id:
            self.bar.show_source(self.source, self._warning())

    def _warning(self) -> str:
        if self.source is None:
            return ""
        journey = self.document.project.find_journey(self.source.journey_id)
        if journey is None:
            return "The journey of this run has been deleted: the canvas cannot show it."
        if journey.version != self.source.journey_version:
            return (f"This run was made on version {self.source.journey_version} of the journey; it is now at "
                    f"version {journey.version}. Tiles that still exist show the run's figures; tiles added since "
                    "show their settings.")
        return ""


class FrameLines(Mapping[str, str]):
    """A replay frame's status line per step, each worked out when first read (and then kept): a frame is drawn
    while scrubbing, and only the tiles in sight with their text need their line."""

    def __init__(self, replay: Replay, frame: Frame) -> None:
        self._replay, self._frame = replay, frame
        self._steps = frozenset(replay.steps)
        self._lines: dict[str, str] = {}

    def __getitem__(self, step_id: str) -> str:
        line = self._lines.get(step_id)
        if line is None:
            if step_id not in self._steps:
                raise KeyError(step_id)
            line = self._lines[step_id] = self._replay.status_line(self._frame, step_id)
        return line

    def __iter__(self) -> Iterator[str]:
        return iter(self._replay.steps)

    def __len__(self) -> int:
        return len(self._replay.steps)


def _totals_text(totals: dict[str, int]) -> str:
    order = (("entered", "entered"), ("in_journey", "in the journey"), ("exited", "exited"),
             ("goal", "reached the goal"), ("completed", "completed"))
    parts = [f"{totals[k]:,} {label}" for k, label in order if k in totals]
    return " · ".join(parts)
