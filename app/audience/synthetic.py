"""The synthetic customer base: contacts, accounts, subscription lists and an interaction history, from a seed
and a population profile. The one generator: the demo project, `journey-studio population` (written into a
project file) and the simulator (evaluated in memory) all draw their contacts here.

NumPy samples every numeric column for all contacts at once; Faker only fills small pools per locale (names,
cities, companies), and only when a text column that needs them is read (`ContactBase` columns are made on
first use), so the simulator, which needs no names, never starts Faker for the common locales. Each part
(accounts, contacts, attributes, lists, history) draws from a stream of its own, so what is read does not change
what is drawn: the contacts and their attributes are drawn at once, on two threads; the subscription lists
then, on a thread of their own while the caller goes on; the interaction history when first read (a run whose
segments read no history does not draw it: it was 40 % of a population's time), from the same streams and
values, so the same numbers.

The shape follows a real customer base, with engagement as the common thread (see app.audience.profile):
lifetime value is lognormal (right-skewed), purchase recency exponential and shorter for engaged contacts,
consent and loyalty tiers follow engagement and value (at the profile's shares), contacts spread over accounts
with Zipf-like sizes, and the history (purchases, web visits, form submissions) ends before `as_of`, the
latest purchase on the last purchase date.

The same seed, size, profile, `as_of` and assumed segments give the same base bit for bit (with the same
versions of Faker and NumPy).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast

import numpy as np

from app.audience.base import DAY, ContactBase, Interactions, Items, Text
from app.audience.pools import (INDUSTRIES, PERSONAL_DOMAIN_WEIGHTS, PERSONAL_DOMAINS, POOL_CITIES, POOL_NAMES,
                                LocalePools, ascii_word, city_zone_table, company_names, country_name, known_locale,
                                locale_pools)
from app.audience.profile import PopulationProfile
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS

MAX_SIZE = 20_000_000
ZIPF_EXPONENT, ZIPF_OFFSET = 1.1, 10.0  # the offset keeps the largest account to a few % of the contacts
SUBSCRIBABLE = CONSENT_LEVELS.index("subscriptions")
_PICK = np.int16 if max(POOL_NAMES, POOL_CITIES) < 2 ** 15 else np.int32  # a name or city pick
_THREADED = 50_000  # contacts from which the population is drawn on two threads
_FEW = 16  # shares from which `_choice` uses its guide table (below: one comparison per share)
_REFERENCE = 200_000  # draws of the latent scores that place the consent and loyalty cut points
# how engagement shapes a contact (log-value per unit of engagement above the mean; recency and buying odds)
VALUE_SLOPE, BUYER_SLOPE, MAX_TENURE_DAYS = 2.0, 0.5, 3650.0


def _recency_scale(e: np.ndarray) -> np.ndarray:
    return 20.0 + 500.0 * (1.0 - e) ** 2


@lru_cache(maxsize=32)
def _cuts(profile: PopulationProfile) -> tuple[np.ndarray, np.ndarray]:
    """Cut points of the consent and loyalty latent scores that give the profile's shares (quantiles of a fixed
    reference sample: a function of the profile alone)."""
    rng = np.random.default_rng(20_261_201)
    a, b = profile.engagement
    e = rng.beta(a, b, _REFERENCE)
    consent_latent = 2.5 * e + rng.normal(0.0, 0.6, _REFERENCE)
    buyer = rng.random(_REFERENCE) < _buyer_p(profile, e)
    value = np.where(buyer, _value(profile, e, rng.normal(0.0, 1.0, _REFERENCE)), 0.0)
    tier_latent = value * rng.lognormal(0.0, 0.25, _REFERENCE)
    return (_quantiles(consent_latent, np.cumsum(profile.consent)[:-1]),
            _quantiles(tier_latent, np.cumsum(profile.loyalty)[:-1]))


def _quantiles(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`np.quantile(x, q)` (its default, linear method) of a sample without NaN, worked out as NumPy works it out
    (the same numbers), without importing numpy.ma, which np.quantile's call to np.unique does (20 ms of CPU in
    every simulation command)."""
    n = len(x)
    virtual = (n - 1) * np.asarray(q, dtype=np.float64)
    prev = np.floor(virtual)
    following = prev + 1
    at_end = virtual >= n - 1
    prev[at_end], following[at_end] = -1, -1
    before = virtual < 0
    prev[before], following[before] = 0, 0
    lo, hi = prev.astype(np.intp), following.astype(np.intp)
    ordered = np.partition(x, sorted({0, n - 1, *(lo % n).tolist(), *(hi % n).tolist()}))
    a, b = ordered[lo], ordered[hi]
    gamma = virtual - lo
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


