"""The Faker pools of a locale are drawn once per process and seed: a population drawn again (a story re-derived
from a run, a re-run in the designer) reads the same names, cities and company names as the first time."""

from __future__ import annotations

from app.audience.base import ContactBase, Text
from app.audience.pools import _drawn_pools, locale_pools
from app.audience.profile import PopulationProfile
from app.audience.synthetic import synthesize


def _texts(base: ContactBase) -> dict[str, list[str | None]]:
    """Every text column of the contacts and of their accounts (the account's name is a Faker company name)."""
    out = {}
    for name in sorted(base.columns):
        col = base.column(name)
        if isinstance(col, Text):
            out[name] = col.texts()
    for name in sorted(base.accounts):
        col = base.account_column(name)
        if isinstance(col, Text):
            out[f"account.{name}"] = col.texts()
    return out


def test_a_population_drawn_from_cached_pools_is_the_same_as_from_fresh_ones() -> None:
    profile = PopulationProfile(locales=(("en_US", 0.5), ("fr_FR", 0.3), ("ja_JP", 0.2)), account_share=0.5)
    _drawn_pools.cache_clear()
    fresh = _texts(synthesize(3000, 11, profile, as_of=1_796_115_600))
    assert _drawn_pools.cache_info().misses >= 3
    hits = _drawn_pools.cache_info().hits
    again = _texts(synthesize(3000, 11, profile, as_of=1_796_115_600))
    assert _drawn_pools.cache_info().hits > hits  # served from the cache this time
    assert any(n for n in fresh["account.name"]) and "email" in fresh, sorted(fresh)
    assert again == fresh  # names, cities, company names: the Faker resumed where the first draw left it


def test_the_cache_hands_out_the_same_pools_for_a_seed_and_others_for_another() -> None:
    a, b, c = locale_pools("de_DE", 3), locale_pools("de_DE", 3), locale_pools("de_DE", 4)
    assert a is b and a.first_names == b.first_names
    assert c.first_names != a.first_names
    names = [a.resume_faker().company_suffix() for _ in range(2)]
    assert names[0] == names[1]  # each resumed Faker starts from the same state
