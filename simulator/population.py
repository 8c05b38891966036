"""The simulated population: one NumPy column per contact fact, and a fast synthetic generator.

`Population` is deliberately plain so that an adapter from the project's stored audience (app/audience) is a
column-by-column copy:

- `contact_id` (int64): the contact's id; random draws are keyed by it, so a contact behaves the same in any
  population it appears in.
- `account_id` (int64, -1 = none): the account the contact works for (accounts-targeting journeys).
- `tz` (int16, -1 = unknown: the journey's zone applies) indexing `timezones` (IANA names).
- `consent` (int8): index into app.model.attributes.CONSENT_LEVELS (increasing).
- `engagement` (float64 in [0, 1]): the latent engagement the audience generator draws (Beta(2, 5)).
- `loyalty` (int8): index into LOYALTY_TIERS.
- `segments`: name -> `Membership` (member from `since` until `until`, UTC seconds; `NEVER` = never). Ongoing
  journeys enter contacts at the time they join an audience segment; this is the "joined_at" of the issue.
- `numeric` (float64, NaN = no data; dates as UTC seconds) and `categories` (codes into a tuple of texts, -1 =
  no data): attribute columns that if/then conditions test, keyed by attribute name (`account.size` too).
- `spec`: how the population was made (JSON-able), so a saved run can rebuild it.

Synthetic contacts live where their `locale` says: "mixed" (the default: a spread over Europe, the Americas,
Asia and Australia) or one region such as "en_GB" or "en_US", whose time zones (weighted by where people live),
country and language they then take. The locale is part of the spec; "mixed" is left out of it, so specs made
before locales existed rebuild the same population.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS
from simulator.draws import NEVER
from simulator.plan import Plan

DAY = 86_400
DEFAULT_TIMEZONES: tuple[tuple[str, float], ...] = (
    ("Europe/Paris", 0.22), ("Europe/London", 0.14), ("Europe/Berlin", 0.10), ("America/New_York", 0.18),
    ("America/Chicago", 0.07), ("America/Los_Angeles", 0.10), ("Asia/Tokyo", 0.06), ("Australia/Sydney", 0.05),
    ("UTC", 0.08))
COUNTRIES = ("FR", "GB", "DE", "US", "US", "US", "JP", "AU", "IE")  # by time zone above
LANGUAGES = ("fr", "en", "de", "en", "en", "en", "ja", "en", "en")
# These mirror app/audience/population.py so synthetic and stored populations look alike: tiers on noisy
# lifetime value, consent cut points on noisy engagement (about 10/15/15/25/25/10 % from not_set to profiling).
TIER_CUTS = np.array([50.0, 200.0, 600.0, 1500.0])
CONSENT_CUTS = np.array([-0.21, 0.23, 0.53, 0.99, 1.63])
ZIPF_EXPONENT, ZIPF_OFFSET = 1.1, 10.0


@dataclass(frozen=True)
class Locale:
    """Where synthetic contacts live: time zones and the share of contacts in each, and each zone's country and
    language."""

    label: str
    zones: tuple[tuple[str, float], ...]
    countries: tuple[str, ...]
    languages: tuple[str, ...]


def _region(label: str, country: str, language: str, *zones: tuple[str, float]) -> Locale:
    return Locale(label, zones, (country,) * len(zones), (language,) * len(zones))


MIXED = "mixed"
# Zone shares are rough shares of the country's population (national statistics, rounded); a locale is a
# plausible audience of that market, not a census.
LOCALES: dict[str, Locale] = {
    MIXED: Locale("Worldwide mix", DEFAULT_TIMEZONES, COUNTRIES, LANGUAGES),
    "en_US": _region("United States (en_US)", "US", "en", ("America/New_York", 0.47), ("America/Chicago", 0.29),
                     ("America/Denver", 0.05), ("America/Phoenix", 0.02), ("America/Los_Angeles", 0.16),
                     ("America/Anchorage", 0.002), ("Pacific/Honolulu", 0.004)),
    "en_GB": _region("United Kingdom (en_GB)", "GB", "en", ("Europe/London", 1.0)),
    "en_AU": _region("Australia (en_AU)", "AU", "en", ("Australia/Sydney", 0.33), ("Australia/Melbourne", 0.26),
                     ("Australia/Brisbane", 0.20), ("Australia/Perth", 0.11), ("Australia/Adelaide", 0.07),
                     ("Australia/Hobart", 0.02), ("Australia/Darwin", 0.01)),
    "de_DE": _region("Germany (de_DE)", "DE", "de", ("Europe/Berlin", 1.0)),
    "fr_FR": _region("France (fr_FR)", "FR", "fr", ("Europe/Paris", 1.0)),
    "es_ES": _region("Spain (es_ES)", "ES", "es", ("Europe/Madrid", 0.955), ("Atlantic/Canary", 0.045)),
    "it_IT": _region("Italy (it_IT)", "IT", "it", ("Europe/Rome", 1.0)),
    "nl_NL": _region("Netherlands (nl_NL)", "NL", "nl", ("Europe/Amsterdam", 1.0)),
    "pt_BR": _region("Brazil (pt_BR)", "BR", "pt", ("America/Sao_Paulo", 0.91), ("America/Manaus", 0.07),
                     ("America/Rio_Branco", 0.02)),
    "ja_JP": _region("Japan (ja_JP)", "JP", "ja", ("Asia/Tokyo", 1.0)),
}


def locale_of(name: str) -> Locale:
    """A locale by name (e.g. "en_GB", or "mixed"); ValueError naming the known ones otherwise."""
    try:
        return LOCALES[name]
    except KeyError:
        raise ValueError(f"unknown locale {name!r} (known: {', '.join(LOCALES)})") from None


@dataclass(frozen=True)
class Membership:
    """Segment membership per contact: member during [since, until); since == NEVER: never a member."""

    since: np.ndarray
    until: np.ndarray | None = None

    def member_at(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Whether contacts `rows` are members at time(s) `t`."""
        inside = np.take(self.since, rows) <= t
        if self.until is not None:
            inside &= np.take(self.until, rows) > t
        return inside

    def first_at_or_after(self, rows: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """The first time >= t at which each contact is a member (NEVER if none)."""
        since = np.take(self.since, rows)
        f = np.maximum(since, t)
        ok = since < NEVER
        if self.until is not None:
            ok &= f < np.take(self.until, rows)
        return np.where(ok, f, NEVER)


@dataclass(frozen=True)
class CategoryColumn:
    """A text attribute as codes into its distinct values (-1: no data)."""

    codes: np.ndarray
    values: tuple[str, ...]


@dataclass(frozen=True)
class Population:
    """Contacts as columns; see the module docstring for each column's meaning."""

    contact_id: np.ndarray
    account_id: np.ndarray
    tz: np.ndarray
    timezones: tuple[str, ...]
    consent: np.ndarray
    engagement: np.ndarray
    loyalty: np.ndarray
    segments: Mapping[str, Membership] = field(default_factory=dict)
    numeric: Mapping[str, np.ndarray] = field(default_factory=dict)
    categories: Mapping[str, CategoryColumn] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.contact_id)

    def attribute(self, name: str) -> np.ndarray | CategoryColumn | None:
        """A numeric column or a category column by attribute name (consent and loyalty included)."""
        if name == "consent_level":
            return CategoryColumn(self.consent.astype(np.int32), CONSENT_LEVELS)
        if name == "loyalty_tier":
            return CategoryColumn(self.loyalty.astype(np.int32), LOYALTY_TIERS)
        if name == "time_zone":
            return CategoryColumn(self.tz.astype(np.int32), self.timezones)
        if name in self.numeric:
            return self.numeric[name]
        return self.categories.get(name)

    def attribute_names(self) -> list[str]:
        return sorted({"consent_level", "loyalty_tier", "time_zone", *self.numeric, *self.categories})

    def segment(self, name: str) -> Membership:
        """A segment's membership; a clear error naming the segments the population has otherwise."""
        try:
            return self.segments[name]
        except KeyError:
            have = ", ".join(sorted(self.segments)) or "none"
            raise KeyError(f"the population has no segment '{name}' (it has: {have})") from None