@lru_cache(maxsize=32)
def _recency_factor(profile: PopulationProfile) -> float:
    """The factor of the recency scale that makes buyers' mean days since their last purchase the profile's
    `recency_days` (recency cannot exceed a contact's tenure: solved on a fixed reference sample)."""
    rng = np.random.default_rng(20_261_202)
    a, b = profile.engagement
    e = rng.beta(a, b, 20_000)
    buyer = rng.random(20_000) < _buyer_p(profile, e)
    e = e[buyer]
    tenure = np.minimum(rng.exponential(profile.tenure_days, len(e)), max(MAX_TENURE_DAYS, 5 * profile.tenure_days))
    base = rng.exponential(1.0, len(e)) * _recency_scale(e)
    lo, hi = -12.0, 12.0  # log of the factor
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.minimum(base * np.exp(mid), tenure).mean()) < profile.recency_days:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))


def _mean_engagement(profile: PopulationProfile) -> float:
    a, b = profile.engagement
    return a / (a + b)


def _buyer_p(profile: PopulationProfile, e: np.ndarray) -> np.ndarray:
    p = e - _mean_engagement(profile)
    p *= BUYER_SLOPE
    p += profile.buyers
    np.maximum(p, 0.0, out=p)  # np.clip's values, without its wrappers' temporaries
    return np.minimum(p, 1.0, out=p)


