"""The Sweep panel's results: one plot per varied property (the journey's incremental effect on the outcome with
its 95% interval against the property's values, the best point starred, the current settings as a dashed line)
and the table of points (the current settings first, the best point in bold).

Values are placed on a numeric axis when every value is a number or a duration (in days); otherwise (shares such
as 70/30, send hours, choices) one position each, in the order typed. The other properties' combinations are
separate series (at most MAX_SERIES; with more, the one through the best point only).
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                               QWidget)

from designer.simulation.plot_widgets import PlotColors, legend_html, plot_font, style_plot

MAX_SERIES = 6
SERIES_COLORS = (("#1565c0", "#64b5f6"), ("#2e7d32", "#81c784"), ("#6a1b9a", "#ce93d8"), ("#00838f", "#4dd0e1"),
                 ("#5d4037", "#bcaaa4"), ("#ad1457", "#f48fb1"))
BEST_COLORS = ("#e65100", "#ffb74d")
PLOT_MIN_WIDTH = 240
PER_ROW = 3


def pct(x: float | None, signed: bool = False) -> str:
    """A share as percentage points for the table ('–' when missing)."""
    if x is None:
        return "–"
    return f"{x * 100:+.2f}" if signed else f"{x * 100:.2f}"


def positions(values: Sequence[str]) -> tuple[np.ndarray, str | None]:
    """Where each value sits on the x axis, and its unit: numbers as they are (None), durations in days ('days');
    anything else one position each ('' : categorical)."""
    try:
        return np.array([float(v) for v in values]), None
    except ValueError:
        pass
    from app.model.values import parse_duration
    try:
        return np.array([parse_duration(v).total_seconds() / 86400 for v in values]), "days"
    except (ValueError, TypeError):
        return np.arange(len(values), dtype=float), ""


def short_label(target: str, labels: dict[str, str]) -> str:
    """A property's name for a legend: the picker's label without its step or 'Behaviour:' prefix when the
    rest says enough ('Time limit', 'email open'), else the whole label."""
    label = labels.get(target, target)
    head, sep, tail = label.partition(": ")
    return tail if sep and len(tail) >= 8 else label


def property_label(target: str, labels: dict[str, str]) -> str:
    """A property's name for an axis: the picker's label where there is one, else its `--vary` name."""
    return labels.get(target, target)


class SweepPlots(QWidget):
    """One plot per varied property (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(8)
        self.plots: list[pg.PlotWidget] = []
        self.legends: list[QLabel] = []
        self.series: list[list[tuple[str, np.ndarray, np.ndarray]]] = []  # per plot: (name, x, y in points)
        self.best_xy: list[tuple[float, float] | None] = []

    def clear(self) -> None:
        for w in [*self.plots, *self.legends]:
            self.grid.removeWidget(w)
            w.deleteLater()
        self.plots, self.legends, self.series, self.best_xy = [], [], [], []

    def set_doc(self, doc: dict[str, Any], labels: dict[str, str]) -> None:
        """Draw the sweep `doc` (run_sweep's document); `labels` names the properties."""
        self.clear()
        colors = PlotColors(self.palette())
        font = plot_font(self)
        varied = doc["varied"]
        base = (doc["baseline"]["effect"] or {}).get("mean")
        for i, v in enumerate(varied):
            plot, legend = self._plot(doc, i, labels, colors, font, base)
            row, column = divmod(i, PER_ROW)  # up to three side by side, each its legend above it
            self.grid.addWidget(legend, row * 2, column)
            self.grid.addWidget(plot, row * 2 + 1, column)
            self.grid.setRowStretch(row * 2 + 1, 1)
            self.plots.append(plot)
            self.legends.append(legend)

    def _plot(self, doc: dict[str, Any], index: int, labels: dict[str, str], colors: PlotColors, font: QFont,
              base: float | None) -> tuple[pg.PlotWidget, QLabel]:
        varied = doc["varied"]
        target = varied[index]["property"]
        values = list(varied[index]["values"])
        xs, unit = positions(values)
        others = [v["property"] for j, v in enumerate(varied) if j != index]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for p in doc["points"]:
            groups.setdefault(tuple(p["values"][o] for o in others), []).append(p)
        best = next((p for p in doc["points"] if p["best"]), None)
        # a line per value of the other property when there is one (and few values); else one line, the other
        # properties at the best point's values
        only_best = (len(others) > 1 or len(groups) > MAX_SERIES) and best is not None
        if only_best and best is not None:
            key = tuple(best["values"][o] for o in others)
            groups = {key: groups[key]}
        plot = pg.PlotWidget()
        plot.setMinimumSize(PLOT_MIN_WIDTH, 180)
        style_plot(plot, colors, font)
        plot.showGrid(x=False, y=True, alpha=0.25)
        item = plot.getPlotItem()
        outcome = doc["outcome"]
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)  # no "(x0.001)": the values as typed, points as said
        item.setLabel("left", f"Extra {outcome}, points", color=colors.text.name())
        title = short_label(target, labels)  # the whole name is in the tooltip and the table's header
        item.setLabel("bottom", f"{title} ({unit})" if unit else title, color=colors.text.name())
        plot.setToolTip(f"{property_label(target, labels)} ({target})")
        if unit == "":
            item.getAxis("bottom").setTicks([[(float(x), v) for x, v in zip(xs, values)]])
        span = float(xs.max() - xs.min()) if len(xs) > 1 else 1.0
        dodge = span * 0.015 if len(groups) > 1 else 0.0
        entries: list[tuple[str, QColor]] = []
        drawn: list[tuple[str, np.ndarray, np.ndarray]] = []
        best_xy: tuple[float, float] | None = None
        lows: list[float] = []
        highs: list[float] = []
        for g, (key, points) in enumerate(groups.items()):
            color = colors.pick(SERIES_COLORS[g % len(SERIES_COLORS)])
            at = {p["values"][target]: p for p in points}
            x, y, low, high = [], [], [], []
            for k, value in enumerate(values):
                e = (at.get(value) or {}).get("effect") or {}
                if e.get("mean") is None:
                    continue
                x.append(float(xs[k]) + (g - (len(groups) - 1) / 2) * dodge)
                y.append(e["mean"] * 100)
                low.append((e["low"] if e.get("low") is not None else e["mean"]) * 100)
                high.append((e["high"] if e.get("high") is not None else e["mean"]) * 100)
                if at[value]["best"]:
                    best_xy = (x[-1], y[-1])
            ax, ay = np.array(x), np.array(y)
            lows += low
            highs += high
            pen = pg.mkPen(color, width=2)
            item.addItem(pg.PlotDataItem(ax, ay, pen=pen, symbol="o", symbolSize=7, symbolBrush=pg.mkBrush(color),
                                         symbolPen=pg.mkPen(color)))
            item.addItem(pg.ErrorBarItem(x=ax, y=ay, top=np.array(high) - ay, bottom=ay - np.array(low),
                                         beam=span * 0.02 if len(xs) > 1 else 0.05, pen=pg.mkPen(color, width=1.2)))
            if not others:
                name = "each point"
            elif only_best:
                name = "the others as at the best point"
            else:
                name = f"{short_label(others[0], labels)} {key[0]}"
            entries.append((name, color))
            drawn.append((name, ax, ay))
        if base is not None:
            line = pg.InfiniteLine(pos=base * 100, angle=0, pen=pg.mkPen(colors.muted, width=1.5,
                                                                          style=Qt.PenStyle.DashLine))
            item.addItem(line)
            entries.append(("current settings (dashed)", colors.muted))
        if best_xy is not None:
            best_color = colors.pick(BEST_COLORS)
            item.addItem(pg.ScatterPlotItem([best_xy[0]], [best_xy[1]], symbol="star", size=20,
                                            brush=pg.mkBrush(best_color), pen=pg.mkPen(colors.text, width=1)))
            entries.append(("best point (★)", best_color))
        pad = 0.5 if unit == "" else span * 0.08 if len(xs) > 1 else 0.5  # room for a category's label
        item.setXRange(float(xs.min()) - pad, float(xs.max()) + pad, padding=0)
        if lows:  # the whole of every interval and the current settings' line in sight
            bottom = min(min(lows), *([base * 100] if base is not None else []))
            top = max(max(highs), *([base * 100] if base is not None else []))
            margin = (top - bottom) * 0.08 or 0.05
            item.setYRange(bottom - margin, top + margin, padding=0)
        legend = QLabel(legend_html(entries))
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        legend.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        if only_best and best is not None:
            said = ", ".join(f"{property_label(o, labels)} = {best['values'][o]}" for o in others)
            legend.setToolTip(f"The other properties as at the best point: {said}")
        self.series.append(drawn)
        self.best_xy.append(best_xy)
        return plot, legend


