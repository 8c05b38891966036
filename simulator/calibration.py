"""Stated figures made true on average: the per-contact base of every behaviour figure, calibrated on the
population so that its mean equals what the user typed.

Contacts differ (engagement, loyalty and other multipliers raise or lower each one's odds), so a figure applied
to an "average" contact is not what the population does on average: the logistic curve and multipliers above 1
move the mean. Here, for every channel the journey sends on (and every message step with figures of its own), the
base is solved so that over the population:

- the mean open probability (per delivered message) equals the stated open rate;
- the mean click probability of openers (weighted by each one's chance to open) equals the stated click rate;
- the mean unsubscribe probability per delivered message equals the stated unsubscribe rate;
- the mean conversion probability of clickers equals the stated conversion rate;
- and each background event's mean rate equals the stated rate.

Delivery has no per-contact effect and is not changed. Solving is Newton's method on a common shift of every
contact's log-odds, over the population (or an even sample of 100,000 rows of a larger one): a function of the
population and the model alone, so a run made again is calibrated the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simulator.behaviour import BehaviourModel, ChannelBehaviour, Modifiers
from simulator.population import Population

SAMPLE = 100_000
TARGETS = ("open", "click", "unsubscribe", "conversion")
Member = Callable[[str, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Calibration:
    """For each channel (and message step with its own figures): the stated figure and the base for a contact
    whose multipliers are all 1; for each event: the stated and the base rate. Plain data for the run record."""

    figures: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # where -> figure -> stated/base
    event_rates: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_plain(self) -> dict[str, Any]:
        return {"figures": self.figures, "event_rates": self.event_rates}


def _sample(n: int) -> np.ndarray:
    if n <= SAMPLE:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, SAMPLE).astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def solve(p: float, multiplier: np.ndarray | None, weight: np.ndarray | None = None) -> float:
    """The base probability p0 such that the (weighted) mean of each contact's probability, its odds being
    p0's times its multiplier, equals p."""
    if multiplier is None or not 0.0 < p < 1.0 or not len(multiplier):
        return p
    negative_x = np.log(multiplier)
    np.negative(negative_x, out=negative_x)
    # no weight is a weight of 1 for everyone: w * s is s itself, and the sum of ones is the count (exact)
    total = float(len(negative_x)) if weight is None else float(weight.sum())
    if total <= 0.0:
        return p
    logit = float(np.log(p / (1.0 - p)))
    c = 0.0
    s, t = np.empty_like(negative_x), np.empty_like(negative_x)
    ws = s if weight is None else np.empty_like(negative_x)
    for _ in range(60):
        # s = 1 / (1 + exp(-(logit + c + x))) as _sigmoid works it out, in place: -(a + x) is -x - a exactly
        np.subtract(negative_x, logit + c, out=s)
        np.exp(s, out=s)
        s += 1.0
        np.divide(1.0, s, out=s)
        if weight is not None:
            np.multiply(weight, s, out=ws)
        f = float(ws.sum()) / total - p
        if abs(f) < 1e-12:
            break
        np.subtract(1.0, s, out=t)
        t *= ws  # w s (1 - s)
        slope = float(t.sum()) / total
        if slope <= 1e-15:
            break
        c -= f / slope
    return float(_sigmoid(np.array(logit + c)))


def _probability(p0: float, mult: np.ndarray | None, n: int) -> np.ndarray:
    if mult is None or not 0.0 < p0 < 1.0:
        return np.full(n, p0)
    q = mult * (p0 / (1.0 - p0))
    return q / (1.0 + q)


def _channel(b: ChannelBehaviour, mods: Modifiers, n: int) -> tuple[ChannelBehaviour, dict[str, dict[str, float]]]:
    """A channel's figures calibrated on the `n` rows of `mods`."""
    m_open, m_click = mods.odds("open", None), mods.odds("click", None)
    m_unsub, m_conv = mods.odds("unsubscribe", None), mods.odds("conversion", None)
    open0 = solve(b.open, m_open)
    p_open = _probability(open0, m_open, n)
    click0 = solve(b.click, m_click, p_open)
    p_click = _probability(click0, m_click, n)
    given_open = b.unsubscribe_given_open
    unsub_given0 = solve(given_open, m_unsub, p_open)
    conversion0 = solve(b.conversion, m_conv, p_open * p_click)
    calibrated = replace(b, open=open0, click=click0, conversion=conversion0,
                         unsubscribe=min(1.0, unsub_given0 * open0) if open0 > 0 else b.unsubscribe)
    figures = {"open": {"stated": b.open, "base": open0}, "click": {"stated": b.click, "base": click0},
               "unsubscribe": {"stated": b.unsubscribe, "base": calibrated.unsubscribe},
               "conversion": {"stated": b.conversion, "base": conversion0},
               "delivery": {"stated": b.delivery, "base": b.delivery}}
    return calibrated, figures


