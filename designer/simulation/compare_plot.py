"""Two runs' funnels side by side, for the compare view: a pair of bars per step, matched by step id."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from designer.simulation.plot_widgets import (RUN_COLORS, BarSeries, HBarChart, PlotView, Table, estimate, fmt_count,
                                              fmt_pct, journey_name, legend_html, replicas_of, step_label)
from simulator.runs import RunRecord

NO_PAIR = "Choose two runs to compare their funnels."


class ComparePlot(PlotView):
    """Two runs' funnels side by side: for each step (matched by step id), a bar per run."""

    kind = "compare"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NO_PAIR, parent=parent)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.chart = HBarChart()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.summary)
        self.records: tuple[RunRecord, RunRecord] | None = None
        self.labels: tuple[str, str] = ("Run A", "Run B")
        self._rows: list[tuple[str, str, list[tuple[float, float, float] | None]]] = []

    def set_records(self, a: RunRecord | None, b: RunRecord | None, labels: Sequence[str] = ("Run A", "Run B")) -> None:
        """Compare run `a` with run `b`, named by `labels` in the legend (either None: the empty state)."""
        self.records = (a, b) if a is not None and b is not None else None
        self.labels = (str(labels[0]), str(labels[1]))
        self._redraw()

    def data(self) -> list[tuple[str, str, list[tuple[float, float, float] | None]]]:
        """Per step: id, label and per run (mean, low, high) of contacts entering (None: not in that run)."""
        return list(self._rows)

    def _redraw(self) -> None:
        if self.records is None:
            self._rows = []
            self.show_message(NO_PAIR)
            return
        funnels = [{str(row["step"]): row for row in rec.results.get("funnel") or ()} for rec in self.records]
        order: list[str] = []
        for f in funnels:  # the first run's path order, then steps only the second run has (the end last)
            order += [s for s in f if s not in order and s != "end"]
        if any("end" in f for f in funnels):
            order.append("end")
        self._rows = []
        for sid in order:
            rows = [f.get(sid) for f in funnels]
            named = next(r for r in rows if r is not None)
            self._rows.append((sid, step_label(named), [None if r is None else estimate(r, "entered")
                                                         for r in rows]))
        interval = [replicas_of(rec) >= 2 for rec in self.records]
        series = []
        for i, (label, pair) in enumerate(zip(self.labels, RUN_COLORS)):
            vals = [e[i][0] if e[i] else 0.0 for _, _, e in self._rows]
            series.append(BarSeries(label, vals, self.colors.pick(pair),
                                    [e[i][1] if e[i] else 0.0 for _, _, e in self._rows] if interval[i] else None,
                                    [e[i][2] if e[i] else 0.0 for _, _, e in self._rows] if interval[i] else None,
                                    [_compare_label(e, i) for _, _, e in self._rows]))
        self.chart.set_bars([label for _, label, _ in self._rows], series, self.colors, axis_label="Contacts",
                            row_px=44)
        self.legend.setText(legend_html([(lab, self.colors.pick(p)) for lab, p in zip(self.labels, RUN_COLORS)]))
        conv = []
        for label, rec in zip(self.labels, self.records):
            c = rec.results.get("conversion") or {}
            mean, low, high = (float("nan") if c.get(k) is None else float(c[k]) for k in ("mean", "low", "high"))
            span = f" (95 % interval {fmt_pct(low)} to {fmt_pct(high)})" if high > low else ""
            conv.append(f"{label}: {fmt_pct(mean)} of contacts entering reached the goal{span}")
        self.summary.setText(" · ".join(conv))
        names = [journey_name(rec) for rec in self.records]
        title = names[0] if names[0] == names[1] else f"{names[0]} and {names[1]}"
        self.show_plot(f"Compare runs · {title}", "Contacts entering each step, matched by step, "
                       "for each run; whiskers: 95 % interval over replicas (runs of 2 or more replicas).")

    def table(self) -> Table:
        """Per step: id, name, each run's mean, low and high of contacts entering, and the difference."""
        a, b = (f"{lab}" for lab in self.labels)
        header = ["step", "name", f"{a}_mean", f"{a}_low", f"{a}_high", f"{b}_mean", f"{b}_low", f"{b}_high",
                  "difference"]
        out = []
        for sid, label, ests in self._rows:
            line: list[Any] = [sid, label]
            for e in ests:
                line += list(e) if e else [None, None, None]
            line.append(ests[1][0] - ests[0][0] if ests[0] and ests[1] else None)
            out.append(line)
        return header, out


def _compare_label(ests: list[tuple[float, float, float] | None], i: int) -> str:
    """A compare bar's label: the count, and for the second run its difference with the first."""
    e = ests[i]
    if e is None:
        return "not in this run"
    if i == 0 or ests[0] is None:
        return fmt_count(e[0])
    d = e[0] - ests[0][0]
    return f"{fmt_count(e[0])}  ({'+' if d >= 0 else '−'}{fmt_count(abs(d))})"



__all__ = ["ComparePlot"]