class SweepTable(QTableWidget):
    """The points: the varied values, the effect and against the current settings, how sure; the current
    settings first (in italics), the best point in bold with a star."""

    def set_doc(self, doc: dict[str, Any], labels: dict[str, str]) -> None:
        names = [v["property"] for v in doc["varied"]]
        heads = [*(short_label(n, labels) for n in names), "Effect (pt)", "95% interval",
                 "vs current (pt)", "95% interval", "Better in replicas", ""]
        self.clear()
        self.setColumnCount(len(heads))
        self.setHorizontalHeaderLabels(heads)
        for c, n in enumerate(names):
            head = self.horizontalHeaderItem(c)
            if head is not None:
                head.setToolTip(f"{property_label(n, labels)} ({n})")
        self.setRowCount(1 + len(doc["points"]))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().hide()
        base = doc["baseline"]["effect"] or {}
        rows: list[tuple[list[str], str]] = [([*(doc["baseline"]["values"][n] for n in names), pct(base.get("mean")),
                                               f"{pct(base.get('low'))} to {pct(base.get('high'))}", "", "", "",
                                               "current settings"], "current")]
        for p in doc["points"]:
            e, v = p["effect"] or {}, p["vs_baseline"]
            interval = f"{pct(v['low'], True)} to {pct(v['high'], True)}" if v["low"] is not None else "–"
            sure = f"{v['sure']:.0%}" if v["sure"] is not None else "–"
            rows.append(([*(p["values"][n] for n in names), pct(e.get("mean")),
                          f"{pct(e.get('low'))} to {pct(e.get('high'))}", pct(v["mean"], True), interval, sure,
                          ("★ best, worse than current" if beats_current(doc, p) == "worse" else "★ best")
                          if p["best"] else ""], "best" if p["best"] else ""))
        for r, (cells, kind) in enumerate(rows):
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if c >= len(names) and c < len(heads) - 1:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if kind:
                    f = cell.font()
                    f.setBold(kind == "best")
                    f.setItalic(kind == "current")
                    cell.setFont(f)
                self.setItem(r, c, cell)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def cells(self) -> list[list[str]]:
        """The table's text, row by row (for tests)."""
        out = []
        for r in range(self.rowCount()):
            items = [self.item(r, c) for c in range(self.columnCount())]
            out.append([item.text() if item is not None else "" for item in items])
        return out


