"""Building blocks of the simulation plots: colours taken from the widget palette (light or dark), a horizontal
bar chart on pyqtgraph (bars, 95 % whiskers, value labels that always fit), number formats, and `PlotView`, the
base of every plot widget: a title, an empty-state message, PNG / CSV export and a redraw on palette changes."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPalette
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QScrollArea,
                               QSizePolicy, QStackedWidget, QVBoxLayout, QWidget)

from app import files
from designer.canvas.theme import mix
from designer.panels.common import MutedLabel, is_dark
from simulator.runs import RunRecord

Pair = tuple[str, str]  # (on a light palette, on a dark palette)
SERIES_COLORS: dict[str, Pair] = {
    "entered": ("#3b6fb6", "#86b6f0"), "sent": ("#e07b00", "#ffb45c"), "opened": ("#2f8f46", "#7fd38f"),
    "clicked": ("#8e44ad", "#cf9be6"), "goals": ("#d1343f", "#ff8c8f"), "exited": ("#6b7280", "#b8bec9")}
PATH_COLORS: tuple[Pair, ...] = (
    ("#3b6fb6", "#86b6f0"), ("#e07b00", "#ffb45c"), ("#2f8f46", "#7fd38f"), ("#8e44ad", "#cf9be6"),
    ("#d1343f", "#ff8c8f"), ("#0f8b8d", "#6fd6d3"), ("#a0522d", "#e0a47a"), ("#c2185b", "#f48fb1"),
    ("#556b2f", "#b5cf7a"), ("#4b5563", "#c3c9d3"))
PORT_COLORS: dict[str, Pair] = {"yes": ("#2f8f46", "#7fd38f"), "no": ("#d1343f", "#ff8c8f"),
                                "holdout": ("#6b7280", "#b8bec9")}
RUN_COLORS: tuple[Pair, Pair] = (("#3b6fb6", "#86b6f0"), ("#e07b00", "#ffb45c"))
Table = tuple[list[str], list[list[Any]]]
NO_RUN = "No run to show yet. Run a simulation (or open a saved run) to see its figures here."


class PlotColors:
    """The colours of a plot for one palette (recomputed when the palette changes)."""

    def __init__(self, palette: QPalette) -> None:
        self.dark = is_dark(palette)
        self.background = palette.color(QPalette.ColorRole.Base)
        self.text = palette.color(QPalette.ColorRole.Text)
        self.muted = mix(self.text, self.background, 0.4)
        self.grid = mix(self.background, self.text, 0.25)
        self.highlight = palette.color(QPalette.ColorRole.Highlight)
        if self.dark and self.highlight.lightnessF() < 0.55:
            self.highlight = mix(self.highlight, QColor("#ffffff"), 0.35)

    def pick(self, pair: Pair) -> QColor:
        """The light- or dark-palette variant of a colour pair."""
        return QColor(pair[1] if self.dark else pair[0])

    def tile(self, color: str) -> QColor:
        """A tile type's colour, lifted a little on a dark background."""
        c = QColor(color)
        return mix(c, QColor("#ffffff"), 0.22) if self.dark else c


def port_color(colors: PlotColors, port: str, i: int) -> QColor:
    """The colour of a branch port: yes / no / holdout by meaning, split paths by position."""
    return colors.pick(PORT_COLORS[port] if port in PORT_COLORS else PATH_COLORS[i % len(PATH_COLORS)])


def journey_name(record: RunRecord) -> str:
    """The name of the journey a run simulated."""
    return str((record.results.get("journey") or {}).get("name") or record.journey_doc.get("name") or "journey")


def replicas_of(record: RunRecord) -> int:
    """How many replicas a run has."""
    return int(record.results.get("replicas", record.replicas))


def estimate(row: Mapping[str, Any], metric: str) -> tuple[float, float, float]:
    """A results figure as (mean, low, high); a missing figure is 0, a missing bound the mean."""
    est = row.get(metric) or {}
    mean = float(est.get("mean") or 0.0)
    low, high = est.get("low"), est.get("high")
    return mean, float(mean if low is None else low), float(mean if high is None else high)


def step_label(row: Mapping[str, Any]) -> str:
    """A funnel row's label: the step's name; the virtual end is the contacts who completed a path."""
    return "Completed (end of path)" if row.get("type") == "end" else str(row.get("name") or row.get("step"))


