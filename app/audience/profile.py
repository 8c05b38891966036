"""A population profile: the distributions synthetic contacts are drawn from, as an editable, versioned file.

The generator (app.audience.synthetic) draws every contact from a profile; a simulation run saves the profile it
used, so its population can be made again. The default describes a plausible retail base; `fit_profile` fits one
to a project's own contacts (aggregates only: shares, means, spreads; no row is copied).

How the figures shape a base (engagement is the thread that ties a contact's columns together):

- `locales`: where contacts live (Faker locales, with their share): names, cities, time zones, country, language.
- `engagement`: the Beta(a, b) distribution of each contact's latent engagement (0 to 1).
- `consent`, `loyalty`: the share of contacts at each consent level and loyalty tier; engaged contacts consent
  more, valuable ones have higher tiers (the shares hold, the order follows engagement and value).
- `buyers`: the share of contacts who have bought (engaged ones more often); `value_median` / `value_sigma`: a
  buyer's lifetime value (lognormal; engaged buyers spend more); `recency_days`: mean days since a buyer's last
  purchase (shorter for engaged contacts); `purchases_per_buyer`: their mean number of purchases.
- `web_visits`, `form_submissions`: mean past interactions of each kind per contact (engaged ones have more).
- `account_share`: contacts who work for an account; `contacts_per_account`: how many of them an account has
  on average (sizes are Zipf-like: a few large accounts, many small ones).
- `lists`: the subscription lists and the share of contacts on each (mostly those who consented).
- `segments`: the share of contacts in a static segment, or on a list the profile does not name; a synthetic
  base cannot know who a person picked by hand, so this is an assumption, stated as one (`default_share` for
  any other).
- `mobile_share`, `unknown_time_zone`, `birth_date_missing`, `age`, `tenure_days`: the rest of a contact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from app.errors import AudienceError, FormatError
from app.model.attributes import CONSENT_LEVELS, LOYALTY_TIERS

FORMAT = "population-profile/1"
MAX_NAME = 200
MIXED: tuple[tuple[str, float], ...] = (("en_US", 0.35), ("fr_FR", 0.22), ("en_GB", 0.15), ("de_DE", 0.10),
                                        ("en_IE", 0.07), ("ja_JP", 0.06), ("en_AU", 0.05))
DEFAULT_LISTS: tuple[tuple[str, float], ...] = (("Newsletter", 0.27), ("Offers", 0.18), ("Product updates", 0.12),
                                                ("Events", 0.06))


@dataclass(frozen=True)
class PopulationProfile:
    """The distributions of a synthetic base (see the module docstring for each figure)."""

    locales: tuple[tuple[str, float], ...] = MIXED
    engagement: tuple[float, float] = (2.0, 5.0)
    consent: tuple[float, ...] = (0.10, 0.15, 0.15, 0.25, 0.25, 0.10)
    loyalty: tuple[float, ...] = (0.557, 0.283, 0.129, 0.027, 0.004)
    buyers: float = 0.593
    value_median: float = 100.0
    value_sigma: float = 1.0
    recency_days: float = 190.0
    purchases_per_buyer: float = 1.77
    web_visits: float = 1.14
    form_submissions: float = 0.17
    account_share: float = 0.6
    contacts_per_account: float = 24.0
    lists: tuple[tuple[str, float], ...] = DEFAULT_LISTS
    segments: tuple[tuple[str, float], ...] = ()
    default_share: float = 0.02
    mobile_share: float = 0.85
    unknown_time_zone: float = 0.02
    birth_date_missing: float = 0.08
    age: tuple[float, float] = (42.0, 14.0)
    tenure_days: float = 700.0
    source: str = "default"

    @classmethod
    def for_locales(cls, locales: tuple[str, ...]) -> PopulationProfile:
        """The default profile with contacts spread evenly over `locales` ("mixed": the worldwide mix)."""
        if not locales or locales == ("mixed",):
            return cls()
        share = 1.0 / len(locales)
        return replace(cls(), locales=tuple((loc, share) for loc in dict.fromkeys(locales)))

    def segment_share(self, name: str) -> float:
        """The assumed share of a static segment (or of an unknown list)."""
        return dict(self.segments).get(name, self.default_share)

    def list_share(self, name: str) -> float | None:
        folded = name.casefold()
        return next((s for n, s in self.lists if n.casefold() == folded), None)

    # --- plain form -----------------------------------------------------------------------------------------
    def to_plain(self) -> dict[str, Any]:
        """A JSON-able, versioned form (saved with each run, written as a profile file)."""
        out: dict[str, Any] = {"format": FORMAT}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("locales", "lists", "segments"):
                out[f.name] = {k: _round(s) for k, s in v}
            elif f.name == "consent":
                out[f.name] = dict(zip(CONSENT_LEVELS, map(_round, v)))
            elif f.name == "loyalty":
                out[f.name] = dict(zip(LOYALTY_TIERS, map(_round, v)))
            elif f.name == "engagement":
                out[f.name] = {"a": _round(v[0]), "b": _round(v[1])}
            elif f.name == "age":
                out[f.name] = {"mean": _round(v[0]), "sd": _round(v[1])}
            else:
                out[f.name] = _round(v) if isinstance(v, float) else v
        return out

    @classmethod
    def from_plain(cls, d: Any) -> PopulationProfile:
        """Read `to_plain`'s form (a figure left out keeps its default); ProfileError names a wrong figure."""
        return _read(d)


