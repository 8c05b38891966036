"""An A/B split's winner: decided once, at the end of its test period, from each path's metric counts.

The rule (the simulator and the live runner both call `decide`):

- Each path's sample is the contacts who went down it before the decision time; its successes are those who
  did the metric by then (opened / clicked: the first message sent to them after the split; goal: reached
  the journey's goal after the split).
- No winner if a path had fewer than `min_sample` contacts.
- Otherwise the leader (the highest rate; the first path on a tie) is compared with every other path by a
  one-sided two-proportion z test (pooled variance, with Yates's continuity correction). Its p-value is the
  largest of those, times the number of paths K (a Bonferroni correction over the K paths, capped at 1). The
  leader wins when that p-value is below the significance level alpha.

Why the false-winner rate is at most alpha: when every path has the same rate, a winner is named only if some
path i beats all the others, in particular a fixed other path j(i); those K events are disjoint, each has
probability at most alpha / K (the one-sided z test at alpha / K), so their union has at most alpha. With two
paths it is the usual two-sided test at alpha. The decision is taken once (one look), so no peeking inflates it.
The z test is asymptotic; the continuity correction keeps it at or under alpha on whole counts (measured from 100
contacts a path and rates from 2 % to 50 %: 0.5-4.6 % with two paths at alpha 5 %, under 1 % with three, where
the union bound is loose; tests/test_ab_winner.py and benchmarks/bench_ab_winner.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from app.model.registry import PATH_NAMES
from app.semantics.plan import ABTest, Plan
from app.semantics.timezones import utc_iso

METHOD = ("one look at the end of the test period; the leader against each other path by a one-sided "
          "two-proportion z test (pooled, continuity-corrected), Bonferroni-corrected over the K paths "
          "(p = K x the largest p-value)")
METRIC_WORDS = {"opened": "opened the first message after the split", "clicked":
                "clicked the first message after the split", "goal": "reached the journey's goal"}


@dataclass(frozen=True)
class Decision:
    """What an A/B test decided, and why: per path the contacts in the test (`n`) and those who did the metric
    (`x`), the leader, its corrected p-value, the path later arrivals take (`route`, -1: they keep splitting)."""

    step: str
    metric: str
    decide_at: int
    n: tuple[int, ...]
    x: tuple[int, ...]
    alpha: float
    min_sample: int
    winner: int = -1
    route: int = -1
    p_value: float | None = None
    leader: int = -1
    reason: str = ""

    def to_plain(self) -> dict[str, Any]:
        """The decision as saved with a run and shown by `status`: when, the counts, the p-value and the rule."""
        return {"step": self.step, "metric": self.metric, "decided_at": utc_iso(self.decide_at),
                "paths": [{"path": PATH_NAMES[i], "contacts": n, "did": x,
                           "rate": round(x / n, 6) if n else None} for i, (n, x) in enumerate(zip(self.n, self.x))],
                "leader": PATH_NAMES[self.leader] if self.leader >= 0 else None,
                "winner": PATH_NAMES[self.winner] if self.winner >= 0 else None,
                "route": PATH_NAMES[self.route] if self.route >= 0 else None,
                "p_value": None if self.p_value is None else float(f"{self.p_value:.4g}"),
                "significance": self.alpha, "min_sample": self.min_sample, "reason": self.reason,
                "rule": METHOD}


def downstream(plan: Plan, index: int) -> list[int]:
    """Step indexes reachable from step `index` (not itself), in the plan's order: where a contact's first
    message after a split can be (steps are in topological order, so the first is the lowest at a tie)."""
    seen: set[int] = set()
    stack = list(plan.steps[index].next)
    while stack:
        i = stack.pop()
        if i >= plan.end or i in seen:
            continue
        seen.add(i)
        stack.extend(plan.steps[i].next)
    return sorted(seen)


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def one_sided_p(n1: int, x1: int, n2: int, x2: int) -> float:
    """P-value of 'path 1's rate is above path 2's' by the pooled two-proportion z test (1 when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0  # every contact did it, or none: no difference to see
    # Yates's continuity correction: without it the test on whole counts names a winner slightly more often
    # than alpha (5.6 % at 100 contacts a path and a 50 % rate); with it, at most alpha (tests/test_ab_winner.py)
    return _upper_tail((x1 / n1 - x2 / n2 - 0.5 * (1 / n1 + 1 / n2)) / math.sqrt(var))


def decide(step: str, test: ABTest, n: Iterable[int], x: Iterable[int]) -> Decision:
    """The decision of an A/B test from each path's contacts `n` and successes `x` at its decision time."""
    n, x = tuple(int(v) for v in n), tuple(int(v) for v in x)
    k = len(n)
    base = dict(step=step, metric=test.metric, decide_at=test.decide_at, n=n, x=x, alpha=test.alpha,
                min_sample=test.min_sample)
    fallback = test.fallback
    then = f"path {PATH_NAMES[fallback]} takes the traffic (the rule if no path wins)" if fallback >= 0 \
        else "the paths keep splitting (the rule if no path wins)"
    small = [i for i in range(k) if n[i] < test.min_sample]
    if small:
        which = ", ".join(f"{PATH_NAMES[i]} {n[i]:,}" for i in small)
        return Decision(**base, route=fallback,  # type: ignore[arg-type]
                        reason=f"no winner: fewer than {test.min_sample:,} contacts on a path in the test period "
                               f"({which}); {then}")
    rates = [x[i] / n[i] for i in range(k)]
    leader = max(range(k), key=lambda i: (rates[i], -i))
    worst = max(one_sided_p(n[leader], x[leader], n[j], x[j]) for j in range(k) if j != leader)
    p = min(1.0, k * worst)
    words = METRIC_WORDS.get(test.metric, test.metric)
    if p < test.alpha:
        return Decision(**base, winner=leader, route=leader, p_value=p, leader=leader,  # type: ignore[arg-type]
                        reason=f"path {PATH_NAMES[leader]} won: {rates[leader]:.2%} {words}, p = {p:.3g} < "
                               f"{test.alpha:g}; it takes the traffic from then on")
    return Decision(**base, route=fallback, p_value=p, leader=leader,  # type: ignore[arg-type]
                    reason=f"no winner: path {PATH_NAMES[leader]} led ({rates[leader]:.2%} {words}) but p = "
                           f"{p:.3g} is not below {test.alpha:g}; {then}")