def fmt_count(x: float | None) -> str:
    """A count for a label: whole numbers with thousands separators."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def fmt_pct(fraction: float | None, digits: int = 1) -> str:
    """A fraction as a percentage for a label ('–' when undefined)."""
    return "–" if fraction is None or math.isnan(fraction) else f"{fraction * 100:.{digits}f} %"


def plot_font(widget: QWidget, delta: float = 0.0, bold: bool = False) -> QFont:
    """The widget's font, `delta` points larger."""
    font = QFont(widget.font())
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() + delta)
    font.setBold(bold)
    return font


def style_plot(plot: pg.PlotWidget, colors: PlotColors, font: QFont) -> None:
    """Background, axis pens and fonts from the palette; no mouse pan or zoom, no context menu."""
    plot.setBackground(colors.background)
    item = plot.getPlotItem()
    item.hideButtons()
    item.setMenuEnabled(False)
    item.getViewBox().setMouseEnabled(x=False, y=False)
    for name in ("left", "bottom", "top", "right"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(colors.grid))
        axis.setTextPen(pg.mkPen(colors.text))
        axis.setTickFont(font)
        axis.label.setFont(font)


def legend_html(entries: Sequence[tuple[str, QColor]]) -> str:
    """A one-line legend: a coloured square before each label."""
    parts = [f'<span style="color:{c.name()}; font-size:large">&#9632;</span>&nbsp;{html.escape(label)}'
             for label, c in entries]
    return "&nbsp;&nbsp;&nbsp;&nbsp;".join(parts)


def file_stem(text: str) -> str:
    """A file-name-safe version of a title."""
    return re.sub(r"[^\w\- ]+", "", text).strip().replace(" ", "-").lower() or "plot"


