"""Calibrate from a past campaign: fit the behaviour model to what a campaign's contacts did, then predict the
contacts it was not fitted on by simulating them, and say how well the prediction held (pure: no Qt, no click).

The file has one row per contact: attributes, the arm the contact was in (one arm is the control, sent
nothing) and 0/1 outcome columns observed over D days after the send (optionally whether the message was
opened and clicked). A random (1 - holdout) share of the rows is fitted (simulator/calibrate_fit.py):

- each outcome's background rate per day, from the control arm: P(outcome within D days) = 1 - exp(-rate D);
- each arm's message figures: with no opened / clicked columns, the conversion per delivered message (the
  chance that the message brings about the conversion outcome when the contact would not have converted
  anyway), written as the conversion of clickers over the channel's open and click figures; with them, the
  open rate per delivered, the click rate of openers and the conversion of clickers;
- per value of each --by attribute, a multiplier of each figure (the odds of a probability, the rate of an
  event), shrunk toward 1 (empirical Bayes) so that a small group does not get a wild value.

The held-out rows are then simulated with the real simulator: a population made of their attributes, a
one-email journey per arm (the control's outcomes are the paired twin's, without the journey), under the fitted
model, over several replicas; the predicted mean of each arm x group x outcome is the simulated share. The 95 %
prediction interval of the share a group of that size would show adds the fit's uncertainty (parameter draws
from the fit's approximate posterior, evaluated in closed form around the simulated mean) and the group's own
binomial noise (a binomial draw of the group's size for each parameter draw).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from simulator.calibrate_data import Campaign, CalibrateSpec, CampaignError, read_campaign
from simulator.calibrate_fit import Fit, fit_shrunk

__all__ = ["CalibrateSpec", "Campaign", "CampaignError", "Calibration", "calibrate", "read_campaign"]

START = datetime(2027, 1, 4, 9, tzinfo=timezone.utc).replace(tzinfo=None)
SEGMENT = "past campaign"
DRAWS = 400
SATURATED = 0.9  # a conversion of clickers above this: the arm converts more than the open and click figures allow
METHOD = ("background rates: complementary log-log binomial fit of the control arm; message figures: logistic "
          "fit of each arm over the background; attribute multipliers: normal prior on the log scale with its "
          "variance estimated from the data (empirical Bayes, method of moments); uncertainty: Laplace "
          "approximation; predictions: the simulator over the held-out contacts, intervals from {draws} "
          "parameter draws with binomial noise of each group's size")


class CancelledCalibration(Exception):
    """The user cancelled."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


@dataclass
class _Design:
    """Cells of (arm, combination of --by values) and their design columns."""

    key: np.ndarray  # per row: cell index
    arm: np.ndarray  # per cell: arm code
    levels: np.ndarray  # per cell x by column: value code
    onehot: np.ndarray  # per cell: one column per (by column, value) with more than one value
    names: tuple[str, ...]
    blocks: dict[str, list[int]]  # by column -> positions in `onehot`
    keys: np.ndarray  # per cell: its key (sorted; see `_key`)


def _design(c: Campaign) -> _Design:
    cells, inverse = np.unique(_key(c, None, c.arm), return_inverse=True)
    arm = cells % len(c.arms)
    levels = np.zeros((len(cells), len(c.by)), dtype=np.int64)
    rest = cells // len(c.arms)
    for j, col in enumerate(c.by):
        k = len(c.by_values[col])
        levels[:, j] = rest % k
        rest //= k
    cols: list[np.ndarray] = []
    names: list[str] = []
    blocks: dict[str, list[int]] = {}
    for j, col in enumerate(c.by):
        if len(c.by_values[col]) < 2:
            continue
        for v, value in enumerate(c.by_values[col]):
            blocks.setdefault(col, []).append(len(cols))
            cols.append((levels[:, j] == v).astype(float))
            names.append(f"{col}={value}")
    onehot = np.stack(cols, axis=1) if cols else np.zeros((len(cells), 0))
    return _Design(inverse.astype(np.int64), arm, levels, onehot, tuple(names), blocks, cells)


