"""Two runs side by side: per-step figures as counts and as rates, whether a difference is more than noise, the
journey's own effect in each, and the assumptions that differ, written as people write them.

`compare_records(a, b)` compares two saved runs (`RunRecord`); `compare_results(a, b)` compares their results
documents (`SimulationResult.to_json()`, as saved). Steps are matched by id: A's steps in A's order, then the
steps only B has.

Runs of different journeys are refused (`CompareError`) unless `different_journeys=True`: their steps match by
id only. Runs of different population sizes compare, with a warning: their counts differ by construction, so
differences are judged on rates (per contact who entered the journey), never on counts.

A difference is flagged only when the 95 % interval of the *difference* of the rates excludes zero:

- paired, when both runs have the same seed, replicas and population (replica r of each then shares its
  contacts and their own events): Student's t interval of the per-replica differences;
- otherwise unpaired: the normal interval with both runs' standard errors, each the larger of the replicas'
  (t interval) and the binomial one of the rate over all its contacts, so that a zero-width replica interval
  (a figure fixed by a shared population) never makes noise look significant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from app.files import csv_cell
from app.semantics.timezones import utc_iso

if TYPE_CHECKING:
    from simulator.runs import RunRecord

METRICS = ("entered", "sent", "suppressed", "capped", "delivered", "opened", "clicked", "unsubscribed", "converted",
           "yes", "no", *(f"path_{c}" for c in "ABCDEFGHIJ"), "holdout", "done", "shared", "exited", "goal",
           "stopped", "waiting", "completed")
_ROW_KEYS = ("step", "name", "type")
BOTH, ONLY_A, ONLY_B = "both", "only in A", "only in B"
SIGNIFICANT, NOISE, NO_INTERVAL = "differs (95% interval excludes 0)", "within noise", "no interval"
Z975 = 1.959964
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def _t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else Z975 + 2.37 / df


class CompareError(ValueError):
    """Two runs that should not be compared as asked (one line saying why and what to do)."""


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
class Difference:
    """B's rate minus A's, with its 95 % interval, and how it was worked out ('paired' or 'unpaired')."""

    mean: float
    low: float
    high: float
    method: str

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class MetricDelta:
    """One metric of one step in both runs (None where a run has no such figure): counts, rates per contact who
    entered the journey, and the difference of the rates."""

    metric: str
    a: Figure | None
    b: Figure | None
    rate_a: float | None = None
    rate_b: float | None = None
    difference: Difference | None = None

    @property
    def delta(self) -> float | None:
        """B - A of the counts (None unless both runs have the figure)."""
        return None if self.a is None or self.b is None else self.b.mean - self.a.mean

    @property
    def relative(self) -> float | None:
        """(B - A) / A of the rates (of the counts when there are no rates); None when A is zero or missing."""
        if self.rate_a is not None and self.rate_b is not None:
            return None if self.rate_a == 0 else (self.rate_b - self.rate_a) / self.rate_a
        d = self.delta
        return None if d is None or self.a is None or self.a.mean == 0 else d / self.a.mean

    @property
    def significant(self) -> bool | None:
        """Whether the interval of the difference excludes zero (None: no interval to tell)."""
        return None if self.difference is None else self.difference.significant

    @property
    def note(self) -> str:
        if self.a is None or self.b is None:
            return ""
        if self.difference is None:
            return NO_INTERVAL
        return SIGNIFICANT if self.difference.significant else NOISE


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
class EffectDelta:
    """The journey's own effect on one event in both runs (incremental shares), and B - A with its interval."""

    event: str
    a: Figure | None
    b: Figure | None
    difference: Difference | None