@dataclass(frozen=True)
class SegmentSpec:
    """How a synthetic segment fills: a share of members at the start, then a share of the rest who join."""

    at_start: float
    joining: float = 0.0


def segment_specs_for(plan: Plan) -> dict[str, SegmentSpec]:
    """Default synthetic segments for a journey, by the role each segment plays in it.

    Audience: everyone at the start (one-time, repeating), or 40 % at the start and the rest joining over the
    schedule (ongoing); with several audience segments each holds 70 %, so they overlap. Exclusion: 2 %.
    Suppression: 3 % at the start and 3 % of the others joining part-way through. Any other segment (if/then,
    goal, exit): 30 % at the start, 10 % joining.
    """
    specs: dict[str, SegmentSpec] = {}
    aud = plan.audience
    for name in aud.segments:
        share = 1.0 if len(aud.segments) == 1 or aud.combine == "intersection" else 0.7
        specs[name] = SegmentSpec(0.4 * share, 1.0) if plan.frequency == "ongoing" else SegmentSpec(share)
    for name in aud.exclude:
        specs.setdefault(name, SegmentSpec(0.02))
    if aud.suppress:
        specs.setdefault(aud.suppress, SegmentSpec(0.03, 0.03))
    for name in plan.segments_used():
        specs.setdefault(name, SegmentSpec(0.3, 0.1))
    return specs


