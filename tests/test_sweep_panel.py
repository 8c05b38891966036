"""The Sweep panel (Simulate > What-if Sweep…): values checked as they are typed, a sweep run in worker processes
equal to the simulator's own, its plots and table, the best point applied as one undoable edit, Cancel and a
closed window leaving no process behind."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from app.services import create_demo_project
from app.store import ProjectFile
from app.validation.checks import check_journey
from designer.document import Document
from designer.simulation.sweep_panel import SweepPanel, running_sweeps
from simulator.behaviour import BehaviourModel
from simulator.request import snapshot
from simulator.sweep import Sweep, parse_grid, run_sweep

TIMEOUT_MS = 180_000
JOURNEY = "Re-engagement"


@pytest.fixture(scope="module")
def demo_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("demo") / "demo.jstudio"
    create_demo_project(path, contacts=300)
    return path.read_bytes()


@pytest.fixture
def document(tmp_path: Path, demo_bytes: bytes) -> Iterator[Document]:
    path = tmp_path / "demo.jstudio"
    path.write_bytes(demo_bytes)
    doc = Document(ProjectFile.open(path))
    doc.set_current_journey(doc.project.journey(JOURNEY).id)
    yield doc
    doc.close()


@pytest.fixture
def panel(qtbot: QtBot, document: Document) -> Iterator[SweepPanel]:
    p = SweepPanel(document)
    qtbot.addWidget(p)
    p.resize(1400, 800)
    p.show()
    yield p
    p.shutdown()


def _vary(panel: SweepPanel, *rows: tuple[str, str]) -> None:
    """Set the panel's rows to these (target, values), in order."""
    while len(panel.rows) > 1:
        panel.remove_row(panel.rows[-1])
    first, *rest = rows
    row = panel.rows[0]
    row.target_combo.setCurrentIndex(row.target_combo.findData(first[0]))
    assert row.target() == first[0]
    row.values_edit.setText(first[1])
    for target, values in rest:
        assert panel.add_row(target, values) is not None