def summary_html(doc: dict[str, Any], labels: dict[str, str]) -> str:
    """The best point in words: its values, its effect, against the current settings and how sure."""
    best = next((p for p in doc["points"] if p["best"]), None)
    if best is None:
        return "No point has an effect to compare (nobody entered the journey)."
    said = ", ".join(f"{property_label(k, labels)} = {v}" for k, v in best["values"].items())
    e, v = best["effect"] or {}, best["vs_baseline"]
    outcome = html.escape(doc["outcome"])
    ties = sum(1 for p in doc["points"] if not p["best"] and (p["effect"] or {}).get("mean") == e.get("mean"))
    tied = f" ({ties} other point{'s have' if ties != 1 else ' has'} the same effect: the first is marked)" \
        if ties else ""
    parts = [f"<b>Best point (★):</b> {html.escape(said)}{tied}.",
             f"Incremental {outcome}: {pct(e.get('mean'))} pt (95%: {pct(e.get('low'))} to {pct(e.get('high'))})."]
    if v["mean"] is not None:
        against = f"Against the current settings: {pct(v['mean'], True)} pt"
        if v["low"] is not None:
            against += f" (95%: {pct(v['low'], True)} to {pct(v['high'], True)})"
        parts.append(against + ".")
        k = v["replicas"]
        wins = round((v["sure"] or 0) * k)
        if v["mean"] == 0 and v["low"] in (0, None) and v["high"] in (0, None):
            parts.append("<b>How sure:</b> it gives the same as the current settings in every replica: the "
                         "values it changes make no difference here.")
            return " ".join(parts)
        sure = f"<b>How sure:</b> better than the current settings in {wins} of {k} replica{'s' if k != 1 else ''}"
        verdict = beats_current(doc, best)
        if k < 3:
            sure += " (too few replicas to be sure: use 5 or more)"
        elif verdict == "better":
            sure += f"; the 95% interval is {'above' if doc['better'] == 'higher' else 'below'} zero"
        elif verdict == "worse":
            sure += (f"; the 95% interval is {'below' if doc['better'] == 'higher' else 'above'} zero: no point of "
                     "this grid beats the current settings, the best is worse")
        else:
            sure += "; the 95% interval includes zero: it may be no better"
        parts.append(sure + ".")
    return " ".join(parts)


def beats_current(doc: dict[str, Any], point: dict[str, Any]) -> str:
    """'better' or 'worse' when the point's paired 95% interval against the current settings excludes zero
    (in the outcome's better direction), 'unsure' when it includes it or there is none (one replica)."""
    v = point["vs_baseline"]
    if v["low"] is None or v["high"] is None:
        return "unsure"
    up = doc["better"] == "higher"
    if (v["low"] > 0) if up else (v["high"] < 0):
        return "better"
    if (v["high"] < 0) if up else (v["low"] > 0):
        return "worse"
    return "unsure"
