"""One contact's story beside the canvas, during a run's replay (simulator/story.py tells it).

The reviewer picks a contact: by id, or "a contact who took …" one of the run's (step, outcome) pairs, read from
the run's saved trace (each pick takes the next such contact). The story shows as a readable timeline: each step
with when it was entered and left, its outcome, why, and what the contact did with a message. As the replay plays,
the step the contact is at in the moment shown is highlighted and kept in sight; clicking a step moves the replay
to the moment the contact got there.

The run's population and world are made once per run in a worker thread (`RunStories`), and each story is told
there too, so the window stays responsive. `open_story(workspace)` makes the dock (once) and wires it to the
replay: the workspace only calls it.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy,
                               QTextBrowser, QVBoxLayout, QWidget)

if TYPE_CHECKING:
    from designer.simulation.background import Background
    from designer.simulation.workspace import SimulationWorkspace
    from simulator.runs import RunRecord
    from simulator.story import RunStories, StepStory, Story

OUTCOME_COLOURS = {"sent": "#15803d", "yes": "#15803d", "goal": "#15803d", "completed": "#475569",
                   "no": "#b45309", "suppressed": "#b91c1c", "capped": "#b91c1c", "exited": "#7c3aed",
                   "holdout": "#7c3aed", "stopped": "#475569", "waiting": "#475569"}
MAX_PICKS = 200  # contacts kept per (step, outcome) for "a contact who took …"


class StoryPanel(QWidget):
    """Pick a contact of the open run and read its story (see the module docstring)."""

    timeRequested = Signal(int)  # move the replay to this moment (a step of the story was clicked)
    stepRequested = Signal(str)  # ... and show that step (its id) on the canvas

    def __init__(self, background: Background | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.background = background
        self.record: RunRecord | None = None
        self.run_id: int | None = None
        self.stories: RunStories | None = None
        self.story: Story | None = None
        self.current = -1  # the index of the highlighted step
        self._picks: list[tuple[str, list[int]]] = []
        self._next_pick: dict[int, int] = {}
        self._pending: int | None = None  # a contact asked for before the run's stories were ready

        self.contact = QLineEdit()
        self.contact.setPlaceholderText("contact id")
        self.contact.setValidator(QIntValidator(0, 2 ** 31 - 1, self))
        self.contact.setAccessibleName("Contact id")
        self.contact.setMaximumWidth(110)
        self.contact.returnPressed.connect(self._typed)
        self.show_button = QPushButton("Show")
        self.show_button.clicked.connect(self._typed)
        self.paths = QComboBox()
        self.paths.setAccessibleName("Pick a contact who took a path")
        self.paths.setToolTip("Each pick shows the next contact of the run with this step and outcome")
        self.paths.activated.connect(self._picked)
        self.heading = QLabel("Open a run to replay, then pick a contact.")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.audience = QLabel()
        self.audience.setWordWrap(True)
        self.audience.setStyleSheet("color: #475569;")
        for label in (self.heading, self.audience):
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.timeline = QTextBrowser()
        self.timeline.setOpenLinks(False)
        self.timeline.setAccessibleName("The contact's story")
        self.timeline.anchorClicked.connect(self._anchor)
        row = QHBoxLayout()
        row.addWidget(QLabel("Contact"))
        row.addWidget(self.contact)
        row.addWidget(self.show_button)
        row.addStretch(1)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("or one who took"))
        pick.addWidget(self.paths, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.addLayout(row)
        box.addLayout(pick)
        box.addWidget(self.heading)
        box.addWidget(self.audience)
        box.addWidget(self.timeline, 1)
        self._enable(False)

    # --- the run ---------------------------------------------------------------------------------------------
    def set_run(self, record: RunRecord | None, run_id: int | None) -> None:
        """Show stories of `record` (None: no run open). Its population and world are made off the UI thread."""
        self.record, self.run_id, self.stories, self.story = record, run_id, None, None
        self._picks, self._next_pick, self.current = [], {}, -1
        self.paths.clear()
        self.timeline.clear()
        self.audience.clear()
        self._enable(False)
        if record is None:
            self.heading.setText("Open a run to replay, then pick a contact.")
            return
        self.heading.setText("Preparing the run's contacts…")

        def make() -> tuple[RunStories, list[tuple[str, list[int]]]]:
            from simulator.story import RunStories
            stories = RunStories(record, run=run_id)
            return stories, _pick_lists(record, stories)

        self._run(make, self._ready, "stories")

    def _ready(self, made: tuple[RunStories, list[tuple[str, list[int]]]]) -> None:
        self.stories, self._picks = made
        self.paths.clear()
        self.paths.addItem("a step and outcome…")
        for label, ids in self._picks:
            self.paths.addItem(f"{label} ({len(ids):,}{'+' if len(ids) >= MAX_PICKS else ''})")
        self._enable(True)
        self.heading.setText("Type a contact's id, or pick one who took a step and outcome.")
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.show_contact(pending)

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None], channel: str) -> None:
        def failed(message: str) -> None:
            self.heading.setText(f"<span style='color:#b91c1c'>{html.escape(message)}</span>")
        if self.background is None:  # no worker (a test): tell it here
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001 - shown in the panel, as the worker would
                failed(str(e))
                return
            done(result)
        else:
            self.background.submit(channel, fn, done, failed)

    def _enable(self, on: bool) -> None:
        for w in (self.contact, self.show_button, self.paths):
            w.setEnabled(on)

    # --- picking a contact ----------------------------------------------------------------------------------
    def _typed(self) -> None:
        text = self.contact.text().strip()
        if text.isdigit():
            self.show_contact(int(text))

    def _picked(self, index: int) -> None:
        if index <= 0 or index > len(self._picks):
            return
        ids = self._picks[index - 1][1]
        n = self._next_pick.get(index, 0)
        self._next_pick[index] = (n + 1) % len(ids)
        self.show_contact(ids[n])

    def show_contact(self, contact: int) -> None:
        """Tell contact `contact`'s story (once the run's contacts are ready)."""
        if self.stories is None:
            self._pending = contact
            return
        from simulator.story import StoryError
        stories = self.stories
        self.contact.setText(str(contact))
        self.heading.setText(f"Telling contact {contact}'s story…")

        def tell() -> Story | str:
            try:
                return stories.tell(contact)
            except StoryError as e:
                return str(e)

        self._run(tell, self._told, "story")

    def _told(self, story: Story | str) -> None:
        if isinstance(story, str):
            self.story = None
            self.timeline.clear()
            self.audience.clear()
            self.heading.setText(f"<span style='color:#b91c1c'>{html.escape(story)}</span>")
            return
        self.story, self.current = story, -1
        self.heading.setText(_heading(story))
        self.audience.setText(story.audience)
        self._render()

    # --- following the replay -------------------------------------------------------------------------------
    def set_time(self, t: int) -> None:
        """Highlight the step the contact is at, at moment `t` (the last step it had entered by then)."""
        if self.story is None:
            return
        at = -1
        for i, s in enumerate(self.story.steps):
            if s.entered <= t:
                at = i
        if at != self.current:
            self.current = at
            self._render()

    def _anchor(self, url: QUrl) -> None:
        if self.story is None or not url.toString().startswith("step:"):
            return
        i = int(url.toString()[5:])
        if 0 <= i < len(self.story.steps):
            self.timeRequested.emit(self.story.steps[i].entered)
            self.stepRequested.emit(self.story.steps[i].step)

    def _render(self) -> None:
        story = self.story
        if story is None:
            return
        bar = self.timeline.verticalScrollBar()
        keep = bar.value()
        self.timeline.setHtml(_story_html(story, self.current))
        if self.current >= 0:
            self.timeline.scrollToAnchor(f"s{self.current}")
        else:
            bar.setValue(keep)


def _pick_lists(record: RunRecord, stories: RunStories) -> list[tuple[str, list[int]]]:
    """Per (step, outcome) in the run's saved trace, in the plan's order: a label and up to MAX_PICKS contact ids."""
    import numpy as np

    from app.semantics.outcomes import LABELS
    if not stories.derivable:
        return []
    trace = stories.saved if stories.saved is not None else record.trace()
    plan, ids = stories.plan, stories.contacts()
    v = trace.visits
    key = v["step"].astype(np.int64) * 64 + v["outcome"].astype(np.int64)
    out: list[tuple[str, list[int]]] = []
    for k in np.unique(key).tolist():
        step, outcome = divmod(int(k), 64)
        if step >= plan.end and outcome == 20:  # 'completed' at the end: every path's end, said at the last step
            label = "the end of a path"
        else:
            name = plan.steps[step].name if step < plan.end else "End"
            label = f"{name} → {LABELS.get(outcome, str(outcome))}"
        rows = v["contact"][np.flatnonzero(key == k)[:MAX_PICKS]]
        out.append((label, [int(ids[r]) for r in dict.fromkeys(rows.tolist())]))
    return out


def _heading(story: Story) -> str:
    where = f"run {story.run}" if story.run is not None else "this run"
    check = ("<span style='color:#15803d'>✓ agrees with the run's trace</span>" if story.agrees
             else "<span style='color:#b45309'>not checked against a trace</span>" if story.agrees is None
             else "<span style='color:#b91c1c'>does not agree with the run's trace</span>")
    return (f"<b>Contact {story.contact}</b> in {html.escape(where)} · {check}<br>"
            f"<small>Times in {html.escape(story.timezone)}; click a step to replay from there.</small>")


def _story_html(story: Story, current: int) -> str:
    rows = []
    iteration = -1
    repeated = any(s.iteration > 0 for s in story.steps)
    for i, s in enumerate(story.steps):
        if repeated and s.iteration != iteration:
            rows.append(f"<tr><td style='padding-top:8px'><b>Repetition {s.iteration + 1}</b></td></tr>")
        iteration = s.iteration
        rows.append(_step_html(story, i, s, i == current))
    notes = "".join(f"<p style='color:#475569'>{html.escape(n)}</p>" for n in story.notes)
    if not story.reasons:
        notes += f"<p style='color:#b45309'>{html.escape(story.checked)}</p>"
    return (f"<table width='100%' cellspacing='0' cellpadding='4'>{''.join(rows)}</table>{notes}")


def _step_html(story: Story, i: int, s: StepStory, current: bool) -> str:
    """One step as a block that reads in a narrow dock: when (a link to that moment), the step and its outcome,
    why, then what the contact did; the current step on a pale yellow ground, marked."""
    colour = OUTCOME_COLOURS.get(s.outcome, "#1d4ed8")
    when = story.when(s.entered)
    if s.left != s.entered:
        later = story.when(s.left)
        same_day = later.rsplit(" ", 1)[0] == when.rsplit(" ", 1)[0]
        when += f" → {later.rsplit(' ', 1)[1] if same_day else later}"
    did = "".join(f"<br><span style='color:#475569'>· {html.escape(story.when(h.at))}: {html.escape(h.text)}</span>"
                  for h in s.happenings)
    back = " bgcolor='#fef3c7'" if current else ""
    marker = "▶ " if current else ""
    return (f"<tr><td{back} style='border-bottom:1px solid #e2e8f0'><a name='s{i}'></a>"
            f"<a href='step:{i}' style='color:#475569; text-decoration:none'><small>{html.escape(when)}</small></a>"
            f"<br>{marker}<b>{html.escape(s.name)}</b> &nbsp;<span style='color:{colour}; font-weight:bold'>"
            f"{html.escape(s.outcome)}</span><br>{html.escape(s.why[:1].upper() + s.why[1:])}{did}</td></tr>")


def open_story(workspace: SimulationWorkspace) -> StoryPanel:
    """Show the story dock beside the canvas (made and wired to the replay the first time), on the open run."""
    panel: StoryPanel | None = getattr(workspace, "story_panel", None)
    if panel is None:
        panel = StoryPanel(workspace.background)
        window = workspace.window
        dock = window._dock("Contact's story", panel, Qt.DockWidgetArea.RightDockWidgetArea, name="Contact's story")
        workspace.docks["story"] = dock
        window.tabifyDockWidget(workspace.docks["review"], dock)  # the right column's whole height, by Review
        workspace.replay.frameShown.connect(panel.set_time)
        panel.timeRequested.connect(workspace.replay_bar.timeline.set_time)
        panel.stepRequested.connect(lambda sid: _show_step(workspace, sid))
        workspace.story_panel = panel
        panel.set_run(workspace.record, workspace.run_id)
    dock = workspace.docks["story"]
    dock.show()
    dock.raise_()
    return panel


def _show_step(workspace: SimulationWorkspace, step_id: str) -> None:
    """Select a story's step on the canvas, when the canvas shows the run's journey."""
    journey = workspace.document.current_journey
    if workspace.record is not None and journey is not None and journey.id == workspace.record.journey_id \
            and step_id in journey.steps:
        workspace.window.scene.select_steps([step_id], center=True)
