"""Two runs side by side: per-step figures, their differences, and the assumptions that differ.

`compare_records(a, b)` compares two saved runs (`RunRecord`); `compare_results(a, b)` compares their results
documents (`SimulationResult.to_json()`, as saved: 'funnel' rows of step, name, type and per-metric mean, low
and high; 'conversion'; 'replicas'). Steps are matched by id: A's steps in A's order, then the steps only B has.
Per metric: A, B, B - A, (B - A) / A, and whether the two 95 % intervals are disjoint ("intervals do not
overlap": the difference is unlikely to be replica noise). A run of one replica has no interval, and no such
claim is made. Metrics that are zero in both runs are left out, except 'entered'.

`assumption_differences(a, b)` lists what differs in the inputs (journey version, population spec, behaviour
model field by field, seed, replicas, horizon, chunk size, engine version) as (key path, A value, B value).
`Comparison.to_csv_rows()` and `Comparison.text_table()` give it as a table (for a file or a command line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from simulator.timezones import utc_iso

if TYPE_CHECKING:
    from simulator.runs import RunRecord

METRICS = ("entered", "sent", "suppressed", "capped", "delivered", "opened", "clicked", "unsubscribed", "converted",
           "yes", "no", *(f"path_{c}" for c in "ABCDEFGHIJ"), "holdout", "done", "shared", "exited", "goal",
           "stopped", "waiting", "completed")
_ROW_KEYS = ("step", "name", "type")
BOTH, ONLY_A, ONLY_B = "both", "only in A", "only in B"
DISJOINT, OVERLAP, NO_INTERVAL = "intervals do not overlap", "intervals overlap", "no interval (single replica)"


@dataclass(frozen=True)
class Figure:
    """One figure of one run: the mean over replicas and its 95 % interval."""

    mean: float
    low: float
    high: float

    @classmethod
    def from_plain(cls, d: Any) -> Figure | None:
        """From {'mean', 'low', 'high'} (None, or a mean of None: no figure)."""
        if not isinstance(d, Mapping) or d.get("mean") is None:
            return None
        mean = float(d["mean"])
        low, high = d.get("low"), d.get("high")
        return cls(mean, mean if low is None else float(low), mean if high is None else float(high))


@dataclass(frozen=True)
class MetricDelta:
    """One metric of one step in both runs (None where a run has no such figure)."""

    metric: str
    a: Figure | None
    b: Figure | None
    intervals: bool  # both runs have intervals (two replicas or more each)

    @property
    def delta(self) -> float | None:
        """B - A (None unless both runs have the figure)."""
        return None if self.a is None or self.b is None else self.b.mean - self.a.mean

    @property
    def relative(self) -> float | None:
        """(B - A) / A (None when A is zero or missing)."""
        d = self.delta
        return None if d is None or self.a is None or self.a.mean == 0 else d / self.a.mean

    @property
    def disjoint(self) -> bool | None:
        """Whether the two 95 % intervals do not overlap (None: no intervals to tell)."""
        if self.a is None or self.b is None or not self.intervals:
            return None
        return self.a.high < self.b.low or self.b.high < self.a.low

    @property
    def note(self) -> str:
        """'intervals do not overlap', 'intervals overlap', 'no interval (single replica)' or ''."""
        if self.a is None or self.b is None:
            return ""
        if not self.intervals:
            return NO_INTERVAL
        return DISJOINT if self.disjoint else OVERLAP


@dataclass(frozen=True)
class StepComparison:
    """One step: where it is ('both', 'only in A', 'only in B') and its metrics in both runs."""

    step: str
    name: str
    type: str
    status: str
    metrics: tuple[MetricDelta, ...]

    def metric(self, name: str) -> MetricDelta | None:
        """The comparison of one metric (None when it is zero in both runs or unknown)."""
        return next((m for m in self.metrics if m.metric == name), None)


@dataclass(frozen=True)
class Comparison:
    """Run A against run B (see the module docstring)."""

    rows: tuple[StepComparison, ...]
    conversion: MetricDelta
    replicas: tuple[int, int]
    labels: tuple[str, str] = ("A", "B")
    assumptions: tuple[tuple[str, Any, Any], ...] = ()

    def row(self, step: str) -> StepComparison:
        """The comparison of step `step` (KeyError naming it when neither run has it)."""
        for r in self.rows:
            if r.step == step:
                return r
        raise KeyError(f"neither run has a step '{step}'")

    def to_csv_rows(self) -> list[list[str]]:
        """A header and one row per step and metric, then the conversion (numbers unformatted; '' for none)."""
        a, b = self.labels
        out = [["step", "name", "type", "status", "metric", a, f"{a} low", f"{a} high", b, f"{b} low", f"{b} high",
                "delta", "relative delta", "intervals"]]
        for r in self.rows:
            for m in r.metrics:
                out.append([r.step, r.name, r.type, r.status, *_csv_metric(m)])
        out.append(["(journey)", "", "", BOTH, *_csv_metric(self.conversion)])
        return out

    def text_table(self) -> str:
        """An aligned plain-text table (for a terminal), with the differing assumptions after it."""
        a, b = self.labels
        ra, rb = self.replicas
        lines = [f"{a}: {_replicas(ra)}; {b}: {_replicas(rb)}. Figures are means over replicas; an interval is "
                 "the 95% interval of the mean."]
        table = [["step / metric", a, b, "change", "change %", ""]]
        for r in self.rows:
            where = "" if r.status == BOTH else f"  [{r.status}]"
            title = r.name if r.type == "end" else f"{r.name} ({r.type})"
            table.append([title + where, "", "", "", "", ""])
            for m in r.metrics:
                table.append([f"  {m.metric}", figure_text(m.a), figure_text(m.b), signed_text(m.delta), change_text(m), m.note])
        c = self.conversion
        table.append(["conversion", share_text(c.a), share_text(c.b),
                      "" if c.delta is None else f"{c.delta * 100:+.2f} pt", change_text(c), c.note])
        widths = [max(len(row[i]) for row in table) for i in range(6)]
        for row in table:
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)] + [row[5]]
            lines.append("  ".join(cells).rstrip())
        if self.assumptions:
            lines.append("")
            lines.append("Assumptions that differ:")
            for path, va, vb in self.assumptions:
                lines.append(f"  {path}: {a} {_value(va)}, {b} {_value(vb)}")
        return "\n".join(lines)


def compare_results(a: Mapping[str, Any], b: Mapping[str, Any], *, labels: tuple[str, str] = ("A", "B"),
                    assumptions: tuple[tuple[str, Any, Any], ...] = ()) -> Comparison:
    """Compare two results documents ('funnel', 'conversion', 'replicas'); ValueError if one has no funnel."""
    for label, doc in zip(labels, (a, b)):
        if not isinstance(doc.get("funnel"), list):
            raise ValueError(f"run {label} has no funnel to compare (not a simulation results document)")
    ka, kb = int(a.get("replicas") or 1), int(b.get("replicas") or 1)
    intervals = ka > 1 and kb > 1
    rows_a = {str(r["step"]): r for r in a["funnel"]}
    rows_b = {str(r["step"]): r for r in b["funnel"]}
    order = list(rows_a) + [s for s in rows_b if s not in rows_a]
    rows = []
    for step in order:
        ra, rb = rows_a.get(step), rows_b.get(step)
        status = BOTH if ra is not None and rb is not None else ONLY_A if rb is None else ONLY_B
        info = ra if ra is not None else rb
        assert info is not None
        rows.append(StepComparison(step, str(info.get("name", step)), str(info.get("type", "")), status,
                                   _metrics(ra or {}, rb or {}, intervals)))
    conversion = MetricDelta("conversion", Figure.from_plain(a.get("conversion")),
                             Figure.from_plain(b.get("conversion")), intervals)
    return Comparison(tuple(rows), conversion, (ka, kb), labels, tuple(assumptions))


def compare_records(a: RunRecord, b: RunRecord, *, labels: tuple[str, str] = ("A", "B")) -> Comparison:
    """Compare two saved runs: their results, and the assumptions that differ."""
    return compare_results(a.results, b.results, labels=labels, assumptions=tuple(assumption_differences(a, b)))


def assumption_differences(a: RunRecord, b: RunRecord) -> list[tuple[str, Any, Any]]:
    """What differs in the inputs of two runs, as (key path, A value, B value), e.g.
    ('behaviour.channels.email.open', 0.2133, 0.3); times as UTC ISO texts."""
    fa, fb = _inputs(a), _inputs(b)
    return [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)]


def _inputs(r: RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"journey": r.journey_id, "journey.version": r.journey_version}
    _flatten("population", r.population, out)
    _flatten("behaviour", _behaviour(r.behaviour), out)
    out.update({"seed": r.seed, "replicas": r.replicas, "horizon": utc_iso(r.horizon), "chunk_size": r.chunk_size,
                "engine_version": r.engine_version})
    return out


def _behaviour(plain: Mapping[str, Any]) -> Mapping[str, Any]:
    """The behaviour model with its defaults filled in (a field left out equals its default)."""
    from simulator.behaviour import BehaviourModel
    try:
        return BehaviourModel.from_plain(plain).to_plain()
    except (ValueError, TypeError):  # an unreadable model: compare it as saved
        return plain


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out[prefix] = value


def _metrics(ra: Mapping[str, Any], rb: Mapping[str, Any], intervals: bool) -> tuple[MetricDelta, ...]:
    names = [m for m in METRICS if m in ra or m in rb]
    names += sorted(k for k in {*ra, *rb} if k not in METRICS and k not in _ROW_KEYS)
    out = []
    for name in names:
        fa, fb = Figure.from_plain(ra.get(name)), Figure.from_plain(rb.get(name))
        if name != "entered" and all(f is None or f.mean == 0 for f in (fa, fb)):
            continue
        if ra and fa is None:  # a step both runs have: a figure one lacks is zero there
            fa = Figure(0.0, 0.0, 0.0)
        if rb and fb is None:
            fb = Figure(0.0, 0.0, 0.0)
        out.append(MetricDelta(name, fa, fb, intervals))
    return tuple(out)


def _csv_metric(m: MetricDelta) -> list[str]:
    def n(x: float | None) -> str:
        return "" if x is None or not math.isfinite(x) else repr(round(x, 6))

    a, b = m.a, m.b
    return [m.metric, n(a.mean if a else None), n(a.low if a else None), n(a.high if a else None),
            n(b.mean if b else None), n(b.low if b else None), n(b.high if b else None), n(m.delta), n(m.relative),
            m.note]


def figure_text(f: Figure | None) -> str:
    """A figure's mean for a table ('—' when the run has no such figure)."""
    if f is None:
        return "—"
    return f"{f.mean:,.0f}" if f.mean == int(f.mean) else f"{f.mean:,.1f}"


def share_text(f: Figure | None) -> str:
    """A share (conversion) as a percentage."""
    return "—" if f is None else f"{f.mean:.2%}"


def signed_text(x: float | None) -> str:
    """A change with its sign ('' when there is none)."""
    if x is None:
        return ""
    if x == 0:
        return "0"
    return f"{x:+,.0f}" if x == int(x) else f"{x:+,.1f}"


def change_text(m: MetricDelta) -> str:
    """The relative change, or 'new' for a figure that was 0 in A."""
    r = m.relative
    if r is None:
        return "new" if m.a is not None and m.a.mean == 0 and m.b is not None and m.b.mean > 0 else ""
    return f"{r:+.1%}"


def _replicas(k: int) -> str:
    return f"{k} replicas" if k != 1 else "1 replica (no interval)"


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)
