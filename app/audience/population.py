"""A synthetic customer base: accounts, contacts, subscription lists and interactions, from a seed.

Faker is slow per call, so it only fills small pools per locale (names, cities, companies); NumPy then samples
every column for all contacts at once. The shape follows a real customer base: lifetime value is lognormal
(right-skewed), purchase recency exponential and shorter for engaged contacts, engagement beta-distributed
and recorded per contact (the simulator draws behaviour from it), loyalty tier and consent follow value and
engagement, and contacts spread over accounts with Zipf-like sizes.

The same seed, size, locales, accounts, lists and `as_of` date give the same rows bit for bit (with the same
versions of Faker and NumPy). Everything is written in one transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, select

from app.audience.bulk import analyze, bulk_pragmas, indexes_deferred, insert_rows
from app.audience.pools import (INDUSTRIES, PERSONAL_DOMAIN_WEIGHTS, PERSONAL_DOMAINS, POOL_CITIES, POOL_NAMES,
                                LocalePools, ascii_word, company_names, locale_pools)
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, INTERACTION_KINDS, LOYALTY_TIERS
from app.store import ProjectFile
from app.store import schema as t

DEFAULT_LISTS: tuple[str, ...] = ("Newsletter", "Offers", "Product updates", "Events")
LIST_RATES: tuple[float, ...] = (0.45, 0.30, 0.20, 0.10)
CONTACTS_PER_ACCOUNT = 40
B2B_SHARE = 0.6  # contacts who work for one of the accounts
ZIPF_EXPONENT, ZIPF_OFFSET = 1.1, 10.0  # the offset keeps the largest account to a few % of the contacts
DAY = 86_400
MAX_SIZE = 20_000_000

# Loyalty tier thresholds on (noisy) lifetime value: most contacts are 'none' or bronze. Consent cut points
# on (noisy) engagement: about 10 / 15 / 15 / 25 / 25 / 10 % of contacts from not_set to profiling.
TIER_CUTS = np.array([50.0, 200.0, 600.0, 1500.0])
CONSENT_CUTS = np.array([-0.21, 0.23, 0.53, 0.99, 1.63])
SUBSCRIBABLE = CONSENT_LEVELS.index("subscriptions")

CONTACT_COLUMNS: tuple[str, ...] = (
    "id", "first_name", "last_name", "full_name", "email", "mobile_phone", "city", "country", "time_zone",
    "language", "birth_date", "created_on", "consent_level", "loyalty_tier", "lifetime_value",
    "last_purchase_date", "account_id", "engagement")


@dataclass(frozen=True)
class PopulationReport:
    """What `generate` wrote, and how long it took."""

    contacts: int
    accounts: int
    interactions: int
    subscriptions: int
    seed: int
    as_of: date
    locales: tuple[str, ...]
    seconds: float


def generate(target: ProjectFile | Connection, size: int, seed: int, locales: Sequence[str] = ("en_US",), *,
             accounts: int | None = None, lists: Sequence[str] = DEFAULT_LISTS, as_of: date | None = None,
             replace: bool = False) -> PopulationReport:
    """Generate `size` contacts (and accounts, list memberships, interactions) into a project file.

    `as_of` is the day the base is seen from (default: today, UTC): recency and ages count back from it.
    A project that already has contacts is refused unless `replace`, which first deletes every contact,
    account, interaction, list membership and static segment member.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        raise AudienceError(f"the population size must be a whole number from 1 to {MAX_SIZE:,}, not {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AudienceError(f"the seed must be a whole number from 0, not {seed!r}")
    if accounts is not None and (isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 0):
        raise AudienceError(f"the number of accounts must be a whole number from 0, not {accounts!r}")
    if not locales:
        raise AudienceError("give at least one locale, e.g. en_US")
    if any(not isinstance(n, str) or not n.strip() for n in lists):
        raise AudienceError("subscription list names cannot be empty")
    day = as_of or datetime.now(timezone.utc).date()
    args = (size, seed, tuple(locales), accounts, tuple(lists), day, replace)
    if isinstance(target, ProjectFile):
        with target.connection(write=True) as conn:
            return _generate(conn, *args)
    if target.in_transaction():
        return _generate(target, *args)
    with target.begin():
        return _generate(target, *args)


def _clear(conn: Connection) -> None:
    for table in (t.interactions, t.contact_lists, t.segment_members, t.contacts, t.accounts):
        conn.execute(delete(table))


def _generate(conn: Connection, size: int, seed: int, locales: tuple[str, ...], n_accounts: int | None,
              lists: tuple[str, ...], as_of: date, replace: bool) -> PopulationReport:
    started = time.perf_counter()
    existing = conn.execute(select(func.count()).select_from(t.contacts)).scalar_one()
    existing += conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()
    if existing and not replace:
        raise AudienceError("the project already has contacts or accounts; replace them to generate a new "
                            "population (nothing was changed)")
    if existing:
        _clear(conn)
    root = np.random.SeedSequence(seed)
    pool_seeds = root.generate_state(len(locales))
    rng_accounts, rng_contacts, rng_lists, rng_events = (np.random.default_rng(s) for s in root.spawn(4))
    pools = [locale_pools(loc, int(s)) for loc, s in zip(locales, pool_seeds)]
    n_acc = n_accounts if n_accounts is not None else max(1, round(size / CONTACTS_PER_ACCOUNT))
    account_rows, account_domains, account_p = _accounts(rng_accounts, pools, n_acc)
    people = _contacts(rng_contacts, pools, size, as_of, account_domains, account_p)
    memberships = _memberships(rng_lists, people, lists)
    events = _interactions(rng_events, people)
    with bulk_pragmas(conn), indexes_deferred(conn, (t.accounts, t.contacts, t.contact_lists, t.interactions)):
        insert_rows(conn, t.accounts, ("id", "name", "industry", "size", "city"), account_rows)
        insert_rows(conn, t.contacts, CONTACT_COLUMNS, people["rows"])
        subscriptions = insert_rows(conn, t.contact_lists, ("contact_id", "list"), memberships)
        interactions = insert_rows(conn, t.interactions, ("id", "contact_id", "kind", "at", "value"), events)
    analyze(conn)
    return PopulationReport(size, n_acc, interactions, subscriptions, seed, as_of, locales,
                            time.perf_counter() - started)


def _accounts(rng: np.random.Generator, pools: list[LocalePools],
              n: int) -> tuple[list[tuple[Any, ...]], list[str], np.ndarray]:
    """Account rows, each account's e-mail domain, and the share of contacts each account gets (Zipf-like)."""
    if n == 0:
        return [], [], np.zeros(0)
    locale = rng.integers(0, len(pools), n)
    names: list[str] = [""] * n
    for li, pool in enumerate(pools):
        where = np.flatnonzero(locale == li)
        for i, name in zip(where.tolist(), company_names(pool, len(where), rng)):
            names[i] = name
    seen: set[str] = set()
    for i, name in enumerate(names):  # company names of different locales may still coincide
        if name.casefold() in seen:
            names[i] = name = f"{name} ({i + 1})"
        seen.add(name.casefold())
    share = 1.0 / (np.arange(1, n + 1) + ZIPF_OFFSET) ** ZIPF_EXPONENT  # Zipf-Mandelbrot by size rank
    rng.shuffle(share)
    share /= share.sum()
    # employees: at least the expected number of contacts, times a lognormal spread
    expected = share * CONTACTS_PER_ACCOUNT * n * B2B_SHARE
    employees = np.ceil(np.maximum(expected, 1) * rng.lognormal(2.0, 0.8, n)).astype(np.int64)
    industry = rng.integers(0, len(INDUSTRIES), n)
    city = rng.integers(0, POOL_CITIES, n)
    rows = [(i + 1, names[i], INDUSTRIES[ind], emp, pools[loc].cities[c])
            for i, (ind, emp, loc, c) in enumerate(zip(industry.tolist(), employees.tolist(), locale.tolist(),
                                                      city.tolist()))]
    domains = [f"{(ascii_word(name) or 'company')[:24]}{i + 1}.example" for i, name in enumerate(names)]
    return rows, domains, share


def _flat(pools: list[LocalePools], field: str) -> np.ndarray:
    return np.array([v for p in pools for v in getattr(p, field)], dtype=object)


def _days_to_text(days: np.ndarray, missing: np.ndarray | None = None) -> list[str | None]:
    text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    if missing is not None:
        text[missing] = None
    return text.tolist()  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _clock() -> np.ndarray:
    """'THH:MM:SS' for every second of a day."""
    return np.array([f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)],
                    dtype=object)


