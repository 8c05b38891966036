"""A population profile fitted to a project's own contacts: the distributions of its base, and nothing else.

Only aggregates leave the project file: shares (of each locale, consent level, loyalty tier, list, static
segment...), means and spreads (engagement, lifetime value, recency, age, tenure, interactions per contact). No
row, name or value of a single contact is copied, so a synthetic population drawn from the profile resembles
the base without reproducing anyone in it. Figures the data cannot tell (no engagement recorded, no history)
keep the default profile's, and `source` says what the profile was fitted to.
"""

from __future__ import annotations

import math
from dataclasses import replace
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, case, func, select

from app.audience.pools import COUNTRY_NAMES, known_locale
from app.audience.profile import PopulationProfile
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS
from app.store import schema as t

_c, _i, _l, _m = t.contacts, t.interactions, t.contact_lists, t.segment_members
MIN_ROWS = 30  # fewer values than this: keep the default figure
_BY_COUNTRY = {name.casefold(): locale for locale, name in COUNTRY_NAMES.items()}


def _clip(x: float, lo: float, hi: float) -> float:
    return float(min(hi, max(lo, x)))


def _shares(rows: Iterable[Sequence[Any]], names: tuple[str, ...], default: tuple[float, ...]) -> tuple[float, ...]:
    counts = dict.fromkeys(names, 0)
    for value, n in rows:
        key = str(value).casefold() if value is not None else ""
        match = next((name for name in names if name.casefold() == key), names[0])
        counts[match] += int(n)
    total = sum(counts.values())
    return tuple(counts[n] / total for n in names) if total else default


def _locale(language: object, country: object) -> str | None:
    if isinstance(language, str):
        code = language.replace("-", "_")
        if len(code) == 5 and known_locale(code):
            return code
    if isinstance(country, str):
        return _BY_COUNTRY.get(country.casefold())
    return None