@dataclass(frozen=True)
class Comparison:
    """Run A against run B (see the module docstring)."""

    rows: tuple[StepComparison, ...]
    conversion: MetricDelta
    replicas: tuple[int, int]
    labels: tuple[str, str] = ("A", "B")
    assumptions: tuple[tuple[str, Any, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    paired: bool = False
    entries: tuple[float | None, float | None] = (None, None)
    effects: tuple[EffectDelta, ...] = ()
    audience: MetricDelta | None = None  # entries as a share of the population simulated

    def row(self, step: str) -> StepComparison:
        """The comparison of step `step` (KeyError naming it when neither run has it)."""
        for r in self.rows:
            if r.step == step:
                return r
        raise KeyError(f"neither run has a step '{step}'")

    def to_csv_rows(self) -> list[list[str]]:
        """A header and one row per step and metric, then the conversion (numbers unformatted; '' for none); text
        a spreadsheet would run as a formula is quoted (app.files.csv_cell)."""
        a, b = self.labels
        out = [["step", "name", "type", "status", "metric", a, f"{a} low", f"{a} high", b, f"{b} low", f"{b} high",
                "delta", f"{a} rate", f"{b} rate", "rate difference", "difference low", "difference high",
                "relative change", "verdict"]]
        for r in self.rows:
            for m in r.metrics:
                out.append([r.step, r.name, r.type, r.status, *_csv_metric(m)])
        out.append(["(journey)", "", "", BOTH, *_csv_metric(self.conversion)])
        return [[csv_cell(cell) for cell in row] for row in out]  # step and run names are the user's text

    def text_table(self) -> str:
        """An aligned plain-text table (for a terminal): warnings, effects, steps, then the assumptions."""
        a, b = self.labels
        ra, rb = self.replicas
        lines = [f"{a}: {_replicas(ra)}; {b}: {_replicas(rb)}. Rates are per contact who entered the journey; a "
                 f"difference is flagged when the 95% interval of the difference excludes 0 "
                 f"({'paired: same seed, replicas and population' if self.paired else 'unpaired'})."]
        lines += [f"Warning: {w}" for w in self.warnings]
        if self.audience is not None:
            m = self.audience
            lines.append(f"Entered the journey: {a} {figure_text(m.a)} ({rate_text(m.rate_a)} of the population), "
                         f"{b} {figure_text(m.b)} ({rate_text(m.rate_b)}); change {difference_text(m.difference)}, "
                         f"{m.note}")
        if self.effects:
            lines.append("Caused by the journey (incremental share of the contacts who entered):")
            for e in self.effects:
                diff = e.difference
                verdict = "" if diff is None else (f"  change {diff.mean * 100:+.2f} pt (95% interval "
                                                   f"{diff.low * 100:+.2f} to {diff.high * 100:+.2f})"
                                                   + ("" if diff.significant else ", within noise"))
                lines.append(f"  {e.event}: {a} {_pt(e.a)}, {b} {_pt(e.b)}{verdict}")
        table = [["step / metric", a, b, "rate A", "rate B", "rate change (95% interval)", ""]]
        for r in self.rows:
            where = "" if r.status == BOTH else f"  [{r.status}]"
            title = r.name if r.type == "end" else f"{r.name} ({r.type})"
            table.append([title + where, "", "", "", "", "", ""])
            for m in r.metrics:
                table.append([f"  {m.metric}", figure_text(m.a), figure_text(m.b), rate_text(m.rate_a),
                              rate_text(m.rate_b), difference_text(m.difference), m.note])
        c = self.conversion
        table.append(["goal reached", share_text(c.a), share_text(c.b), "", "", difference_text(c.difference),
                      c.note])
        widths = [max(len(row[i]) for row in table) for i in range(7)]
        for row in table:
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)] + [row[6]]
            lines.append("  ".join(cells).rstrip())
        if self.assumptions:
            lines.append("")
            lines.append("Assumptions that differ:")
            for path, va, vb in self.assumptions:
                lines.append(f"  {assumption_label(path)}: {a} {assumption_value(path, va)}, "
                             f"{b} {assumption_value(path, vb)}")
        return "\n".join(lines)


# --- comparing ------------------------------------------------------------------------------------------------------

def _rate_se(rate: float, n: float, replicas: int, fig: Figure | None) -> float:
    """A rate's standard error: the larger of the binomial one over all contacts and the replicas' one."""
    binomial = math.sqrt(max(rate * (1 - rate), 0.0) / n) if n > 0 and 0 <= rate <= 1 else 0.0
    if rate > 1 and n > 0:  # a count per contact above 1 (messages, several per contact): Poisson
        binomial = math.sqrt(rate / n)
    spread = 0.0
    if fig is not None and replicas > 1 and n > 0:
        half = (fig.high - fig.low) / 2
        spread = half / _t975(replicas - 1) / n  # the mean count's standard error, per contact
    return max(binomial, spread)


