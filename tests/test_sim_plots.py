"""The simulation plots show the run's figures, export them exactly, and link the series cursor to the replay."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPalette
from PySide6.QtWidgets import QApplication

from app.codec.yamlio import read_journey_text
from app.resources import resource_path
from designer.simulation.branch_plots import NO_AB, NO_BRANCHES
from designer.simulation.plots import ComparePlot, FunnelPlot, PlotsPanel, SeriesPlot
from simulator.behaviour import BehaviourModel
from simulator.branches import AB_METRICS, ab_figures, branch_figures
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import RunRecord

DAY = 86_400


def ab_text() -> str:
    """The re-engagement template with an A/B test of the offer among those who opened the reminder."""
    src = resource_path("templates", "re-engagement.yaml").read_text(encoding="utf-8")
    out = src.replace("name: Re-engagement\n", "name: Re-engagement with an offer test\n", 1)
    out = out.replace("    yes: offer\n", "    yes: test\n", 1)
    out = out.replace(
        "  offer: {type: email, name: Discount offer, content: Discount offer email}\n",
        "  test: {type: ab-split, name: Offer subject test, split: [50, 50], A: offer, B: offer_b}\n"
        "  offer: {type: email, name: Offer 20% off, content: Discount offer email}\n"
        "  offer_b: {type: email, name: Offer come back, content: Discount offer email}\n", 1)
    assert out.count("ab-split") == 1 and "yes: test" in out
    return out


CHAIN = """\
format: journey/1
name: Plain chain
target: contacts
frequency: one-time
schedule: {start: 2027-01-11T09:00, end: 2027-01-25T00:00, timezone: Europe/Paris}
steps:
  hello: {type: email, name: Hello, content: Hello email, next: pause}
  pause: {type: wait, name: Wait 2 days, duration: 2d, next: text}
  text: {type: sms, name: Text, content: Hello text}
content:
  Hello email: {kind: email, status: ready, subject: Hi}
  Hello text: {kind: sms, status: ready, text: Hi}
