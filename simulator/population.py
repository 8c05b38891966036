"""The simulated population: one NumPy column per contact fact, and where the segments' membership comes from.

`Population` columns:

- `contact_id` (int64): the contact's id; random draws are keyed by it, so a contact behaves the same in any
  population it appears in.
- `account_id` (int64, -1 = none): the account the contact works for (accounts-targeting journeys).
- `tz` (int16, -1 = unknown: the journey's zone applies) indexing `timezones` (IANA names).
- `consent` (int8): index into app.model.attributes.CONSENT_LEVELS (increasing).
- `engagement` (float64 in [0, 1]): the latent engagement behaviour depends on.
- `loyalty` (int8): index into LOYALTY_TIERS.
- `numeric` (float64, NaN = no data; dates and date-times as UTC seconds) and `categories` (codes into a tuple of
  texts, -1 = no data): attribute columns that if/then conditions and behaviour multipliers test, keyed by
  attribute name (`account.size` too). Synthetic populations make them when first read.
- `source`: the contacts' data and the segment definitions (`AudienceSource`): a run evaluates every segment
  the journey uses on it, over the simulated period, with the contacts' own simulated events (simulator.world),
  with the semantics of the project's segment queries (app.audience.evaluate).
- `segments`: memberships given as they are (a `TimeSet` per segment name), for segments without a definition:
  hand-made populations in tests, and `assumed` ones (see `population_for`).
- `spec`: how the population was made (JSON-able), so a saved run can make it again.

Synthetic contacts come from the one generator (app.audience.synthetic) and a population profile
(app.audience.profile), seen at the journey's start: they have a history, and a segment such as "No purchase in
60 days" holds exactly the contacts whose last purchase is that old.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from app.audience.base import DAY, ContactBase, Text
from app.audience.evaluate import list_name
from app.audience.profile import PopulationProfile
from app.audience.synthetic import synthesize
from app.audience.timesets import NEVER, TimeSet
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS, STANDARD_ATTRIBUTES, lookup_attribute
from app.model.segment import Segment
from app.semantics.plan import Plan

AVERAGE_ENGAGEMENT = 2.0 / 7.0  # the Beta(2, 5) mean: a contact with no recorded engagement behaves as average
MIXED = "mixed"


class Locale(NamedTuple):
    """A choice of where synthetic contacts live, for the run panel (label) and the profile (locales)."""

    label: str
    locales: tuple[str, ...]


LOCALES: dict[str, Locale] = {
    MIXED: Locale("Worldwide mix", ()),
    "en_US": Locale("United States (en_US)", ("en_US",)), "en_GB": Locale("United Kingdom (en_GB)", ("en_GB",)),
    "en_AU": Locale("Australia (en_AU)", ("en_AU",)), "de_DE": Locale("Germany (de_DE)", ("de_DE",)),
    "fr_FR": Locale("France (fr_FR)", ("fr_FR",)), "es_ES": Locale("Spain (es_ES)", ("es_ES",)),
    "it_IT": Locale("Italy (it_IT)", ("it_IT",)), "nl_NL": Locale("Netherlands (nl_NL)", ("nl_NL",)),
    "pt_BR": Locale("Brazil (pt_BR)", ("pt_BR",)), "ja_JP": Locale("Japan (ja_JP)", ("ja_JP",)),
}


def locale_of(name: str) -> Locale:
    """A locale by name ("mixed", a listed region, or any locale Faker knows); ValueError otherwise."""
    if name in LOCALES:
        return LOCALES[name]
    from app.audience.pools import known_locale
    if isinstance(name, str) and known_locale(name):
        return Locale(name, (name,))
    raise ValueError(f"unknown locale {name!r} (known: {', '.join(LOCALES)}, or any locale Faker knows)")


def profile_for_locale(name: str) -> PopulationProfile:
    """The default profile with contacts in locale `name` ("mixed": the worldwide mix)."""
    return PopulationProfile.for_locales(locale_of(name).locales or (MIXED,))


@dataclass(frozen=True)
class CategoryColumn:
    """A text attribute as codes into its distinct values (-1: no data)."""

    codes: np.ndarray
    values: tuple[str, ...]


class Lazy(Mapping[str, Any]):
    """A mapping whose values may be functions that make them on first read."""

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        v = self._items[key]
        if callable(v):
            v = self._items[key] = v()
        return v

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class AudienceSource:
    """What a run evaluates segments on: the contacts' data (rows as the population's), the definitions of the
    segments by name, the project's custom attributes, and the window start (the journey's start)."""

    base: ContactBase
    definitions: Mapping[str, Segment]
    custom: Mapping[str, str]
    w0: int


_BUILT_IN = ("consent_level", "loyalty_tier", "time_zone")


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
    segments: Mapping[str, TimeSet] = field(default_factory=dict)
    numeric: Mapping[str, np.ndarray] = field(default_factory=dict)
    categories: Mapping[str, CategoryColumn] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    source: AudienceSource | None = None

    def __len__(self) -> int:
        return len(self.contact_id)

    def attribute(self, name: str) -> np.ndarray | CategoryColumn | None:
        """A numeric column or a category column by attribute name (consent and loyalty included)."""
        if name in _BUILT_IN:
            # made once: the engine asks for them per chunk and per figure, and a whole-population conversion
            # each time made a run's cost grow with the square of its size
            made = self.__dict__.setdefault("_category_columns", {})
            if name not in made:
                codes, values = {"consent_level": (self.consent, CONSENT_LEVELS),
                                 "loyalty_tier": (self.loyalty, LOYALTY_TIERS),
                                 "time_zone": (self.tz, self.timezones)}[name]
                made[name] = CategoryColumn(codes.astype(np.int32), values)
            column: CategoryColumn = made[name]
            return column
        if name in self.numeric:
            return self.numeric[name]
        return self.categories.get(name)

    def attribute_names(self) -> list[str]:
        return sorted({"consent_level", "loyalty_tier", "time_zone", *self.numeric, *self.categories})


# --- from a customer base ----------------------------------------------------------------------------------------

def _zones(col: Any, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Time zone names as codes into the distinct valid names (unknown or invalid: -1, the journey's zone)."""
    if not isinstance(col, Text):
        return np.full(n, -1, dtype=np.int16), ()
    names = list(dict.fromkeys(col.values))
    valid = []
    for name in names:
        try:
            zoneinfo.ZoneInfo(name)
            valid.append(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    index = {name: i for i, name in enumerate(valid)}
    table = np.array([index.get(v, -1) for v in col.values] + [-1], dtype=np.int16)
    return table[np.where(col.codes >= 0, col.codes, len(col.values))], tuple(valid)


def _levels(col: Any, n: int, levels: tuple[str, ...]) -> np.ndarray:
    """A choice column as indexes into `levels` (unknown or missing: 0), ignoring case."""
    if not isinstance(col, Text):
        return np.zeros(n, dtype=np.int8)
    folded = [v.casefold() for v in levels]
    table = np.array([folded.index(v.casefold()) if v.casefold() in folded else 0 for v in col.values] + [0],
                     dtype=np.int8)
    return table[np.where(col.codes >= 0, col.codes, len(col.values))]


def _category(col: Any) -> CategoryColumn | None:
    """A text column for conditions and multipliers: an empty text counts as no data there."""
    if not isinstance(col, Text):
        return None
    codes = col.codes.astype(np.int32)
    if "" in col.values:
        empty = np.array([v == "" for v in col.values] + [False])
        codes = np.where(empty[np.where(codes >= 0, codes, len(col.values))], -1, codes).astype(np.int32)
    return CategoryColumn(codes, col.values)


def _numeric(col: Any, kind: str) -> np.ndarray | None:
    if not isinstance(col, np.ndarray):
        return None
    return col * DAY if kind == "date" else col


def _attribute_columns(base: ContactBase, custom: Mapping[str, str]) -> tuple[Lazy, Lazy]:
    """Every attribute a condition or multiplier may read, made on first read."""
    numeric: dict[str, Any] = {}
    categories: dict[str, Any] = {}
    for attr in STANDARD_ATTRIBUTES.values():
        name = attr.name
        if name in ("consent_level", "loyalty_tier", "time_zone", "subscription_lists"):
            continue
        if name == "account" or name.startswith("account."):
            column = "name" if name == "account" else name.removeprefix("account.")

            def acc(column: str = column, kind: str = attr.type) -> Any:
                col = base.account_column(column)
                if isinstance(col, Text):
                    mapped = Text(np.where(base.account >= 0, col.codes[np.maximum(base.account, 0)]
                                           if len(col.codes) else -1, -1).astype(np.int32), col.values)
                    return _category(mapped)
                if isinstance(col, np.ndarray):
                    return np.where(base.account >= 0, col[np.maximum(base.account, 0)] if len(col) else np.nan,
                                    np.nan)
                return None
            (numeric if attr.type == "number" else categories)[name] = acc
            continue
        if attr.type in ("number", "date", "datetime"):
            numeric[name] = lambda name=name, kind=attr.type: _numeric(base.column(name), kind)
        elif attr.type in ("text", "choice"):
            categories[name] = lambda name=name: _category(base.column(name))
    for name, kind in custom.items():
        if name in STANDARD_ATTRIBUTES or name not in base.custom:
            continue
        custom_attr = lookup_attribute(name, dict(custom))
        if custom_attr is None:
            continue
        if custom_attr.type in ("number", "date", "datetime", "boolean"):
            numeric[name] = lambda name=name, kind=custom_attr.type: _numeric(base.custom_column(name), kind)
        elif custom_attr.type == "text":
            categories[name] = lambda name=name: _category(base.custom_column(name))
    return _present(numeric), _present(categories)


def _present(items: dict[str, Any]) -> Lazy:
    """Lazy columns, dropping those that turn out to be missing when read (None)."""
    class _Dropping(Lazy):
        def __getitem__(self, key: str) -> Any:
            value = super().__getitem__(key)
            if value is None:
                raise KeyError(key)
            return value

        def __contains__(self, key: object) -> bool:
            try:
                self[key]  # type: ignore[index]
            except KeyError:
                return False
            return True

        def __iter__(self) -> Iterator[str]:
            return (k for k in list(self._items) if k in self)
    return _Dropping(items)


def population_from_base(base: ContactBase, *, definitions: Mapping[str, Segment], custom: Mapping[str, str],
                         w0: int, spec: Mapping[str, Any], segments: Mapping[str, TimeSet] | None = None
                         ) -> Population:
    """A population over a customer base whose segments are evaluated from their definitions."""
    n = base.n
    tz, zones = _zones(base.column("time_zone"), n)
    engagement_col = base.column("engagement")
    engagement = (np.clip(np.nan_to_num(engagement_col, nan=AVERAGE_ENGAGEMENT), 0.0, 1.0)
                  if isinstance(engagement_col, np.ndarray) else np.full(n, AVERAGE_ENGAGEMENT))
    account_id = np.where(base.account >= 0, base.account_ids[np.maximum(base.account, 0)] if base.n_accounts
                          else -1, -1).astype(np.int64)
    numeric, categories = _attribute_columns(base, custom)
    return Population(base.ids.astype(np.int64), account_id, tz, zones,
                      _levels(base.column("consent_level"), n, CONSENT_LEVELS), engagement,
                      _levels(base.column("loyalty_tier"), n, LOYALTY_TIERS), dict(segments or {}), numeric,
                      categories, dict(spec), AudienceSource(base, dict(definitions), dict(custom), int(w0)))


# --- synthetic populations ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentSpec:
    """An assumed membership for a segment with no definition: a share at the start, a share of the rest who
    join over the period."""

    at_start: float
    joining: float = 0.0


def segment_specs_for(plan: Plan) -> dict[str, SegmentSpec]:
    """Assumed memberships by the role each segment plays in a journey, for segments with no definition.

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


def plan_segments(plan: Plan) -> list[str]:
    """Every segment a journey names: audience, exclusions, suppression, if/then, goal and exits."""
    a = plan.audience
    return list(dict.fromkeys([*a.segments, *a.exclude, *([a.suppress] if a.suppress else []),
                               *plan.segments_used()]))


def assumed_membership(n: int, seed: int, name: str, spec: SegmentSpec, start: int, end: int) -> TimeSet:
    """A membership drawn at an assumed share (members at the start joined before it; the others join uniformly
    over [start, end)); from a stream of its own per segment name."""
    from app.audience.synthetic import name_seed
    rng = np.random.default_rng(name_seed(seed, f"assumed:{name}"))
    u = rng.random(n)
    when = rng.random(n)
    first = u < spec.at_start
    joins = (u >= spec.at_start) & (rng.random(n) < spec.joining)
    span = max(1, end - start)
    since = np.where(first, start, np.where(joins, start + (when * span).astype(np.int64), NEVER))
    rows = np.flatnonzero(since < NEVER)
    return TimeSet.spans(n, start, rows, since[rows], np.full(len(rows), NEVER, dtype=np.int64))


def evaluable(segment: Segment) -> bool:
    """Whether a segment's members can be worked out from contact data: with a query if it is dynamic (a segment
    of accounts holds the accounts of the contacts its definition finds)."""
    return segment.kind != "dynamic" or segment.query is not None


def population_for(plan: Plan, n: int, seed: int, *, definitions: Mapping[str, Segment] | None = None,
                   profile: PopulationProfile | None = None, locale: str | None = None,
                   custom: Mapping[str, str] | None = None) -> Population:
    """`n` synthetic contacts from `seed` and a profile (default: the default profile in `locale`, "mixed"),
    seen at the journey's start, with the journey's segments evaluated from their `definitions`.

    A segment the journey uses that has no definition here (or one that cannot be evaluated: see `evaluable`) is
    given an assumed membership by its role (`segment_specs_for`), recorded in the spec as assumed.
    """
    if n < 0:
        raise ValueError("the population size cannot be negative")
    if profile is None:
        profile = profile_for_locale(locale or MIXED)
    definitions = dict(definitions or {})
    custom = dict(custom or {})
    names = plan_segments(plan)
    defined = {k: v for k, v in definitions.items() if k in names and evaluable(v)}
    missing = [name for name in names if name not in defined]
    static = [s.name for s in defined.values() if s.kind == "static"]
    lists = [list_name(s) for s in defined.values() if s.kind == "subscription"]
    base = synthesize(n, seed, profile, as_of=plan.start, static=static, lists=lists) if n else None
    specs = segment_specs_for(plan)
    assumed = {name: assumed_membership(n, seed, name, specs[name], plan.start, plan.horizon) for name in missing}
    spec: dict[str, Any] = {"kind": "synthetic", "contacts": n, "seed": seed, "as_of": plan.start,
                            "profile": profile.to_plain()}
    if locale and locale != MIXED:
        spec["locale"] = locale
    if missing:
        spec["assumed"] = {name: [specs[name].at_start, specs[name].joining] for name in missing}
        spec["horizon"] = plan.horizon
    if static or lists:
        spec["static"], spec["lists"] = static, lists
    if base is None:
        return _empty(spec)
    return population_from_base(base, definitions=defined, custom=custom, w0=plan.start, spec=spec,
                                segments=assumed)


def replica_seed(seed: int, replica: int) -> int:
    """The seed of replica `replica`'s synthetic population: the run's seed for the first (so that `population`
    with the same seed writes the same contacts), derived seeds for the others."""
    from app.semantics.draws import derive_seed
    return seed if replica == 0 else derive_seed(seed ^ 0x504F50, replica)


def _empty(spec: Mapping[str, Any]) -> Population:
    z = np.zeros(0, dtype=np.int64)
    return Population(z, z, z.astype(np.int16), (), z.astype(np.int8), np.zeros(0), z.astype(np.int8), spec=spec)


def population_from_spec(spec: Mapping[str, Any], *, definitions: Mapping[str, Segment] | None = None,
                         custom: Mapping[str, str] | None = None, plan: Plan | None = None) -> Population:
    """Make a synthetic population again from its spec (and the segment definitions it was evaluated with)."""
    if spec.get("kind") != "synthetic":
        raise ValueError(f"cannot rebuild a population of kind {spec.get('kind')!r}")
    if "profile" not in spec:
        raise ValueError("this run's population was made by an earlier version of the generator; it cannot be "
                         "made again (its saved trace and figures still show)")
    profile = PopulationProfile.from_plain(spec["profile"])
    n, seed, start = int(spec["contacts"]), int(spec["seed"]), int(spec["as_of"])
    assumed_names = set(spec.get("assumed") or {})
    defined = {k: v for k, v in (definitions or {}).items() if k not in assumed_names and evaluable(v)}
    static, lists = list(spec.get("static", [])), list(spec.get("lists", []))
    base = synthesize(n, seed, profile, as_of=start, static=static, lists=lists) if n else None
    assumed = {}
    horizon = int(spec.get("horizon", start + 90 * DAY))
    for name, (at_start, joining) in (spec.get("assumed") or {}).items():
        assumed[name] = assumed_membership(n, seed, name, SegmentSpec(float(at_start), float(joining)), start,
                                           horizon)
    if base is None:
        return _empty(spec)
    return population_from_base(base, definitions=defined, custom=dict(custom or {}), w0=start, spec=spec,
                                segments=assumed)


# --- a population's data as bytes (for populations a spec cannot rebuild: the project's own contacts) -----------

def population_to_npz(pop: Population) -> bytes:
    """The population's contact data and given memberships as packed columns (`population_from_npz`)."""
    import json

    from simulator.packed import pack

    from app.audience.base import base_to_arrays
    if pop.source is None:
        raise ValueError("only a population made from a customer base can be kept")
    arrays, meta = base_to_arrays(pop.source.base)
    segs = list(pop.segments)
    for i, name in enumerate(segs):
        for k, v in pop.segments[name].to_arrays().items():
            arrays[f"seg{i}.{k}"] = v
    header = {"base": meta, "segments": segs, "spec": dict(pop.spec), "custom": dict(pop.source.custom),
              "w0": pop.source.w0,
              "definitions": {k: _segment_plain(s) for k, s in pop.source.definitions.items()}}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return pack(arrays)  # packed columns (simulator.packed): zlib took seconds on a million contacts


