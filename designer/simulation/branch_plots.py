"""The branch split and A/B comparison views of a run (figures from simulator.branches): a card per if/then,
split or A/B split, with horizontal bars per path and, for A/B tests, the differences between versions."""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from app.model.registry import REGISTRY
from designer.panels.common import MutedLabel
from designer.simulation.plot_widgets import (NO_RUN, BarSeries, HBarChart, PlotView, Table, fmt_count, fmt_pct,
                                              journey_name, legend_html, plot_font, port_color, replicas_of)
from simulator.branches import AB_METRICS, ABTest, Branch, Difference, ab_figures, branch_figures
from app.semantics.plan import Plan
from simulator.runs import RunRecord
from simulator.trace import Trace

NO_BRANCHES = ("This journey has no if/then, random split or A/B split step, so there are no branches to compare. "
               "Add one on the canvas to see how each path performs.")
NO_AB = ("This journey has no A/B split. Add an A/B split tile before two versions of a message to compare "
         "their open, click and conversion rates here.")
OUTCOMES = (("messaged", "Were sent a message"), ("opened", "Opened it"), ("clicked", "Clicked it"),
            ("goal", "Reached the goal"), ("exited", "Exited"))
_parts: dict[tuple[str, str, int], tuple[Trace, Plan]] = {}


def run_parts(record: RunRecord) -> tuple[Trace, Plan]:
    """Replica 0's trace and the compiled plan of a run (the last one is kept: several views ask for it)."""
    key = (record.trace_digest, record.journey_id, record.horizon)
    if key not in _parts:
        _parts.clear()
        _parts[key] = (record.trace(), record.plan())
    return _parts[key]


def _type_label(type_id: str) -> str:
    return REGISTRY[type_id].label if type_id in REGISTRY else type_id


def _card(title: str, subtitle: str, owner: QWidget) -> tuple[QFrame, QVBoxLayout]:
    card = QFrame()
    card.setFrameShape(QFrame.Shape.StyledPanel)
    layout = QVBoxLayout(card)
    layout.setContentsMargins(10, 8, 10, 8)
    head = QLabel(title)
    head.setFont(plot_font(owner, 1.0, bold=True))
    layout.addWidget(head)
    sub = MutedLabel(subtitle)
    sub.setWordWrap(True)
    layout.addWidget(sub)
    return card, layout


def _legend(entries: Sequence[tuple[str, Any]]) -> QLabel:
    label = QLabel(legend_html(entries))
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    return label


class _CardsView(PlotView):
    """A scrolling column of cards, one per branching step of the run."""

    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(empty_text, parent=parent)
        self.cards_layout = QVBoxLayout(self.body)
        self.cards_layout.setContentsMargins(0, 4, 0, 0)
        self.cards_layout.setSpacing(10)
        self.cards: list[QFrame] = []
        self.charts: list[HBarChart] = []  # kept: every pyqtgraph widget stays referenced
        self.record: RunRecord | None = None

    def set_record(self, record: RunRecord | None) -> None:
        """Show a run (None: the empty state)."""
        self.record = record
        self._compute()
        self._redraw()

    def _compute(self) -> None:
        raise NotImplementedError

    def _clear_cards(self) -> None:
        for card in self.cards:
            self.cards_layout.removeWidget(card)
            card.setParent(None)
            card.deleteLater()
        self.cards, self.charts = [], []
        while self.cards_layout.count():
            self.cards_layout.takeAt(0)

    def export_height(self) -> int:
        """Down to the last card: the space left below the cards is not exported."""
        if not self.cards:
            return self.page.height()
        last = self.cards[-1]
        bottom = last.mapTo(self.page, last.rect().bottomLeft()).y()
        return min(self.page.height(), bottom + 12)

    def _figures_error(self, e: Exception) -> str:
        return f"Could not read this run's trace: {e}"