def _counts(d: _Design, rows: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    cells = len(d.arm)
    n = np.bincount(d.key[rows], minlength=cells).astype(float)
    s = np.bincount(d.key[rows], weights=None if y is None else y[rows].astype(float), minlength=cells)
    return n, s.astype(float)


@dataclass
class _Part:
    """One fitted figure family: X over every cell, its fit, the arms it has intercepts for."""

    X: np.ndarray
    fit: Fit
    arms: tuple[int, ...]  # arm codes with an intercept column each (first columns); () for one intercept
    J: np.ndarray | None = None  # how the estimate moves with the background's parameters (the conversion's)
    own: np.ndarray | None = None  # the covariance given the background (fit.cov adds the background's share)


def _x(d: _Design, arms: tuple[int, ...]) -> np.ndarray:
    if arms:
        heads = np.stack([(d.arm == a).astype(float) for a in arms], axis=1)
    else:
        heads = np.ones((len(d.arm), 1))
    return np.concatenate([heads, d.onehot], axis=1)


def _part(d: _Design, arms: tuple[int, ...], arm_names: tuple[str, ...], n: np.ndarray, s: np.ndarray,
          link: str, **kw: Any) -> _Part:
    X = _x(d, arms)
    used = n > 0
    heads = tuple(f"arm={arm_names[a]}" for a in arms) or ("intercept",)
    blocks = {col: [len(heads) + i for i in cols] for col, cols in d.blocks.items()}
    kw = {k: v[used] for k, v in kw.items()}
    fit = fit_shrunk(X[used], n[used], s[used], link=link, names=heads + d.names, blocks=blocks, **kw)
    return _Part(X, fit, arms)


@dataclass
class Calibration:
    """What `calibrate` found: the fitted model (for the behaviour file), the groups compared, and the fit."""

    model: Any  # BehaviourModel
    groups: list[dict[str, Any]]
    coverage: float
    mae: float
    fit: dict[str, Any]
    assumptions: list[str]
    rows: dict[str, int]
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"groups": self.groups, "coverage": self.coverage, "mae": self.mae, "fit": self.fit,
                "rows": self.rows, "method": self.method, "assumptions": self.assumptions, **self.extra}


def slug(text: str, taken: set[str]) -> str:
    """A step id for an arm: lower case letters, digits and underscores, unique among `taken`."""
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "arm"
    if base[0].isdigit():
        base = f"arm_{base}"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