def _segment_plain(s: Segment) -> dict[str, Any]:
    return {"name": s.name, "entity": s.entity, "kind": s.kind, "query": s.query}


def population_from_npz(data: bytes) -> Population:
    """The population `population_to_npz` wrote (or an npz, as runs saved before kept it)."""
    import json

    from simulator.packed import unpack

    from app.audience.base import base_from_arrays
    a = unpack(data)[0]  # packed columns, or the compressed npz of runs saved before
    header = json.loads(a["header"].tobytes().decode("utf-8"))
    if "base" not in header:
        raise ValueError("this run's population was kept by an earlier version; it cannot be simulated again "
                         "(its saved trace and figures still show)")
    base = base_from_arrays(a, header["base"])
    segments = {name: TimeSet.from_arrays({k: a[f"seg{i}.{k}"] for k in ("full", "owner", "lo", "hi", "meta")})
                for i, name in enumerate(header["segments"])}
    definitions = {k: Segment(v["name"], v["entity"], v["kind"], query=v["query"])
                   for k, v in header["definitions"].items()}
    return population_from_base(base, definitions=definitions, custom=header["custom"], w0=int(header["w0"]),
                                spec=header["spec"], segments=segments)


__all__ = ["AVERAGE_ENGAGEMENT", "AudienceSource", "CategoryColumn", "LOCALES", "Locale", "MIXED", "Population",
           "SegmentSpec", "assumed_membership", "evaluable", "locale_of", "plan_segments", "population_for",
           "population_from_base", "population_from_npz", "population_from_spec", "population_to_npz",
           "profile_for_locale", "replica_seed", "segment_specs_for"]
