"""The statistics of calibrating from a past campaign (pure NumPy): binomial cells fitted by penalised Fisher
scoring, with empirical-Bayes shrinkage of attribute effects toward no effect.

Every fit here is of counts per cell (s successes of n contacts) whose probability is p = a + b * g(eta), with
eta = offset + X theta and g the logistic curve ('logit') or 1 - exp(-exp(eta)) ('rate': the chance of at
least one Poisson event when exp(eta) is the expected count). Attribute effects (columns of X per attribute
value) get a normal prior N(0, tau^2) per attribute; tau^2 is estimated from the data (a first fit with a weak
prior, then the method of moments: the precision-weighted spread of the estimates less their sampling
variance, as in DerSimonian and Laird), so that a value with few contacts is pulled toward a multiplier of 1
and a value with many keeps what it shows; tau^2 is at least a typical value's sampling variance (an estimate
of no spread does not pull every value to 1 with false certainty). The fit's uncertainty is the Laplace
approximation: a normal around the estimate with the inverse of the penalised information as covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEAK = 1e-2  # prior precision of attribute effects in the first pass (sd 10 on the log scale)
FREE = 1e-6  # prior precision of intercepts (as good as flat)
TAU2_MIN, TAU2_MAX = 1e-4, 4.0
EPS = 1e-12


def _g(eta: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """g(eta) and its derivative."""
    eta = np.clip(eta, -40.0, 20.0)
    if link == "logit":
        g = 1.0 / (1.0 + np.exp(-eta))
        return g, g * (1.0 - g)
    mu = np.exp(eta)
    e = np.exp(-mu)
    return -np.expm1(-mu), mu * e


@dataclass(frozen=True)
class Fit:
    """The estimate, its covariance and what each column of X is."""

    theta: np.ndarray
    cov: np.ndarray
    names: tuple[str, ...]
    tau2: dict[str, float]

    def draws(self, rng: np.random.Generator, r: int) -> np.ndarray:
        """R draws of theta from the approximate posterior (R x parameters)."""
        return rng.multivariate_normal(self.theta, self.cov, size=r, method="eigh")

    def sd(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0))


def probability(X: np.ndarray, theta: np.ndarray, offset: np.ndarray, a: np.ndarray, b: np.ndarray,
                link: str) -> np.ndarray:
    """p = a + b g(offset + X theta) for each row of X (theta may be R x P: then R x rows)."""
    eta = offset + theta @ X.T
    return a + b * _g(eta, link)[0]


def _loglik(p: np.ndarray, n: np.ndarray, s: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(np.sum(s * np.log(p) + (n - s) * np.log1p(-p)))


def fit_cells(X: np.ndarray, n: np.ndarray, s: np.ndarray, *, link: str, offset: np.ndarray | None = None,
              a: np.ndarray | None = None, b: np.ndarray | None = None, precision: np.ndarray,
              iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The penalised maximum-likelihood theta and its covariance (Fisher scoring with step halving)."""
    cells, k = X.shape
    offset = np.zeros(cells) if offset is None else offset
    a = np.zeros(cells) if a is None else a
    b = np.ones(cells) if b is None else b
    theta = np.zeros(k)
    # start the intercepts near the overall share, so that the first steps are small
    share = (s.sum() + 0.5) / (n.sum() + 1.0)
    base = (share - a.mean()) / max(b.mean(), EPS)
    base = min(max(base, 1e-6), 1 - 1e-6)
    start = np.log(base / (1 - base)) if link == "logit" else np.log(-np.log1p(-base))
    intercepts = precision <= FREE * 10
    theta[intercepts] = start - float(np.mean(offset))
    P = np.diag(precision)

    def objective(t: np.ndarray) -> float:
        return _loglik(a + b * _g(offset + X @ t, link)[0], n, s) - 0.5 * float(t @ P @ t)

    current = objective(theta)
    info = P
    for _ in range(iterations):
        g, dg = _g(offset + X @ theta, link)
        p = np.clip(a + b * g, EPS, 1 - EPS)
        d = b * dg
        w = n * d * d / (p * (1 - p))
        score = X.T @ ((s - n * p) * d / (p * (1 - p))) - P @ theta
        info = X.T @ (X * w[:, None]) + P
        step = np.linalg.solve(info, score)
        t = 1.0
        while t > 1e-6:
            candidate = theta + t * step
            value = objective(candidate)
            if value >= current - 1e-12:
                break
            t /= 2
        theta, change = theta + t * step, abs(value - current)
        current = value
        if change < 1e-10 and float(np.max(np.abs(t * step))) < 1e-8:
            break
    g, dg = _g(offset + X @ theta, link)
    p = np.clip(a + b * g, EPS, 1 - EPS)
    d = b * dg
    info = X.T @ (X * (n * d * d / (p * (1 - p)))[:, None]) + P
    return theta, np.linalg.inv(info)


def fit_shrunk(X: np.ndarray, n: np.ndarray, s: np.ndarray, *, link: str, names: tuple[str, ...],
               blocks: dict[str, list[int]], offset: np.ndarray | None = None, a: np.ndarray | None = None,
               b: np.ndarray | None = None) -> Fit:
    """Fit with attribute effects (the columns in `blocks`, per attribute) shrunk toward 0 by an estimated
    tau^2 per attribute; every other column is free."""
    k = X.shape[1]
    precision = np.full(k, FREE)
    for cols in blocks.values():
        precision[cols] = WEAK
    theta, cov = fit_cells(X, n, s, link=link, offset=offset, a=a, b=b, precision=precision)
    tau2: dict[str, float] = {}
    for attr, cols in blocks.items():
        # the effects are only known up to a common shift (the intercept takes it): centre them, and their
        # sampling variance with them
        k = len(cols)
        centre = np.eye(k) - 1.0 / k
        est = centre @ theta[cols]
        var = np.diag(centre @ cov[np.ix_(cols, cols)] @ centre)
        t2 = 0.0
        if k > 1:  # DerSimonian and Laird: each value weighted by its precision, so a tiny group counts little
            w = 1.0 / np.maximum(var, 1e-12)
            mean = float(np.sum(w * est) / np.sum(w))
            q = float(np.sum(w * (est - mean) ** 2))
            t2 = (q - (k - 1)) / max(float(np.sum(w) - np.sum(w ** 2) / np.sum(w)), 1e-12)
        # an estimated spread of 0 would pull every value to 1 with false certainty when the data cannot tell:
        # the prior variance is at least a typical value's sampling variance, so that a value of typical size is
        # pulled at most halfway (a value with fewer contacts than most still further)
        tau2[attr] = min(max(t2, float(np.median(var)) if k > 1 else 0.0, TAU2_MIN), TAU2_MAX)
        precision[cols] = 1.0 / tau2[attr]
    if blocks:
        theta, cov = fit_cells(X, n, s, link=link, offset=offset, a=a, b=b, precision=precision)
    return Fit(theta, cov, names, tau2)


__all__ = ["Fit", "fit_cells", "fit_shrunk", "probability"]
