"""The plots of the simulation workspace: the funnel, the daily series with a cursor linked to the replay
timeline, and `PlotsPanel`, the tabs that hold them with the branch split and A/B comparison views
(designer.simulation.branch_plots). Two runs' funnels side by side are in designer.simulation.compare_plot (and
re-exported here). Every plot exports to PNG and its figures to CSV.

All widgets take a saved run (`simulator.runs.RunRecord`); the figures are the run's results (means and 95 %
intervals over replicas) and, for branches and A/B tests, replica 0's trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QButtonGroup, QPushButton, QTabWidget, QVBoxLayout, QWidget

from app.model.registry import REGISTRY
from designer.simulation.branch_plots import ABPlot, BranchPlot
from designer.simulation.compare_plot import ComparePlot
from designer.simulation.plot_widgets import (NO_RUN, SERIES_COLORS, BarSeries, HBarChart, PlotView, Table, ValueAxis,
                                              estimate, fmt_count, fmt_pct, journey_name, plot_font, replicas_of,
                                              step_label, style_plot)
from simulator.runs import RunRecord

DAY = 86_400
SERIES: tuple[tuple[str, str], ...] = (("entered", "Entered"), ("sent", "Sent"), ("opened", "Opened"),
                                       ("clicked", "Clicked"), ("goals", "Conversions (goal)"), ("exited", "Exited"))
COMPLETED_COLOR = "#16a34a"


def _utc(text: str) -> int:
    """UTC seconds of a results time ('2026-12-01T08:00:00Z')."""
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def _replicas_note(record: RunRecord) -> str:
    k = replicas_of(record)
    return f"whiskers: 95 % interval over {k} replicas" if k >= 2 else "one replica, so no interval"


# --- funnel ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunnelBar:
    """One bar of the funnel: a step and the contacts entering it (mean and 95 % interval)."""

    step: str
    label: str
    type: str
    entered: float
    low: float
    high: float
    share: float  # of the contacts entering the journey


class FunnelPlot(PlotView):
    """Contacts entering each step, in path order, as horizontal bars labelled with the count and the share of
    the journey's entries; 95 % whiskers when the run has 2 or more replicas; the end row shows completions."""

    kind = "funnel"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NO_RUN, parent=parent)
        self.chart = HBarChart()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        self.record: RunRecord | None = None
        self._bars: list[FunnelBar] = []

    def set_record(self, record: RunRecord | None) -> None:
        """Show a run's funnel (None: the empty state)."""
        self.record = record
        self._redraw()

    def data(self) -> list[FunnelBar]:
        """The bars drawn, top to bottom."""
        return list(self._bars)

    def _redraw(self) -> None:
        r = self.record
        rows = list(r.results.get("funnel") or ()) if r is not None else []
        if r is None or not rows:
            self._bars = []
            self.show_message(NO_RUN if r is None else "This run has no funnel figures.")
            return
        total = max(estimate(row, "entered")[0] for row in rows)  # every path starts at the entry step
        self._bars = []
        for row in rows:
            mean, low, high = estimate(row, "entered")
            self._bars.append(FunnelBar(str(row["step"]), step_label(row), str(row.get("type", "")), mean, low,
                                        high, mean / total if total else float("nan")))
        colors = [self.colors.tile(COMPLETED_COLOR if b.type == "end" else
                                   (REGISTRY[b.type].color if b.type in REGISTRY else "#6b7280"))
                  for b in self._bars]
        interval = replicas_of(r) >= 2
        series = BarSeries("Entered", [b.entered for b in self._bars], colors,
                           [b.low for b in self._bars] if interval else None,
                           [b.high for b in self._bars] if interval else None,
                           [f"{fmt_count(b.entered)}  ({fmt_pct(b.share)})" for b in self._bars])
        self.chart.set_bars([b.label for b in self._bars], [series], self.colors, axis_label="Contacts",
                            row_px=24)
        self.show_plot(f"Funnel · {journey_name(r)}",
                       f"Contacts entering each step in path order, and their share of the {fmt_count(total)} who "
                       f"entered the journey; {_replicas_note(r)}.")

    def table(self) -> Table:
        """Per step (the end last): share of entries, then every funnel figure's mean, low and high."""
        assert self.record is not None
        rows = list(self.record.results.get("funnel") or ())
        metrics = list(dict.fromkeys(k for row in rows for k, v in row.items() if isinstance(v, Mapping)))
        header = ["step", "name", "type", "share_of_entered"] + [f"{m}_{p}" for m in metrics
                                                                 for p in ("mean", "low", "high")]
        out = []
        for bar, row in zip(self._bars, rows):
            line: list[Any] = [row["step"], row.get("name"), row.get("type"), bar.share]
            for m in metrics:
                est = row.get(m) or {}
                line += [est.get("mean"), est.get("low"), est.get("high")]
            out.append(line)
        return header, out


