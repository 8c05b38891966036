"""A hand-vectorised NumPy model of the re-engagement journey (seed 002): the yardstick of the engine's speed.

Written as someone would write this one journey by hand, over the whole population at once (no chunks, no
plan, no trace builder, no segment language): the same inputs (the population's columns, the stated behaviour
figures) and the same rules (who is in 'No purchase in 60 days' when, with the contacts' own purchases resetting
it; entry as they join it, with marketing consent; the e-mail deferred past quiet hours in each contact's zone;
delivery, opens, clicks, unsubscribes and purchases after a click with engagement odds; five days' wait; the
if/then on an open within five days of delivery; the offer or the text; exit on any purchase; the goal and the
same contacts without the journey). It draws with NumPy's generator, so its figures agree with the engine's in
distribution, not bit for bit; it keeps its per-contact times (its trace, in wide form) and gives the funnel and
the journey's effect on purchases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from app.semantics.plan import Plan
from app.semantics.timezones import utc_offset
from simulator.behaviour import BehaviourModel, ChannelBehaviour
from simulator.population import Population

DAY = 86_400
NEVER = np.iinfo(np.int64).max // 4


def _odds(p: float, log_mult: np.ndarray) -> np.ndarray:
    q = p / (1.0 - p) * np.exp(log_mult)
    return q / (1.0 + q)


def _lognormal(rng: np.random.Generator, n: int, median: float, sigma: float) -> np.ndarray:
    return np.maximum(1, (median * np.exp(sigma * rng.standard_normal(n))).astype(np.int64))


def _message(rng: np.random.Generator, b: ChannelBehaviour, send: np.ndarray, dev: np.ndarray,
             beta: Mapping[str, float]) -> dict[str, np.ndarray]:
    """What contacts do with a message sent at `send` (times; NEVER: does not happen)."""
    n = len(send)
    delivered = rng.random(n) < b.delivery
    t_del = send + b.delivery_delay
    opened = delivered & (rng.random(n) < _odds(b.open, beta.get("open", 0.0) * dev))
    t_open = np.where(opened, t_del + _lognormal(rng, n, b.open_median, b.open_sigma), NEVER)
    clicked = opened & (rng.random(n) < _odds(b.click, beta.get("click", 0.0) * dev))
    unsub = opened & (rng.random(n) < _odds(b.unsubscribe, beta.get("unsubscribe", 0.0) * dev))
    t_click = np.where(clicked, t_open + _lognormal(rng, n, b.click_median, b.click_sigma), NEVER)
    converted = clicked & (rng.random(n) < _odds(b.conversion, beta.get("conversion", 0.0) * dev))
    t_conv = np.where(converted, t_click + _lognormal(rng, n, b.conversion_median, b.conversion_sigma), NEVER)
    return {"delivered": np.where(delivered, t_del, NEVER), "opened": t_open, "clicked": t_click,
            "unsubscribed": np.where(unsub, t_open, NEVER), "converted": t_conv}


def run_numpy_model(plan: Plan, pop: Population, behaviour: BehaviourModel, seed: int) -> dict[str, Any]:
    """The funnel and the effect on purchases of the re-engagement journey over `pop` (see the docstring)."""
    rng = np.random.default_rng(seed)
    start, end = plan.start, plan.cutoff(0)[0]
    assert pop.source is not None
    last = np.asarray(pop.source.base.column("last_purchase_date"), dtype=np.float64)  # days; NaN: never bought
    dev = pop.engagement - behaviour.engagement_mean
    beta = behaviour.engagement_effect
    rate = behaviour.event_rates["purchase"] / DAY * np.exp(beta.get("events", 0.0) * dev)

    # own purchases over the period (a Poisson process each), and when each contact joins the segment: the day
    # after its last purchase is 60 days old, a purchase of its own during the period starting the count again
    buyer = ~np.isnan(last)
    joins = np.where(buyer, (np.nan_to_num(last).astype(np.int64) + 61) * DAY, NEVER)
    entry = np.maximum(joins, start)
    own = start + (rng.exponential(1.0, len(pop)) / rate).astype(np.int64)  # the next own purchase
    pending = np.flatnonzero(buyer & (own < entry) & (own < end))
    while pending.size:  # bought before joining: join 61 days after that purchase
        t = np.take(own, pending)
        entry[pending] = (t // DAY + 61) * DAY
        own[pending] = t + (rng.exponential(1.0, pending.size) / np.take(rate, pending)).astype(np.int64)
        pending = pending[(np.take(own, pending) < np.take(entry, pending)) & (np.take(own, pending) < end)]
    enters = buyer & (pop.consent >= plan.audience.min_consent) & (entry < end)
    idx = np.flatnonzero(enters)
    a, x0, d = entry[idx], own[idx], dev[idx]  # x0: the first own purchase after entry

    # local time for the quiet hours: each contact's zone (the journey's when unknown), its offset at the start
    zones = [*pop.timezones, plan.timezone]
    offset = np.array([utc_offset(z, start) for z in zones], dtype=np.int64)[np.where(pop.tz[idx] < 0, len(zones) - 1,
                                                                                       pop.tz[idx])]
    assert plan.quiet is not None
    qs, qe = plan.quiet

    def slot(t: np.ndarray, off: np.ndarray) -> np.ndarray:
        sod = (t + off) % DAY
        inside = (sod >= qs) | (sod < qe) if qs > qe else (sod >= qs) & (sod < qe)
        return np.where(inside, t + (qe - sod) % DAY, t)

    funnel = {name: 0 for name in ("reminder", "wait5", "opened", "offer", "sms", "end", "exited", "stopped")}
    funnel["reminder"] = len(idx)
    email, sms = behaviour.for_step("reminder", "email"), behaviour.for_step("sms", "sms")
    exit_at = x0.copy()
    conv = np.full(len(idx), NEVER, dtype=np.int64)
    live = np.arange(len(idx))

    def leave(t: np.ndarray) -> np.ndarray:
        """Positions (into `live`) that go on at `t`; the others exit or are stopped (counted)."""
        x = exit_at[live]
        gone = (x < t) & (x < end)
        stopped = ~gone & (t >= end)
        funnel["exited"] += int(gone.sum())
        funnel["stopped"] += int(stopped.sum())
        return ~(gone | stopped)

    s0 = slot(a, offset)
    ok = leave(s0)
    live, s0 = live[ok], s0[ok]
    m0 = _message(rng, email, s0, d[live], beta)
    conv[live] = np.minimum(conv[live], m0["converted"])
    exit_at[live] = np.minimum(exit_at[live], m0["converted"])
    funnel["wait5"] = len(live)
    w = s0 + 5 * DAY
    ok = leave(w)
    live, w, m0 = live[ok], w[ok], {k: v[ok] for k, v in m0.items()}
    funnel["opened"] = len(live)
    fallback = w + 5 * DAY
    limit = np.where(m0["delivered"] <= fallback, m0["delivered"] + 5 * DAY, fallback)
    yes = m0["opened"] <= limit
    t_if = np.maximum(w, np.where(yes, m0["opened"], limit))
    ok = leave(t_if)
    live, t_if, yes = live[ok], t_if[ok], yes[ok]
    for name, pick, b in (("offer", yes, email), ("sms", ~yes, sms)):
        who, t = live[pick], t_if[pick]
        funnel[name] = len(who)
        s = slot(t, offset[who])
        x = exit_at[who]
        go = ~((x < s) & (x < end)) & (s < end)
        funnel["exited"] += int(((x < s) & (x < end)).sum())
        funnel["stopped"] += int((~((x < s) & (x < end)) & (s >= end)).sum())
        who, s = who[go], s[go]
        m = _message(rng, b, s, d[who], beta)
        conv[who] = np.minimum(conv[who], m["converted"])
        funnel["end"] += len(who)

    # the goal (a purchase within its window after entry) and the same contacts without the journey
    deadline = np.minimum(a + plan.goal_window + 1, end)
    without = x0 < deadline
    with_journey = np.minimum(x0, conv) < deadline
    entered = max(1, len(idx))
    return {"contacts": len(pop), "entered": len(idx), "funnel": funnel,
            "purchase_with": float(with_journey.sum()) / entered, "purchase_without": float(without.sum()) / entered}


__all__ = ["run_numpy_model"]