def _paired(pa: Mapping[str, np.ndarray], pb: Mapping[str, np.ndarray], metric: str, ia: int,
            ib: int) -> Difference | None:
    ka, kb = pa.get(f"funnel.{metric}"), pb.get(f"funnel.{metric}")
    ea, eb = pa.get("entries"), pb.get("entries")
    if ka is None or kb is None or ea is None or eb is None or len(ea) != len(eb) or len(ea) < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        d = kb[:, ib] / eb - ka[:, ia] / ea
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    mean, half = float(d.mean()), _t975(len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return Difference(mean, mean - half, mean + half, "paired")


def compare_results(a: Mapping[str, Any], b: Mapping[str, Any], *, labels: tuple[str, str] = ("A", "B"),
                    assumptions: tuple[tuple[str, Any, Any], ...] = (), warnings: tuple[str, ...] = (),
                    paired: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]] | None = None) -> Comparison:
    """Compare two results documents; ValueError if one has no funnel. `paired` holds each run's per-replica
    figures when the runs pair replica by replica."""
    for label, doc in zip(labels, (a, b)):
        if not isinstance(doc.get("funnel"), list):
            raise ValueError(f"run {label} has no funnel to compare (not a simulation results document)")
    ka, kb = int(a.get("replicas") or 1), int(b.get("replicas") or 1)
    ea, eb = _entries(a), _entries(b)
    rows_a = {str(r["step"]): r for r in a["funnel"]}
    rows_b = {str(r["step"]): r for r in b["funnel"]}
    index_a = {s: i for i, s in enumerate(rows_a)}
    index_b = {s: i for i, s in enumerate(rows_b)}
    order = list(rows_a) + [s for s in rows_b if s not in rows_a]
    rows = []
    for step in order:
        ra, rb = rows_a.get(step), rows_b.get(step)
        status = BOTH if ra is not None and rb is not None else ONLY_A if rb is None else ONLY_B
        info = ra if ra is not None else rb
        assert info is not None
        metrics = []
        for name, fa, fb in _metric_figures(ra or {}, rb or {}):
            rate_a = fa.mean / ea if fa is not None and ea else None
            rate_b = fb.mean / eb if fb is not None and eb else None
            diff = None
            if rate_a is not None and rate_b is not None:
                if paired is not None and step in index_a and step in index_b:
                    diff = _paired(paired[0], paired[1], name, index_a[step], index_b[step])
                if diff is None:
                    se = math.hypot(_rate_se(rate_a, ea or 0, ka, fa), _rate_se(rate_b, eb or 0, kb, fb))
                    d = rate_b - rate_a
                    diff = Difference(d, d - Z975 * se, d + Z975 * se, "unpaired") if se > 0 or d == 0 else None
            metrics.append(MetricDelta(name, fa, fb, rate_a, rate_b, diff))
        rows.append(StepComparison(step, str(info.get("name", step)), str(info.get("type", "")), status,
                                   tuple(metrics)))
    ca, cb = Figure.from_plain(a.get("conversion")), Figure.from_plain(b.get("conversion"))
    conv_diff = None
    if ca is not None and cb is not None:
        se = math.hypot(_rate_se(ca.mean, ea or 0, ka, None), _rate_se(cb.mean, eb or 0, kb, None))
        d = cb.mean - ca.mean
        conv_diff = Difference(d, d - Z975 * se, d + Z975 * se, "unpaired")
    conversion = MetricDelta("goal reached", ca, cb, ca.mean if ca else None, cb.mean if cb else None, conv_diff)
    audience = _audience(a, b, ea, eb, ka, kb)
    return Comparison(tuple(rows), conversion, (ka, kb), labels, tuple(assumptions), tuple(warnings),
                      paired is not None, (ea, eb), _effects(a, b), audience)


def _audience(a: Mapping[str, Any], b: Mapping[str, Any], ea: float | None, eb: float | None, ka: int,
              kb: int) -> MetricDelta | None:
    """Contacts entering the journey as a share of the population simulated."""
    na, nb = a.get("contacts"), b.get("contacts")
    if not ea or not eb or not isinstance(na, (int, float)) or not isinstance(nb, (int, float)) or not na or not nb:
        return None
    fa, fb = Figure.from_plain(a.get("entries")), Figure.from_plain(b.get("entries"))
    ra, rb = ea / na, eb / nb
    se = math.hypot(_rate_se(ra, na, ka, fa and Figure(fa.mean, fa.low, fa.high)),
                    _rate_se(rb, nb, kb, fb and Figure(fb.mean, fb.low, fb.high)))
    d = rb - ra
    return MetricDelta("entered the journey", Figure(ea, ea, ea) if fa is None else fa,
                       Figure(eb, eb, eb) if fb is None else fb, ra, rb,
                       Difference(d, d - Z975 * se, d + Z975 * se, "unpaired"))