def _seconds_to_text(seconds: np.ndarray) -> list[str]:
    """Unix seconds as 'YYYY-MM-DDTHH:MM:SS' (the IsoSeconds column format), twice as fast as NumPy's own."""
    if not len(seconds):
        return []
    day, second = np.divmod(seconds, DAY)
    first = int(day.min())
    days = np.datetime_as_string(np.arange(first, int(day.max()) + 1).astype("datetime64[D]"), unit="D")
    return (days.astype(object)[day - first] + _clock()[second]).tolist()  # type: ignore[no-any-return]


def _contacts(rng: np.random.Generator, pools: list[LocalePools], n: int, as_of: date, account_domains: list[str],
              account_p: np.ndarray) -> dict[str, Any]:
    """Every contact column, sampled at once; returns the rows and the arrays interactions are drawn from."""
    ids = np.arange(1, n + 1, dtype=np.int64)
    today = (np.datetime64(as_of, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)
    now = today * DAY
    loc = rng.integers(0, len(pools), n)
    first_i = loc * POOL_NAMES + rng.integers(0, POOL_NAMES, n)
    last_i = loc * POOL_NAMES + rng.integers(0, POOL_NAMES, n)
    city_i = loc * POOL_CITIES + rng.integers(0, POOL_CITIES, n)
    first = _flat(pools, "first_names")[first_i].tolist()
    last = _flat(pools, "last_names")[last_i].tolist()
    full = [f"{a} {b}" for a, b in zip(first, last)]

    if len(account_domains):
        works = rng.random(n) < B2B_SHARE
        account = np.where(works, rng.choice(len(account_domains), size=n, p=account_p), -1)
    else:
        account = np.full(n, -1)
    personal = np.array(PERSONAL_DOMAINS, dtype=object)[
        rng.choice(len(PERSONAL_DOMAINS), size=n, p=PERSONAL_DOMAIN_WEIGHTS)]
    domains = np.where(account >= 0, np.array(account_domains + [""], dtype=object)[account], personal).tolist()
    emails = [f"{a}.{b}.{i}@{d}" for a, b, i, d in zip(_flat(pools, "first_ascii")[first_i].tolist(),
                                                       _flat(pools, "last_ascii")[last_i].tolist(), ids.tolist(),
                                                       domains)]
    calling = np.array([p.calling_code for p in pools], dtype=object)[loc].tolist()
    digits = rng.integers(600_000_000, 800_000_000, n).tolist()
    has_mobile = (rng.random(n) < 0.85).tolist()
    mobiles = [(f"+{cc} 2{d}" if cc == "1" else f"+{cc} {d}") if m else None
               for cc, d, m in zip(calling, digits, has_mobile)]

    engagement = rng.beta(2.0, 5.0, n)
    age_days = (np.clip(rng.normal(42.0, 14.0, n), 18.0, 92.0) * 365.25).astype(np.int64)
    birth = _days_to_text(today - age_days, rng.random(n) < 0.08)
    tenure = np.minimum(rng.exponential(700.0, n), 3650.0)  # days since the contact was created
    created_s = now - (tenure * DAY).astype(np.int64) - 1
    created_day = created_s // DAY

    buyer = rng.random(n) < 0.45 + 0.5 * engagement
    value = np.round(rng.lognormal(4.6 + 2.0 * (engagement - 0.29), 1.0, n), 2)
    lifetime_value = np.where(buyer, value, 0.0)
    recency = np.minimum(rng.exponential(20.0 + 500.0 * (1.0 - engagement) ** 2), tenure)
    last_day = np.maximum(today - 1 - recency.astype(np.int64), created_day)
    tier = np.searchsorted(TIER_CUTS, lifetime_value * rng.lognormal(0.0, 0.25, n), side="right")
    consent = np.searchsorted(CONSENT_CUTS, 2.5 * engagement + rng.normal(0.0, 0.6, n), side="right")

    columns = (
        ids.tolist(), first, last, full, emails, mobiles,
        _flat(pools, "cities")[city_i].tolist(),
        np.array([p.country for p in pools], dtype=object)[loc].tolist(),
        _flat(pools, "city_zones")[city_i].tolist(),
        np.array([p.language for p in pools], dtype=object)[loc].tolist(),
        birth, _seconds_to_text(created_s),
        np.array(CONSENT_LEVELS, dtype=object)[consent].tolist(),
        np.array(LOYALTY_TIERS, dtype=object)[tier].tolist(),
        lifetime_value.tolist(),
        _days_to_text(last_day, ~buyer),
        _account_ids(account),
        engagement.tolist(),
    )
    return {"rows": zip(*columns), "ids": ids, "engagement": engagement, "buyer": buyer, "consent": consent,
            "lifetime_value": lifetime_value, "last_day": last_day, "created_s": created_s, "now": now}


def _account_ids(account: np.ndarray) -> list[int | None]:
    ids: list[int | None] = (account + 1).tolist()
    for i in np.flatnonzero(account < 0).tolist():
        ids[i] = None
    return ids


def _memberships(rng: np.random.Generator, people: dict[str, Any], lists: tuple[str, ...]) -> list[tuple[int, str]]:
    """(contact id, list) rows: engaged contacts who consented to subscriptions are on more lists."""
    ids, engagement, consent = people["ids"], people["engagement"], people["consent"]
    chosen_ids, chosen_lists = [], []
    for j in range(len(lists)):
        rate = LIST_RATES[j % len(LIST_RATES)]
        p = np.where(consent >= SUBSCRIBABLE, rate * (0.6 + engagement), rate * 0.1)
        on = np.flatnonzero(rng.random(len(ids)) < p)
        chosen_ids.append(ids[on])
        chosen_lists.append(np.full(len(on), j))
    who, which = np.concatenate(chosen_ids), np.concatenate(chosen_lists)
    order = np.lexsort((which, who))  # primary-key order: the insert appends to the index
    names = np.array(lists, dtype=object)[which[order]].tolist()
    return list(zip(who[order].tolist(), names))


def _interactions(rng: np.random.Generator, people: dict[str, Any]) -> Iterator[tuple[int, int, str, str, float]]:
    """Purchases (the latest on the last purchase date; values adding up to lifetime value), web visits and
    form submissions, more of them for engaged contacts."""
    ids, engagement, buyer = people["ids"], people["engagement"], people["buyer"]
    created_s, now = people["created_s"], people["now"]

    n_buy = np.where(buyer, 1 + np.minimum(rng.poisson(engagement * 2.5), 7), 0)
    who_buy = np.repeat(ids - 1, n_buy)
    latest = np.zeros(len(who_buy), dtype=bool)
    latest[(np.cumsum(n_buy) - n_buy)[n_buy > 0]] = True
    last_s = people["last_day"] * DAY
    latest_s = np.clip(last_s + rng.integers(8 * 3600, 22 * 3600, len(ids)), created_s, last_s + DAY - 1)
    lo, hi = created_s[who_buy], latest_s[who_buy]
    buy_at = np.where(latest, hi, lo + (rng.random(len(who_buy)) * (hi - lo)).astype(np.int64))
    buy_value = np.round(people["lifetime_value"][who_buy] / n_buy[who_buy], 2)

    n_visit = rng.poisson(engagement * 4.0)
    who_visit = np.repeat(ids - 1, n_visit)
    back = rng.exponential(20.0 + 160.0 * (1.0 - engagement[who_visit]))
    visit_at = np.maximum(now - 1 - (back * DAY).astype(np.int64), created_s[who_visit])

    n_form = rng.poisson(engagement * 0.6)
    who_form = np.repeat(ids - 1, n_form)
    lo = created_s[who_form]
    form_at = lo + (rng.random(len(who_form)) * (now - 1 - lo)).astype(np.int64)

    who = np.concatenate([who_buy, who_visit, who_form]) + 1
    at = np.concatenate([buy_at, visit_at, form_at])
    kind = np.concatenate([np.zeros(len(who_buy), np.int8), np.ones(len(who_visit), np.int8),
                           np.full(len(who_form), 2, np.int8)])
    value = np.concatenate([buy_value, np.full(len(who_visit) + len(who_form), np.nan)])  # NaN is stored as NULL
    # (contact, time) order: the foreign-key checks then walk the contacts in order, and a contact's history
    # is stored together.
    order = np.lexsort((kind, at, who))
    kinds = np.array(INTERACTION_KINDS, dtype=object)[kind[order]].tolist()
    return zip(range(1, len(order) + 1), who[order].tolist(), kinds, _seconds_to_text(at[order]),
               value[order].tolist())


__all__ = ["DEFAULT_LISTS", "PopulationReport", "generate"]
