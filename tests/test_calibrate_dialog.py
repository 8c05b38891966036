"""The Calibrate dialog: the CSV's header fills the choices, the calibration runs off the GUI thread and shows the
predicted-vs-observed plot (points, interval bars, the y = x line), coverage and the table; the fitted behaviour
is saved as a file `simulate --behaviour` reads, or used in the Simulate panel; Cancel stops a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from designer.calibrate_dialog import CalibrateDialog
from simulator.behaviour_file import read_behaviour_file
from tests.calibrate_helpers import generate
from tests.window_helpers import leftover_windows_closed, template_window

__all__ = ["leftover_windows_closed"]


@pytest.fixture(scope="module")
def past(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("past") / "campaign.csv", 6000, 4)


def _filled(qtbot: object, past: Path, **kw: object) -> CalibrateDialog:
    d = CalibrateDialog(**kw)  # type: ignore[arg-type]
    qtbot.addWidget(d)  # type: ignore[attr-defined]
    assert d.load(str(past))
    assert d.arm_combo.currentText() == "arm" and d.control_combo.currentText() == "No email"
    assert sorted(d.control_combo.itemText(i) for i in range(d.control_combo.count())) == \
        ["Email A", "Email B", "No email"]
    d.outcome_rows[0][1].setCurrentText("bought")
    d.outcome_rows[1][1].setCurrentText("visited")
    d.by_list.findItems("tier", Qt.MatchFlag.MatchExactly)[0].setCheckState(Qt.CheckState.Checked)
    return d


def test_the_dialog_fits_plots_and_saves_a_behaviour_file(qtbot: object, past: Path, tmp_path: Path) -> None:
    used: list[Any] = []
    d = _filled(qtbot, past, use_behaviour=used.append)
    d.show()
    assert d.run_button.isEnabled() and not d.save_button.isEnabled()
    d.run()
    assert d.job is not None and d.cancel_button.isVisible() and not d.run_button.isEnabled()
    qtbot.waitUntil(lambda: d.job is None, timeout=60_000)  # type: ignore[attr-defined]
    assert d.result is not None, d.status.text()
    doc = d.result.to_json()
    items = d.plot.items
    assert "diagonal" in items and ("inside_points" in items or "outside_points" in items)
    drawn = sum(len(items[k].data) for k in ("inside_points", "outside_points") if k in items)
    assert drawn == len(doc["groups"]) == d.table.rowCount() == 3 * 3 * 2
    assert f"{doc['coverage'] * 100:.0f}%" in d.plot.summary.text() and "mean absolute error" in d.plot.summary.text()
    assert d.save_button.isEnabled()
    d.grab().save(str(tmp_path / "calibrate.png"))
    out = tmp_path / "fitted.yaml"
    assert d.save(str(out))
    model = read_behaviour_file(out)
    assert model.sources["event_rates.purchase"]["file"] == str(past)
    d.use()
    assert used and used[0] == d.result.model


def test_a_bad_choice_is_one_line_and_nothing_runs(qtbot: object, past: Path) -> None:
    d = _filled(qtbot, past)
    d.outcome_rows[0][1].setCurrentText("tier")  # not 0/1
    d.run()
    qtbot.waitUntil(lambda: d.job is None, timeout=30_000)  # type: ignore[attr-defined]
    assert d.result is None and "column 'tier'" in d.status.text() and "0 or 1" in d.status.text()
    for _, column in d.outcome_rows:
        column.setCurrentText("(none)")
    d.run()
    assert d.job is None and "at least one outcome" in d.status.text()
    assert not d.load(str(past.parent / "missing.csv")) and "cannot read" in d.status.text()


def test_cancel_stops_a_calibration(qtbot: object, past: Path) -> None:
    d = _filled(qtbot, past)
    d.run()
    job = d.job
    assert job is not None
    d.cancel()
    qtbot.waitUntil(lambda: d.job is None, timeout=60_000)  # type: ignore[attr-defined]
    assert job.wait(10_000)
    assert d.status.text() == "Cancelled." and d.result is None


def test_the_main_window_has_the_menu_entry_and_uses_the_fit_in_the_simulate_panel(
        qtbot: object, tmp_path: Path, leftover_windows_closed: None) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    menus = [m.menu() for m in w.menuBar().actions()]
    texts = [a.text() for menu in menus if isinstance(menu, QMenu) for a in menu.actions()]
    assert "&Calibrate from a Past Campaign…" in texts
    dialog = w.calibrate.show()
    assert dialog.isVisible()
    from simulator.behaviour import BehaviourModel
    fitted = BehaviourModel(event_rates={"purchase": 0.0123})
    w.calibrate._use(fitted)
    assert w.simulation.run_panel.behaviour_table.behaviour().event_rates["purchase"] == pytest.approx(0.0123)
    dialog.close()
    w.document.undo_stack.setClean()
    w.close()


def test_group_by_offers_only_attribute_columns(qtbot: object, past: Path) -> None:
    d = _filled(qtbot, past)
    shown = {d.by_list.item(i).text() for i in range(d.by_list.count()) if not d.by_list.item(i).isHidden()}
    assert not shown & {"arm", "bought", "visited"} and "tier" in shown
    d.outcome_rows[2][1].setCurrentText("tier")  # a column taken as an outcome is no longer offered, nor kept
    tier = d.by_list.findItems("tier", Qt.MatchFlag.MatchExactly)[0]
    assert tier.isHidden() and tier.checkState() == Qt.CheckState.Unchecked
    d.outcome_rows[2][1].setCurrentText("(none)")
    assert not tier.isHidden()