def population_for(plan: Plan, n: int, seed: int, **kw: Any) -> Population:
    """A synthetic population of `n` contacts with the segments the journey uses (see `segment_specs_for`)."""
    return synthetic_population(n, seed, start=plan.start, end=plan.horizon, segments=segment_specs_for(plan), **kw)


def synthetic_population(n: int, seed: int, *, start: int, end: int,
                         segments: Mapping[str, SegmentSpec] | None = None, account_share: float = 0.6,
                         contacts_per_account: int = 40, unknown_tz_share: float = 0.02,
                         locale: str = MIXED) -> Population:
    """`n` synthetic contacts from `seed`: skewed engagement and value, time zones, accounts of Zipf-like sizes.

    Segment members who join do so uniformly over [start, end). `locale` says where contacts live (see
    LOCALES). The same arguments give the same population bit for bit (with the same NumPy).
    """
    if n < 0:
        raise ValueError("the population size cannot be negative")
    where = locale_of(locale)
    rng = np.random.default_rng(seed)
    zones = tuple(z for z, _ in where.zones)
    weights = np.array([w for _, w in where.zones])
    tz = rng.choice(len(zones), size=n, p=weights / weights.sum()).astype(np.int16)
    unknown_tz = rng.random(n) < unknown_tz_share

    engagement = rng.beta(2.0, 5.0, n)
    value = np.round(rng.lognormal(4.6 + 2.0 * (engagement - 0.29), 1.0, n), 2)
    buyer = rng.random(n) < 0.45 + 0.5 * engagement
    lifetime_value = np.where(buyer, value, 0.0)
    loyalty = np.searchsorted(TIER_CUTS, lifetime_value * rng.lognormal(0.0, 0.25, n), side="right").astype(np.int8)
    consent = np.searchsorted(CONSENT_CUTS, 2.5 * engagement + rng.normal(0.0, 0.6, n), side="right").astype(np.int8)
    recency_days = rng.exponential(20.0 + 500.0 * (1.0 - engagement) ** 2)
    last_purchase = np.where(buyer, start - np.round(recency_days * DAY), np.nan)

    n_accounts = max(1, n // max(1, contacts_per_account))
    ranks = np.arange(n_accounts, dtype=np.float64)
    p = (ranks + ZIPF_OFFSET) ** -ZIPF_EXPONENT
    works = rng.random(n) < account_share
    account = np.where(works, rng.choice(n_accounts, size=n, p=p / p.sum()), -1).astype(np.int64)
    # most of an account's contacts work where the account is (an account's journey uses one time zone)
    account_zone = rng.choice(len(zones), size=n_accounts, p=weights / weights.sum()).astype(np.int16)
    local = works & (rng.random(n) < 0.85)
    tz[local] = account_zone[account[local]]
    country = tz.astype(np.int32)  # where the contact is, known even when its time zone is not
    tz[unknown_tz] = -1
    sizes = np.bincount(account[account >= 0], minlength=n_accounts).astype(np.float64)
    account_size = np.where(account >= 0, sizes[np.maximum(account, 0)] * 25.0, np.nan)

    members: dict[str, Membership] = {}
    for name, spec in (segments or {}).items():
        members[name] = _membership(rng, n, spec, start, end)
    ids = np.arange(1, n + 1, dtype=np.int64)
    spec_plain = {"kind": "synthetic", "contacts": n, "seed": seed, "start": start, "end": end,
                  "segments": {k: [v.at_start, v.joining] for k, v in (segments or {}).items()},
                  "account_share": account_share, "contacts_per_account": contacts_per_account,
                  "unknown_tz_share": unknown_tz_share}
    if locale != MIXED:
        spec_plain["locale"] = locale
    return Population(
        contact_id=ids, account_id=account, tz=tz, timezones=zones, consent=consent, engagement=engagement,
        loyalty=loyalty, segments=members,
        numeric={"lifetime_value": lifetime_value, "last_purchase_date": last_purchase,
                 "account.size": account_size},
        categories={"country": _by_zone(country, where.countries, locale),
                    "language": _by_zone(country, where.languages, locale)},
        spec=spec_plain)


def _by_zone(zone: np.ndarray, per_zone: tuple[str, ...], locale: str) -> CategoryColumn:
    """A text column from each contact's zone index. A region's repeated values become one code (a test for
    "US" then finds every American); "mixed" keeps one code per zone, as populations made before locales had."""
    if locale == MIXED:
        return CategoryColumn(zone, per_zone)
    values = tuple(dict.fromkeys(per_zone))
    remap = np.array([values.index(v) for v in per_zone], dtype=np.int32)
    return CategoryColumn(remap[zone], values)


def _membership(rng: np.random.Generator, n: int, spec: SegmentSpec, start: int, end: int) -> Membership:
    since = np.full(n, NEVER, dtype=np.int64)
    u = rng.random(n)
    first = u < spec.at_start  # members at the start joined some time in the 30 days before
    since[first] = start - 1 - (rng.random(int(first.sum())) * 30 * DAY).astype(np.int64)
    joins = (u >= spec.at_start) & (rng.random(n) < spec.joining)
    span = max(1, end - start)
    since[joins] = start + (rng.random(int(joins.sum())) * span).astype(np.int64)
    return Membership(since)


def population_from_spec(spec: Mapping[str, Any]) -> Population:
    """Rebuild a population from its `spec` (synthetic populations only, for now)."""
    if spec.get("kind") != "synthetic":
        raise ValueError(f"cannot rebuild a population of kind {spec.get('kind')!r}")
    segs = {k: SegmentSpec(float(v[0]), float(v[1])) for k, v in spec.get("segments", {}).items()}
    return synthetic_population(int(spec["contacts"]), int(spec["seed"]), start=int(spec["start"]),
                                end=int(spec["end"]), segments=segs, account_share=float(spec["account_share"]),
                                contacts_per_account=int(spec["contacts_per_account"]),
                                unknown_tz_share=float(spec["unknown_tz_share"]),
                                locale=str(spec.get("locale", MIXED)))


# --- a population's columns as bytes (for populations a spec cannot rebuild: the project's own contacts) -------

def population_to_npz(pop: Population) -> bytes:
    """Every column of `pop` as compressed npz bytes; `population_from_npz` gives back an equal population."""
    import io
    import json

    arrays: dict[str, np.ndarray] = {"contact_id": pop.contact_id, "account_id": pop.account_id, "tz": pop.tz,
                                     "consent": pop.consent, "engagement": pop.engagement, "loyalty": pop.loyalty}
    segs, nums, cats = list(pop.segments), list(pop.numeric), list(pop.categories)
    for i, name in enumerate(segs):
        m = pop.segments[name]
        arrays[f"seg{i}.since"] = m.since
        if m.until is not None:
            arrays[f"seg{i}.until"] = m.until
    for i, name in enumerate(nums):
        arrays[f"num{i}"] = pop.numeric[name]
    for i, name in enumerate(cats):
        arrays[f"cat{i}"] = pop.categories[name].codes
    meta = {"timezones": list(pop.timezones), "segments": segs, "numeric": nums,
            "categories": [[name, list(pop.categories[name].values)] for name in cats], "spec": dict(pop.spec)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def population_from_npz(data: bytes) -> Population:
    """The population `population_to_npz` wrote."""
    import io
    import json

    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    meta = json.loads(a["meta"].tobytes().decode("utf-8"))
    segments = {name: Membership(a[f"seg{i}.since"], a.get(f"seg{i}.until"))
                for i, name in enumerate(meta["segments"])}
    numeric = {name: a[f"num{i}"] for i, name in enumerate(meta["numeric"])}
    categories = {name: CategoryColumn(a[f"cat{i}"], tuple(values))
                  for i, (name, values) in enumerate(meta["categories"])}
    return Population(a["contact_id"], a["account_id"], a["tz"], tuple(meta["timezones"]), a["consent"],
                      a["engagement"], a["loyalty"], segments, numeric, categories, meta["spec"])