def _level(cuts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`np.searchsorted(cuts, x, side="right")` for a few cuts and no NaN in `x`: how many cuts are <= x, counted
    by one comparison per cut (a binary search per value cost 40 ns a contact)."""
    level = np.zeros(len(x), dtype=np.int8)
    for cut in cuts.tolist():
        level += x >= cut
    return level


def _value(profile: PopulationProfile, e: np.ndarray, z: np.ndarray) -> np.ndarray:
    mu = np.log(profile.value_median) + VALUE_SLOPE * (e - _mean_engagement(profile))
    return np.round(np.exp(mu + profile.value_sigma * z), 2)


def name_seed(seed: int, name: str) -> np.random.SeedSequence:
    """A seed sequence of its own for a named thing (an assumed segment), whatever else is drawn."""
    digest = int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.SeedSequence([seed & ((1 << 63) - 1), digest])


class _Pools:
    """Faker pools per locale, drawn on first use (names, cities, company names)."""

    def __init__(self, locales: tuple[str, ...], seeds: np.ndarray) -> None:
        self.locales, self.seeds = locales, seeds
        self._pools: dict[int, LocalePools] = {}

    def __getitem__(self, i: int) -> LocalePools:
        if i not in self._pools:
            self._pools[i] = locale_pools(self.locales[i], int(self.seeds[i]))
        return self._pools[i]

    def flat(self, name: str) -> np.ndarray:
        return np.array([v for i in range(len(self.locales)) for v in getattr(self[i], name)], dtype=object)


def synthesize(size: int, seed: int, profile: PopulationProfile | None = None, *, as_of: int,
               accounts: int | None = None, static: Iterable[str] = (), lists: Iterable[str] = ()) -> ContactBase:
    """`size` synthetic contacts (with accounts, lists and history) seen at `as_of` (UTC seconds).

    `static` names static segments and `lists` subscription lists the profile does not hold: their members are
    drawn at the profile's assumed share (`PopulationProfile.segment_share`), each from its own stream.
    """
    profile = profile or PopulationProfile()
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        raise AudienceError(f"the population size must be a whole number from 1 to {MAX_SIZE:,}, not {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise AudienceError(f"the seed must be a whole number from 0 to {2 ** 63 - 1}, not {seed!r}")
    if accounts is not None and (isinstance(accounts, bool) or not isinstance(accounts, int)
                                 or not 0 <= accounts <= MAX_SIZE):
        raise AudienceError(f"the number of accounts must be a whole number from 0 to {MAX_SIZE:,}, not {accounts!r}")
    n = size
    locales = tuple(name for name, _ in profile.locales)
    for name in locales:
        if not known_locale(name):
            raise AudienceError(f"'{name}' is not a locale Faker knows; use e.g. en_US, fr_FR, de_DE, ja_JP")
    shares = np.array([s for _, s in profile.locales], dtype=np.float64)
    shares /= shares.sum()
    root = np.random.SeedSequence(seed)
    pool_seeds = root.generate_state(len(locales))
    r_acc, r_who, r_attr, r_list, r_events, r_text = (np.random.default_rng(s) for s in root.spawn(6))
    pools = _Pools(locales, pool_seeds)
    now = int(as_of)
    today = now // DAY
    mean_e = _mean_engagement(profile)
    n_acc = accounts if accounts is not None else (
        max(1, round(n * profile.account_share / profile.contacts_per_account)) if profile.account_share > 0 else 0)

    # Each part draws from streams of its own, so the contacts (with their accounts and static segments) and
    # their attributes are drawn at the same time on two threads (NumPy releases the GIL), then the lists and
    # the history: the same numbers whatever the threads.
    def who_part() -> tuple[Any, ...]:
        acc = _accounts(r_acc, n, n_acc, shares, profile)
        return acc, _contacts(r_who, n, n_acc, shares, acc[1], profile), _static(seed, n, static, profile)

    with _Pool(n) as pool:
        # the cut points (a fixed reference sample, made once per profile) on the thread of the shorter part
        cuts_done = pool.submit(lambda: (_cuts(profile), _recency_factor(profile)))
        who_done = pool.submit(who_part)
        engagement, age_days, no_birth, created_s, buyer, lifetime_value, last_day, tier, consent = \
            _attributes(r_attr, n, profile, now, cuts_done)
        (acc_locale, _, employees, industry, acc_city, name_state), \
            (loc, first_i, last_i, city_i, account, personal, digits, has_mobile, unknown_tz), \
            static_members = who_done.result()
    ids = np.arange(1, n + 1, dtype=np.int64)
    list_names = tuple(lists)
    last_days = last_day.astype(np.int32)  # what the history needs of it, kept in half the memory
    del last_day

    # the lists and the history, from streams of their own, are drawn apart (a run whose segments read no history
    # does not pay for it: 40 % of a population's time)
    def drawn_lists() -> Items:
        return _lists(r_list, n, seed, engagement, consent, profile, list_names)

    # the lists (most journeys' audiences read one) are drawn on the second thread while this one goes on with
    # the columns and the run's world, which is on one thread
    lists_drawn = _Later(drawn_lists, started=n >= _THREADED)

    def drawn_history() -> Interactions:
        with _Pool(n) as pool:
            return _history(r_events, profile, engagement, buyer, lifetime_value, last_days.astype(np.int64),
                            created_s, now, mean_e, pool)

    # --- columns (text made when read) ---------------------------------------------------------------------------
    zone_tables = [city_zone_table(loc_name, int(s)) for loc_name, s in zip(locales, pool_seeds)]
    zone_values = tuple(z for table in zone_tables for z in table)
    zone_codes = np.where(unknown_tz, -1, loc * POOL_CITIES + city_i).astype(np.int32)

    def names(kind: str) -> Any:
        def make() -> Text:
            idx = loc * POOL_NAMES + (first_i if kind == "first" else last_i)
            return Text(idx.astype(np.int32), tuple(pools.flat(f"{kind}_names").tolist()))
        return make

    def full_name() -> Text:
        first = pools.flat("first_names")[loc * POOL_NAMES + first_i]
        last = pools.flat("last_names")[loc * POOL_NAMES + last_i]
        # finding the repeated names by hashing a million of them cost more than the names themselves, for a
        # column that is only written out and tested value by value
        return Text.per_row([f"{x} {y}" for x, y in zip(first.tolist(), last.tolist())])

    domains_cache: dict[str, list[str]] = {}

    def account_names() -> list[str]:
        if "names" not in domains_cache:
            rng = np.random.default_rng(name_state)
            found: list[str] = [""] * n_acc
            for li in range(len(locales)):
                where = np.flatnonzero(acc_locale == li)
                if len(where):
                    for i, nm in zip(where.tolist(), company_names(pools[li], len(where), rng)):
                        found[i] = nm
            seen: set[str] = set()
            for i, nm in enumerate(found):  # company names of different locales may still coincide
                if nm.casefold() in seen:
                    found[i] = nm = f"{nm} ({i + 1})"
                seen.add(nm.casefold())
            domains_cache["names"] = found
        return domains_cache["names"]

    def email() -> Text:
        acc_domains = [f"{(ascii_word(nm) or 'company')[:24]}{i + 1}.example" for i, nm in enumerate(account_names())]
        domain = np.where(account >= 0, np.array(acc_domains + [""], dtype=object)[account],
                          np.array(PERSONAL_DOMAINS, dtype=object)[personal])
        first = pools.flat("first_ascii")[loc * POOL_NAMES + first_i]
        last = pools.flat("last_ascii")[loc * POOL_NAMES + last_i]
        texts = [f"{x}.{y}.{i}@{d}" for x, y, i, d in zip(first.tolist(), last.tolist(), ids.tolist(),
                                                            domain.tolist())]
        # the names are letters and digits (ascii_word), so the text between the last "." and the "@" is the
        # contact's id and every address differs: the codes are the rows, as Text.of finds them by hashing
        return Text.per_row(texts)

    def mobile() -> Text:
        calling = np.array([_calling_code(name) for name in locales], dtype=object)[loc[has_mobile]]
        return Text.per_row([f"+{cc} 2{d}" if cc == "1" else f"+{cc} {d}"
                             for cc, d in zip(calling.tolist(), digits[has_mobile].tolist())], has_mobile)

    def city() -> Text:
        return Text((loc * POOL_CITIES + city_i).astype(np.int32), tuple(pools.flat("cities").tolist()))

    def country() -> Text:
        return Text(loc.astype(np.int32), tuple(country_name(name, int(s)) for name, s in zip(locales, pool_seeds)))

    columns: dict[str, Any] = {
        "first_name": names("first"), "last_name": names("last"), "full_name": full_name, "email": email,
        "mobile_phone": mobile, "city": city, "country": country,
        "time_zone": Text(zone_codes, zone_values),
        "language": Text(loc.astype(np.int32), tuple(name.replace("_", "-") for name in locales)),
        "birth_date": np.where(no_birth, np.nan, (today - age_days).astype(np.float64)),
        "created_on": lambda: created_s.astype(np.float64),
        "consent_level": Text(consent.astype(np.int32), CONSENT_LEVELS),
        "loyalty_tier": Text(tier.astype(np.int32), LOYALTY_TIERS),
        "lifetime_value": lifetime_value,
        "last_purchase_date": np.where(buyer, last_days.astype(np.float64), np.nan),
        "engagement": engagement,
    }

    def acc_city_text() -> Text:
        return Text((acc_locale * POOL_CITIES + acc_city).astype(np.int32), tuple(pools.flat("cities").tolist()))

    account_columns: dict[str, Any] = {
        "name": lambda: Text.of(account_names()), "industry": Text(industry.astype(np.int32), INDUSTRIES),
        "size": employees.astype(np.float64), "city": acc_city_text}
    return _SyntheticBase(ids, columns, account, np.arange(1, n_acc + 1, dtype=np.int64), account_columns,
                          cast(Any, _Later(drawn_history)), cast(Any, lists_drawn), static_members)


class _Later:
    """A part of a synthetic base drawn when first read (`_SyntheticBase`), once, whichever thread reads it; or,
    `started`, drawn at once on a thread of its own, and waited for when read."""

    def __init__(self, make: Callable[[], Any], *, started: bool = False) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None
        self._lock = threading.Lock()
        self._drawing: Future[Any] | None = None
        if started:
            self._drawing = Future()
            threading.Thread(target=self._draw, name="synthetic part", daemon=True).start()

    def _draw(self) -> None:
        assert self._drawing is not None and self._make is not None
        try:
            self._drawing.set_result(self._make())
        except BaseException as e:  # raised where it is read
            self._drawing.set_exception(e)

    def get(self) -> Any:
        with self._lock:
            if self._drawing is not None:
                self._value, self._drawing, self._make = self._drawing.result(), None, None
            elif self._make is not None:
                self._value, self._make = self._make(), None
            return self._value


T = TypeVar("T")


class _DrawnWhenRead(Generic[T]):
    """A field of `_SyntheticBase` that may hold a `_Later`: reading it draws the part (once) and gives its value."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = f"_{name}"

    def __get__(self, base: Any, owner: type | None = None) -> T:
        part = base.__dict__[self.key]
        return part.get() if isinstance(part, _Later) else part

    def __set__(self, base: Any, value: T | _Later) -> None:
        base.__dict__[self.key] = value


class _SyntheticBase(ContactBase):
    """A synthetic `ContactBase` whose interaction history and subscription lists are drawn when first read:
    the same numbers as when drawn at once (each from a stream of its own, from values the base keeps)."""

    interactions = _DrawnWhenRead[Interactions]()
    lists = _DrawnWhenRead[Items]()


class _Pool:
    """Two threads for a population worth them, else the calling thread (`submit` runs the work at once)."""

    def __init__(self, n: int) -> None:
        self._executor = ThreadPoolExecutor(1) if n >= _THREADED else None

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown()

    def submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._executor is not None:
            return self._executor.submit(work, *args)
        done: Future[Any] = Future()
        done.set_result(work(*args))
        return done


def _accounts(rng: np.random.Generator, n: int, n_acc: int, shares: np.ndarray,
              profile: PopulationProfile) -> tuple[Any, ...]:
    """Accounts: locale, share of the contacts (Zipf-like by size rank), employees, industry, city, name seed."""
    acc_locale = _choice(rng, shares, n_acc)
    acc_share = 1.0 / (np.arange(1, n_acc + 1) + ZIPF_OFFSET) ** ZIPF_EXPONENT  # Zipf-Mandelbrot by size rank
    rng.shuffle(acc_share)
    acc_share = acc_share / acc_share.sum() if n_acc else acc_share
    expected = acc_share * n * profile.account_share  # contacts the account will have
    employees = np.ceil(np.maximum(expected, 1) * rng.lognormal(2.0, 0.8, n_acc))
    industry = rng.integers(0, len(INDUSTRIES), n_acc)
    acc_city = rng.integers(0, POOL_CITIES, n_acc)
    name_state = int(rng.integers(0, 2 ** 62))
    return acc_locale, acc_share, employees, industry, acc_city, name_state


def _choice(rng: np.random.Generator, p: np.ndarray, n: int, where: np.ndarray | None = None) -> np.ndarray:
    """`rng.choice(len(p), size=n, p=p)` drawn the same way (the same numbers), in time linear in `n`: a guide
    table over 2^b equal slices of [0, 1) holds the first index whose cumulative share passes each slice's start,
    so a uniform's answer is its slice's entry or, where a slice holds a cut, a few steps after it (a sort of the
    uniforms to keep a search in cache cost n log n: 2.3 s of 10M contacts' population). With a few shares, it
    counts the cumulative shares at or below each uniform instead. `where` (n booleans): only those picks are
    worked out, the others are -1 (all n uniforms are drawn all the same: the stream goes on from the same place)."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    u = rng.random(n)
    if where is not None:
        picked = np.full(n, -1, dtype=np.int64)
        picked[where] = _pick(cdf, u[where])
        return picked
    return _pick(cdf, u)


def _pick(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`cdf.searchsorted(u, side="right")` for uniforms `u` in [0, 1) and a cumulative distribution ending at 1."""
    n = len(u)
    if len(cdf) <= _FEW:  # a few shares (locales, domains): how many cumulative shares are <= u, one pass each
        few = np.zeros(n, dtype=np.int8)
        for c in cdf.tolist():
            few += u >= c
        return few.astype(np.int64)
    k = 1 << min(22, max(8, (4 * len(cdf)).bit_length()))  # about 4 slices per account; the guide 16 MB at most
    guide = cdf.searchsorted(np.arange(k + 1, dtype=np.float64) / k, side="right").astype(np.int32)
    # u * k is exact (k a power of two), so slice b holds exactly the u in [b / k, (b + 1) / k)
    b = (u * k).astype(np.int32)
    found = np.take(guide, b).astype(np.int64)
    b += 1
    todo = np.flatnonzero(np.take(guide, b) != found)  # slices with a cut inside: the answer is after their entry
    del b
    while len(todo):
        todo = todo[np.take(cdf, np.take(found, todo)) <= np.take(u, todo)]
        found[todo] += 1
    return found


def _contacts(rng: np.random.Generator, n: int, n_acc: int, shares: np.ndarray, acc_share: np.ndarray,
              profile: PopulationProfile) -> tuple[np.ndarray, ...]:
    """Per contact: locale, name and city picks, account (-1: none), personal domain, phone digits, whether
    the mobile number and the time zone are known."""
    loc = _choice(rng, shares, n)  # rng.choice's numbers, without its binary search per contact (70 ns each)
    first_i = rng.integers(0, POOL_NAMES, n)
    last_i = rng.integers(0, POOL_NAMES, n)
    city_i = rng.integers(0, POOL_CITIES, n)
    if n_acc:
        works = rng.random(n) < profile.account_share
        account = _choice(rng, acc_share, n, where=works)  # only the picks of those who work for one
    else:
        account = np.full(n, -1, dtype=np.int64)
    personal = _choice(rng, np.array(PERSONAL_DOMAIN_WEIGHTS, dtype=np.float64), n)
    digits = rng.integers(600_000_000, 800_000_000, n)
    has_mobile = rng.random(n) < profile.mobile_share
    unknown_tz = rng.random(n) < profile.unknown_time_zone
    # kept for the text columns made when read: the smallest types that hold them exactly (a third of the memory)
    return (loc.astype(np.int32), first_i.astype(_PICK), last_i.astype(_PICK), city_i.astype(_PICK),
            account, personal.astype(np.int8), digits.astype(np.int32), has_mobile, unknown_tz)


def _attributes(rng: np.random.Generator, n: int, profile: PopulationProfile, now: int,
                cuts: Future[tuple[tuple[np.ndarray, np.ndarray], float]] | None = None) -> tuple[np.ndarray, ...]:
    """Per contact: engagement, age, whether the birth date is missing, creation time, whether a buyer,
    lifetime value, last purchase day, loyalty tier and consent level (engagement the common thread). `cuts`:
    the profile's `_cuts` and `_recency_factor` being worked out elsewhere (else they are worked out here)."""
    def made() -> tuple[tuple[np.ndarray, np.ndarray], float]:  # waited for only when needed
        return cuts.result() if cuts is not None else (_cuts(profile), _recency_factor(profile))

    today = now // DAY
    a, b = profile.engagement
    engagement = rng.beta(a, b, n)
    age = rng.normal(profile.age[0], profile.age[1], n)
    np.maximum(age, 18.0, out=age)
    np.minimum(age, 92.0, out=age)
    age *= 365.25
    age_days = age.astype(np.int64)
    del age
    no_birth = rng.random(n) < profile.birth_date_missing
    tenure = np.minimum(rng.exponential(profile.tenure_days, n), max(MAX_TENURE_DAYS, 5 * profile.tenure_days))
    created_s = now - (tenure * DAY).astype(np.int64) - 1
    created_day = created_s // DAY
    buyer = rng.random(n) < _buyer_p(profile, engagement)
    lifetime_value = np.where(buyer, _value(profile, engagement, rng.normal(0.0, 1.0, n)), 0.0)
    scale = _recency_scale(engagement) * made()[1]
    # rng.exponential(scale) draws scale * a standard exponential: the same numbers, without broadcasting
    recency = np.minimum(scale * rng.standard_exponential(n), tenure)
    last_day = np.maximum(today - 1 - recency.astype(np.int64), created_day)
    tier_latent = rng.lognormal(0.0, 0.25, n)
    tier_latent *= lifetime_value
    consent_cuts, tier_cuts = made()[0]
    tier = _level(tier_cuts, tier_latent)
    del tier_latent
    consent_latent = rng.normal(0.0, 0.6, n)
    consent_latent += 2.5 * engagement  # the same sum as 2.5 * engagement + normal (addition commutes exactly)
    consent = _level(consent_cuts, consent_latent)
    return engagement, age_days, no_birth, created_s, buyer, lifetime_value, last_day, tier, consent


def _lists(rng: np.random.Generator, n: int, seed: int, engagement: np.ndarray, consent: np.ndarray,
           profile: PopulationProfile, lists: Iterable[str]) -> Items:
    """Subscription lists: mostly contacts who consented to subscriptions, engaged ones more often; lists the
    profile does not hold at its assumed share, each from its own stream."""
    weight = np.where(consent >= SUBSCRIBABLE, 0.6 + engagement, 0.1)
    mean_weight = float(weight.mean()) or 1.0
    list_owner: list[np.ndarray] = []
    list_codes: list[np.ndarray] = []
    list_values: list[str] = []
    for list_name, share in profile.lists:
        on = np.flatnonzero(rng.random(n) < np.minimum(1.0, share / mean_weight * weight))
        list_owner.append(on)
        list_codes.append(np.full(len(on), len(list_values), dtype=np.int32))
        list_values.append(list_name)
    for list_name in dict.fromkeys(lists):
        if profile.list_share(list_name) is not None:
            continue
        on = np.flatnonzero(np.random.default_rng(name_seed(seed, f"list:{list_name}")).random(n)
                            < profile.segment_share(list_name))
        list_owner.append(on)
        list_codes.append(np.full(len(on), len(list_values), dtype=np.int32))
        list_values.append(list_name)
    owners = np.concatenate(list_owner) if list_owner else np.zeros(0, np.int64)
    codes = np.concatenate(list_codes) if list_codes else np.zeros(0, np.int32)
    return Items.from_codes(n, owners, codes, tuple(list_values))


def _static(seed: int, n: int, static: Iterable[str], profile: PopulationProfile) -> dict[str, np.ndarray]:
    """The member rows of each static segment, at the profile's assumed share, each from its own stream."""
    members = {}
    for segment in dict.fromkeys(static):
        u = np.random.default_rng(name_seed(seed, f"static:{segment}")).random(n)
        members[segment] = np.flatnonzero(u < profile.segment_share(segment))
    return members


def _calling_code(locale: str) -> str:
    from app.audience.pools import CALLING_CODES
    code = locale.split("_")[-1].upper() if "_" in locale else ""
    return CALLING_CODES.get(code, "999")


def _history(rng: np.random.Generator, profile: PopulationProfile, engagement: np.ndarray, buyer: np.ndarray,
             lifetime_value: np.ndarray, last_day: np.ndarray, created_s: np.ndarray, now: int,
             mean_e: float, pool: _Pool | None = None) -> Interactions:
    """Purchases (the latest on the last purchase date; values adding up to lifetime value), web visits and
    form submissions, more of them for engaged contacts; all before `now`.

    Every draw is made first, in the stream's order (the arithmetic between them draws nothing), then the
    purchases are worked out on the pool's thread while this one works out the visits and form submissions."""
    n = len(engagement)
    extra = max(0.0, profile.purchases_per_buyer - 1.0)
    n_buy = np.where(buyer, 1 + np.minimum(rng.poisson(extra * engagement / mean_e), max(7, int(4 * extra) + 7)), 0)
    latest_offset = rng.integers(8 * 3600, 22 * 3600, n)
    u_buy = rng.random(int(n_buy.sum()))
    n_visit = rng.poisson(profile.web_visits * engagement / mean_e)
    # rng.exponential(scale) draws scale * a standard exponential: the same numbers, without broadcasting
    e_visit = rng.standard_exponential(int(n_visit.sum()))
    n_form = rng.poisson(profile.form_submissions * engagement / mean_e)
    u_form = rng.random(int(n_form.sum()))

    def buys(u_buy: np.ndarray, latest_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        who_buy = np.repeat(np.arange(n, dtype=np.int64), n_buy)
        latest = np.zeros(len(who_buy), dtype=bool)
        latest[(np.cumsum(n_buy) - n_buy)[n_buy > 0]] = True
        last_s = last_day * DAY
        latest_s = np.clip(last_s + latest_offset, created_s, np.minimum(last_s + DAY, now) - 1)
        lo, hi = created_s[who_buy], latest_s[who_buy]
        buy_at = np.where(latest, hi, lo + (u_buy * np.maximum(hi - lo, 0)).astype(np.int64))
        return who_buy, buy_at, np.round(lifetime_value / np.maximum(n_buy, 1), 2)  # each purchase's value

    buys_done = (pool or _Pool(0)).submit(buys, u_buy, latest_offset)
    del u_buy, latest_offset  # the draws are let go once used (drawing them first must not raise the peak)
    rows = np.arange(n, dtype=np.int64)
    who_visit = np.repeat(rows, n_visit)
    back = (20.0 + 160.0 * (1.0 - engagement[who_visit])) * e_visit
    visit_at = np.maximum(now - 1 - (back * DAY).astype(np.int64), created_s[who_visit])
    del back, e_visit

    who_form = np.repeat(rows, n_form)
    lo = created_s[who_form]
    form_at = lo + (u_form * (now - 1 - lo)).astype(np.int64)
    del lo, rows, u_form
    who_buy, buy_at, unit_value = buys_done.result()

    # (contact, time, kind) order through one int64 key, sorted: the history spans less than 2^33 seconds before
    # now, so every column is read back from the sorted key (a purchase's value is its contact's)
    if n == 0 or now - int(created_s.min()) >= 1 << 33:
        return _history_sorted(now, (who_buy, buy_at, unit_value[who_buy]), (who_visit, visit_at), (who_form, form_at))
    key = np.empty(len(who_buy) + len(who_visit) + len(who_form), dtype=np.int64)
    at_bits = (1 << 33) - 1
    start = 0
    for kind, (who, at) in enumerate(((who_buy, buy_at), (who_visit, visit_at), (who_form, form_at))):
        part = key[start:start + len(who)]
        np.subtract(at, now - at_bits, out=part)  # (2^33 - 1) - (now - at)
        part <<= 2
        part |= kind
        part |= who << 35
        start += len(who)
    del who_buy, buy_at, who_visit, visit_at, who_form, form_at
    key.sort()
    contact = key >> 35
    kinds = (key & 3).astype(np.int8)
    key >>= 2
    key &= at_bits
    key += now - at_bits  # the time, in place
    value = np.take(unit_value, contact)
    value[kinds != 0] = np.nan
    return Interactions(contact, kinds, key, value)


def _history_sorted(now: int, buys: tuple[np.ndarray, ...], *others: tuple[np.ndarray, ...]) -> Interactions:
    """The history's rows in (contact, time, kind) order by an argsort (when the key cannot hold the times)."""
    who = np.concatenate([buys[0]] + [o[0] for o in others])
    at = np.concatenate([buys[1]] + [o[1] for o in others])
    kind = np.concatenate([np.full(len(part[0]), k, np.int8) for k, part in enumerate((buys,) + others)])
    value = np.concatenate([buys[2], np.full(len(who) - len(buys[0]), np.nan)])
    rel = np.clip(now - at, 0, (1 << 33) - 1)
    key = (who << 35) | (((1 << 33) - 1 - rel) << 2) | kind
    order = np.argsort(key)
    return Interactions(who[order], kind[order], at[order], value[order])


__all__ = ["MAX_SIZE", "name_seed", "synthesize"]