"""


def make_record(text: str, n: int, replicas: int, seed: int = 3) -> RunRecord:
    j, contents, segments = read_journey_text(text)
    plan = compile_plan(j)
    pop = population_for(plan, n, seed)
    b = replace(BehaviourModel(), messages={"offer_b": {"open": 0.35, "click": 0.2}})
    res = simulate(plan, pop, b, seed, replicas, chunk_size=1000)
    return RunRecord.from_result(res, j, pop.spec, b, chunk_size=1000, content={c.name: c for c in contents},
                                 segments={s.name: s for s in segments})


@pytest.fixture(scope="module")
def ab_run() -> RunRecord:
    return make_record(ab_text(), 6000, 3)


@pytest.fixture(scope="module")
def single_run() -> RunRecord:
    return make_record(ab_text(), 3000, 1, seed=5)


@pytest.fixture(scope="module")
def chain_run() -> RunRecord:
    return make_record(CHAIN, 800, 2)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def num(text: str) -> float | None:
    return None if text == "" else float(text)


def shown(qtbot: Any, widget: Any, size: tuple[int, int] = (1000, 700)) -> Any:
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# --- funnel ------------------------------------------------------------------------------------------------

def test_funnel_bars_are_the_runs_entries_with_intervals(qtbot: Any, ab_run: RunRecord) -> None:
    plot = shown(qtbot, FunnelPlot())
    plot.set_record(ab_run)
    rows = ab_run.results["funnel"]
    entered = [r["entered"]["mean"] for r in rows]
    assert plot.chart.bar_values() == [entered]
    assert plot.chart.categories == [r["name"] for r in rows[:-1]] + ["Completed (end of path)"]
    total = max(entered)
    assert total == pytest.approx(sum(ab_run.results["time_series"]["entered"]["mean"]))  # the journey's entries
    for text, e in zip(plot.chart.label_texts(), entered):
        assert text == f"{e:,.0f}  ({e / total * 100:.1f} %)"
    [whiskers] = plot.chart.whiskers  # on the rows whose interval is not a point
    spread = [r for r in rows if r["entered"]["high"] > r["entered"]["low"]]
    assert 0 < len(spread) < len(rows)  # the entry step's count is the same in every replica (same population)
    assert list(whiskers.opts["x"]) == [r["entered"]["mean"] for r in spread]
    assert np.allclose(whiskers.opts["left"], [r["entered"]["mean"] - r["entered"]["low"] for r in spread])
    assert np.allclose(whiskers.opts["right"], [r["entered"]["high"] - r["entered"]["mean"] for r in spread])
    assert [b.entered for b in plot.data()] == entered
    assert plot.has_plot() and "6,000" not in plot.subtitle.text() and f"{total:,.0f}" in plot.subtitle.text()


def test_one_replica_has_no_whiskers(qtbot: Any, single_run: RunRecord) -> None:
    plot = shown(qtbot, FunnelPlot())
    plot.set_record(single_run)
    assert plot.chart.whiskers == [] and "no interval" in plot.subtitle.text()


def test_funnel_csv_has_every_figure_unrounded(qtbot: Any, ab_run: RunRecord, tmp_path: Path) -> None:
    plot = shown(qtbot, FunnelPlot())
    plot.set_record(ab_run)
    path = tmp_path / "funnel.csv"
    plot.export_csv(path)
    header, rows = read_csv(path)
    assert header[:4] == ["step", "name", "type", "share_of_entered"]
    funnel = ab_run.results["funnel"]
    assert [r[0] for r in rows] == [r["step"] for r in funnel]
    total = max(r["entered"]["mean"] for r in funnel)
    fractional = 0
    for line, r in zip(rows, funnel):
        assert float(line[3]) == r["entered"]["mean"] / total
        for metric in ("entered", "sent", "opened", "clicked", "path_A", "yes", "goal"):
            for part in ("mean", "low", "high"):
                assert num(line[header.index(f"{metric}_{part}")]) == r[metric][part]
                fractional += r[metric][part] != round(r[metric][part])
    assert fractional > 0  # means over 3 replicas: the figures are not whole, and the CSV keeps them


# --- time series -------------------------------------------------------------------------------------------

def test_series_daily_and_cumulative_curves_are_the_results(qtbot: Any, ab_run: RunRecord) -> None:
    plot = shown(qtbot, SeriesPlot())
    plot.set_record(ab_run)
    ts = ab_run.results["time_series"]
    n = len(ts["days"])
    start = plot.time_range()[0]
    assert plot.time_range() == (start, ab_run.horizon)
    x, y = plot.curves["opened"].getData()
    assert list(x) == [min(start + DAY * d, ab_run.horizon) for d in range(n + 1)]
    assert list(y) == ts["opened"]["mean"]
    assert set(plot.curves) == {"entered", "sent", "opened", "clicked", "goals", "exited"}
    assert set(plot.bands) == set(plot.curves)  # 3 replicas: shaded intervals
    qtbot.mouseClick(plot.cumulative_button, Qt.MouseButton.LeftButton)
    assert plot.mode() == "cumulative"
    _, y = plot.curves["goals"].getData()
    assert np.allclose(y, np.concatenate(([0], np.cumsum(ts["goals"]["mean"]))))
    assert y[-1] == pytest.approx(sum(ts["goals"]["mean"]))
    assert plot.bands == {}
    with pytest.raises(ValueError, match="unknown series mode"):
        plot.set_mode("weekly")


def test_series_cursor_follows_set_cursor_and_clicks_ask_for_a_time(qtbot: Any, ab_run: RunRecord) -> None:
    plot = shown(qtbot, SeriesPlot())
    plot.set_record(ab_run)
    start, end = plot.time_range()
    t = start + 9 * DAY + 3_600
    with qtbot.assertNotEmitted(plot.timeRequested):
        plot.set_cursor(t)
    assert plot.cursor() == t and plot.cursor_line.value() == t and plot.cursor_line.isVisible()

    box = plot.box
    view = plot.plot
    wanted = start + 30 * DAY
    y_mid = sum(box.viewRange()[1]) / 2
    pos = view.mapFromScene(box.mapViewToScene(QPointF(wanted, y_mid)))
    seconds_per_px = (box.viewRange()[0][1] - box.viewRange()[0][0]) / box.width()
    with qtbot.waitSignal(plot.timeRequested) as sig:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    got = sig.args[0]
    assert abs(got - wanted) <= seconds_per_px
    assert plot.cursor() == got and plot.cursor_line.value() == got

    # dragging scrubs: each move asks for the time under the mouse; the last one is where the mouse stops
    later = view.mapFromScene(box.mapViewToScene(QPointF(start + 50 * DAY, y_mid)))
    times: list[int] = []
    plot.timeRequested.connect(times.append)
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=pos)
    for k in range(1, 11):
        p = QPointF(pos + (later - pos) * (k / 10))
        ev = QMouseEvent(QEvent.Type.MouseMove, p, vp.mapToGlobal(p), Qt.MouseButton.NoButton,
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=later)
    assert len(times) >= 2 and times == sorted(times)
    assert abs(times[-1] - (start + 50 * DAY)) <= seconds_per_px
    # clicks outside the simulated period are held to it
    plot.timeRequested.disconnect(times.append)
    with qtbot.waitSignal(plot.timeRequested) as sig:
        plot._scrub(float(end + 5 * DAY))
    assert sig.args == [end]
    plot.set_cursor(None)
    assert not plot.cursor_line.isVisible()


def test_series_csv_has_each_day_and_the_running_totals(qtbot: Any, ab_run: RunRecord, tmp_path: Path) -> None:
    plot = shown(qtbot, SeriesPlot())
    plot.set_record(ab_run)
    plot.export_csv(tmp_path / "series.csv")
    header, rows = read_csv(tmp_path / "series.csv")
    ts = ab_run.results["time_series"]
    assert [r[0] for r in rows] == ts["days"]
    for metric in ("entered", "sent", "opened", "clicked", "goals", "exited"):
        for part in ("mean", "low", "high"):
            assert [num(r[header.index(f"{metric}_{part}")]) for r in rows] == ts[metric][part]
        cumulative = [float(r[header.index(f"{metric}_cumulative")]) for r in rows]
        assert cumulative == list(np.cumsum(ts[metric]["mean"]))


# --- branches and A/B tests --------------------------------------------------------------------------------

def test_branch_plot_shows_each_branch_and_exports_its_figures(qtbot: Any, ab_run: RunRecord,
                                                               tmp_path: Path) -> None:
    panel = shown(qtbot, PlotsPanel())
    panel.set_record(ab_run)
    panel.setCurrentWidget(panel.branches)
    plot = panel.branches
    expected = branch_figures(ab_run.trace(), ab_run.plan(), ab_run.results)
    assert plot.data() == expected and [b.step for b in expected] == ["opened", "test"]
    funnel = {r["step"]: r for r in ab_run.results["funnel"]}
    contacts, outcomes = plot.charts[0], plot.charts[1]
    assert contacts.bar_values() == [[funnel["opened"]["yes"]["mean"], funnel["opened"]["no"]["mean"]]]
    yes, no = expected[0].paths
    assert outcomes.bar_values()[0] == pytest.approx([100 * yes.messaged / yes.taken, 100 * yes.opened / yes.taken,
                                                      100 * yes.clicked / yes.taken, 100 * yes.goal / yes.taken,
                                                      100 * yes.exited / yes.taken], rel=1e-12)
    assert len(plot.charts) == 4 and contacts.whiskers  # 3 replicas: intervals on the contacts
    plot.export_csv(tmp_path / "branches.csv")
    header, rows = read_csv(tmp_path / "branches.csv")
    assert [(r[0], r[3]) for r in rows] == [("opened", "yes"), ("opened", "no"), ("test", "A"), ("test", "B")]
    for r, (b, p) in zip(rows, [(b, p) for b in expected for p in b.paths]):
        assert float(r[header.index("contacts_mean")]) == p.contacts.mean == funnel[b.step][
            "yes" if p.port == "yes" else "no" if p.port == "no" else f"path_{p.port}"]["mean"]
        for k in ("messaged", "opened", "clicked", "goal", "exited", "delivered"):
            assert int(r[header.index(k)]) == getattr(p, k)
        assert float(r[header.index("opened_share")]) == p.opened / p.taken


def test_ab_plot_shows_rates_and_the_difference_test(qtbot: Any, ab_run: RunRecord, tmp_path: Path) -> None:
    panel = shown(qtbot, PlotsPanel())
    panel.set_record(ab_run)
    panel.setCurrentWidget(panel.ab)
    plot = panel.ab
    [test] = ab_figures(ab_run.trace(), compile_plan(ab_run.journey(), horizon=ab_run.horizon), ab_run.results)
    assert plot.data() == [test]
    a, b = test.versions
    assert (a.message, b.message) == ("Offer 20% off", "Offer come back")
    [chart] = plot.charts
    assert chart.bar_values() == [[100 * v.rate(m).value for m in AB_METRICS] for v in (a, b)]
    text = plot.texts[0].text()
    opened = next(d for d in test.differences if d.metric == "open_rate")
    assert f"{opened.difference * 100:+.1f} pts" in text and "B vs A" in text
    assert "replica 0" in plot.subtitle.text()
    plot.export_csv(tmp_path / "ab.csv")
    header, rows = read_csv(tmp_path / "ab.csv")
    assert len(rows) == 2 * len(AB_METRICS)
    for r in rows:
        v = a if r[header.index("version")] == "A" else b
        rate = v.rate(r[header.index("metric")])
        assert (int(r[header.index("successes")]), int(r[header.index("trials")])) == (rate.successes, rate.trials)
        assert float(r[header.index("rate")]) == rate.value
        if v is b:
            d = next(x for x in test.differences if x.metric == r[header.index("metric")])
            assert float(r[header.index("p_value")]) == d.p_value and float(r[header.index("difference")]) == \
                d.difference
        else:
            assert r[header.index("p_value")] == ""


# --- export, empty states, palette, compare -----------------------------------------------------------------

def test_png_export_writes_the_page_at_its_size(qtbot: Any, ab_run: RunRecord, tmp_path: Path) -> None:
    panel = shown(qtbot, PlotsPanel(), (1100, 720))
    panel.set_record(ab_run)
    for i, plot in enumerate(panel.plots()):
        panel.setCurrentIndex(i)
        qtbot.waitExposed(plot)
        path = tmp_path / f"{plot.kind}.png"
        size = plot.export_png(path)
        image = QImage(str(path))
        ratio = plot.page.devicePixelRatioF()
        assert not image.isNull() and image.size() == size
        assert (image.width(), image.height()) == (round(plot.page.width() * ratio),
                                                    round(plot.export_height() * ratio))
        if plot in (panel.funnel, panel.series):
            assert plot.export_height() == plot.page.height()  # the whole page
        else:  # down to the last card
            card = plot.cards[-1]
            bottom = card.mapTo(plot.page, card.rect().bottomLeft()).y()
            assert plot.export_height() == min(bottom + 12, plot.page.height()) > bottom
        assert image.width() > 500 and image.height() > 300
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        assert len(colours) > 20, plot.kind  # bars, text and lines, not a blank page


def test_empty_states_say_why_and_disable_export(qtbot: Any, chain_run: RunRecord, ab_run: RunRecord) -> None:
    panel = shown(qtbot, PlotsPanel())
    for plot in panel.plots():
        assert not plot.has_plot() and "No run" in plot.message.text()
        assert not plot.png_button.isEnabled() and not plot.csv_button.isEnabled()
        with pytest.raises(ValueError, match="nothing to export"):
            plot.export_csv("unused.csv")
    panel.set_record(chain_run)  # a journey without branches or A/B splits
    assert panel.funnel.has_plot() and panel.series.has_plot()
    assert not panel.branches.has_plot() and panel.branches.message.text() == NO_BRANCHES
    assert not panel.ab.has_plot() and panel.ab.message.text() == NO_AB
    assert panel.branches.charts == [] and panel.ab.charts == []
    panel.set_record(ab_run)
    assert all(p.has_plot() for p in panel.plots()) and all(p.csv_button.isEnabled() for p in panel.plots())
    panel.set_record(None)
    assert not any(p.has_plot() for p in panel.plots()) and panel.record() is None


def test_panel_relays_the_cursor_both_ways(qtbot: Any, ab_run: RunRecord) -> None:
    panel = shown(qtbot, PlotsPanel())
    panel.set_record(ab_run)
    start = panel.series.time_range()[0]
    panel.set_cursor(start + DAY)
    assert panel.series.cursor() == start + DAY
    with qtbot.waitSignal(panel.timeRequested) as sig:
        panel.series._scrub(start + 2.4 * DAY)
    assert sig.args == [start + round(2.4 * DAY)]


def test_plots_follow_a_dark_palette(qtbot: Any, ab_run: RunRecord) -> None:
    panel = shown(qtbot, PlotsPanel())
    panel.set_record(ab_run)
    dark = QPalette(panel.palette())
    for role, c in ((QPalette.ColorRole.Window, "#1f2227"), (QPalette.ColorRole.Base, "#16181c"),
                    (QPalette.ColorRole.Text, "#e6e6e6"), (QPalette.ColorRole.WindowText, "#e6e6e6")):
        dark.setColor(role, QColor(c))
    panel.setPalette(dark)
    chart = panel.funnel.chart
    qtbot.waitUntil(lambda: chart.backgroundBrush().color() == QColor("#16181c"))
    assert all(t.color == QColor("#e6e6e6") for t in chart.texts)
    assert panel.series.plot.backgroundBrush().color() == QColor("#16181c")
    assert panel.funnel.chart.bar_values() == [[r["entered"]["mean"] for r in ab_run.results["funnel"]]]
    # the exported page is one dark surface behind the plots
    assert panel.funnel.page.palette().color(QPalette.ColorRole.Window) == QColor("#16181c")


def test_compare_matches_steps_by_id(qtbot: Any, ab_run: RunRecord, tmp_path: Path) -> None:
    plain = make_record(resource_path("templates", "re-engagement.yaml").read_text(encoding="utf-8"), 3000, 2)
    plot = shown(qtbot, ComparePlot())
    assert not plot.has_plot()
    plot.set_records(plain, ab_run, ("Plain", "With test"))
    a = {r["step"]: r["entered"] for r in plain.results["funnel"]}
    b = {r["step"]: r["entered"] for r in ab_run.results["funnel"]}
    steps = [sid for sid, _, _ in plot.data()]
    assert steps == ["reminder", "wait5", "opened", "offer", "sms", "test", "offer_b", "end"]
    assert plot.chart.bar_values() == [[a[s]["mean"] if s in a else 0.0 for s in steps],
                                       [b[s]["mean"] if s in b else 0.0 for s in steps]]
    assert plot.chart.label_texts()[steps.index("test")] == "not in this run"
    plot.export_csv(tmp_path / "compare.csv")
    header, rows = read_csv(tmp_path / "compare.csv")
    assert header[2] == "Plain_mean" and header[-1] == "difference"
    for r in rows:
        sid = r[0]
        assert num(r[2]) == (a[sid]["mean"] if sid in a else None)
        assert num(r[5]) == (b[sid]["mean"] if sid in b else None)
        assert num(r[-1]) == (b[sid]["mean"] - a[sid]["mean"] if sid in a and sid in b else None)
    assert "Plain:" in plot.summary.text() and "With test:" in plot.summary.text()
    size = plot.export_png(tmp_path / "compare.png")
    assert QImage(str(tmp_path / "compare.png")).size() == size and size.width() > 0
    plot.set_records(None, ab_run)
    assert not plot.has_plot()


def test_a_damaged_trace_is_reported_not_raised(qtbot: Any, ab_run: RunRecord) -> None:
    broken = replace(ab_run, trace_npz=b"not an npz", trace_digest="other")
    panel = shown(qtbot, PlotsPanel())
    panel.set_record(broken)
    assert panel.funnel.has_plot()  # the results are intact
    assert not panel.branches.has_plot() and "Could not read this run's trace" in panel.branches.message.text()
    assert "Could not read" in panel.ab.message.text()