def _round(v: float) -> float:
    return float(f"{v:.6g}")


class ProfileError(AudienceError):
    """A wrong figure in a population profile; `path` says which."""

    def __init__(self, path: tuple[Any, ...], message: str, *, at_key: bool = False) -> None:
        self.path = path
        self.message = message
        self.at_key = at_key  # the name itself is wrong (point at the key, not its value)
        super().__init__(f"{'.'.join(str(p) for p in path)}: {message}" if path else message)


# --- reading, with every figure bounded ------------------------------------------------------------------------

_SHARES = {"account_share", "buyers", "mobile_share", "unknown_time_zone", "birth_date_missing", "default_share"}
_BOUNDS: dict[str, tuple[float, float]] = {
    "value_median": (0.01, 1e7), "value_sigma": (0.0, 5.0), "recency_days": (1.0, 36_500.0),
    "purchases_per_buyer": (1.0, 1000.0), "web_visits": (0.0, 10_000.0), "form_submissions": (0.0, 10_000.0),
    "contacts_per_account": (1.0, 1e6), "tenure_days": (1.0, 36_500.0)}


def _number(path: tuple[Any, ...], v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ProfileError(path, f"must be a number, not {v!r}")
    if not lo <= v <= hi:
        raise ProfileError(path, f"must be from {lo:g} to {hi:g}, not {v:g}")
    return float(v)


def _name(path: tuple[Any, ...], v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > MAX_NAME or "\x00" in v:
        raise ProfileError(path, f"a name must be text of 1 to {MAX_NAME} characters, not {v!r}")
    return v


def _shares(path: tuple[Any, ...], v: Any, *, names: tuple[str, ...] | None = None,
            total: bool = False) -> tuple[tuple[str, float], ...]:
    if not isinstance(v, Mapping):
        raise ProfileError(path, "must be a mapping of names to shares (numbers from 0 to 1)")
    out = []
    for k, s in v.items():
        key = _name(path, k)
        if names is not None and key not in names:
            raise ProfileError(path + (key,), f"is not one of: {', '.join(names)}", at_key=True)
        out.append((key, _number(path + (key,), s, 0.0, 1.0)))
    if total:
        if not out or sum(s for _, s in out) <= 0:
            raise ProfileError(path, "needs at least one share above 0")
    return tuple(out)


def _levels(path: tuple[Any, ...], v: Any, names: tuple[str, ...], default: tuple[float, ...]) -> tuple[float, ...]:
    given = dict(_shares(path, v, names=names, total=True))
    values = tuple(given.get(n, 0.0) for n in names)
    total = sum(values)
    return tuple(x / total for x in values) if total > 0 else default


def _read(d: Any) -> PopulationProfile:
    if not isinstance(d, Mapping):
        raise ProfileError((), "a population profile is a mapping (write one with: journey-studio profile --out FILE)")
    if d.get("format", FORMAT) != FORMAT:
        raise ProfileError(("format",), f"unsupported profile format {d.get('format')!r} (expected {FORMAT})")
    known = {f.name for f in fields(PopulationProfile)} | {"format"}
    for key in d:
        if key not in known:
            raise ProfileError((key,), f"is not a profile figure (figures: {', '.join(sorted(known - {'format'}))})",
                               at_key=True)
    p = PopulationProfile()
    kw: dict[str, Any] = {}
    for key, v in d.items():
        path = (key,)
        if key == "format":
            continue
        if key == "locales":
            kw[key] = _locales(path, v)
        elif key in ("lists", "segments"):
            kw[key] = _shares(path, v)
        elif key == "consent":
            kw[key] = _levels(path, v, CONSENT_LEVELS, p.consent)
        elif key == "loyalty":
            kw[key] = _levels(path, v, LOYALTY_TIERS, p.loyalty)
        elif key == "engagement":
            if not isinstance(v, Mapping) or set(v) - {"a", "b"}:
                raise ProfileError(path, "is {a: A, b: B}, the shape of a Beta distribution")
            kw[key] = (_number(path + ("a",), v.get("a", p.engagement[0]), 0.05, 1000.0),
                       _number(path + ("b",), v.get("b", p.engagement[1]), 0.05, 1000.0))
        elif key == "age":
            if not isinstance(v, Mapping) or set(v) - {"mean", "sd"}:
                raise ProfileError(path, "is {mean: YEARS, sd: YEARS}")
            kw[key] = (_number(path + ("mean",), v.get("mean", p.age[0]), 18.0, 92.0),
                       _number(path + ("sd",), v.get("sd", p.age[1]), 0.0, 50.0))
        elif key == "source":
            if not isinstance(v, str) or len(v) > 500 or "\x00" in v:
                raise ProfileError(path, "is a short text saying where the profile comes from")
            kw[key] = v
        elif key in _SHARES:
            kw[key] = _number(path, v, 0.0, 1.0)
        else:
            lo, hi = _BOUNDS[key]
            kw[key] = _number(path, v, lo, hi)
    return replace(p, **kw)


def _locales(path: tuple[Any, ...], v: Any) -> tuple[tuple[str, float], ...]:
    from app.audience.pools import known_locale
    out = _shares(path, v, total=True)
    for name, _ in out:
        if not known_locale(name):
            raise ProfileError(path + (name,), "is not a locale Faker knows; use e.g. en_US, fr_FR, de_DE, ja_JP",
                               at_key=True)
    return tuple((n, s) for n, s in out if s > 0)


# --- files ----------------------------------------------------------------------------------------------------

def profile_file_text(profile: PopulationProfile) -> str:
    """A profile file: what each figure means as comments, then the figures."""
    from app.codec.yamlio import dump_yaml
    doc = (__doc__ or "").strip()
    part = doc[doc.find("How the figures"):]
    header = "".join(f"# {line}".rstrip() + "\n" for line in part.splitlines())
    return header + "\n" + dump_yaml(profile.to_plain())


def read_profile_text(text: str, *, file: str = "<input>") -> PopulationProfile:
    """A profile from YAML or JSON text; FormatError with file:line:column on anything wrong."""
    from app.codec.yamlio import locate, parse_text
    doc = parse_text(text, file=file)
    try:
        return PopulationProfile.from_plain(doc)
    except ProfileError as e:
        mark = locate(doc, e.path, at_key=e.at_key)
        raise FormatError(str(e), file=file, line=mark[0] if mark else None,
                          column=mark[1] if mark else None) from None


def read_profile_file(path: str | Path) -> PopulationProfile:
    """A profile file; FormatError (file:line:column) or AudienceError (unreadable) with one line."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AudienceError(f"{path}: cannot read the population profile: {getattr(e, 'strerror', None) or e}") \
            from None
    return read_profile_text(text, file=str(path))


__all__ = ["DEFAULT_LISTS", "FORMAT", "MIXED", "PopulationProfile", "ProfileError", "profile_file_text",
           "read_profile_file", "read_profile_text"]