class _Fitted:
    """The fitted parts and what they give per cell (at the estimate or under parameter draws)."""

    def __init__(self, c: Campaign, spec: CalibrateSpec, d: _Design, train: np.ndarray, base: Any) -> None:
        self.c, self.spec, self.d = c, spec, d
        ch = base.channels[spec.channel]
        self.delivery, self.open, self.click = ch.delivery, ch.open, ch.click
        control = c.arms.index(spec.control)
        self.control = control
        self.clicks: dict[int, float] = {}  # arms whose click figure is not the channel's (see below)
        self.treated = tuple(a for a in range(len(c.arms)) if a != control)
        arm_rows = c.arm[train]
        ctl = train[arm_rows == control]
        trt = train[arm_rows != control]
        self.background: dict[str, _Part] = {}
        offset = np.full(len(d.arm), np.log(spec.days))
        for name, _ in spec.outcomes:
            n, s = _counts(d, ctl, c.outcomes[name])
            self.background[name] = _part(d, (), c.arms, n, s, "rate", offset=offset)
        self.parts: dict[str, _Part] = {}
        self._trt = trt
        if c.opened is not None and c.clicked is not None:
            n, s = _counts(d, trt, c.opened)
            self.parts["open"] = _part(d, self.treated, c.arms, n, s, "logit",
                                       b=np.full(len(d.arm), self.delivery))
            opened = trt[c.opened[trt] == 1]
            n, s = _counts(d, opened, c.clicked)
            self.parts["click"] = _part(d, self.treated, c.arms, n, s, "logit")
            self.parts["conversion"] = self._conversion(self.background[self.conversion].fit.theta)
        else:
            # the arm's effect is the conversion of clickers over the channel's open and click figures; an arm
            # the data cannot rule out being near the cap (conversion near 1) is refitted with every opener clicking
            for _ in range(2):
                part = self.parts["conversion"] = self._conversion(self.background[self.conversion].fit.theta)
                sd = part.fit.sd()
                full = [a for i, a in enumerate(self.treated)
                        if _sigmoid(part.fit.theta[i] + 1.96 * sd[i]) > SATURATED
                        and self.clicks.get(a, self.click) < 1.0]
                if not full:
                    break
                self.clicks.update({a: 1.0 for a in full})
        self._propagate()

    def _conversion(self, bg_theta: np.ndarray) -> _Part:
        """The conversion fit over a given background (its parameters `bg_theta`)."""
        c, d = self.c, self.d
        rate = self.rate(self.conversion, bg_theta)
        B = -np.expm1(-rate * self.spec.days)
        if c.clicked is not None:
            clicked = self._trt[c.clicked[self._trt] == 1]
            n, s = _counts(d, clicked, c.outcomes[self.conversion])
            return _part(d, self.treated, c.arms, n, s, "logit", a=B, b=1 - B)
        n, s = _counts(d, self._trt, c.outcomes[self.conversion])
        scale = self.delivery * self.open * self.click_per_cell()
        return _part(d, self.treated, c.arms, n, s, "logit", a=B, b=(1 - B) * scale)

    def _propagate(self) -> None:
        """The conversion is fitted over the estimated background: carry the background's uncertainty into it
        (first order: how the conversion estimate moves with each background parameter, by refitting)."""
        bg = self.background[self.conversion].fit
        part = self.parts["conversion"]
        J = np.zeros((len(part.fit.theta), len(bg.theta)))
        for j, h in enumerate(np.maximum(bg.sd(), 1e-4) * 0.5):
            t = bg.theta.copy()
            t[j] += h
            J[:, j] = (self._conversion(t).fit.theta - part.fit.theta) / h
        part.J, part.own = J, part.fit.cov
        part.fit = replace(part.fit, cov=part.fit.cov + J @ bg.cov @ J.T)

    def click_per_cell(self) -> np.ndarray:
        """The channel's click figure, or an arm's own, per cell."""
        out = np.full(len(self.d.arm), self.click)
        for a, k in self.clicks.items():
            out[self.d.arm == a] = k
        return out

    @property
    def conversion(self) -> str:
        return self.spec.conversion_outcome

    def rate(self, outcome: str, theta: np.ndarray | None = None) -> np.ndarray:
        """Background rate per day per cell (R x cells for R draws)."""
        p = self.background[outcome]
        t = p.fit.theta if theta is None else theta
        return np.exp(np.clip(t @ p.X.T, -40, 5))

    def figure(self, name: str, theta: np.ndarray | None = None) -> np.ndarray:
        """A message figure's probability per cell (R x cells); a cell of the control arm reads 0."""
        p = self.parts.get(name)
        if p is None:
            return self.click_per_cell() if name == "click" else np.full(len(self.d.arm), self.open)
        t = p.fit.theta if theta is None else theta
        return _sigmoid(t @ p.X.T) * (self.d.arm != self.control)

    def caused(self, theta: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The share of the sent who convert because of the message (delivered, opened, clicked, converted)."""
        t = theta or {}
        return self.delivery * self.figure("open", t.get("open")) * self.figure("click", t.get("click")) * \
            self.figure("conversion", t.get("conversion"))

    def share(self, outcome: str, draws: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Expected share with the outcome per cell (R x cells under draws)."""
        draws = draws or {}
        rate = self.rate(outcome, draws.get(f"bg:{outcome}"))
        anyway = -np.expm1(-rate * self.spec.days)
        if outcome != self.conversion:
            return anyway
        q = self.caused({k: v for k, v in draws.items() if not k.startswith("bg:")})
        return 1 - (1 - anyway) * (1 - q)

    def draws(self, rng: np.random.Generator, r: int) -> dict[str, np.ndarray]:
        out = {f"bg:{o}": p.fit.draws(rng, r) for o, p in self.background.items()}
        for k, p in self.parts.items():
            if p.J is not None and p.own is not None:  # paired with the background draws it was fitted over
                bg = self.background[self.conversion].fit
                own = rng.multivariate_normal(np.zeros(len(p.fit.theta)), p.own, size=r, method="eigh")
                out[k] = p.fit.theta + own + (out[f"bg:{self.conversion}"] - bg.theta) @ p.J.T
            else:
                out[k] = p.fit.draws(rng, r)
        return out

    def multipliers(self) -> list[tuple[str, str, str, float, float, float]]:
        """(target, attribute, value, factor, low, high) of every --by value, for every fitted figure."""
        out = []
        families = [(f"event:{o}", p) for o, p in self.background.items()] + list(self.parts.items())
        for target, p in families:
            heads = len(p.arms) or 1
            sd = p.fit.sd()
            for i, name in enumerate(self.d.names):
                col, value = name.split("=", 1)
                beta, s = float(p.fit.theta[heads + i]), float(sd[heads + i])
                out.append((target, col, value, float(np.exp(beta)), float(np.exp(beta - 1.96 * s)),
                            float(np.exp(beta + 1.96 * s))))
        return out


def _mean_over(values: np.ndarray, cells: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The mean over contacts (their cells `cells`) of per-cell `values` (last axis: cells)."""
    counts = np.bincount(cells, minlength=values.shape[-1]).astype(float)
    if weights is not None:
        counts = counts * weights
    total = counts.sum(axis=-1)
    return (values * counts).sum(axis=-1) / np.where(total > 0, total, 1.0)


def arm_cells(d: _Design, c: Campaign, rows: np.ndarray, arm: int) -> np.ndarray:
    """The cells the contacts `rows` would be in if they were in `arm` (same --by values; -1: no such cell)."""
    key = _key(c, rows, np.full(len(rows), arm, dtype=np.int64))
    at = np.minimum(np.searchsorted(d.keys, key), len(d.keys) - 1)
    return np.where(d.keys[at] == key, at, -1)


def _key(c: Campaign, rows: np.ndarray | None, arm: np.ndarray) -> np.ndarray:
    """Each row's cell key: its arm and its --by values in mixed radix."""
    key = arm.astype(np.int64)
    mult = len(c.arms)
    for col in c.by:
        codes = c.by_codes[col] if rows is None else c.by_codes[col][rows]
        key = key + codes.astype(np.int64) * mult
        mult *= len(c.by_values[col])
    return key


def _sig(x: float, digits: int = 6) -> float:
    """A fitted figure to `digits` significant digits (more would only be noise in the file)."""
    return float(f"{x:.{digits}g}")


def build_model(f: _Fitted, rows: np.ndarray, base: Any, steps: Mapping[int, str],
                sources: Mapping[str, Any] | None = None) -> Any:
    """The behaviour model whose stated figures are the fit's averages over the contacts `rows` (the
    simulator's calibration then gives back the fit's per-contact figures), with the --by multipliers."""
    from simulator.behaviour import Multiplier
    c, d = f.c, f.d
    rates = dict(base.event_rates)
    for o in f.background:
        cells = arm_cells(d, c, rows, f.control)
        rates[o] = _sig(float(_mean_over(f.rate(o), np.maximum(cells, 0))))
    messages: dict[str, dict[str, float]] = {}
    pooled: dict[str, list[tuple[float, float]]] = {}
    for a, step in steps.items():
        cells = np.maximum(arm_cells(d, c, rows, a), 0)
        po, pc = f.figure("open"), f.figure("click")
        figs = {"open": float(_mean_over(po, cells)) if "open" in f.parts else f.open,
                "click": float(_mean_over(pc, cells, po)) if "click" in f.parts else f.clicks.get(a, f.click),
                "conversion": float(_mean_over(f.figure("conversion"), cells, po * pc))}
        figs = {k: _sig(v) for k, v in figs.items()}
        messages[step] = figs
        n = float(np.sum(c.arm[rows] == a)) or 1.0
        for name, v in figs.items():
            pooled.setdefault(name, []).append((v, n))
    channels = dict(base.channels)
    if pooled:  # the arms pooled by size, so that the channel's opens, clicks and conversions are the arms' total
        w = np.array([n for _, n in pooled["open"]])
        po_, pk, pc_ = (np.array([v for v, _ in pooled[name]]) for name in ("open", "click", "conversion"))
        avg = {"open": float(np.sum(w * po_) / np.sum(w)),
               "click": float(np.sum(w * po_ * pk) / max(float(np.sum(w * po_)), 1e-300)),
               "conversion": float(np.sum(w * po_ * pk * pc_) / max(float(np.sum(w * po_ * pk)), 1e-300))}
        channels[f.spec.channel] = replace(channels[f.spec.channel], **{k: _sig(v) for k, v in avg.items()})
    mults = tuple(Multiplier(target, round(factor, 6), attribute=col, value=value)
                  for target, col, value, factor, _, _ in f.multipliers() if abs(np.log(factor)) > 1e-6)
    return replace(base, channels=channels, messages=messages, event_rates=rates,
                   engagement_effect={k: 0.0 for k in ("open", "click", "unsubscribe", "conversion", "events")},
                   multipliers=mults, conversion_event=f.conversion, **({"sources": sources} if sources else {}))


def calibrate(c: Campaign, spec: CalibrateSpec, *, base: Any = None,
              progress: Callable[[float, str], None] | None = None, cancel: Any = None) -> Calibration:
    """Fit on the (1 - holdout) share, predict the held-out share by simulating it (see the module docstring)."""
    from simulator.behaviour import BehaviourModel
    from simulator.calibrate_sim import simulate_arm

    def report(fraction: float, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise CancelledCalibration("the calibration was cancelled")
        if progress is not None:
            progress(fraction, message)

    base = base or BehaviourModel()
    train, held = c.split(spec.holdout, spec.seed)
    report(0.0, "fitting")
    d = _design(c)
    f = _Fitted(c, spec, d, train, base)
    taken: set[str] = set()
    steps = {a: slug(c.arms[a], taken) for a in f.treated}
    rng = np.random.default_rng([spec.seed, 17])
    draws = f.draws(rng, DRAWS)
    groups: list[dict[str, Any]] = []
    arms = [a for a in range(len(c.arms)) if np.any(c.arm[held] == a)]
    replicas = spec.replicas
    for i, a in enumerate(arms):
        rows = held[c.arm[held] == a]
        journey_arm = a if a != f.control else f.treated[0]
        model = build_model(f, rows, base, {journey_arm: steps[journey_arm]})
        sims: dict[str, np.ndarray] = {}

        def step(fraction: float, message: str, i: int = i) -> None:
            del message  # the engine's counts are of the replicas' copies: say what is simulated instead
            report(0.05 + 0.9 * (i + fraction) / len(arms),
                   f"simulating the {len(rows):,} held-out contacts of '{c.arms[a]}' (arm {i + 1} of {len(arms)}, "
                   f"{replicas} replicas)")

        got = simulate_arm(c, rows, model, steps[journey_arm], spec, twin=a == f.control, progress=step,
                           cancel=cancel)
        sims.update(got)
        cells = arm_cells(d, c, rows, a)
        groups.extend(_groups(f, c, a, rows, cells, sims, draws, replicas, rng))
    report(0.97, "comparing")
    inside = [g["predicted"]["low"] <= g["observed"] <= g["predicted"]["high"] for g in groups]
    coverage = float(np.mean(inside)) if groups else float("nan")
    mae = float(np.mean([abs(g["observed"] - g["predicted"]["mean"]) for g in groups])) if groups else float("nan")
    fitted = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sources = _sources(c, spec, f, len(train), fitted)
    model = build_model(f, np.arange(c.n), base, steps, sources)
    result = Calibration(model, groups, round(coverage, 6), round(mae, 6), _fit_summary(f, c, draws, steps),
                         _assumptions(f, c, spec), {"total": c.n, "fitted": len(train), "held_out": len(held)},
                         METHOD.format(draws=DRAWS))
    report(1.0, "done")
    return result


def _groups(f: _Fitted, c: Campaign, a: int, rows: np.ndarray, cells: np.ndarray, sims: Mapping[str, np.ndarray],
            draws: Mapping[str, np.ndarray], replicas: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for cell in np.unique(cells):
        members = np.flatnonzero(cells == cell)
        n = len(members)
        by = {col: c.by_values[col][int(f.d.levels[cell, j])] for j, col in enumerate(c.by)}
        for o, _ in f.spec.outcomes:
            observed = float(c.outcomes[o][rows[members]].mean())
            simulated = sims[o][:, members].mean(axis=1)  # per replica
            mean = float(simulated.mean())
            point = float(f.share(o)[cell])
            under = f.share(o, draws)[:, cell]
            mc = np.sqrt(max(mean * (1 - mean), 1e-12) / (n * replicas))
            p = np.clip(mean + (under - point) + rng.normal(0.0, mc, len(under)), 0.0, 1.0)
            shares = rng.binomial(n, p) / n
            low, high = np.quantile(shares, [0.025, 0.975])
            out.append({"arm": c.arms[a], "by": by, "outcome": o, "n": int(n), "observed": round(observed, 6),
                        "predicted": {"mean": round(mean, 6), "low": round(float(low), 6),
                                      "high": round(float(high), 6)}})
    return out


def _interval(values: np.ndarray) -> dict[str, float]:
    lo, hi = np.quantile(values, [0.025, 0.975])
    return {"low": round(float(lo), 8), "high": round(float(hi), 8)}


def _fit_summary(f: _Fitted, c: Campaign, draws: Mapping[str, np.ndarray], steps: Mapping[int, str]) -> dict[str, Any]:
    """Each fitted figure (population averages over the file's contacts) with a 95 % interval from the draws."""
    everyone = np.arange(c.n)
    ctl = np.maximum(arm_cells(f.d, c, everyone, f.control), 0)
    rates = {}
    for o in f.background:
        est = float(_mean_over(f.rate(o), ctl))
        rates[o] = {"per_day": round(est, 8), **_interval(_mean_over(f.rate(o, draws[f"bg:{o}"]), ctl))}
    arms = {}
    for a, step in steps.items():
        cells = np.maximum(arm_cells(f.d, c, everyone, a), 0)
        caused = f.caused()
        under = f.caused({k: v for k, v in draws.items() if not k.startswith("bg:")})
        row: dict[str, Any] = {"step": step, "converted_per_delivered": {
            "mean": round(float(_mean_over(caused, cells)) / f.delivery, 8),
            **{k: round(v / f.delivery, 8) for k, v in _interval(_mean_over(under, cells)).items()}}}
        for name, p in f.parts.items():
            i = p.arms.index(a)
            sd = float(p.fit.sd()[i])
            t = float(p.fit.theta[i])
            row[f"{name}_average_contact"] = {"mean": round(float(_sigmoid(np.array(t))), 8),
                                              "low": round(float(_sigmoid(np.array(t - 1.96 * sd))), 8),
                                              "high": round(float(_sigmoid(np.array(t + 1.96 * sd))), 8)}
        arms[c.arms[a]] = row
    mults = [{"target": t, "attribute": col, "value": v, "factor": round(m, 6), "low": round(lo, 6),
              "high": round(hi, 6)} for t, col, v, m, lo, hi in f.multipliers()]
    shrink = {name: {col: round(float(np.sqrt(t2)), 6) for col, t2 in p.fit.tau2.items()}
              for name, p in [*((f"event:{o}", q) for o, q in f.background.items()), *f.parts.items()]}
    return {"background_rates": rates, "arms": arms, "multipliers": mults, "shrinkage_sd": shrink,
            "control": c.arms[f.control], "conversion_outcome": f.conversion}


def _sources(c: Campaign, spec: CalibrateSpec, f: _Fitted, rows: int, fitted: str) -> dict[str, Any]:
    where = {"file": c.path, "rows": rows, "of": c.n, "fitted": fitted, "seed": spec.seed,
             "days": spec.days, "holdout": spec.holdout}
    out: dict[str, Any] = {}
    for o in f.background:
        out[f"event_rates.{o}"] = {**where, "method": f"control arm '{spec.control}': share with '{o}' within "
                                   f"{spec.days} days = 1 - exp(-rate x days), averaged over the file's contacts"}
    figs = ", ".join(f.parts)
    out[f"channels.{spec.channel}"] = {**where, "method": "open, click and conversion: the arms pooled by size (the "
                                       "channel's conversions per delivered message are the arms' in total); "
                                       "delivery, unsubscribes and delays as they were"}
    kept = "" if "open" in f.parts else (f"; open and click are the channel's ({f.open:g}, {f.click:g}), a click "
                                         "of 1 where the arm converted more than they allow")
    out["messages"] = {**where, "method": f"{figs} of each arm's clickers{kept}, over the control's background"
                       if "open" not in f.parts else f"{figs} of each arm, over the control's background"}
    if c.by:
        out["multipliers"] = {**where, "method": "per value of " + ", ".join(c.by) + ": shrunk toward 1 "
                              "(empirical Bayes)"}
    out["engagement_effect"] = {**where, "method": "set to 0: the file cannot tell engagement apart"}
    return out


def _assumptions(f: _Fitted, c: Campaign, spec: CalibrateSpec) -> list[str]:
    out = [f"the arms differ only in '{f.conversion}': other outcomes are background events, the same in every "
           "arm", "contacts of one --by group behave alike (no engagement effect: the file cannot show it)",
           f"each contact was sent one {spec.channel} at the start of the {spec.days} days"]
    if "open" not in f.parts:
        out.append(f"no opened / clicked columns: the {spec.channel} open ({f.open:.4g}) and click ({f.click:.4g}) "
                   "figures are kept and the conversion of clickers carries each arm's effect")
        for a, k in f.clicks.items():
            out.append(f"arm '{c.arms[a]}' converts more than the {spec.channel} click figure allows: its message "
                       f"has every opener clicking (click {k:g}) and its conversion of clickers fitted")
        for a in f.treated:
            top = float(np.max(f.figure("conversion")[f.d.arm == a], initial=0.0))
            if top > SATURATED:
                out.append(f"arm '{c.arms[a]}' converts more than the open and click figures allow: give the "
                           "opened and clicked columns, or raise those figures")
    out.append(f"delivery {f.delivery:.4g} as the {spec.channel} channel states")
    return out