class BranchPlot(_CardsView):
    """Per if/then and split: contacts taking each path (with 95 % whiskers over replicas) and what they did
    afterwards, as a share of the path (replica 0)."""

    kind = "branches"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NO_RUN, parent=parent)
        self.branches: list[Branch] = []
        self._error = ""

    def data(self) -> list[Branch]:
        """The figures drawn, one Branch per branching step in path order."""
        return list(self.branches)

    def _compute(self) -> None:
        self.branches, self._error = [], ""
        if self.record is not None:
            try:
                trace, plan = run_parts(self.record)
                self.branches = branch_figures(trace, plan, self.record.results)
            except Exception as e:  # a damaged or foreign record: say so instead of a traceback
                self._error = self._figures_error(e)

    def _redraw(self) -> None:
        self._clear_cards()
        r = self.record
        if r is None or self._error or not self.branches:
            self.show_message(NO_RUN if r is None else self._error or NO_BRANCHES)
            return
        for b in self.branches:
            self._add_card(b)
        self.cards_layout.addStretch(1)
        k = replicas_of(r)
        whiskers = f"whiskers: 95 % interval over {k} replicas" if k >= 2 else "one replica, so no interval"
        self.show_plot(f"Branches · {journey_name(r)}",
                       f"Contacts taking each path ({whiskers}) and what they did afterwards in the same iteration, "
                       "as a share of the path's contacts in replica 0. 'Opened' and 'clicked' are of the first "
                       "message sent after the branch.")

    def _add_card(self, b: Branch) -> None:
        c = self.colors
        colors = [port_color(c, p.port, i) for i, p in enumerate(b.paths)]
        leads = " · ".join(f"{p.label} → {p.leads_to}" if p.leads_to else f"{p.label}: leaves the journey"
                           for p in b.paths)
        card, layout = _card(f"{b.name}  ({_type_label(b.type)})", leads, self)
        layout.addWidget(_legend([(p.label, col) for p, col in zip(b.paths, colors)]))
        total = sum(p.contacts.mean for p in b.paths)
        interval = b.replicas >= 2
        contacts = HBarChart()
        contacts.set_bars([p.label for p in b.paths], [BarSeries(
            "Contacts", [p.contacts.mean for p in b.paths], colors,
            [p.contacts.low for p in b.paths] if interval else None,
            [p.contacts.high for p in b.paths] if interval else None,
            [f"{fmt_count(p.contacts.mean)}  ({fmt_pct(p.contacts.mean / total if total else math.nan)} of "
             f"the step)" for p in b.paths])], c, axis_label="Contacts taking the path", row_px=26, fixed=True)
        outcomes = HBarChart()
        series = [BarSeries(p.label, [100 * p.share(getattr(p, k)) for k, _ in OUTCOMES], col,
                            labels=[fmt_pct(p.share(getattr(p, k))) for k, _ in OUTCOMES])
                  for p, col in zip(b.paths, colors)]
        outcomes.set_bars([label for _, label in OUTCOMES], series, c, row_px=15 * len(b.paths) + 10, fixed=True,
                          axis_label="What they did afterwards: % of the path's contacts (replica 0)", limit=100)
        width = max(contacts.left_width, outcomes.left_width)
        contacts.align_left(width)
        outcomes.align_left(width)
        layout.addWidget(contacts)
        layout.addWidget(outcomes)
        self.cards_layout.addWidget(card)
        self.cards.append(card)
        self.charts += [contacts, outcomes]

    def table(self) -> Table:
        """Per branch and path: the contacts (mean, interval, replica 0) and what they did afterwards."""
        header = ["step", "step_name", "type", "port", "path", "leads_to", "contacts_mean", "contacts_low",
                  "contacts_high", "replica0_contacts"] + [k for k, _ in OUTCOMES] + ["delivered"] + \
                 [f"{k}_share" for k, _ in OUTCOMES]
        rows = []
        for b in self.branches:
            for p in b.paths:
                rows.append([b.step, b.name, b.type, p.port, p.label, p.leads_to, p.contacts.mean, p.contacts.low,
                             p.contacts.high, p.taken] + [getattr(p, k) for k, _ in OUTCOMES] + [p.delivered] +
                            [p.share(getattr(p, k)) for k, _ in OUTCOMES])
        return header, rows


def _pts(x: float) -> str:
    """A difference of proportions in percentage points, signed."""
    return "–" if math.isnan(x) else f"{x * 100:+.1f} pts"


def _p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _verdict(d: Difference) -> str:
    if math.isnan(d.p_value):
        return "not enough data"
    return "<b>significant</b> at 5 %" if d.p_value < 0.05 else "not significant"