def _run(qtbot: QtBot, panel: SweepPanel) -> str:
    with qtbot.waitSignal(panel.sweepEnded, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    return str(blocker.args[0])


def test_the_picker_offers_the_journey_s_step_properties_send_hours_and_figures(panel: SweepPanel) -> None:
    combo = panel.rows[0].target_combo
    offered = [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]
    for target in ("wait5.duration", "opened.within", "journey.quiet_hours", "behaviour.email.open",
                   "behaviour.messages.offer.click", "behaviour.event_rates.purchase"):
        assert target in offered
    assert "reminder.send_to" not in offered  # an address attribute is not a what-if
    assert combo.itemText(combo.findData("wait5.duration")) == "Wait 5 days: Wait for"


def test_values_are_checked_as_typed_and_the_error_is_said_under_the_field(qtbot: QtBot, panel: SweepPanel) -> None:
    _vary(panel, ("wait5.duration", "1d,soon"))
    row = panel.rows[0]
    assert row.note.isVisible()
    assert row.note.plain_text().startswith("soon: not a duration")
    assert row.current.text() == "now 5d"
    row.values_edit.setText("1d,3d")
    assert row.error is None and not row.note.isVisible()
    row.values_edit.setText("1d,-2d")  # the tile's own check: a wait of a negative duration
    assert row.error is not None and row.error.startswith("-2d:")
    twice = panel.add_row("wait5.duration", "7d")
    assert twice is not None and twice.error == "This property is varied twice: put all its values on one row"
    assert not panel.run()
    assert panel.status_text() == "Fix the values marked in red first."
    assert running_sweeps() == []
    panel.remove_row(twice)
    split = panel.add_row("journey.quiet_hours", "21:00-08:00,late")
    assert split is not None and split.error is not None and "START-END" in split.error
    split.values_edit.setText("21:00-08:00,none")
    assert split.error is None
    assert panel.size_label.text() == "4 points and the current settings, each 5 replicas of 20,000 contacts."


def test_a_sweep_from_the_panel_is_the_simulator_s_and_shows_its_points(
        qtbot: QtBot, panel: SweepPanel, document: Document, tmp_path: Path) -> None:
    _vary(panel, ("wait5.duration", "3d,7d"), ("behaviour.email.open", "0.15,0.35"))
    panel.contacts_spin.setValue(3000)
    panel.replicas_spin.setValue(3)
    panel.seed_spin.setValue(5)
    panel.workers_spin.setValue(2)
    assert _run(qtbot, panel) == "completed", panel.status_text()
    assert multiprocessing.active_children() == []
    project = document.project
    source = snapshot(project, project.journey(JOURNEY).id)
    direct = run_sweep(Sweep(source.journey, BehaviourModel(), source.content, source.segments,
                             source.custom_attributes, parse_grid(["wait5.duration=3d,7d",
                                                                   "behaviour.email.open=0.15,0.35"]), 3000, 5, 3),
                       workers=1, check=lambda j: check_journey(j, project))
    assert panel.doc is not None
    assert json.dumps(panel.doc, sort_keys=True) == json.dumps(direct, sort_keys=True)  # in processes == serial
    cells = panel.table.cells()
    assert len(cells) == 1 + 4 and cells[0][-1] == "current settings" and cells[0][:2] == ["5d", "0.2133"]
    best = [i for i, p in enumerate(direct["points"]) if p["best"]]
    assert [r for r, row in enumerate(cells) if row[-1] == "★ best"] == [1 + best[0]]
    cell = panel.table.item(1 + best[0], 0)
    assert cell is not None and cell.font().bold()
    # a plot per varied property, a series per value of the other, the best point starred where it is drawn
    assert len(panel.plots.plots) == 2
    assert [len(s) for s in panel.plots.series] == [2, 2]
    assert panel.plots.series[0][0][0] == "email open 0.15"
    x_days = panel.plots.series[0][0][1]
    assert np.allclose(np.sort(np.round(x_days)), [3, 7])  # durations on a numeric axis, in days
    left = panel.plots.plots[0].getPlotItem().getAxis("bottom").labelText
    assert left == "Wait for (days)"
    assert panel.plots.plots[0].toolTip() == "Wait 5 days: Wait for (wait5.duration)"
    star = panel.plots.best_xy[1]
    point = direct["points"][best[0]]
    assert star is not None and star[1] == pytest.approx(point["effect"]["mean"] * 100)
    summary = panel.summary.text()
    assert "Best point (★)" in summary and "How sure:" in summary
    sure = point["vs_baseline"]["sure"]
    assert f"in {round(sure * 3)} of 3 replicas" in summary
    panel.grab().save(str(tmp_path / "sweep-panel.png"))
    # saved as the command line's --json writes it
    assert panel.save_json(tmp_path / "sweep.json")
    assert json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8")) == json.loads(json.dumps(direct))
    assert not panel.save_json(tmp_path)  # a folder: said beside the buttons, nothing written
    assert panel.apply_note.text().startswith(f"Not saved: {tmp_path} is a folder")


def test_the_best_values_are_applied_as_one_undoable_edit(qtbot: QtBot, panel: SweepPanel,
                                                         document: Document) -> None:
    _vary(panel, ("opened.within", "1d,10d"), ("behaviour.email.open", "0.3"))
    panel.contacts_spin.setValue(2000)
    panel.replicas_spin.setValue(2)
    panel.workers_spin.setValue(1)
    assert _run(qtbot, panel) == "completed", panel.status_text()
    best = panel.best_point()
    assert best is not None and panel.apply_button.isEnabled()
    journey = document.project.journey(JOURNEY)
    before = journey.step("opened").props["within"]
    entries = document.undo_stack.count()
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert document.undo_stack.count() == entries + 1
    from app.model.values import parse_duration
    assert journey.step("opened").props["within"] == parse_duration(best["values"]["opened.within"])
    assert "behaviour.email.open left out" in panel.apply_note.text()
    qtbot.waitUntil(lambda: panel.rows[0].current.text() == f"now {best['values']['opened.within']}")  # follows
    document.undo_stack.undo()
    assert journey.step("opened").props["within"] == before
    qtbot.waitUntil(lambda: panel.rows[0].current.text() == "now 5d")


def test_cancel_stops_the_sweep_and_its_worker_processes(qtbot: QtBot, panel: SweepPanel) -> None:
    _vary(panel, ("wait5.duration", "1d,2d,3d,4d,5d,6d,7d,8d"))
    panel.contacts_spin.setValue(200_000)
    panel.replicas_spin.setValue(2)
    panel.workers_spin.setValue(2)
    with qtbot.waitSignal(panel.sweepEnded, timeout=TIMEOUT_MS) as ended:
        assert panel.run()
        assert panel.is_running() and not panel.run_button.isEnabled()
        qtbot.waitUntil(lambda: len(multiprocessing.active_children()) > 0, timeout=60_000)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["cancelled"]
    assert panel.progress.text() == "Cancelled"
    assert multiprocessing.active_children() == []
    assert running_sweeps() == [] or all(j.wait(10_000) for j in running_sweeps())
    assert panel.doc is None and not panel.apply_button.isEnabled()


@pytest.mark.usefixtures("leftover_windows_closed")
def test_simulate_menu_opens_the_sweep_dock_and_closing_the_window_ends_the_sweep(
        qtbot: QtBot, tmp_path: Path, demo_bytes: bytes) -> None:
    from designer.main_window import MainWindow
    path = tmp_path / "w.jstudio"
    path.write_bytes(demo_bytes)
    window = MainWindow.open(path)
    assert window is not None
    window.show()
    qtbot.waitExposed(window)
    simulate = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Simulate")
    assert isinstance(simulate, QMenu)
    texts = [a.text() for a in simulate.actions()]
    assert texts.index("What-if S&weep…") > texts.index("&Simulate…")
    entry = simulate.actions()[texts.index("What-if S&weep…")]
    assert window.sweep._panel is None  # built when first shown
    entry.trigger()
    panel = window.sweep.panel
    assert window.sweep.dock.isVisible() and panel.isVisible()
    window.document.set_current_journey(window.document.project.journey(JOURNEY).id)
    _vary(panel, ("wait5.duration", "1d,2d,3d,4d,5d,6d"))
    panel.contacts_spin.setValue(200_000)
    panel.workers_spin.setValue(2)
    assert panel.run()
    qtbot.waitUntil(lambda: len(multiprocessing.active_children()) > 0, timeout=60_000)
    window.document.undo_stack.setClean()
    window.close()
    assert multiprocessing.active_children() == []
    assert running_sweeps() == []


def _point(values: dict[str, str], mean: float, best: bool = False) -> dict:
    return {"values": values, "effect": {"mean": mean, "low": mean - 0.01, "high": mean + 0.01},
            "vs_baseline": {"mean": mean - 0.02, "low": mean - 0.025, "high": mean - 0.015, "sure": 1.0,
                            "replicas": 5}, "best": best}


def test_three_properties_plot_one_line_each_through_the_best_point_on_category_axes(panel: SweepPanel) -> None:
    names = ("journey.quiet_hours", "opened.within", "behaviour.email.open")
    grid = [(q, w, o) for q in ("21:00-08:00", "none") for w in ("1d", "3d") for o in ("0.2", "0.3")]
    points = [_point(dict(zip(names, g)), 0.01 * (i + 1), best=g == ("none", "3d", "0.3"))
              for i, g in enumerate(grid)]
    doc = {"outcome": "purchase", "better": "higher", "runs": 9,
           "varied": [{"property": n, "values": sorted({g[i] for g in grid}, key=[g[i] for g in grid].index),
                       "current": "-"} for i, n in enumerate(names)],
           "baseline": {"values": dict(zip(names, ("21:00-08:00", "5d", "0.2133"))),
                        "effect": {"mean": 0.02, "low": 0.01, "high": 0.03}},
           "points": points}
    panel.show_doc(doc)
    assert len(panel.plots.plots) == 3
    assert [len(s) for s in panel.plots.series] == [1, 1, 1]  # the others held at the best point's values
    name, x, y = panel.plots.series[0][0]
    assert name == "the others as at the best point"
    assert list(x) == [0.0, 1.0]  # send hours: one position each, labelled as typed
    ticks = panel.plots.plots[0].getPlotItem().getAxis("bottom")._tickLevels
    assert [label for _, label in ticks[0]] == ["21:00-08:00", "none"]
    assert list(np.round(y, 6)) == [4.0, 8.0]  # (21:00-08:00, 3d, 0.3) and (none, 3d, 0.3), in points
    star = panel.plots.best_xy[0]
    assert star is not None and star[0] == 1.0 and star[1] == pytest.approx(8.0)
    assert "the 95% interval is above zero" in panel.summary.text()
    assert "better than the current settings in 5 of 5 replicas" in panel.summary.text()
    assert panel.apply_button.isEnabled()  # send hours and a time limit can be applied


def test_a_journey_with_errors_is_not_swept_and_the_panel_says_why(panel: SweepPanel, document: Document) -> None:
    from app.model.commands import SetProps
    journey = document.project.journey(JOURNEY)
    assert document.run(SetProps(journey.id, "reminder", {"content": "No such email"}))
    _vary(panel, ("wait5.duration", "1d,2d"))
    assert not panel.run()
    assert panel.status_text().startswith("'Re-engagement' has 1 error (see the Problems panel)")
    assert running_sweeps() == [] and panel.doc is None


def test_the_points_start_from_the_simulate_panel_s_assumptions(qtbot: QtBot, document: Document) -> None:
    from dataclasses import replace
    edited = replace(BehaviourModel(), messages={"offer": {"click": 0.5}, "welcome": {"open": 0.9}},
                     event_rates={**BehaviourModel().event_rates, "purchase": 0.004})
    panel = SweepPanel(document, lambda: edited)
    qtbot.addWidget(panel)
    reengagement, welcome = document.project.journey(JOURNEY), document.project.journey("Welcome series")
    here = panel.behaviour(reengagement)  # the canvas's journey: its own message overrides kept
    assert here.messages == {"offer": {"click": 0.5}} and here.event_rates["purchase"] == 0.004
    elsewhere = panel.behaviour(welcome)  # another journey: the Simulate panel's overrides are not its
    assert elsewhere.messages == {} and elsewhere.event_rates["purchase"] == 0.004
    _vary(panel, ("behaviour.messages.offer.click", "0.1,0.2"))
    assert panel.rows[0].current.text() == "now 0.5"


def test_a_best_point_surely_worse_than_the_current_settings_is_said_so_and_not_applied(panel: SweepPanel) -> None:
    worse = {"values": {"opened.within": "1d"}, "effect": {"mean": 0.002, "low": 0.001, "high": 0.003},
             "vs_baseline": {"mean": -0.001, "low": -0.0013, "high": -0.0005, "sure": 0.0, "replicas": 5},
             "best": True}
    doc = {"outcome": "purchase", "better": "higher", "runs": 2,
           "varied": [{"property": "opened.within", "values": ["1d"], "current": "5d"}],
           "baseline": {"values": {"opened.within": "5d"}, "effect": {"mean": 0.003, "low": 0.002, "high": 0.004}},
           "points": [worse]}
    panel.show_doc(doc)
    assert "better than the current settings in 0 of 5 replicas; the 95% interval is below zero: no point of " \
           "this grid beats the current settings, the best is worse." in panel.summary.text()
    assert panel.table.cells()[1][-1] == "★ best, worse than current"
    assert not panel.apply_button.isEnabled()
    panel._doc_journey = panel.journey_id()
    assert not panel.apply_best()
    assert panel.apply_note.text() == "Not applied: the best point is surely worse than the current settings."


def test_a_closed_panel_no_longer_follows_the_project(qtbot: QtBot, document: Document) -> None:
    from datetime import timedelta

    from PySide6.QtCore import QCoreApplication, QEvent

    from app.model.commands import SetProps
    panel = SweepPanel(document)
    panel.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    journey = document.project.journey(JOURNEY)
    assert document.run(SetProps(journey.id, "wait5", {"duration": timedelta(days=2)}))  # no deleted panel slot runs
    qtbot.wait(300)
