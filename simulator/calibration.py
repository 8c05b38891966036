"""Stated figures made true on average: the per-contact base of every behaviour figure, calibrated on the
population so that its mean equals what the user typed.

Contacts differ (engagement, loyalty and other multipliers raise or lower each one's odds), so a figure applied
to an "average" contact is not what the population does on average: the logistic curve and multipliers above 1
move the mean. Here, for every channel (and every message step with figures of its own), the base is solved so
that over the population:

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
    x = np.log(multiplier)
    w = np.ones_like(x) if weight is None else weight
    total = float(w.sum())
    if total <= 0.0:
        return p
    logit = float(np.log(p / (1.0 - p)))
    c = 0.0
    for _ in range(60):
        s = _sigmoid(logit + c + x)
        f = float((w * s).sum()) / total - p
        if abs(f) < 1e-12:
            break
        slope = float((w * s * (1.0 - s)).sum()) / total
        if slope <= 1e-15:
            break
        c -= f / slope
    return float(_sigmoid(np.array(logit + c)))


def _probability(p0: float, mult: np.ndarray | None, n: int) -> np.ndarray:
    if mult is None or not 0.0 < p0 < 1.0:
        return np.full(n, p0)
    q = mult * (p0 / (1.0 - p0))
    return q / (1.0 + q)


def _channel(b: ChannelBehaviour, mods: Modifiers,
             idx: np.ndarray) -> tuple[ChannelBehaviour, dict[str, dict[str, float]]]:
    n = len(idx)
    m_open, m_click = mods.odds("open", idx), mods.odds("click", idx)
    m_unsub, m_conv = mods.odds("unsubscribe", idx), mods.odds("conversion", idx)
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


def calibrate(model: BehaviourModel, pop: Population, *, at: int, events: tuple[str, ...], member: Member,
              steps: dict[str, str]) -> tuple[BehaviourModel, Calibration]:
    """The model with every base figure calibrated on `pop` (multipliers by segment as at `at`), and what was
    done. `steps` maps each message step id to its channel (steps with figures of their own are calibrated
    apart); `events` are the background events whose rates are calibrated."""
    if len(pop) == 0:
        return model, Calibration()
    idx = _sample(len(pop))
    mods = Modifiers(model, pop, idx, tuple(events), at, member)
    channels: dict[str, ChannelBehaviour] = {}
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for name, b in model.channels.items():
        channels[name], figures[name] = _channel(b, mods, np.arange(len(idx)))
    messages: dict[str, dict[str, float]] = {}
    for step_id, over in model.messages.items():
        channel = steps.get(step_id)
        if channel is None or channel not in model.channels:
            messages[step_id] = dict(over)
            continue
        calibrated, figs = _channel(model.for_step(step_id, channel), mods, np.arange(len(idx)))
        messages[step_id] = {**over, **{k: getattr(calibrated, k) for k in ("open", "click", "unsubscribe",
                                                                             "conversion")}}
        figures[f"step:{step_id}"] = figs
    rates: dict[str, float] = {}
    event_figures: dict[str, dict[str, float]] = {}
    for event, rate in model.event_rates.items():
        mult = mods.rate(event) if event in events else None
        mean = float(mult.mean()) if mult is not None and len(mult) else 1.0
        rates[event] = rate / mean if mean > 0 else rate
        event_figures[event] = {"stated": rate, "base": rates[event]}
    return (replace(model, channels=channels, messages=messages, event_rates=rates),
            Calibration(figures, event_figures))


__all__ = ["Calibration", "calibrate", "solve"]