def _exact(v: Any) -> Any:
    """A value for CSV: floats at full precision (shortest round-trip text), NaN and None as empty."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def write_csv(path: str | Path, table: Table) -> None:
    """A header row and the rows, figures unrounded; written atomically, formulas defused (app.files)."""
    header, rows = table
    files.write_csv(path, [list(header), *([_exact(v) for v in row] for row in rows)])


@dataclass
class BarSeries:
    """One series of a bar chart: a value per category, optional 95 % interval, one colour or one per bar."""

    name: str
    values: Sequence[float]
    color: QColor | Sequence[QColor]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    labels: Sequence[str] | None = None  # the text after each bar (default: the value as a count)


class ValueAxis(pg.AxisItem):
    """A value axis with thousands separators that shows no tick beyond `limit` (100 for percentages)."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.limit: float | None = None

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        levels = super().tickValues(minVal, maxVal, size)
        if self.limit is None:
            return levels
        return [(spacing, [v for v in values if v <= self.limit + 1e-9]) for spacing, values in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if spacing >= 1:
            return [f"{v * scale:,.0f}" for v in values]
        return super().tickStrings(values, scale, spacing)


class HBarChart(pg.PlotWidget):
    """Horizontal bars, one row per category (top to bottom), grouped when there are several series.

    Each bar ends in its label; whiskers show the 95 % interval when the series has one. The value axis leaves
    room on the right for the labels whatever the width (recomputed on resize).
    """

    ROW = 0.8  # the share of a category's height the bars of a group take
    GAP_PX = 5  # between a bar (or its whisker) and its label

    def __init__(self, parent: QWidget | None = None) -> None:
        self.value_axis = ValueAxis("bottom")
        super().__init__(parent, axisItems={"bottom": self.value_axis})
        self.categories: list[str] = []
        self.series: list[BarSeries] = []
        self.bars: list[pg.BarGraphItem] = []
        self.whiskers: list[pg.ErrorBarItem] = []
        self.texts: list[pg.TextItem] = []
        self._ends: list[tuple[float, float]] = []
        self.left_width = 0
        self._extent = 1.0
        self._label_px = 0.0
        self.getPlotItem().invertY(True)
        self.getViewBox().sigResized.connect(self._fit)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_bars(self, categories: Sequence[str], series: Sequence[BarSeries], colors: PlotColors, *,
                 axis_label: str = "", row_px: int = 30, fixed: bool = False, limit: float | None = None) -> None:
        """Draw the categories and series, replacing what was drawn; the chart is at least `row_px` per category
        high (exactly, when `fixed`); no value tick beyond `limit`."""
        item = self.getPlotItem()
        item.clear()
        self.categories, self.series = list(categories), list(series)
        self.bars, self.whiskers, self.texts, self._ends = [], [], [], []
        font = plot_font(self)
        metrics = QFontMetricsF(font)
        style_plot(self, colors, font)
        names = [_elide(c, 40) for c in self.categories]
        left = item.getAxis("left")
        left.setTicks([[(i, c) for i, c in enumerate(names)], []])
        left.setStyle(tickLength=0, autoExpandTextSpace=False)
        self.left_width = int(max((metrics.horizontalAdvance(c) for c in names), default=0) + 14)
        left.setWidth(self.left_width)
        self.value_axis.limit = limit
        item.setLabel("bottom", axis_label, color=colors.muted.name())
        m = max(len(self.series), 1)
        height = self.ROW / m
        extent, widest = 0.0, 0.0
        for j, s in enumerate(self.series):
            ys = np.arange(len(self.categories)) - self.ROW / 2 + (j + 0.5) * height
            values = np.nan_to_num(np.asarray(s.values, dtype=float))
            one = s.color if isinstance(s.color, QColor) else None
            brushes = None if one is not None else [pg.mkBrush(c) for c in s.color]  # type: ignore[union-attr]
            bar = pg.BarGraphItem(x0=0, y=ys, height=height * 0.86, width=values, brushes=brushes,
                                  brush=pg.mkBrush(one) if one is not None else None, pen=pg.mkPen(None), name=s.name)
            item.addItem(bar)
            self.bars.append(bar)
            ends = values
            if s.low is not None and s.high is not None:
                low = np.nan_to_num(np.asarray(s.low, dtype=float))
                high = np.nan_to_num(np.asarray(s.high, dtype=float))
                spread = high > low  # no whisker where the interval is a point (or undefined)
                if np.any(spread):
                    err = pg.ErrorBarItem(x=values[spread], y=ys[spread], left=np.maximum(values - low, 0)[spread],
                                          right=np.maximum(high - values, 0)[spread], beam=height * 0.4,
                                          pen=pg.mkPen(colors.text, width=1.2))
                    item.addItem(err)
                    self.whiskers.append(err)
                ends = np.maximum(ends, high)
            for k, (y, end) in enumerate(zip(ys, ends)):
                text = s.labels[k] if s.labels is not None else fmt_count(values[k])
                label = pg.TextItem(text, color=colors.text, anchor=(0, 0.5))
                label.setFont(font)
                item.addItem(label)
                self.texts.append(label)
                self._ends.append((float(end), float(y)))
                widest = max(widest, metrics.horizontalAdvance(text))
            extent = max(extent, float(ends.max()) if len(ends) else 0.0)
        self._extent, self._label_px = extent or 1.0, widest + 12 + self.GAP_PX
        n = max(len(self.categories), 1)
        item.setYRange(-0.5, n - 0.5, padding=0)
        px = int(row_px * n + 64)
        if fixed:
            self.setFixedHeight(px)
        else:
            self.setMinimumHeight(px)
        self._fit()

    def align_left(self, width: int) -> None:
        """Give the category axis `width` pixels (to line up the bars of charts shown one above the other)."""
        self.left_width = width
        self.getPlotItem().getAxis("left").setWidth(width)

    def _fit(self) -> None:
        """Widen the value axis so that the labels after the longest bar fit in the plot's width."""
        vb = self.getViewBox()
        width = vb.width()
        room = max(width - self._label_px, width * 0.35) if width > 0 else 0
        span = self._extent * (width / room if room > 0 else 1.4)
        vb.setXRange(0, span, padding=0)
        gap = self.GAP_PX * span / width if width > 0 else 0.0
        for t, (end, y) in zip(self.texts, self._ends):
            t.setPos(end + gap, y)

    def bar_values(self) -> list[list[float]]:
        """The drawn bar lengths, per series (for tests)."""
        return [list(map(float, b.opts["width"])) for b in self.bars]

    def label_texts(self) -> list[str]:
        """The drawn value labels, series by series (for tests)."""
        return [t.toPlainText() for t in self.texts]


def _elide(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


class PlotView(QWidget):
    """The base of a plot widget: a control row with Export PNG… / Export CSV…, then the page that is exported
    (a title, a subtitle, and either the plot or a message saying why there is nothing to show).

    Subclasses fill `self.body`, implement `table()` and `_redraw()`, and call `show_message` / `show_plot`.
    """

    kind = "plot"

    def __init__(self, empty_text: str = NO_RUN, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colors = PlotColors(self.palette())
        self._redrawing = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.controls = QHBoxLayout()
        self.controls.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self.controls)
        self.controls.addStretch(1)
        self.png_button = QPushButton("Export PNG…")
        self.csv_button = QPushButton("Export CSV…")
        for b, slot in ((self.png_button, self._ask_png), (self.csv_button, self._ask_csv)):
            b.clicked.connect(slot)
            self.controls.addWidget(b)

        self.page = QWidget()
        self.page.setAutoFillBackground(True)
        page = QVBoxLayout(self.page)
        page.setContentsMargins(10, 8, 10, 8)
        self.title = QLabel()
        self.title.setFont(plot_font(self, 2.0, bold=True))
        self.title.setWordWrap(True)
        self.subtitle = MutedLabel()
        self.subtitle.setWordWrap(True)
        page.addWidget(self.title)
        page.addWidget(self.subtitle)
        self.stack = QStackedWidget()
        self.message = QLabel(empty_text)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setFont(plot_font(self, 1.0))
        self.message.setMargin(24)
        self.body = QWidget()
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.body)
        page.addWidget(self.stack, 1)
        self.empty_text = empty_text
        # the page scrolls when the panel is smaller than the plot needs (a short dock), and is exported whole
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.page)
        outer.addWidget(self.scroll, 1)
        self.show_message(empty_text)
        self._paint_page()

    def _paint_page(self) -> None:
        """The page takes the plots' background (the palette's Base), so that an export is one surface."""
        pal = self.page.palette()
        pal.setColor(QPalette.ColorRole.Window, self.palette().color(QPalette.ColorRole.Base))
        pal.setColor(QPalette.ColorRole.WindowText, self.palette().color(QPalette.ColorRole.Text))
        self.page.setPalette(pal)

    # --- state ------------------------------------------------------------------------------------------
    def show_message(self, text: str, title: str = "") -> None:
        """Show `text` instead of the plot (no run, nothing of this kind in the journey...)."""
        self.message.setText(text)
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.subtitle.setVisible(False)
        self.stack.setCurrentWidget(self.message)
        self._set_exportable(False)

    def show_plot(self, title: str, subtitle: str) -> None:
        """Show the plot under a title and subtitle."""
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.title.setVisible(True)
        self.subtitle.setVisible(bool(subtitle))
        self.stack.setCurrentWidget(self.body)
        self._set_exportable(True)

    def _set_exportable(self, on: bool) -> None:
        self.png_button.setEnabled(on)
        self.csv_button.setEnabled(on)

    def has_plot(self) -> bool:
        """True when a plot (not a message) is shown."""
        return self.stack.currentWidget() is self.body

    # --- export -----------------------------------------------------------------------------------------
    def table(self) -> Table:
        """The figures behind the plot: header and rows (unrounded)."""
        raise NotImplementedError

    def default_name(self) -> str:
        """A file name stem for exports."""
        return file_stem(f"{self.title.text() or 'plot'}-{self.kind}")

    def export_csv(self, path: str | Path) -> None:
        """Write the plot's figures to a CSV file (a header row, then exact figures)."""
        if not self.has_plot():
            raise ValueError(f"nothing to export: {self.message.text()}")
        write_csv(path, self.table())

    def export_png(self, path: str | Path) -> QSize:
        """Write the page (title and plot) as a PNG image at the screen's resolution; returns its pixel size."""
        if not self.has_plot():
            raise ValueError(f"nothing to export: {self.message.text()}")
        self.page.ensurePolished()
        pixmap = self.page.grab(QRect(0, 0, self.page.width(), self.export_height()))
        if pixmap.isNull() or not pixmap.save(str(path), "PNG"):
            raise OSError(f"could not write the image to {path}")
        return pixmap.size()

    def export_height(self) -> int:
        """How much of the page (from the top, in pixels) an image export takes: all of it by default."""
        return self.page.height()

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", f"{self.default_name()}.png", "PNG image (*.png)")
        if path:
            self._export(self.export_png, path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", f"{self.default_name()}.csv", "CSV file (*.csv)")
        if path:
            self._export(self.export_csv, path)

    def _export(self, action: Callable[[str], object], path: str) -> None:
        try:
            action(path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Export", f"Could not export: {e}")

    # --- palette ----------------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and not self._redrawing:
            self._redrawing = True
            try:
                self.colors = PlotColors(self.palette())
                self._paint_page()
                self._redraw()
            finally:
                self._redrawing = False

    def _redraw(self) -> None:
        """Draw the plot again (after a palette change)."""


__all__ = ["BarSeries", "HBarChart", "NO_RUN", "PATH_COLORS", "PORT_COLORS", "PlotColors", "PlotView", "RUN_COLORS",
           "SERIES_COLORS", "Table", "ValueAxis", "estimate", "fmt_count", "fmt_pct", "journey_name", "legend_html",
           "plot_font", "port_color", "replicas_of", "step_label", "style_plot", "write_csv"]