class ABPlot(_CardsView):
    """Per A/B split: the versions side by side (open, click and conversion rates with 95 % intervals), and each
    version against version A: the difference, its 95 % interval and p-value (over replica 0's contacts)."""

    kind = "ab-tests"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(NO_RUN, parent=parent)
        self.tests: list[ABTest] = []
        self._error = ""
        self.texts: list[QLabel] = []
        self.decisions: list[QLabel] = []  # per A/B split with a test period: its decision in words

    def data(self) -> list[ABTest]:
        """The figures drawn, one ABTest per A/B split in path order."""
        return list(self.tests)

    def _compute(self) -> None:
        self.tests, self._error = [], ""
        if self.record is not None:
            try:
                trace, plan = run_parts(self.record)
                self.tests = ab_figures(trace, plan, self.record.results)
            except Exception as e:  # a damaged or foreign record: say so instead of a traceback
                self._error = self._figures_error(e)

    def _redraw(self) -> None:
        self._clear_cards()
        self.texts, self.decisions = [], []
        r = self.record
        if r is None or self._error or not self.tests:
            self.show_message(NO_RUN if r is None else self._error or NO_AB)
            return
        for t in self.tests:
            self._add_card(t)
        self.cards_layout.addStretch(1)
        self.show_plot(f"A/B tests · {journey_name(r)}",
                       "Open and click rates of the first message sent on each path (per message delivered) and "
                       "goal conversion (per contact on the path), with 95 % intervals. The tests are over "
                       "replica 0's contacts: a two-proportion z-test of each version against A.")

    def _add_card(self, t: ABTest) -> None:
        c = self.colors
        colors = [port_color(c, v.port, i) for i, v in enumerate(t.versions)]
        sends = " · ".join(f"{v.label} → {v.message or 'no message'}" for v in t.versions)
        card, layout = _card(f"{t.name}  (A/B split)", sends, self)
        layout.addWidget(_legend([(v.label, col) for v, col in zip(t.versions, colors)]))
        if t.decision:  # a test period: when and why the winner was chosen (or why none was)
            decision = QLabel(f"<b>Winner:</b> {html.escape(t.decision)} <i>The figures below count every "
                              "contact on each path, in the test period and after it.</i>")
            decision.setTextFormat(Qt.TextFormat.RichText)
            decision.setWordWrap(True)
            layout.addWidget(decision)
            self.decisions.append(decision)
        series = []
        for v, col in zip(t.versions, colors):
            rates = [v.rate(m) for m in AB_METRICS]
            bounds = [r.interval() for r in rates]
            series.append(BarSeries(v.label, [100 * r.value for r in rates], col, [100 * lo for lo, _ in bounds],
                                    [100 * hi for _, hi in bounds],
                                    [f"{fmt_pct(r.value)}  ({fmt_count(r.successes)} of {fmt_count(r.trials)})"
                                     if r.trials else "no message delivered" if m != "conversion" else "no contacts"
                                     for m, r in zip(AB_METRICS, rates)]))
        chart = HBarChart()
        chart.set_bars(list(AB_METRICS.values()), series, c, axis_label="% (whiskers: 95 % interval)",
                       row_px=18 * len(t.versions) + 12, fixed=True, limit=100)
        layout.addWidget(chart)
        text = QLabel(self._summary(t))
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        layout.addWidget(text)
        contacts = sum(v.taken for v in t.versions)
        note = MutedLabel(f"{t.note}; {fmt_count(contacts)} contacts took a version in replica 0"
                          f"{f' (of {t.replicas} replicas)' if t.replicas > 1 else ''}.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.cards_layout.addWidget(card)
        self.cards.append(card)
        self.charts.append(chart)
        self.texts.append(text)

    def _summary(self, t: ABTest) -> str:
        """An HTML table: per version against A and metric, the difference, its interval, p-value and verdict."""
        pad = 'style="padding: 2px 10px 2px 0"'
        head = "".join(f"<th align='left' {pad}>{h}</th>" for h in ("", "Difference", "95 % interval", "p-value",
                                                                    "Verdict"))
        rows = []
        for d in t.lifts:  # what each version causes: its goal conversion against the held-out contacts'
            cells = (f"Lift over the holdout: {d.version}", f"<b>{_pts(d.difference)}</b>",
                     "–" if math.isnan(d.low) else f"{_pts(d.low)} to {_pts(d.high)}", html.escape(_p(d.p_value)),
                     _verdict(d))
            rows.append("<tr>" + "".join(f"<td {pad}>{x}</td>" for x in cells) + "</tr>")
        for v in t.versions[1:]:
            for d in (x for x in t.differences if x.version == v.port):
                cells = (f"{AB_METRICS[d.metric]}: {d.version} vs {d.baseline}", f"<b>{_pts(d.difference)}</b>",
                         "–" if math.isnan(d.low) else f"{_pts(d.low)} to {_pts(d.high)}", html.escape(_p(d.p_value)),
                         _verdict(d))
                rows.append("<tr>" + "".join(f"<td {pad}>{x}</td>" for x in cells) + "</tr>")
        held = ""
        if t.holdout is not None:
            held = (f"<p>Holdout: {fmt_count(t.holdout.trials)} contacts left the journey at the split; "
                    f"{fmt_pct(t.holdout.value)} of them reached the goal all the same.</p>")
        return f"{held}<table cellspacing='0'><tr>{head}</tr>{''.join(rows)}</table>"

    def table(self) -> Table:
        """Per A/B split, version and metric: the rate and its interval, and the difference against A."""
        header = ["step", "step_name", "version", "path", "message", "replica0_contacts", "contacts_mean",
                  "contacts_low", "contacts_high", "metric", "successes", "trials", "rate", "rate_low", "rate_high",
                  "baseline", "difference", "difference_low", "difference_high", "z", "p_value"]
        rows = []
        for t in self.tests:
            for v in t.versions:
                for m in AB_METRICS:
                    r = v.rate(m)
                    lo, hi = r.interval()
                    d = next((x for x in t.differences if x.version == v.port and x.metric == m), None)
                    rows.append([t.step, t.name, v.port, v.label, v.message, v.taken, v.contacts.mean,
                                 v.contacts.low, v.contacts.high, m, r.successes, r.trials, r.value, lo, hi]
                                + ([d.baseline, d.difference, d.low, d.high, d.z, d.p_value] if d else [None] * 6))
        return header, rows


__all__ = ["ABPlot", "BranchPlot", "run_parts"]