def fit_profile(conn: Connection, *, project: str = "the project", today: date | None = None) -> PopulationProfile:
    """A profile with the project's distributions (see the module docstring); AudienceError without contacts."""
    default = PopulationProfile()
    n = int(conn.execute(select(func.count()).select_from(_c)).scalar_one())
    if n == 0:
        raise AudienceError(f"{project} has no contacts to fit a population profile to (import or generate some)")
    kw: dict[str, object] = {}

    # where contacts live
    found: dict[str, int] = {}
    for language, country, count in conn.execute(select(_c.c.language, _c.c.country, func.count())
                                                 .group_by(_c.c.language, _c.c.country)):
        loc = _locale(language, country)
        if loc is not None:
            found[loc] = found.get(loc, 0) + int(count)
    total = sum(found.values())
    if total >= MIN_ROWS:
        top = sorted(found.items(), key=lambda kv: -kv[1])[:20]
        kw["locales"] = tuple((loc, round(c / total, 6)) for loc, c in top)

    # engagement: Beta by the method of moments
    inside = (_c.c.engagement > 0) & (_c.c.engagement < 1)
    count_e, mean_e, square_e = conn.execute(select(func.count(), func.avg(_c.c.engagement),
                                                    func.avg(_c.c.engagement * _c.c.engagement)).where(inside)).one()
    if count_e >= MIN_ROWS:
        m, v = float(mean_e), float(square_e) - float(mean_e) ** 2
        common = m * (1 - m) / v - 1 if v > 0 else -1.0
        if common > 0:
            kw["engagement"] = (_clip(m * common, 0.05, 1000), _clip((1 - m) * common, 0.05, 1000))

    kw["consent"] = _shares(conn.execute(select(_c.c.consent_level, func.count()).group_by(_c.c.consent_level)).all(),
                            CONSENT_LEVELS, default.consent)
    kw["loyalty"] = _shares(conn.execute(select(_c.c.loyalty_tier, func.count()).group_by(_c.c.loyalty_tier)).all(),
                            LOYALTY_TIERS, default.loyalty)

    # buying: who has bought, for how much, how long ago
    value = np.fromiter(conn.execute(select(_c.c.lifetime_value).where(_c.c.lifetime_value > 0)).scalars(),
                        dtype=np.float64)
    bought = int(conn.execute(select(func.count()).select_from(_c).where(
        (_c.c.lifetime_value > 0) | _c.c.last_purchase_date.is_not(None))).scalar_one())
    kw["buyers"] = bought / n
    if len(value) >= MIN_ROWS:
        logs = np.log(value)
        kw["value_median"] = _clip(float(np.exp(np.median(logs))), 0.01, 1e7)
        kw["value_sigma"] = _clip(float(logs.std()), 0.0, 5.0)
    latest = [conn.execute(select(func.max(_c.c.last_purchase_date))).scalar_one(),
              conn.execute(select(func.max(_i.c.at))).scalar_one(),
              conn.execute(select(func.max(_c.c.created_on))).scalar_one()]
    days = [d.date() if hasattr(d, "date") and callable(d.date) else d for d in latest if d is not None]
    ref = today or (max(days) if days else date.today())  # the data's own "now": its latest date
    day = func.julianday(ref.isoformat())

    def mean_days(column: ColumnElement[Any], *, spread: bool = False) -> tuple[int, float, float]:
        """How many values, their mean and standard deviation, in days before `ref` (SQL aggregates)."""
        age = day - func.julianday(column)
        count, mean, square = conn.execute(select(func.count(column), func.avg(age), func.avg(age * age))
                                           .where(column.is_not(None))).one()
        if not count or mean is None:
            return 0, 0.0, 0.0
        return int(count), float(mean), math.sqrt(max(0.0, float(square) - float(mean) ** 2)) if spread else 0.0

    count, mean, _ = mean_days(_c.c.last_purchase_date)
    if count >= MIN_ROWS:
        kw["recency_days"] = _clip(max(mean, 1.0), 1.0, 36_500.0)

    # history
    kinds: dict[Any, Any] = dict(conn.execute(select(_i.c.kind, func.count()).group_by(_i.c.kind)).all())
    if kinds:
        buys = int(kinds.get("purchase", 0))
        if bought and buys:
            kw["purchases_per_buyer"] = _clip(buys / bought, 1.0, 1000.0)
        kw["web_visits"] = _clip(int(kinds.get("web_visit", 0)) / n, 0.0, 10_000.0)
        kw["form_submissions"] = _clip(int(kinds.get("form_submitted", 0)) / n, 0.0, 10_000.0)

    # accounts, lists, static segments
    with_account, accounts = conn.execute(select(func.count(_c.c.account_id),
                                                 func.count(func.distinct(_c.c.account_id)))).one()
    kw["account_share"] = int(with_account) / n
    if accounts:
        kw["contacts_per_account"] = _clip(int(with_account) / int(accounts), 1.0, 1e6)
    lists = conn.execute(select(_l.c.list, func.count()).group_by(_l.c.list)).all()
    kw["lists"] = tuple((str(name), round(int(c) / n, 6)) for name, c in lists if name)
    static = conn.execute(select(_m.c.segment, func.count()).group_by(_m.c.segment)).all()
    kw["segments"] = tuple((str(name), round(int(c) / n, 6)) for name, c in static if name)

    # the rest of a contact
    row = conn.execute(select(
        func.sum(case((_c.c.mobile_phone.is_not(None), 1), else_=0)),
        func.sum(case((_c.c.time_zone.is_(None), 1), else_=0)),
        func.sum(case((_c.c.birth_date.is_(None), 1), else_=0)))).one()
    kw["mobile_share"] = int(row[0] or 0) / n
    kw["unknown_time_zone"] = int(row[1] or 0) / n
    kw["birth_date_missing"] = int(row[2] or 0) / n
    count, mean, sd = mean_days(_c.c.birth_date, spread=True)
    if count >= MIN_ROWS:
        kw["age"] = (_clip(mean / 365.25, 18.0, 92.0), _clip(sd / 365.25, 0.0, 50.0))
    count, mean, _ = mean_days(_c.c.created_on)
    if count >= MIN_ROWS:
        kw["tenure_days"] = _clip(max(mean, 1.0), 1.0, 36_500.0)
    kw["source"] = f"fitted to the {n:,} contacts of {project} (as of {ref.isoformat()})"
    out = replace(default, **kw)  # type: ignore[arg-type]
    return PopulationProfile.from_plain(_finite(out.to_plain()))


def _finite(plain: dict[str, object]) -> dict[str, object]:
    """NaN or infinite figures (from odd data) back to the defaults' (the profile reader refuses them)."""
    default = PopulationProfile().to_plain()
    out = {}
    for k, v in plain.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = default[k]
        out[k] = v
    return out


__all__ = ["fit_profile"]
