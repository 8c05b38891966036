"""The HTML report of a saved simulation run, for people without the app.

One self-contained file (inline CSS and SVG; no script, font or link to fetch), readable on screen and printed:
the run's header (journey version, when, engine; whether the journey has changed since; approval and the
reviewer's notes), headline figures, the journey as a picture with each step's figures, the funnel as bars and
as a table, entries, sends, opens, clicks, goals and exits per day and cumulated, and every assumption the
figures rest on (population, period, seed, replicas and the behaviour model, with what differs from the
defaults). All user text is escaped. The designer's "Export report" and `journey-studio report` both use
`render_report` / `report_for_run`; nothing here needs Qt.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

from app import __version__
from app.model.journey import Journey
from app.model.registry import REGISTRY
from simulator import svg
from simulator.behaviour import (DEFAULT_CHANNELS, DEFAULT_ENGAGEMENT_EFFECT, DEFAULT_EVENT_RATES,
                                 DEFAULT_MULTIPLIERS, BehaviourModel, ChannelBehaviour, Multiplier)
from simulator.engine import ENGINE_VERSION
from simulator.runs import RunRecord
from simulator.effect_text import FIGURE_LABELS, effect_rows, figure_rows, headline, headline_parts, points
from simulator.effect_text import share as share_text
from simulator.svg import esc

if TYPE_CHECKING:
    from app.store.project_file import ProjectFile

Figure = Mapping[str, Any]  # {"mean", "low", "high"} of one figure over replicas

# the funnel table's columns after step and type: (key in the funnel row, heading)
FUNNEL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("entered", "entered"), ("share", "% of journey entries"), ("sent", "sent"), ("delivered", "delivered"),
    ("opened", "opened"), ("clicked", "clicked"), ("yes", "yes"), ("no", "no"),
    *((f"path_{p}", f"path {p}") for p in "ABCDEFGHIJ"), ("holdout", "held out"), ("exited", "exited"),
    ("goal", "goal"))
SERIES: tuple[tuple[str, str, str, str | None], ...] = (  # key, name, colour (Okabe-Ito), dash
    ("entered", "entries", "#0072B2", None), ("sent", "sends", "#56B4E9", "6 3"),
    ("opened", "opens", "#E69F00", None), ("clicked", "clicks", "#D55E00", None),
    ("goals", "goals", "#009E73", None), ("exited", "exits", "#CC79A7", "2 3"))
END_ROW = "end"


# --- small formatting helpers --------------------------------------------------------------------------------

def _mean(f: Figure | None) -> float:
    v = (f or {}).get("mean")
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0


def _half(f: Figure | None) -> float:
    lo, hi = (f or {}).get("low"), (f or {}).get("high")
    return (float(hi) - float(lo)) / 2 if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else 0.0


def count_cell(f: Figure | None, replicas: int) -> str:
    """A count as the table shows it: '1,072', or '1,072 ± 38' with replicas (a figure that is zero in every
    replica is plain '0')."""
    text = svg.count(_mean(f))
    return f"{text} ± {svg.count(_half(f))}" if replicas >= 2 and (_mean(f) or _half(f)) else text


def share_cell(f: Figure | None, entries: float, replicas: int) -> str:
    """A count as a share of the journey's entries: '37.2%', or '37.2% ± 1.1' (points) with replicas."""
    if entries <= 0:
        return "–"
    text = f"{_mean(f) / entries:.1%}"
    return f"{text} ± {_half(f) / entries * 100:.1f}" if replicas >= 2 else text


def _pct(p: float) -> str:
    return f"{p * 100:.4g}%"


