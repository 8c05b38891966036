"""Learn the behaviour figures from a live run: what the runner saw of each message (sends, deliveries, opens,
clicks, unsubscribes) and of the goal, turned into the behaviour model's figures with their intervals (pure:
NumPy, no Qt; `journey-studio calibrate PROJECT --live RUN` reads the run and writes the file).

Per message step (a `messages.STEP` override of the behaviour file):

- `delivery` = delivered / sent, when the run saw deliveries (an open or a click is a delivery too); a run whose
  transport reports none keeps the model's figure, and the step says so.
- `open` = opened / delivered (a click counts as an open: a mail client that blocks the pixel still clicks);
  `click` = clicked / opened; `unsubscribe` = unsubscribed / delivered.
- Each is the posterior mean of a Beta prior centred on the figure the model had (worth `prior_weight`
  contacts, so that a step few contacts reached keeps close to it) updated by the counts; the interval is the
  posterior's central 95 %.

The goal (the run's contact event, e.g. purchase):

- Its background rate (`event_rates.GOAL`, per contact per day) is the goals of contacts before any click of
  theirs, over the time they were watched before a click (from entry to the first of goal, click and now):
  the maximum-likelihood rate of a Poisson process, with a Gamma interval. It is an assumption that a goal
  before a click was not caused by the journey, and contacts who click are more engaged than those who do not:
  a run with a holdout path measures it without that bias (not read here: the runner does not record which
  contacts were held out).
- `conversion` after a click (a `messages.STEP` figure of each message clicked) is the share of clickers who
  reached the goal after their click, less what the background rate would give them over the same time,
  scaled: (p - b) / (1 - b).

Figures are measured over the time the run has run: a run that is still going has seen fewer opens of its
latest sends than it will; contacts sent a message less than `settle_seconds` ago are left out of that step's
figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from simulator.behaviour import BehaviourModel

DAY = 86_400
DEFAULT_PRIOR_WEIGHT = 20.0
DEFAULT_SETTLE = 2 * DAY
_DRAWS = 200_000


class _Send(Protocol):
    @property
    def step(self) -> str: ...
    @property
    def at(self) -> int: ...
    @property
    def events(self) -> Mapping[str, int]: ...


class ObservedRun(Protocol):
    """What `app.runner.observed.read_observed` gives."""

    @property
    def journey(self) -> str: ...
    @property
    def now(self) -> int: ...
    @property
    def entries(self) -> Mapping[tuple[int, int], int]: ...
    @property
    def sends(self) -> Mapping[tuple[int, int], Sequence[_Send]]: ...
    @property
    def contact_events(self) -> Mapping[tuple[int, int], Mapping[str, int]]: ...


@dataclass(frozen=True)
class Figure:
    """One fitted probability: the counts it came from, the prior, the posterior mean and 95 % interval."""

    name: str
    hits: int
    of: int
    prior: float
    mean: float
    low: float
    high: float

    def to_plain(self) -> dict[str, Any]:
        return {"figure": self.name, "hits": self.hits, "of": self.of, "prior": round(self.prior, 6),
                "mean": round(self.mean, 6), "low": round(self.low, 6), "high": round(self.high, 6)}


def _beta(name: str, hits: int, of: int, prior: float, weight: float, rng: np.random.Generator) -> Figure:
    p = min(max(prior, 1e-6), 1 - 1e-6)
    a, b = p * weight + hits, (1 - p) * weight + (of - hits)
    draws = rng.beta(a, b, _DRAWS)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Figure(name, hits, of, prior, a / (a + b), float(low), float(high))


def fit_live(observed: ObservedRun, steps: Mapping[str, str], goal: str | None, model: BehaviourModel, *,
             prior_weight: float = DEFAULT_PRIOR_WEIGHT, settle_seconds: int = DEFAULT_SETTLE,
             seed: int = 0) -> tuple[BehaviourModel, dict[str, Any]]:
    """(the model with the run's figures, a report) from a run's observations. `steps`: message step id ->
    channel, in the journey's order; `goal`: the goal's contact event (None: no goal figures)."""
    if not 0 < prior_weight <= 1e6:
        raise ValueError(f"the prior weight is a number of contacts above 0, not {prior_weight}")
    rng = np.random.default_rng(seed)
    now = observed.now
    per_step: dict[str, dict[str, int]] = {s: {"sent": 0, "settled": 0, "delivered": 0, "opened": 0, "clicked": 0,
                                              "unsubscribed": 0, "delivery_seen": 0} for s in steps}
    first_click: dict[tuple[int, int], tuple[int, str]] = {}
    for unit, sends in observed.sends.items():
        for s in sends:
            row = per_step.get(s.step)
            if row is None:
                continue
            row["sent"] += 1
            ev = s.events
            if "delivered" in ev:
                row["delivery_seen"] += 1
            if "clicked" in ev and (unit not in first_click or ev["clicked"] < first_click[unit][0]):
                first_click[unit] = (ev["clicked"], s.step)
            if now - s.at < settle_seconds:
                continue
            row["settled"] += 1
            opened = "opened" in ev or "clicked" in ev
            row["delivered"] += int("delivered" in ev or opened or "unsubscribed" in ev)
            row["opened"] += int(opened)
            row["clicked"] += int("clicked" in ev)
            row["unsubscribed"] += int("unsubscribed" in ev)
    messages = {k: dict(v) for k, v in model.messages.items()}
    report_steps = []
    for step, channel in steps.items():
        row = per_step[step]
        base = model.for_step(step, channel)
        figures: list[Figure] = []
        seen_delivery = row["delivery_seen"] > 0
        delivered = row["delivered"] if seen_delivery else round(row["settled"] * base.delivery)
        if seen_delivery and row["settled"]:
            figures.append(_beta("delivery", row["delivered"], row["settled"], base.delivery, prior_weight, rng))
        if delivered:
            figures.append(_beta("open", min(row["opened"], delivered), delivered, base.open, prior_weight, rng))
            figures.append(_beta("unsubscribe", min(row["unsubscribed"], delivered), delivered, base.unsubscribe,
                                 prior_weight, rng))
        if row["opened"]:
            figures.append(_beta("click", row["clicked"], row["opened"], base.click, prior_weight, rng))
        over = messages.setdefault(step, {})
        for f in figures:
            over[f.name] = round(f.mean, 6)
        report_steps.append({"step": step, "channel": channel, **{k: row[k] for k in
                             ("sent", "settled", "opened", "clicked", "unsubscribed")},
                             "delivered": delivered, "delivery_observed": seen_delivery,
                             "figures": [f.to_plain() for f in figures]})
    out = replace(model, messages={k: v for k, v in messages.items() if v})
    report: dict[str, Any] = {"journey": observed.journey, "now": now, "units": len(observed.entries),
                              "steps": report_steps, "prior_weight": prior_weight, "settle_seconds": settle_seconds}
    if goal:
        out, report["goal"] = _fit_goal(observed, goal, out, first_click, steps, rng, prior_weight)
    return out, report


def _fit_goal(observed: ObservedRun, goal: str, model: BehaviourModel,
              first_click: Mapping[tuple[int, int], tuple[int, str]], steps: Mapping[str, str],
              rng: np.random.Generator, prior_weight: float) -> tuple[BehaviourModel, dict[str, Any]]:
    now = observed.now
    events, exposure = 0, 0
    after: dict[str, list[tuple[int, bool]]] = {}  # step clicked -> (seconds watched after the click, goal after)
    for unit, entry in observed.entries.items():
        g = observed.contact_events.get(unit, {}).get(goal)
        click = first_click.get(unit)
        stop = min(x for x in (g, click[0] if click else None, now) if x is not None)
        exposure += max(0, stop - entry)
        if g is not None and g >= entry and (click is None or g < click[0]) and g <= now:
            events += 1
        if click is not None and (g is None or g >= click[0]):
            end = min(g, now) if g is not None else now
            after.setdefault(click[1], []).append((max(0, now - click[0]), g is not None and g <= end))
    days = exposure / DAY
    prior_rate = float(model.event_rates.get(goal, 0.0))
    # Gamma(shape, rate) posterior of a Poisson rate with a prior worth `prior_weight` contact-days
    shape, rate = prior_rate * prior_weight + events, prior_weight + days
    draws = rng.gamma(shape if shape > 0 else 1e-9, 1.0 / rate, _DRAWS)
    low, high = np.quantile(draws, [0.025, 0.975])
    lam = shape / rate
    rates = {**model.event_rates, goal: round(lam, 8)}
    report: dict[str, Any] = {"event": goal, "background": {"events": events, "contact_days": round(days, 3),
                                                            "prior": prior_rate, "rate_per_day": round(lam, 8),
                                                            "low": round(float(low), 8),
                                                            "high": round(float(high), 8)}, "conversion": []}
    messages = {k: dict(v) for k, v in model.messages.items()}
    for step, rows in after.items():
        if step not in steps:
            continue
        n = len(rows)
        hits = sum(1 for _, hit in rows if hit)
        b = float(np.mean([1 - math.exp(-lam * s / DAY) for s, _ in rows]))
        base = model.for_step(step, steps[step]).conversion
        p = _beta("goal after a click", hits, n, min(1 - 1e-6, b + (1 - b) * base), prior_weight, rng)
        conv = min(1.0, max(0.0, (p.mean - b) / (1 - b))) if b < 1 else 0.0
        lo = min(1.0, max(0.0, (p.low - b) / (1 - b))) if b < 1 else 0.0
        hi = min(1.0, max(0.0, (p.high - b) / (1 - b))) if b < 1 else 0.0
        messages.setdefault(step, {})["conversion"] = round(conv, 6)
        report["conversion"].append({"step": step, "clickers": n, "goal_after_click": hits,
                                     "background_share": round(b, 6), "prior": base, "mean": round(conv, 6),
                                     "low": round(lo, 6), "high": round(hi, 6)})
    return replace(model, event_rates=rates, messages=messages), report
