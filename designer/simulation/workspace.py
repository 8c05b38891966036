"""The simulation workspace of a main window: the docks (Simulate, Replay, Plots, Run review), and the wiring
between them, the canvas and the project browser.

- A run finished in the run panel, or a saved run opened from the browser, becomes the *open run*: its replay
  index is built in a worker thread, then the replay bar plays it on the canvas, the plots show its figures,
  and the review panel shows its assumptions, notes and approval.
- The timeline and the time-series cursor follow each other.
- Two saved runs compare side by side in a compare window; a run's HTML report is exported from the browser or
  the review panel.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QDialog, QFileDialog, QFrame, QMessageBox, QScrollArea, QVBoxLayout,
                               QWidget)

from app import APP_NAME
from designer.simulation.background import Background
from designer.simulation.live_view import LiveBar, LiveWatcher, WatchRunnerDialog
from designer.simulation.replay_view import ReplayBar, ReplayController, ReplaySource

if TYPE_CHECKING:
    from designer.main_window import MainWindow
    from designer.simulation.plots import PlotsPanel
    from designer.simulation.review import RunReview
    from designer.simulation.run_panel import RunPanel
    from simulator.runs import RunRecord

PLOTS_HEIGHT = 330  # the plots dock's height when a run opens (a few px tall dock shows nothing)


class SimulationWorkspace(QObject):
    """Owns the simulation docks of one window and what is open in them."""

    runOpened = Signal(object)  # the run id (None for an unsaved run) once its replay is ready

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self.background = Background(self)
        # The Simulate, Review and Plots panels are built when first shown or used (they import the simulator,
        # NumPy and pyqtgraph: most of a start-up's time): their docks hold an empty holder until then.
        self._run_panel: RunPanel | None = None
        self._plots: PlotsPanel | None = None
        self._review: RunReview | None = None
        self.replay_bar = ReplayBar()
        self.replay = ReplayController(window.scene, self.replay_bar, self.document, self)
        self.record: RunRecord | None = None
        self.run_id: int | None = None
        self.compare_windows: list[Any] = []  # kept alive while open
        self._last_runner = "127.0.0.1:8787"

        # The replay bar sits under the canvas it drives, like a player's timeline, shown while a run is open.
        view = window.takeCentralWidget()
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(view, 1)
        column.addWidget(self.replay_bar)
        self.live_bar = LiveBar()
        column.addWidget(self.live_bar)
        window.setCentralWidget(centre)
        self.replay_bar.hide()
        self.live = LiveWatcher(window.scene, self.document, self.live_bar, self)
        dock = window._dock
        self.panel_scroll = QScrollArea()  # a short dock scrolls the panel instead of squashing its rows
        self.panel_scroll.setWidgetResizable(True)
        self.panel_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.panel_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._holders = {"review": _holder(), "plots": _holder()}
        self.docks = {
            "simulate": dock("Simulate", self.panel_scroll, Qt.DockWidgetArea.RightDockWidgetArea),
            "review": dock("Review", self._holders["review"], Qt.DockWidgetArea.RightDockWidgetArea),
            "plots": dock("Plots", self._holders["plots"], Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        # the main window tabifies these with its own docks (Simulate and Review by Properties, Plots by Problems)
        for name, d in self.docks.items():
            d.visibilityChanged.connect(partial(self._dock_shown, name))

        self.replay_bar.timeline.timeChanged.connect(self._cursor_moved)
        self.replay_bar.closeRequested.connect(self._replay_closed)
        self.story_panel: Any = None  # designer.simulation.story_view.StoryPanel, made when first asked for
        self.replay_bar.storyRequested.connect(self.show_story)
        browser = window.browser
        browser.runActivated.connect(self.open_run)
        browser.compareRequested.connect(self.compare)
        browser.reportRequested.connect(self.export_report)

    # --- the panels, built on first use -----------------------------------------------------------------------
    def _dock_shown(self, name: str, shown: bool) -> None:
        if shown:
            {"simulate": lambda: self.run_panel, "review": lambda: self.review, "plots": lambda: self.plots}[name]()

    @property
    def run_panel(self) -> RunPanel:
        """The Simulate panel (built on first use)."""
        if self._run_panel is None:
            from designer.simulation.run_panel import RunPanel
            self._run_panel = panel = RunPanel(self.document)
            self.panel_scroll.setWidget(panel)
            self.panel_scroll.setMinimumWidth(panel.minimumSizeHint().width()
                                              + self.panel_scroll.verticalScrollBar().sizeHint().width())
            panel.runCompleted.connect(self._run_completed)
        return self._run_panel

    @property
    def plots(self) -> PlotsPanel:
        """The Plots panel (built on first use)."""
        if self._plots is None:
            from designer.simulation.plots import PlotsPanel
            self._plots = plots = PlotsPanel()
            self._holders["plots"].layout().addWidget(plots)
            plots.timeRequested.connect(self.replay_bar.timeline.set_time)
        return self._plots

    @property
    def review(self) -> RunReview:
        """The Review panel (built on first use)."""
        if self._review is None:
            from designer.simulation.review import RunReview
            self._review = review = RunReview(self.document)
            self._holders["review"].layout().addWidget(review)
            review.reportRequested.connect(self.export_report)
        return self._review

    def show_story(self) -> None:
        """One contact's story of the open run, in a dock beside the canvas (designer/simulation/story_view.py)."""
        from designer.simulation.story_view import open_story
        open_story(self)

    def _cursor_moved(self, t: int | None) -> None:
        if self._plots is not None:
            self._plots.set_cursor(t)

    # --- opening runs -----------------------------------------------------------------------------------------
    def show_docks(self, *names: str) -> None:
        for name in names:
            self.docks[name].show()
            self.docks[name].raise_()

    def _run_completed(self, record: RunRecord, run_id: int | None) -> None:
        self.open_record(record, run_id)

    def open_run(self, run_id: int) -> None:
        """Open saved run `run_id`: replay it on the canvas, plot it, show it for review."""
        record = self.document.load_run(run_id)  # None when it cannot be read: the document said why
        if record is None:
            return
        self.open_record(record, run_id)

    def open_record(self, record: RunRecord, run_id: int | None) -> None:
        """Open a run's record (just run, or loaded): its replay index is built off the UI thread."""
        from simulator.effect_text import headline
        from simulator.replay import Replay

        self.record, self.run_id = record, run_id
        if self.live.active:  # one overlay on the canvas at a time
            self.live.stop()
        if self.document.project.find_journey(record.journey_id) is not None:
            self.document.set_current_journey(record.journey_id)
        self.replay_bar.title.setText(f"Preparing the replay of {run_id if run_id is not None else 'the run'}…")
        self.plots.set_record(record)
        self.review.set_run(run_id, record)
        if self.story_panel is not None:
            self.story_panel.set_run(record, run_id)
        self.replay_bar.show()
        self.show_docks("plots")
        if self.docks["plots"].height() < PLOTS_HEIGHT:
            self.window.resizeDocks([self.docks["plots"]], [PLOTS_HEIGHT], Qt.Orientation.Vertical)
        if run_id is not None:
            self.show_docks("review")
        name = self._run_name(record, run_id)
        source = ReplaySource(run_id, name, record.journey_id, record.journey_version,
                              int(record.results.get("contacts", 0)), record.replicas, headline(record.results))
        self.background.submit("replay", lambda: Replay.from_record(record),
                               lambda replay: self._replay_ready(replay, source), self._replay_failed)

    def _run_name(self, record: RunRecord, run_id: int | None) -> str:
        info = self.document.run_info(run_id) if run_id is not None else None
        return info.name if info is not None else f"seed {record.seed}"

    def _replay_ready(self, replay: Any, source: ReplaySource) -> None:
        if self.record is None or source.journey_id != self.record.journey_id:
            return
        self.replay.load(replay, source)
        self.runOpened.emit(source.run_id)

    def _replay_failed(self, message: str) -> None:
        self.replay_bar.title.setText(f"The replay could not be prepared: {message}")

    def _replay_closed(self) -> None:
        self.record, self.run_id = None, None
        if self._plots is not None:
            self._plots.set_record(None)
        self.replay_bar.hide()

    def watch_runner(self, address: str | None = None, secret: str = "") -> None:
        """Show a live runner's per-step counts on the canvas (asks for its address and the run's secret unless
        the address is given)."""
        if address is None:
            dialog = WatchRunnerDialog(self._last_runner, self.window)
            try:
                if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.address.text().strip():
                    return
                address, secret = dialog.address.text(), dialog.secret.text()
            finally:
                dialog.deleteLater()
        self._last_runner = address.strip()
        if self.replay.active:
            self.replay.close()
        self.live.start(self._last_runner, secret)

    def close(self) -> None:
        """Stop background work (the window is closing)."""
        self.replay_bar.timeline.pause()
        if self._run_panel is not None:
            self._run_panel.shutdown()
        self.live.stop()
        self.live.wait()
        self.background.wait(10000)
        for w in list(self.compare_windows):
            w.close()

    # --- compare and report -----------------------------------------------------------------------------------
    def compare(self, run_a: int, run_b: int, *, confirm: bool = True) -> None:
        """Open two saved runs side by side (per-step rates and whether they differ, effects, assumptions,
        funnels); runs of different journeys only after the user confirms (`confirm=False`: without asking)."""
        from designer.simulation.compare_view import CompareWindow

        a, b = self.document.load_run(run_a), self.document.load_run(run_b)
        if a is None or b is None:  # the document said why
            return
        names = (self._run_name(a, run_a), self._run_name(b, run_b))
        if a.journey_id != b.journey_id and confirm:
            answer = QMessageBox.question(
                self.window, APP_NAME,
                f"Runs {run_a} and {run_b} simulate different journeys. Their steps would be matched by id only, "
                "and differences may come from the journeys rather than from the assumptions.\n\nCompare them "
                "anyway?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        w = CompareWindow(a, b, (f"A: {names[0]} (run {run_a})", f"B: {names[1]} (run {run_b})"), self.window)
        self.compare_windows.append(w)
        w.destroyed.connect(lambda _=None, w=w: self.compare_windows.remove(w) if w in self.compare_windows else None)
        w.show()

    def export_report(self, run_id: int, path: str | Path | None = None) -> Path | None:
        """Write run `run_id`'s HTML report (asks where unless `path` is given); returns the path written."""
        from app.files import write_atomically
        from simulator.report import report_for_run

        if path is None:
            default = str(self.document.file.path.with_name(f"{self.document.file.path.stem}-run-{run_id}.html"))
            chosen, _ = QFileDialog.getSaveFileName(self.window, "Export run report", default, "HTML (*.html)")
            if not chosen:
                return None
            path = chosen
        try:
            html = report_for_run(self.document.file, run_id)
            write_atomically(Path(path), html)
        except Exception as e:  # noqa: BLE001 - a clear message, the old file (if any) untouched
            QMessageBox.warning(self.window, APP_NAME, f"The report could not be written.\n\n{e}")
            return None
        self.window.statusBar().showMessage(f"Report written to {path}", 8000)
        return Path(path)


def _holder() -> QWidget:
    """An empty widget a dock holds until its panel is built into it."""
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    return holder