# --- time series -------------------------------------------------------------------------------------------

class _ScrubBox(pg.ViewBox):
    """A view box where a left click or drag asks for the time under the mouse (no pan, no zoom)."""

    def __init__(self, on_time: Callable[[float], None]) -> None:
        super().__init__(enableMenu=False)
        self._on_time = on_time
        self.setMouseEnabled(x=False, y=False)

    def mouseClickEvent(self, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._on_time(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._on_time(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()


class DayAxis(pg.AxisItem):
    """The simulated days (UTC days from the journey start), a tick each day, week, fortnight... as room allows;
    labels '8 Dec', with the year on the first tick and when it changes."""

    STEPS = (1, 2, 7, 14, 28, 56, 112, 364)

    def __init__(self) -> None:
        super().__init__("bottom")
        self.t0 = 0
        self._step = 1
        self.enableAutoSIPrefix(False)
        self.setStyle(hideOverlappingLabels=48)  # the first date may reach a little past the plot's left edge

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        if not (maxVal > minVal) or size <= 0:
            return []
        days = (maxVal - minVal) / DAY
        fit = max(size / 72, 1.0)  # a label needs about 72 px
        self._step = step = next((s for s in self.STEPS if days / s <= fit), self.STEPS[-1])
        first, last = math.ceil((minVal - self.t0) / DAY), math.floor((maxVal - self.t0) / DAY)
        major = [float(self.t0 + k * DAY) for k in range(first, last + 1) if k % step == 0]
        minor = [float(self.t0 + k * DAY) for k in range(first, last + 1)] if 1 < step <= 14 else []
        return [(float(step * DAY), major)] + ([(float(DAY), minor)] if minor else [])

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self._step > 1 and spacing < self._step * DAY:
            return [""] * len(values)  # the daily minor ticks carry no label
        out, year = [], None
        for v in values:
            d = datetime.fromtimestamp(v, timezone.utc)
            out.append(f"{d.day} {d:%b}" + (f" {d.year}" if d.year != year else ""))
            year = d.year
        return out


class SeriesPlot(PlotView):
    """Entries, sends, opens, clicks, conversions and exits per day or cumulated, with a cursor at the replay
    time: `set_cursor(t)` moves it; a click or drag in the plot emits `timeRequested(t)` (UTC seconds)."""

    kind = "over-time"
    timeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NO_RUN, parent=parent)
        self.daily_button = QPushButton("Daily")
        self.cumulative_button = QPushButton("Cumulative")
        self.mode_group = QButtonGroup(self)
        for i, b in enumerate((self.daily_button, self.cumulative_button)):
            b.setCheckable(True)
            self.mode_group.addButton(b)
            self.controls.insertWidget(i, b)
        self.daily_button.setChecked(True)
        self.mode_group.buttonClicked.connect(
            lambda b: self.set_mode("daily" if b is self.daily_button else "cumulative"))
        self.box = _ScrubBox(self._scrub)
        self.axis = DayAxis()
        self.plot = pg.PlotWidget(viewBox=self.box, axisItems={"bottom": self.axis, "left": ValueAxis("left")})
        self.plot.setCursor(Qt.CursorShape.CrossCursor)
        self.plot.setMinimumHeight(200)
        self.plot.setToolTip("Click or drag to move the replay to that time")
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.bands: dict[str, pg.FillBetweenItem] = {}
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.record: RunRecord | None = None
        self._mode = "daily"
        self._cursor: int | None = None
        self._t0 = self._t1 = 0

    # --- public --------------------------------------------------------------------------------------------
    def set_record(self, record: RunRecord | None) -> None:
        """Show a run's daily series (None: the empty state); the cursor is kept if it is within the run."""
        self.record = record
        self._redraw()

    def mode(self) -> str:
        """'daily' or 'cumulative'."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Show daily counts or running totals."""
        if mode not in ("daily", "cumulative"):
            raise ValueError(f"unknown series mode '{mode}' (daily or cumulative)")
        self._mode = mode
        (self.daily_button if mode == "daily" else self.cumulative_button).setChecked(True)
        self._redraw()

    def set_cursor(self, t: int | None) -> None:
        """Put the cursor at UTC second `t` (None hides it); emits nothing."""
        self._cursor = None if t is None else int(t)
        self._place_cursor()

    def cursor(self) -> int | None:
        """The cursor's UTC second (None when hidden)."""
        return self._cursor

    def time_range(self) -> tuple[int, int]:
        """The simulated period shown: start and horizon, UTC seconds."""
        return self._t0, self._t1

    def data(self) -> dict[str, Any]:
        """What is drawn: the mode, x (UTC seconds: day edges when daily, day ends when cumulative) and y per
        metric."""
        return {"mode": self._mode, **{k: list(v) for k, v in self._xy().items()}}

    # --- drawing -------------------------------------------------------------------------------------------
    def _series(self) -> dict[str, Mapping[str, Any]]:
        assert self.record is not None
        ts = self.record.results.get("time_series") or {}
        return {k: ts[k] for k, _ in SERIES if isinstance(ts.get(k), Mapping)}

    def _days(self) -> list[str]:
        assert self.record is not None
        return list((self.record.results.get("time_series") or {}).get("days") or ())

    def _xy(self) -> dict[str, np.ndarray]:
        if self.record is None:
            return {}
        n = len(self._days())
        out: dict[str, np.ndarray] = {}
        if self._mode == "daily":
            out["x"] = np.minimum(self._t0 + DAY * np.arange(n + 1, dtype=np.int64), self._t1)
            for k, s in self._series().items():
                out[k] = _values(s, "mean", n)
        else:
            out["x"] = np.minimum(self._t0 + DAY * np.arange(n + 1, dtype=np.int64), self._t1)
            for k, s in self._series().items():
                out[k] = np.concatenate(([0.0], np.cumsum(_values(s, "mean", n))))
        return out

    def _redraw(self) -> None:
        r = self.record
        item = self.plot.getPlotItem()
        item.clear()
        self.curves, self.bands = {}, {}
        if r is None or not self._days():
            self.show_message(NO_RUN if r is None else "This run has no daily figures.")
            return
        self._t0, self._t1 = _utc(r.results["start"]), int(r.horizon)
        self.axis.t0 = self._t0
        c = self.colors
        font = plot_font(self)
        style_plot(self.plot, c, font)
        item.showGrid(x=False, y=True, alpha=0.2)  # no x grid: it would clip the first date label
        legend = item.addLegend(offset=(8, 4), colCount=len(SERIES), labelTextColor=c.text,
                                brush=pg.mkBrush(c.background), pen=pg.mkPen(c.grid))
        legend.setLabelTextColor(c.text)
        legend.setBrush(pg.mkBrush(c.background))
        legend.setPen(pg.mkPen(c.grid))
        xy = self._xy()
        x = xy["x"]
        daily = self._mode == "daily"
        n = len(self._days())
        interval = replicas_of(r) >= 2
        top = 0.0
        for key, label in SERIES:
            if key not in xy:
                continue
            color = c.pick(SERIES_COLORS[key])
            pen = pg.mkPen(color, width=2.2)
            if daily:
                curve = pg.PlotDataItem(x, xy[key], stepMode="center", pen=pen, name=label, antialias=True)
                if interval:
                    s = self._series()[key]
                    lo = pg.PlotDataItem(x, _values(s, "low", n), stepMode="center", pen=pg.mkPen(None))
                    hi = pg.PlotDataItem(x, _values(s, "high", n), stepMode="center", pen=pg.mkPen(None))
                    fill = QColor(color)
                    fill.setAlpha(55)
                    band = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(fill))
                    item.addItem(band)
                    self.bands[key] = band
                    top = max(top, float(np.nanmax(_values(s, "high", n), initial=0.0)))
            else:
                curve = pg.PlotDataItem(x, xy[key], pen=pen, name=label, antialias=True)
            item.addItem(curve)
            self.curves[key] = curve
            top = max(top, float(np.nanmax(xy[key], initial=0.0)))
        item.setLabel("left", "Per day" if daily else "Total so far", color=c.muted.name())
        item.setLabel("bottom", "Date (UTC)", color=c.muted.name())
        item.setXRange(self._t0, self._t1, padding=0.01)
        item.setYRange(0, (top or 1.0) * 1.18, padding=0)  # room for the legend above the curves
        self.cursor_line.setPen(pg.mkPen(c.highlight, width=2))
        item.addItem(self.cursor_line, ignoreBounds=True)
        self._place_cursor()
        what = "Contacts entering, messages sent, opened and clicked, conversions and exits"
        when = "per day (UTC days from the journey start)" if daily else "in total by the end of each day"
        band = "; shaded: 95 % interval over replicas" if daily and interval else ""
        self.show_plot(f"Over time · {journey_name(r)}",
                       f"{what} {when}{band}. Click or drag in the plot to move the replay to that time.")

    def _place_cursor(self) -> None:
        t = self._cursor
        shown = t is not None and self.record is not None
        self.cursor_line.setVisible(shown)
        if shown:
            self.cursor_line.setValue(float(t))  # type: ignore[arg-type]

    def _scrub(self, x: float) -> None:
        if self.record is None or not math.isfinite(x):
            return
        t = int(round(min(max(x, self._t0), self._t1)))
        self.set_cursor(t)
        self.timeRequested.emit(t)

    def table(self) -> Table:
        """Per day: the date, then per metric its daily mean, 95 % low and high, and the running total."""
        days = self._days()
        n = len(days)
        series = self._series()
        header = ["date"] + [f"{k}_{p}" for k in series for p in ("mean", "low", "high", "cumulative")]
        cols: list[list[Any]] = []
        for s in series.values():
            mean = [_value(s, "mean", i) for i in range(n)]
            cols += [mean, [_value(s, "low", i) for i in range(n)], [_value(s, "high", i) for i in range(n)],
                     list(np.cumsum([m or 0.0 for m in mean]).tolist())]
        return header, [[days[i]] + [col[i] for col in cols] for i in range(n)]


def _values(s: Mapping[str, Any], part: str, n: int) -> np.ndarray:
    vals = list(s.get(part) or s.get("mean") or [])
    return np.array([np.nan if v is None else float(v) for v in vals[:n]] + [np.nan] * (n - len(vals)))


def _value(s: Mapping[str, Any], part: str, i: int) -> Any:
    vals = s.get(part) or ()
    return vals[i] if i < len(vals) else None


# --- the tabs ----------------------------------------------------------------------------------------------

class PlotsPanel(QTabWidget):
    """The plots of one run in tabs: Funnel, Over time, Branches, A/B tests. `timeRequested` relays the series
    plot's clicks; `set_cursor` follows the replay."""

    timeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.funnel = FunnelPlot()
        self.series = SeriesPlot()
        self.branches = BranchPlot()
        self.ab = ABPlot()
        for view, name in ((self.funnel, "Funnel"), (self.series, "Over time"), (self.branches, "Branches"),
                           (self.ab, "A/B tests")):
            self.addTab(view, name)
        self.series.timeRequested.connect(self.timeRequested)
        self._record: RunRecord | None = None

    def plots(self) -> list[PlotView]:
        """The plot of each tab, in tab order."""
        return [self.funnel, self.series, self.branches, self.ab]

    def record(self) -> RunRecord | None:
        """The run shown (None: none)."""
        return self._record

    def set_record(self, record: RunRecord | None) -> None:
        """Show a run in every tab (None: the empty states)."""
        self._record = record
        self.funnel.set_record(record)
        self.series.set_record(record)
        self.branches.set_record(record)
        self.ab.set_record(record)

    def set_cursor(self, t: int | None) -> None:
        """Move the time cursor (the replay's time, UTC seconds)."""
        self.series.set_cursor(t)


__all__ = ["ABPlot", "BranchPlot", "ComparePlot", "DayAxis", "FunnelBar", "FunnelPlot", "PlotsPanel", "SeriesPlot"]