def _duration(seconds: float) -> str:
    s = float(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def _when(moment: datetime | str | None) -> str:
    """A moment as '2026-12-01 09:00 UTC'."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --- the parts of the report -------------------------------------------------------------------------------------

class _Run:
    """What the parts read from a record: the journey, its funnel rows and the count of journey entries."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.results = record.results
        self.replicas = int(self.results.get("replicas", record.replicas))
        self.rows: list[dict[str, Any]] = list(self.results.get("funnel", []))
        self.journey: Journey | None
        try:
            self.journey = record.journey()
        except Exception:  # noqa: BLE001 - a document this version cannot read: the report goes on without it
            self.journey = None
        doc_name = record.journey_doc.get("name") if isinstance(record.journey_doc, Mapping) else None
        self.name = str(self.journey.name if self.journey else doc_name or self.results.get("journey", {})
                        .get("name", record.journey_id))
        entry = self.journey.entry if self.journey else None
        first = next((r for r in self.rows if r.get("step") == entry), self.rows[0] if self.rows else {})
        self.entry_row: dict[str, Any] = first
        self.entries = _mean(first.get("entered"))

    def step_name(self, step_id: str) -> str:
        if self.journey and step_id in self.journey.steps:
            return self.journey.steps[step_id].display_name
        return next((str(r.get("name") or step_id) for r in self.rows if r.get("step") == step_id), step_id)

    @staticmethod
    def kind(row: Mapping[str, Any]) -> str:
        if row.get("step") == END_ROW and row.get("type") == END_ROW:
            return "end"
        tile = REGISTRY.get(str(row.get("type")))
        return tile.label if tile else str(row.get("type"))

    @staticmethod
    def label(row: Mapping[str, Any]) -> str:
        return "End of the journey" if row.get("type") == END_ROW else str(row.get("name") or row.get("step"))


def _header(run: _Run, *, run_name: str, notes: str, approved_by: str | None, approved_at: datetime | None,
            current_version: int | None, journey_deleted: bool) -> str:
    rec = run.record
    out = [f"<h1>{esc(run.name)}</h1>",
           f'<p class="subtitle">Simulation run{": " + esc(run_name) if run_name else ""}</p>']
    if journey_deleted:
        out.append('<p class="warning" role="note"><strong>The journey has been deleted since this run.</strong> '
                   f"The run was made on version {rec.journey_version}.</p>")
    elif current_version is not None and current_version != rec.journey_version:
        out.append('<p class="warning" role="note"><strong>This run is of an older version of the journey.</strong> '
                   f"It was made on version {rec.journey_version}; the journey is now at version "
                   f"{current_version}, so its figures may not match the journey as it is.</p>")
    if approved_at is not None or approved_by:
        approval = (f'<span class="approved">Approved</span> by {esc(approved_by or "(unknown)")}'
                    + (f" on {esc(_when(approved_at))}" if approved_at is not None else ""))
    else:
        approval = '<span class="not-approved">Not approved</span>'
    engine = esc(rec.engine_version) + ("" if rec.engine_version == ENGINE_VERSION else
                                        f" (this Journey Studio runs engine version {esc(ENGINE_VERSION)})")
    items = [("Journey version", f"{rec.journey_version}"), ("Run created", esc(_when(rec.created_at))),
             ("Engine version", engine), ("Approval", approval),
             ("Reviewer's notes", f'<div class="notes">{esc(notes)}</div>' if notes.strip()
              else '<span class="muted">No notes.</span>')]
    out.append('<dl class="header">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>")
    return "<header>" + "".join(out) + "</header>"


def _effect(run: _Run) -> str:
    """What the journey causes: the headline sentence, then each event with and without the journey."""
    res = run.results
    if not res.get("effect"):
        return (f'<section id="effect"><h2>What the journey causes</h2><p class="warning">{esc(headline(res))}</p>'
                "</section>")
    first, rest = headline_parts(res, prefix=False)
    lead = f"<strong>{esc(first)}</strong> {esc(rest)}"
    rows = []
    same = []
    for label, inc, with_, without, changed in effect_rows(res):
        if not changed:
            same.append(label)
            continue
        rows.append(f'<tr><th scope="row">{esc(label)}</th><td class="num"><strong>{esc(inc)}</strong></td>'
                    f'<td class="num">{esc(with_)}</td><td class="num">{esc(without)}</td></tr>')
    table = ('<table class="effect"><thead><tr><th scope="col">event</th><th scope="col" class="num">caused by the '
             'journey</th><th scope="col" class="num">with the journey</th><th scope="col" class="num">without it'
             f'</th></tr></thead><tbody>{"".join(rows)}</tbody></table>' if rows else "")
    unchanged = (f'<p class="muted">Not changed by the journey (the same with and without it): '
                 f"{esc(', '.join(same))}.</p>" if same else "")
    method = esc(str(res.get("effect_method") or ""))
    notes = "".join(f'<p class="warning" role="note">{esc(n)}</p>' for n in res.get("notes") or [])
    errors = res.get("allowed_errors") or []
    if errors:
        notes = (f'<p class="warning" role="note"><strong>Simulated despite {_plural(len(errors), "error")} '
                 "the check for errors found</strong>: " + esc("; ".join(
                     f"{e.get('step') or 'journey'}: {e.get('message')}" for e in errors)) + "</p>") + notes
    return (f'<section id="effect"><h2>What the journey causes</h2><p class="lead">{lead}</p>{table}'
            f'{unchanged}<p class="muted">{method}.</p>{notes}</section>')


def _figures(run: _Run) -> str:
    """Behaviour figures as stated (the population's average) against what this journey's recipients realised."""
    rows = []
    for channel, name, f in figure_rows(run.results):
        realised = f["realised"]
        interval = (f" ({float(realised['low']):.1%} to {float(realised['high']):.1%})"
                    if realised.get("low") is not None else "")
        rows.append(f'<tr><th scope="row">{esc(_CHANNEL_NAMES.get(channel, channel))} '
                    f'{esc(FIGURE_LABELS.get(name, name))}</th><td class="num">{float(f["stated"]):.2%}</td>'
                    f'<td class="num"><strong>{share_text(realised)}</strong>{esc(interval)}</td>'
                    f'<td class="num">{float(f["average_contact"]):.2%}</td>'
                    f'<td class="num">{int(realised.get("of", 0)):,}</td></tr>')
    if not rows:
        return ""
    return ('<h3>Stated and realised</h3><p class="muted">Stated: the assumption, what the population does on '
            "average (each contact's base is calibrated so). Realised: what this journey's recipients did in the "
            "run (95% interval); they differ when the audience is not an average slice of the population. Base: "
            "the figure for a contact of average engagement with no multiplier.</p>"
            '<div class="scroll"><table class="behaviour"><thead><tr><th scope="col">figure</th>'
            '<th scope="col" class="num">stated</th><th scope="col" class="num">realised</th>'
            '<th scope="col" class="num">base</th><th scope="col" class="num">of</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _headline(run: _Run) -> str:
    res, k = run.results, run.replicas
    contacts = int(res.get("contacts", 0))
    entered = run.entry_row.get("entered")
    cards = [(svg.count(contacts), "contacts simulated", "")]
    share = f"{run.entries / contacts:.1%} of the contacts" if 0 < run.entries <= contacts else ""
    cards.append((count_cell(entered, k), "entered the journey", share))
    sent = sum(_mean(r.get("sent")) for r in run.rows)
    cards.append((svg.count(sent), "messages sent", ""))
    conv = res.get("conversion") or {}
    has_goal = not isinstance(run.record.journey_doc, Mapping) or bool(run.record.journey_doc.get("goal"))
    if conv.get("mean") is None:
        cards.append(("–", "reached the goal", "nobody entered the journey"))
    elif not has_goal:
        cards.append(("–", "reached the goal", "the journey has no goal"))
    else:
        ci = (f"95% interval {float(conv['low']):.1%} to {float(conv['high']):.1%}"
              if k >= 2 and conv.get("low") is not None else "")
        effect = (res.get("effect") or {}).get(res.get("goal") or "")
        if effect:
            inc = effect["incremental"]
            cards.insert(0, (points(inc, interval=False), "of the goal caused by the journey",
                             f"95% interval {inc['low'] * 100:+.2f} to {inc['high'] * 100:+.2f} points"))
            ci = "; ".join(x for x in (ci, f"{share_text(effect['without_journey'])} would anyway") if x)
        if res.get("target") == "accounts":
            ci = "; ".join(x for x in (ci, "per account: one contact reaching it counts for all its contacts") if x)
        cards.append((f"{float(conv['mean']):.1%}", "reached the goal, whatever caused it", ci))
    body = "".join(f'<div class="card"><div class="big">{esc(v)}</div><div class="what">{esc(w)}</div>'
                   f'<div class="small">{esc(s)}</div></div>' for v, w, s in cards)
    note = (f"Figures are means over {k} replicas with 95% Student t intervals of the mean." if k >= 2 else
            "One replica: the figures are those of a single run, without intervals.")
    return f'<section id="headline"><h2>Headline figures</h2><div class="cards">{body}</div>' \
           f'<p class="muted">{esc(note)}</p></section>'


def step_figures(row: Mapping[str, Any]) -> list[list[str]]:
    """The lines of figures a step's tile shows (entered; then sent/opened/clicked, yes/no or the paths)."""
    c = svg.count
    lines = [[f"{c(_mean(row.get('entered')))} entered"]]
    tile = REGISTRY.get(str(row.get("type")))
    if tile is not None and tile.is_message:
        lines.append([f"{c(_mean(row.get(k)))} {k}" for k in ("sent", "opened", "clicked")])
    elif tile is not None and tile.execution == "if-then":
        lines.append([f"{c(_mean(row.get('yes')))} yes", f"{c(_mean(row.get('no')))} no"])
    elif tile is not None and tile.execution == "split":
        paths = [f"{p}: {c(_mean(row.get(f'path_{p}')))}" for p in "ABCDEFGHIJ" if _mean(row.get(f"path_{p}"))]
        if _mean(row.get("holdout")):
            paths.append(f"{c(_mean(row.get('holdout')))} held out")
        lines.append(paths)
    goal, exited = _mean(row.get("goal")), _mean(row.get("exited"))
    left = ([f"{c(goal)} reached the goal here"] if goal else []) + ([f"{c(exited - goal)} exited here"]
                                                                     if exited - goal else [])
    if left:
        lines.append(left)
    return lines


def _picture(run: _Run) -> str:
    if run.journey is None:
        return '<p class="muted">The journey of this run cannot be drawn by this version of Journey Studio.</p>'
    figures = {str(r.get("step")): step_figures(r) for r in run.rows}
    picture = svg.journey_picture(run.journey, figures, label=f"The journey {run.name} with the run's figures")
    return f'<div class="scroll">{picture}</div>'


def _funnel(run: _Run) -> str:
    k, entries = run.replicas, run.entries
    bars = []
    for r in run.rows:
        tile = REGISTRY.get(str(r.get("type")))
        e = r.get("entered") or {}
        value = _mean(e) / entries if entries > 0 else 0.0
        lo = hi = None
        if k >= 2 and entries > 0 and e.get("low") is not None:
            lo, hi = max(0.0, float(e["low"]) / entries), float(e["high"]) / entries
        sub = (f"{svg.count(_mean(e))} reached it" if r.get("type") == END_ROW else
               f"{run.kind(r)} · {svg.count(_mean(e))} entered")
        bars.append(svg.Bar(run.label(r), sub,
                            tile.color if tile else "#94a3b8", value, lo, hi, share_cell(e, entries, k)))
    chart = svg.funnel_bars(bars, label="Contacts entering each step, as a share of the journey's entries")
    cols = [(key, head) for key, head in FUNNEL_COLUMNS
            if key == "share" and any(_mean(r.get("entered")) for r in run.rows)
            or any(_mean(r.get(key)) for r in run.rows)]
    head = "".join(f'<th scope="col" class="num">{esc(h)}</th>' for _, h in cols)
    body = []
    for r in run.rows:
        cells = []
        for key, _ in cols:
            shown = share_cell(r.get("entered"), entries, k) if key == "share" else count_cell(r.get(key), k)
            mean, _, half = shown.partition(" ± ")  # the interval may go under the mean when printed
            ci = f'<span class="ci"> ± {esc(half)}</span>' if half else ""
            cells.append(f'<td class="num" data-col="{esc(key)}">{esc(mean)}{ci}</td>')
        body.append(f'<tr data-step="{esc(r.get("step"))}"><th scope="row">{esc(run.label(r))}</th>'
                    f"<td>{esc(run.kind(r))}</td>{''.join(cells)}</tr>")
    note = ("Each figure is the mean over replicas ± the half-width of its 95% interval." if k >= 2 else
            "Counts of a single run.")
    return (f'<section id="funnel"><h2>Funnel</h2><p class="muted">Steps in the order contacts reach them. '
            f"{esc(note)} Exited counts the contacts who left on an exit condition, those who reached the goal "
            f"included. Columns that are zero at every step are left out.</p>{chart}"
            f'<div class="scroll"><table class="funnel"><thead><tr><th scope="col">step</th><th scope="col">type</th>'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div></section>')


def _time_series(run: _Run) -> str:
    ts = run.results.get("time_series") or {}
    days = list(ts.get("days") or [])
    if not days:
        return '<section id="time"><h2>Over time</h2><p class="muted">No simulated days.</p></section>'
    bands = run.replicas >= 2
    daily, cumulative = [], []
    for key, name, color, dash in SERIES:
        f = ts.get(key) or {}
        mean = [float(v or 0.0) for v in f.get("mean", [0.0] * len(days))]
        low = [float(v or 0.0) for v in f["low"]] if bands and f.get("low") else None
        high = [float(v or 0.0) for v in f["high"]] if bands and f.get("high") else None
        daily.append(svg.Series(name, color, mean, low, high, dash))
        total, acc = 0.0, []
        for v in mean:
            total += v
            acc.append(total)
        cumulative.append(svg.Series(name, color, acc, dash=dash))
    a = svg.line_chart(days, daily, label="Entries, sends, opens, clicks, goals and exits per day", y_label="per day")
    b = svg.line_chart(days, cumulative, label="Entries, sends, opens, clicks, goals and exits, cumulated",
                       y_label="cumulated")
    note = (" Shaded bands: 95% intervals of the daily means." if bands else "")
    return (f'<section id="time"><h2>Over time</h2><p class="muted">Simulated days of 24 hours from the journey\'s '
            f"start (UTC).{note}</p><figure>{a}<figcaption>Per day</figcaption></figure>"
            f"<figure>{b}<figcaption>Cumulated (sum of the daily means)</figcaption></figure></section>")


def population_text(spec: Mapping[str, Any]) -> str:
    """Who was simulated, in words (e.g. '20,000 synthetic contacts, seed 7')."""
    kind = spec.get("kind")
    if kind == "synthetic":
        return f"{int(spec.get('contacts', 0)):,} synthetic contacts, seed {spec.get('seed')}"
    as_of = str(spec.get("as_of") or "")
    when = as_of[:10] if as_of[11:19] in ("", "00:00:00") else _when(as_of)
    size = int(spec.get("size") or 0)
    if kind == "project":
        return f"{size:,} project contacts in the journey's audience as of {when}"
    if kind == "segment":
        return f"{size:,} members of segment '{spec.get('segment')}' as of {when}"
    return f"a population described as {json.dumps(dict(spec), default=str)}"


def _population_details(spec: Mapping[str, Any], replicas: int = 1) -> list[str]:
    if spec.get("kind") != "synthetic":
        return ["The contacts as they were in the project then are kept with the run; the journey's segments are "
                "evaluated over the simulated period from their definitions, as the live runner does."]
    out = []
    profile = spec.get("profile")
    if isinstance(profile, Mapping):
        where = ", ".join(f"{k} {float(v):.0%}" for k, v in (profile.get("locales") or {}).items())
        out.append(f"Drawn from the population profile '{profile.get('source', 'default')}': {where}; "
                   f"{float(profile.get('account_share', 0)):.0%} work for an account; "
                   f"{float(profile.get('buyers', 0)):.0%} have bought before.")
        out.append("The journey's segments are evaluated from their definitions on these contacts and their "
                   "history, over the simulated period, with their own purchases in the run fed back.")
    if replicas > 1:
        out.append("Each replica drew its own population: the intervals include who happens to be in it."
                   if spec.get("per_replica") else
                   "One population for every replica: the intervals are conditional on it.")
    for name, (at_start, joining) in (spec.get("assumed") or spec.get("segments") or {}).items():
        out.append(f"Segment '{name}' has no definition that can be evaluated: assumed {float(at_start):.0%} "
                   f"members at the start; of the others, {float(joining):.0%} join during the run.")
    return out


class _Marks:
    """Formats behaviour figures and marks those that differ from the defaults."""

    def __init__(self) -> None:
        self.changed = 0

    def cell(self, value: str, default: str | None) -> str:
        if default is not None and value == default:
            return f"<td>{esc(value)}</td>"
        self.changed += 1
        note = "no default" if default is None else f"default {default}"
        return f'<td class="changed">{esc(value)} <span class="default">({esc(note)})</span></td>'


_CHANNEL_FIELDS: tuple[tuple[str, str, Callable[[ChannelBehaviour], str]], ...] = (
    ("delivered", "delivery", lambda c: _pct(c.delivery)),
    ("opened", "open", lambda c: _pct(c.open)),
    ("clicked, given opened", "click", lambda c: _pct(c.click)),
    ("unsubscribed, per delivered", "unsubscribe", lambda c: _pct(c.unsubscribe)),
    ("conversion, given clicked", "conversion", lambda c: _pct(c.conversion)),
    ("delivery delay", "delivery_delay", lambda c: _duration(c.delivery_delay)),
    ("time to open (median, σ)", "open_median", lambda c: f"{_duration(c.open_median)}, σ {c.open_sigma:g}"),
    ("time to click (median, σ)", "click_median", lambda c: f"{_duration(c.click_median)}, σ {c.click_sigma:g}"),
    ("time to convert (median, σ)", "conversion_median",
     lambda c: f"{_duration(c.conversion_median)}, σ {c.conversion_sigma:g}"),
)
_CHANNEL_NAMES = {"email": "Email", "sms": "SMS", "push": "Push"}


def _override_value(name: str, value: float) -> str:
    if name in ("delivery", "open", "click", "unsubscribe", "conversion"):
        return _pct(value)
    if name.endswith("sigma"):
        return f"σ {value:g}"
    return _duration(value)


def _multiplier_text(m: Multiplier) -> tuple[str, str]:
    target = (f"rate of {m.target[6:]} events" if m.target.startswith("event:") else f"odds of {m.target}")
    who = f"members of segment '{m.segment}'" if m.segment else f"{m.attribute} = {m.value}"
    return target, who


def _behaviour(run: _Run) -> str:
    try:
        b = BehaviourModel.from_plain(run.record.behaviour)
    except (ValueError, TypeError, KeyError) as e:
        return (f'<p class="warning">The behaviour model of this run cannot be read ({esc(e)}); as saved:</p>'
                f"<pre>{esc(json.dumps(run.record.behaviour, indent=1, default=str))}</pre>")
    marks = _Marks()
    out: list[str] = []
    head = "".join(f'<th scope="col">{esc(label)}</th>' for label, _, _ in _CHANNEL_FIELDS)
    rows = []
    for name, ch in b.channels.items():
        d = DEFAULT_CHANNELS.get(name)
        cells = "".join(marks.cell(fmt(ch), fmt(d) if d else None) for _, _, fmt in _CHANNEL_FIELDS)
        rows.append(f'<tr><th scope="row">{esc(_CHANNEL_NAMES.get(name, name))}</th>{cells}</tr>')
    out.append("<h3>Channels</h3><p class=\"muted\">As stated: what the population does on average (each "
               "contact's odds are raised or lowered by its engagement and multipliers around a base calibrated so "
               "that this holds). Delays are lognormal with the median and spread σ given (delivery: constant).</p>"
               f'<div class="scroll"><table class="behaviour"><thead><tr><th scope="col">channel</th>{head}</tr>'
               f"</thead><tbody>{''.join(rows)}</tbody></table></div>")
    if b.messages:
        channel_of = {sid: REGISTRY[s.type].channel for sid, s in (run.journey.steps.items() if run.journey else ())
                      if s.type in REGISTRY}
        rows = []
        for sid, over in b.messages.items():
            channel = channel_of.get(sid)
            base = b.channels.get(channel) if channel else None
            for fname, value in over.items():
                usual = _override_value(fname, getattr(base, fname)) if base is not None and hasattr(base, fname) \
                    else "–"
                rows.append(f'<tr><th scope="row">{esc(run.step_name(sid))}</th><td>{esc(fname.replace("_", " "))}'
                            f'</td><td class="changed">{esc(_override_value(fname, float(value)))}</td>'
                            f"<td>{esc(usual)}</td></tr>")
                marks.changed += 1
        out.append('<h3>Per-message figures</h3><div class="scroll"><table class="behaviour"><thead><tr>'
                   '<th scope="col">step</th><th scope="col">figure</th><th scope="col">in this run</th>'
                   f'<th scope="col">the channel\'s</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    rows = []
    for event in dict.fromkeys([*b.event_rates, *DEFAULT_EVENT_RATES]):
        rate = b.event_rates.get(event)
        default = DEFAULT_EVENT_RATES.get(event)
        mine = "not simulated" if rate is None else f"{_pct(rate)} per contact per day"
        rows.append(f'<tr><th scope="row">{esc(event)}</th>'
                    f'{marks.cell(mine, None if default is None else f"{_pct(default)} per contact per day")}</tr>')
    conv = marks.cell(b.conversion_event, "purchase")
    out.append('<h3>Contact events</h3><p class="muted">Events contacts do on their own (they reach goals and exit '
               'conditions), as Poisson processes.</p><table class="behaviour"><thead><tr><th scope="col">event'
               f'</th><th scope="col">rate</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
               f'<table class="behaviour"><tbody><tr><th scope="row">event of a conversion after a click</th>{conv}'
               "</tr></tbody></table>")
    rows = []
    for target in dict.fromkeys([*b.engagement_effect, *DEFAULT_ENGAGEMENT_EFFECT]):
        mine_v, default_v = b.engagement_effect.get(target), DEFAULT_ENGAGEMENT_EFFECT.get(target)
        cell = marks.cell("none" if mine_v is None else f"{mine_v:g}", None if default_v is None else f"{default_v:g}")
        rows.append(f'<tr><th scope="row">{esc("event rates" if target == "events" else target)}</th>{cell}</tr>')
    mean = marks.cell(f"{b.engagement_mean:.3g}", f"{2 / 7:.3g}")
    out.append("<h3>Engagement</h3><p class=\"muted\">Each contact's odds (or rates) are multiplied by "
               "exp(β × (engagement − mean engagement)).</p><table class=\"behaviour\"><thead><tr>"
               f'<th scope="col">effect on</th><th scope="col">β</th></tr></thead><tbody>{"".join(rows)}'
               f'<tr><th scope="row">mean engagement</th>{mean}</tr></tbody></table>')
    rows = []
    for m in b.multipliers:
        target, who = _multiplier_text(m)
        default_m = next((d for d in DEFAULT_MULTIPLIERS if (d.target, d.attribute, d.value, d.segment)
                          == (m.target, m.attribute, m.value, m.segment)), None)
        rows.append(f'<tr><td>{esc(target)}</td><td>{esc(who)}</td>'
                    f'{marks.cell(f"× {m.factor:g}", None if default_m is None else f"× {default_m.factor:g}")}</tr>')
    dropped = [d for d in DEFAULT_MULTIPLIERS if not any(
        (d.target, d.attribute, d.value, d.segment) == (m.target, m.attribute, m.value, m.segment)
        for m in b.multipliers)]
    marks.changed += len(dropped)
    gone = ("<p>Left out of the defaults: " + esc("; ".join(" for ".join(_multiplier_text(d)) + f" × {d.factor:g}"
                                                            for d in dropped)) + ".</p>") if dropped else ""
    table = ('<table class="behaviour"><thead><tr><th scope="col">multiplies</th><th scope="col">for</th>'
             f'<th scope="col">factor</th></tr></thead><tbody>{"".join(rows)}</tbody></table>' if rows
             else "<p>None.</p>")
    out.append(f"<h3>Multipliers</h3>{table}{gone}")
    summary = ("Every figure is the default of Journey Studio's behaviour model (simulator/behaviour.py: "
               "ballparks from public benchmarks, to be checked against your own data)." if not marks.changed else
               f"{_plural(marks.changed, 'figure')} differ from the defaults of Journey Studio's behaviour model "
               "(simulator/behaviour.py); they are marked, with the default after them.")
    return f'<p class="summary">{esc(summary)}</p>' + "".join(out)


def _assumptions(run: _Run) -> str:
    rec, res = run.record, run.results
    days = len((res.get("time_series") or {}).get("days") or [])
    items = [("Population", esc(population_text(rec.population))
              + "".join(f'<br><span class="muted">{esc(x)}</span>'
                        for x in _population_details(rec.population, run.replicas))),
             ("Period", f"{esc(_when(res.get('start')))} to {esc(_when(res.get('horizon')))} "
                        f"({_plural(days, 'simulated day')})"),
             ("Seed", esc(rec.seed)),
             ("Replicas", f"{run.replicas}" + (" (each with a seed derived from the run's seed; figures are means "
                                               "with 95% Student t intervals)" if run.replicas >= 2 else "")),
             ("Engine version", esc(rec.engine_version))]
    dl = '<dl class="header">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    return (f'<section id="assumptions"><h2>Assumptions</h2>{dl}<h3>Behaviour model</h3>{_figures(run)}'
            f"{_behaviour(run)}</section>")


CSS = """
:root { color-scheme: light; }
html { background: #ffffff; color: #1f2937; }
body { margin: 0; font: 14px/1.45 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif;
       background: #ffffff; color: #1f2937; }
main { max-width: 960px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e5e7eb; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.subtitle { margin: 0 0 14px; color: #4b5563; font-size: 16px; overflow-wrap: anywhere; }
.muted, .default { color: #4b5563; }
.warning { background: #fef3c7; border: 1px solid #d97706; color: #78350f; padding: 8px 12px; border-radius: 6px; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.header dt { font-weight: 600; color: #374151; }
dl.header dd { margin: 0; overflow-wrap: anywhere; }
.notes { white-space: pre-wrap; }
.approved { color: #166534; font-weight: 600; }
.not-approved { color: #9a3412; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { flex: 1 1 180px; border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; background: #f8fafc; }
.card .big { font-size: 24px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .what { font-weight: 600; }
.card .small { color: #4b5563; font-size: 12px; min-height: 1em; }
.scroll { overflow-x: auto; }
svg { display: block; max-width: 100%; height: auto; margin: 8px 0; }
figure { margin: 12px 0 18px; }
figcaption { color: #4b5563; font-size: 12px; text-align: center; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #cbd5e1; font-weight: 600; color: #374151; }
tbody th { font-weight: 600; overflow-wrap: anywhere; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.changed { font-weight: 700; background: #fff7ed; }
td.changed::before { content: "◆ "; color: #c2410c; }
td.changed .default { font-weight: 400; font-size: 12px; }
.summary { font-weight: 600; }
.lead { font-size: 17px; }
table.effect td, table.effect th { padding: 4px 12px; }
pre { white-space: pre-wrap; background: #f8fafc; padding: 8px; }
footer { margin-top: 40px; color: #6b7280; font-size: 12px; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media print {
  @page { margin: 14mm; }
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .scroll { overflow: visible; }
  h2 { break-after: avoid; }
  svg, figure, tr, .cards, dl.header, .warning { break-inside: avoid; }
  table { font-size: 8pt; }
  th, td { padding: 2px 4px; }
  .num { white-space: normal; }
  .ci { display: block; color: #4b5563; }
}
"""


def render_report(record: RunRecord, *, run_name: str = "", notes: str = "", approved_by: str | None = None,
                  approved_at: datetime | None = None, current_version: int | None = None,
                  journey_deleted: bool = False) -> str:
    """The HTML report of a run: one self-contained page (see the module docstring).

    `current_version` is the journey's version now (a different one shows a warning); `journey_deleted` says the
    journey is gone from the project.
    """
    run = _Run(record)
    title = f"{run.name} – {run_name or 'simulation run'} – simulation report"
    body = [_header(run, run_name=run_name, notes=notes, approved_by=approved_by, approved_at=approved_at,
                    current_version=current_version, journey_deleted=journey_deleted),
            _effect(run), _headline(run),
            f'<section id="journey"><h2>Journey</h2><p class="muted">Each step with its figures '
            f"(means{' over replicas' if run.replicas >= 2 else ''}); a ringed dot marks where a path ends.</p>"
            f"{_picture(run)}</section>",
            _funnel(run), _time_series(run), _assumptions(run),
            f"<footer>Made by Journey Studio {esc(__version__)} from run data that replays bit for bit "
            f"(trace digest {esc(record.trace_digest[:16])}).</footer>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            + "\n".join(body) + "</main></body></html>\n")


def report_for_run(pf: ProjectFile, run_id: int) -> str:
    """The HTML report of saved run `run_id` of a project (ProjectFileError when there is no such run)."""
    from simulator.runs import load_run

    record = load_run(pf, run_id)
    info = next((i for i in pf.runs() if i.id == run_id), None)
    if info is None:  # deleted between the two reads
        return render_report(record)
    return render_report(record, run_name=info.name, notes=info.notes, approved_by=info.approved_by,
                         approved_at=info.approved_at, current_version=info.current_version,
                         journey_deleted=info.current_version is None)


__all__ = ["render_report", "report_for_run", "population_text", "step_figures", "count_cell", "share_cell"]