@dataclass
class Calibrating:
    """A calibration in two parts: the event rates (`rates`), worked out at once since a run's background events
    need them first, and the channels' figures (`finish`), which take longer and may run beside the events."""

    model: BehaviourModel
    mods: Modifiers | None
    size: int
    rates: dict[str, float]
    event_figures: dict[str, dict[str, float]]

    def with_rates(self) -> BehaviourModel:
        """The model with its event rates calibrated (its channels not yet)."""
        return replace(self.model, event_rates=self.rates)

    def finish(self, steps: dict[str, str]) -> tuple[BehaviourModel, Calibration]:
        """The model with every base figure calibrated, and what was done (see `calibrate`)."""
        model, mods = self.model, self.mods
        if mods is None:
            return model, Calibration()
        channels: dict[str, ChannelBehaviour] = {}
        figures: dict[str, dict[str, dict[str, float]]] = {}
        used = set(steps.values())
        for name, b in model.channels.items():  # a channel the journey never sends on is never read: kept as is
            if name in used:
                channels[name], figures[name] = _channel(b, mods, self.size)
            else:
                channels[name] = b
        messages: dict[str, dict[str, float]] = {}
        for step_id, over in model.messages.items():
            channel = steps.get(step_id)
            if channel is None or channel not in model.channels:
                messages[step_id] = dict(over)
                continue
            calibrated, figs = _channel(model.for_step(step_id, channel), mods, self.size)
            messages[step_id] = {**over, **{k: getattr(calibrated, k) for k in ("open", "click", "unsubscribe",
                                                                                 "conversion")}}
            figures[f"step:{step_id}"] = figs
        return (replace(model, channels=channels, messages=messages, event_rates=self.rates),
                Calibration(figures, self.event_figures))


def start_calibration(model: BehaviourModel, pop: Population, *, at: int, events: tuple[str, ...],
                      member: Member) -> Calibrating:
    """The first part of `calibrate`: the event rates; `Calibrating.finish` gives the rest."""
    if len(pop) == 0:
        return Calibrating(model, None, 0, dict(model.event_rates), {})
    idx = _sample(len(pop))
    # the events' rate multipliers now (once for events whose multipliers are alike: engagement's alone, most
    # often); the channels' odds when `finish` asks for them (on the thread that runs it)
    mods = Modifiers(model, pop, idx, (), at, member, eager=False)
    alike: dict[tuple[Any, ...], np.ndarray | None] = {}
    multipliers: dict[str, np.ndarray | None] = {}
    for event in events:
        key = tuple(m for m in model.multipliers if m.target == f"event:{event}" and m.factor != 1.0)
        if key not in alike:
            alike[key] = mods.rate(event)
        multipliers[event] = alike[key]
    rates: dict[str, float] = {}
    event_figures: dict[str, dict[str, float]] = {}
    for event, rate in model.event_rates.items():
        mult = multipliers.get(event)
        mean = float(mult.mean()) if mult is not None and len(mult) else 1.0
        rates[event] = rate / mean if mean > 0 else rate
        event_figures[event] = {"stated": rate, "base": rates[event]}
    return Calibrating(model, mods, len(idx), rates, event_figures)


def calibrate(model: BehaviourModel, pop: Population, *, at: int, events: tuple[str, ...], member: Member,
              steps: dict[str, str]) -> tuple[BehaviourModel, Calibration]:
    """The model with every base figure calibrated on `pop` (multipliers by segment as at `at`), and what was
    done. `steps` maps each message step id to its channel (steps with figures of their own are calibrated
    apart); `events` are the background events whose rates are calibrated."""
    return start_calibration(model, pop, at=at, events=events, member=member).finish(steps)


__all__ = ["Calibrating", "Calibration", "calibrate", "solve", "start_calibration"]