def _entries(doc: Mapping[str, Any]) -> float | None:
    f = Figure.from_plain(doc.get("entries"))
    if f is not None:
        return f.mean or None
    funnel = doc.get("funnel") or []
    if funnel:  # older runs: the first step's entries
        first = Figure.from_plain(funnel[0].get("entered"))
        return first.mean if first is not None and first.mean else None
    return None


def _effects(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[EffectDelta, ...]:
    ea, eb = a.get("effect") or {}, b.get("effect") or {}
    out = []
    for event in dict.fromkeys([*ea, *eb]):
        fa = Figure.from_plain((ea.get(event) or {}).get("incremental"))
        fb = Figure.from_plain((eb.get(event) or {}).get("incremental"))
        if (fa is None or (fa.mean == 0 and fa.high == 0)) and (fb is None or (fb.mean == 0 and fb.high == 0)):
            continue  # neither journey changes it
        diff = None
        if fa is not None and fb is not None:
            se = math.hypot((fa.high - fa.low) / (2 * Z975), (fb.high - fb.low) / (2 * Z975))
            d = fb.mean - fa.mean
            diff = Difference(d, d - Z975 * se, d + Z975 * se, "unpaired")
        out.append(EffectDelta(event, fa, fb, diff))
    return tuple(out)


def _metric_figures(ra: Mapping[str, Any], rb: Mapping[str, Any]) -> list[tuple[str, Figure | None, Figure | None]]:
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
        out.append((name, fa, fb))
    return out


def compare_records(a: RunRecord, b: RunRecord, *, labels: tuple[str, str] = ("A", "B"),
                    different_journeys: bool = False) -> Comparison:
    """Compare two saved runs: their results, and the assumptions that differ (see the module docstring)."""
    names = (_journey_name(a), _journey_name(b))
    different = a.journey_id != b.journey_id or (not a.journey_id and names[0] != names[1])
    if different and not different_journeys:
        raise CompareError(f"the runs simulate different journeys ('{names[0]}' and '{names[1]}'); their steps "
                           "would match by id only. Compare them anyway with --different-journeys (in the designer: "
                           "confirm when asked)")
    assumptions = tuple(assumption_differences(a, b))
    warnings: list[str] = []
    if different:
        warnings.append(f"the runs simulate different journeys ('{names[0]}' and '{names[1]}'): steps match by id")
    sa, sb = _size(a.population), _size(b.population)
    if sa and sb and sa != sb:
        warnings.append(f"the populations differ in size ({sa:,} and {sb:,} contacts): counts differ by "
                        "construction; only the rates (per contact who entered) are compared")
    other = [p for p, _, _ in assumptions if not p.startswith(("journey", "seed", "replicas"))
             and p not in ("population.contacts", "population.size")]
    if other:
        warnings.append(f"{len(other)} assumption{'s differ' if len(other) != 1 else ' differs'} (listed below): "
                        "a difference may come from them rather than from the journey")
    for label, rec in zip(labels, (a, b)):
        if rec.replicas > 1 and rec.population.get("kind") == "synthetic" and not rec.population.get("per_replica"):
            warnings.append(f"{label} kept one population for every replica: its intervals are conditional on it")
    paired = None
    pa, pb = a.replica_figures(), b.replica_figures()
    if (pa is not None and pb is not None and a.seed == b.seed and a.replicas == b.replicas and a.replicas > 1
            and _same_population(a.population, b.population)):
        paired = (pa, pb)
    return compare_results(a.results, b.results, labels=labels, assumptions=assumptions, warnings=tuple(warnings),
                           paired=paired)


def _journey_name(r: RunRecord) -> str:
    return str(r.journey_doc.get("name") if isinstance(r.journey_doc, Mapping) else r.journey_id)


def _size(population: Mapping[str, Any]) -> int | None:
    n = population.get("contacts", population.get("size"))
    return int(n) if isinstance(n, (int, float)) else None


def _same_population(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keep = {k: v for k, v in a.items() if k != "journey"}
    return keep == {k: v for k, v in b.items() if k != "journey"}


def assumption_differences(a: RunRecord, b: RunRecord) -> list[tuple[str, Any, Any]]:
    """What differs in the inputs of two runs, as (key path, A value, B value), e.g.
    ('behaviour.channels.email.open', 0.2133, 0.3); `assumption_value` writes a value as people do."""
    fa, fb = _inputs(a), _inputs(b)
    return [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)]


def _inputs(r: RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"journey": r.journey_id, "journey.version": r.journey_version}
    _flatten("population", r.population, out)
    _flatten("behaviour", _behaviour(r.behaviour), out)
    out.update({"seed": r.seed, "replicas": r.replicas, "horizon": r.horizon, "chunk_size": r.chunk_size,
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


# --- words and numbers as people write them --------------------------------------------------------------------

_PROBABILITIES = ("delivery", "open", "click", "unsubscribe", "conversion")
_SECONDS = ("delivery_delay", "open_median", "click_median", "conversion_median")
_MOMENTS = ("horizon", "population.as_of", "population.start", "population.end")


def _duration(seconds: float) -> str:
    s = float(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if abs(s) >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def assumption_label(path: str) -> str:
    """A key path in words: 'behaviour.channels.email.open' -> 'email open rate'."""
    parts = path.split(".")
    if path.startswith("behaviour.channels.") and len(parts) == 4:
        return f"{parts[2]} {parts[3].replace('_', ' ')}" + (" rate" if parts[3] in _PROBABILITIES else "")
    if path.startswith("behaviour.messages.") and len(parts) == 4:
        return f"step '{parts[2]}' {parts[3].replace('_', ' ')}" + (" rate" if parts[3] in _PROBABILITIES else "")
    if path.startswith("behaviour.event_rates.") and len(parts) == 3:
        return f"{parts[2].replace('_', ' ')} rate of its own"
    if path.startswith("population.profile."):
        return "population profile: " + " ".join(p.replace("_", " ") for p in parts[2:])
    if path.startswith("population."):
        return "population " + " ".join(p.replace("_", " ") for p in parts[1:])
    return path.replace("_", " ")


def assumption_value(path: str, value: Any) -> str:
    """A value as people write it: dates, durations, percentages and rates per day."""
    if value is None:
        return "(none)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    last = path.rsplit(".", 1)[-1]
    if path in _MOMENTS or path.endswith(".as_of"):
        try:
            return utc_iso(int(value)).replace("T", " ").replace("Z", " UTC")
        except (OverflowError, ValueError, OSError):
            return str(value)
    if path.startswith("behaviour.event_rates."):
        return f"{value * 100:.4g}% a day"
    if last in _PROBABILITIES or (path.startswith("population.profile.") and last not in (
            "a", "b", "mean", "sd", "value_median", "value_sigma", "recency_days", "purchases_per_buyer",
            "web_visits", "form_submissions", "contacts_per_account", "tenure_days")):
        return f"{value * 100:.4g}%"
    if last in _SECONDS:
        return _duration(value)
    if last in ("recency_days", "tenure_days"):
        return f"{value:.4g} days"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _csv_metric(m: MetricDelta) -> list[str]:
    def n(x: float | None) -> str:
        return "" if x is None or not math.isfinite(x) else repr(round(x, 6))

    a, b, d = m.a, m.b, m.difference
    return [m.metric, n(a.mean if a else None), n(a.low if a else None), n(a.high if a else None),
            n(b.mean if b else None), n(b.low if b else None), n(b.high if b else None), n(m.delta), n(m.rate_a),
            n(m.rate_b), n(d.mean if d else None), n(d.low if d else None), n(d.high if d else None),
            n(m.relative), m.note]


def figure_text(f: Figure | None) -> str:
    """A figure's mean for a table ('—' when the run has no such figure)."""
    if f is None:
        return "—"
    return f"{f.mean:,.0f}" if f.mean == int(f.mean) else f"{f.mean:,.1f}"


def rate_text(rate: float | None) -> str:
    """A rate per contact who entered: '21.4%' ('—' when none)."""
    return "—" if rate is None else f"{rate:.1%}" if rate < 10 else f"{rate:,.1f}"


def share_text(f: Figure | None) -> str:
    """A share as a percentage."""
    return "—" if f is None else f"{f.mean:.2%}"


def difference_text(d: Difference | None) -> str:
    """A difference of rates in points with its interval: '+1.20 pt (+0.80 to +1.60)'."""
    if d is None:
        return ""
    return f"{d.mean * 100:+.2f} pt ({d.low * 100:+.2f} to {d.high * 100:+.2f})"


def _pt(f: Figure | None) -> str:
    if f is None:
        return "—"
    return f"{f.mean * 100:+.2f} pt ({f.low * 100:+.2f} to {f.high * 100:+.2f})"


def _replicas(k: int) -> str:
    return f"{k} replicas" if k != 1 else "1 replica"


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)


def moment_text(seconds: int) -> str:
    """UTC seconds as '2027-01-31 00:00 UTC'."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
