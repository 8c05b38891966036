"""The simulation workspace in the main window, driven offscreen as a user would: start a run from the panel,
watch it finish, move the replay's timeline and read the tiles and links, check the funnel plot, compare two
saved runs and export the HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from designer.main_window import MainWindow
from app.semantics import outcomes as oc
from app.semantics.plan import compile_plan
from tests.window_helpers import template_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]
DAY = 86_400


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    return template_window(qtbot, tmp_path / "sim.jstudio", "re-engagement.yaml")


def start_run(qtbot, w: MainWindow, *, contacts: int, replicas: int, seed: int) -> int:
    """Set the run panel up and click Run; returns the saved run's id once its replay is on the canvas."""
    panel = w.simulation.run_panel
    panel.set_population_kind("synthetic")
    panel.contacts_spin.setValue(contacts)
    panel.replicas_spin.setValue(replicas)
    panel.seed_spin.setValue(seed)
    progress: list[int] = []
    panel.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(w.simulation.runOpened, timeout=120_000) as opened:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert progress and progress[-1] == panel.progress.maximum()
    assert not panel.is_running()
    assert opened.args[0] is not None
    return int(opened.args[0])


def test_run_replay_plot_compare_and_report(qtbot, window: MainWindow, tmp_path: Path) -> None:
    ws = window.simulation
    run_id = start_run(qtbot, window, contacts=3_000, replicas=2, seed=11)
    assert [r.id for r in window.document.runs()] == [run_id]
    record = window.document.load_run(run_id)
    trace = record.trace()
    plan = compile_plan(record.journey(), horizon=record.horizon)

    # Move the timeline to the middle of day 3: each tile shows the trace's figures at that moment.
    t = trace.t0 + 2 * DAY + 12 * 3600
    ws.replay_bar.timeline.set_time(t)
    rel = t - trace.t0
    v, m = trace.visits, trace.messages
    checked = 0
    for i, sp in enumerate(plan.steps):
        tile = window.scene.tile_item(sp.id)
        assert tile is not None
        here = v["step"] == i
        waiting = int(np.count_nonzero(here & (v["t_enter"] <= rel) & (v["t_leave"] > rel)))
        text = tile.status_text
        if sp.type in ("email", "sms", "push"):
            sent = int(np.count_nonzero((m["step"] == i) & (m["sent"] >= 0) & (m["sent"] <= rel)))
            opened = int(np.count_nonzero((m["step"] == i) & (m["opened"] >= 0) & (m["opened"] <= rel)))
            assert f"{waiting:,} waiting" in text and f"{sent:,} sent" in text and f"{opened:,} opened" in text
            checked += 1
        elif sp.type == "if-then":
            yes = int(np.count_nonzero(here & (v["outcome"] == oc.YES) & (v["t_leave"] <= rel)))
            assert f"{yes:,} yes" in text
            checked += 1
    assert checked >= 3
    # links carry the flow that has passed: into each step, what entered it by then (the entry step excepted)
    flows_in: dict[str, int] = {}
    for edge in window.scene.edge_items():
        if edge.target is not None:
            flows_in[edge.target_id] = flows_in.get(edge.target_id, 0) + (edge.flow or 0)
    for target, flow in flows_in.items():
        i = plan.step_names().index(target)
        entered = int(np.count_nonzero((v["step"] == i) & (v["t_enter"] <= rel)))
        assert flow == entered
    assert any(flow > 0 for flow in flows_in.values())
    # hover: the figures with their intervals over the 2 replicas
    qtbot.wait(250)  # the tooltips are written once the timeline rests
    email = next(sp.id for sp in plan.steps if sp.type == "email")
    assert "over 2 replicas by the end of day 3" in window.scene.tile_item(email).tooltip()

    # The funnel plot holds the run's numbers; the time-series cursor follows the timeline.
    bars = {bar.step: bar for bar in ws.plots.funnel.data()}
    rows = [row for row in record.results["funnel"] if row["step"] in bars]
    assert len(rows) >= len(plan.steps)
    for row in rows:
        bar = bars[row["step"]]
        assert (bar.entered, bar.low, bar.high) == pytest.approx(
            (row["entered"]["mean"], row["entered"]["low"], row["entered"]["high"]))
    assert ws.plots.series.cursor() == pytest.approx(t, abs=60)

    # A second run with other assumptions, then both compared side by side.
    second = start_run(qtbot, window, contacts=3_000, replicas=2, seed=12)
    ws.compare(run_id, second)
    assert ws.compare_windows
    compare = ws.compare_windows[-1]
    qtbot.waitExposed(compare)
    assert compare.table.rowCount() > 0
    csv_path = tmp_path / "compare.csv"
    compare.export_csv(csv_path)
    assert csv_path.read_text().splitlines()[0].startswith("step,name,type,status,metric")

    # The HTML report of the first run.
    out = ws.export_report(run_id, tmp_path / "report.html")
    assert out is not None
    html = out.read_text()
    assert "<svg" in html and record.journey().name in html


def test_closing_the_replay_restores_the_tiles(qtbot, window: MainWindow) -> None:
    ws = window.simulation
    tile = window.scene.tile_items()[0]
    summary = tile.status_text
    start_run(qtbot, window, contacts=500, replicas=1, seed=3)
    assert ws.replay.active and tile.status_text != summary
    ws.replay_bar.close_button.click()
    assert not ws.replay.active
    assert tile.status_text == summary
    assert all(e.flow is None for e in window.scene.edge_items())


def test_a_replay_on_a_laptop_screen_keeps_the_window_s_width_and_every_figure_of_a_tile(qtbot,
                                                                                        window: MainWindow) -> None:
    """1366 px wide: opening a run neither widens the window (long replay lines wrap) nor cuts a tile's
    figures (whole parts on two lines; '0 waiting' gives way first; the exact values are in the tooltip)."""
    from designer.canvas.items import STATUS_SEP, TEXT_W, fit_status
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366)
    start_run(qtbot, window, contacts=2_000, replicas=1, seed=5)
    ws = window.simulation
    ws.replay_bar.timeline.set_time(ws.replay_bar.timeline.horizon)
    qtbot.wait(50)
    assert window.width() == 1366 and window.minimumSizeHint().width() <= 1366
    metrics = window.scene.theme.status_metrics
    for tile in window.scene.tile_items():
        lines = tile.status_lines()
        assert lines and not any(line.endswith("…") for line in lines), (tile.step_id, lines)
        shown = STATUS_SEP.join(lines).split(STATUS_SEP)
        full = tile.status_text.split(STATUS_SEP)
        assert set(shown) <= set(full) and all(p in shown for p in full if not p.startswith("0 ")), (shown, full)
    # the rule itself: parts are never cut; zero counts give way first; only a part too long alone is elided
    narrow = metrics.horizontalAdvance("300k sent") + 1
    assert fit_status("0 waiting · 300k sent", metrics, narrow, 1) == ["300k sent"]
    assert fit_status("0 waiting · 300k sent", metrics, TEXT_W, 1) == ["0 waiting · 300k sent"]
    assert fit_status("1,234,567,890 completed", metrics, 40, 1)[0].endswith("…")
