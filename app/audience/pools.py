"""Pools of realistic values per locale, drawn once from Faker (slow per call) for NumPy to sample from.

Each pool is drawn from a Faker instance seeded from the population's seed, so the pools (and with them the
whole population) are the same for the same seed, locales and versions of Faker and NumPy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from app.errors import AudienceError

POOL_NAMES = 1000  # first and last names per locale: common names recur in the pool, as in a real base
POOL_CITIES = 300
INDUSTRIES: tuple[str, ...] = (
    "Retail", "Software", "Manufacturing", "Financial services", "Healthcare", "Education", "Hospitality",
    "Logistics", "Construction", "Media", "Energy", "Telecommunications", "Public sector", "Consulting",
    "Food and beverage", "Automotive",
)
# Reserved domains (RFC 2606 / 6761): synthetic addresses can never reach a real mailbox.
PERSONAL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org", "mail.example", "inbox.test")
PERSONAL_DOMAIN_WEIGHTS: tuple[float, ...] = (0.4, 0.25, 0.15, 0.12, 0.08)
CALLING_CODES: dict[str, str] = {
    "US": "1", "CA": "1", "GB": "44", "IE": "353", "FR": "33", "DE": "49", "AT": "43", "CH": "41", "ES": "34",
    "PT": "351", "IT": "39", "NL": "31", "BE": "32", "SE": "46", "NO": "47", "DK": "45", "FI": "358", "PL": "48",
    "CZ": "420", "AU": "61", "NZ": "64", "JP": "81", "BR": "55", "MX": "52", "IN": "91", "CN": "86",
}


@dataclass(frozen=True)
class LocalePools:
    """What contacts of one locale are drawn from."""

    locale: str
    country: str
    country_code: str
    language: str  # BCP 47, e.g. fr-FR
    calling_code: str
    first_names: list[str]
    last_names: list[str]
    first_ascii: list[str]  # the names as e-mail address parts
    last_ascii: list[str]
    cities: list[str]
    city_zones: list[str]  # the time zone of each city of the pool
    faker_state: Any  # the seeded Faker's random state after the pools were drawn (resume_faker)

    def resume_faker(self) -> Any:
        """A Faker of the locale whose random state is where the pools' Faker left it: what it draws next (company
        name parts) is the same whoever asks and however often the pools were served from the cache."""
        from faker import Faker
        fake = Faker(self.locale)
        fake.seed_instance(0)  # an instance's own Random, not the module's shared one
        fake.random.setstate(self.faker_state)
        return fake


def ascii_word(text: str) -> str:
    """A name as lower-case ASCII letters and digits for an e-mail address ("Hélène" -> "helene")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


@lru_cache(maxsize=1)
def _zones_by_country() -> dict[str, list[str]]:
    """Country code -> IANA time zones, from the zone.tab that the tzdata package ships."""
    out: dict[str, list[str]] = {}
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            out.setdefault(parts[0], []).append(parts[2])
    return out


def _zone_weights(zones: list[str]) -> np.ndarray:
    # zone.tab lists a country's main zones first; weigh them down the list so that obscure ones are rare.
    w = 1.0 / np.arange(1, len(zones) + 1) ** 1.5
    return w / w.sum()


# Time zones by share of the country's people (national statistics, rounded), where a country has several;
# other locales weigh zone.tab's zones down its list (a country's main zones come first).
LOCALE_ZONES: dict[str, tuple[tuple[str, float], ...]] = {
    "en_US": (("America/New_York", 0.47), ("America/Chicago", 0.29), ("America/Denver", 0.05),
              ("America/Phoenix", 0.02), ("America/Los_Angeles", 0.16), ("America/Anchorage", 0.002),
              ("Pacific/Honolulu", 0.004)),
    "en_GB": (("Europe/London", 1.0),), "de_DE": (("Europe/Berlin", 1.0),), "fr_FR": (("Europe/Paris", 1.0),),
    "en_IE": (("Europe/Dublin", 1.0),), "it_IT": (("Europe/Rome", 1.0),), "nl_NL": (("Europe/Amsterdam", 1.0),),
    "ja_JP": (("Asia/Tokyo", 1.0),), "es_ES": (("Europe/Madrid", 0.955), ("Atlantic/Canary", 0.045)),
    "en_AU": (("Australia/Sydney", 0.33), ("Australia/Melbourne", 0.26), ("Australia/Brisbane", 0.20),
              ("Australia/Perth", 0.11), ("Australia/Adelaide", 0.07), ("Australia/Hobart", 0.02),
              ("Australia/Darwin", 0.01)),
    "pt_BR": (("America/Sao_Paulo", 0.91), ("America/Manaus", 0.07), ("America/Rio_Branco", 0.02)),
}
# Faker's current_country() for common locales, so that the simulator need not start Faker to know them
COUNTRY_NAMES: dict[str, str] = {
    "en_US": "United States", "fr_FR": "France", "en_GB": "United Kingdom", "de_DE": "Germany", "ja_JP": "Japan",
    "en_AU": "Australia", "es_ES": "Spain", "it_IT": "Italy", "nl_NL": "Kingdom of the Netherlands",
    "pt_BR": "Brazil", "en_CA": "Canada", "en_IE": "Republic of Ireland"}


@lru_cache(maxsize=None)
def known_locale(locale: str) -> bool:
    """Whether Faker has the locale (cheap after the first call)."""
    if locale in COUNTRY_NAMES:
        return True
    from faker.config import AVAILABLE_LOCALES
    return locale in AVAILABLE_LOCALES


@lru_cache(maxsize=64)
def city_zone_table(locale: str, seed: int) -> tuple[str, ...]:
    """The time zone of each of the locale's POOL_CITIES cities (no Faker needed: zones come from tzdata)."""
    code = locale.split("_")[-1].upper() if "_" in locale else ""
    if locale in LOCALE_ZONES:
        zones = [z for z, _ in LOCALE_ZONES[locale]]
        weights = np.array([w for _, w in LOCALE_ZONES[locale]])
        weights = weights / weights.sum()
    else:
        zones = _zones_by_country().get(code) or ["UTC"]
        weights = _zone_weights(zones)
    rng = np.random.default_rng(seed)
    return tuple(zones[i] for i in rng.choice(len(zones), size=POOL_CITIES, p=weights))


def country_name(locale: str, seed: int = 0) -> str:
    """The country contacts of a locale live in, as the project's contacts spell it."""
    if locale in COUNTRY_NAMES:
        return COUNTRY_NAMES[locale]
    return locale_pools(locale, seed).country


def locale_pools(locale: str, seed: int) -> LocalePools:
    """The pools of one locale (a few thousand Faker calls, 15-300 ms) from a Faker instance seeded by `seed`.

    Drawn once per process for each (locale, seed): every population of a seed, a story re-derived from a run,
    and a re-run in the designer use the same pools, which are never changed (read-only lists).
    """
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise AudienceError(f"'{locale}' is not a locale Faker knows; use e.g. en_US, fr_FR, de_DE, ja_JP")
    return _drawn_pools(locale, seed)


@lru_cache(maxsize=64)
def _drawn_pools(locale: str, seed: int) -> LocalePools:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    first = [fake.first_name() for _ in range(POOL_NAMES)]
    last = [fake.last_name() for _ in range(POOL_NAMES)]
    cities = [fake.city() for _ in range(POOL_CITIES)]
    code = locale.split("_")[-1].upper() if "_" in locale else ""
    try:
        country = str(fake.current_country())
    except (AttributeError, ValueError):
        country = code or locale
    city_zones = list(city_zone_table(locale, seed))
    return LocalePools(
        locale=locale, country=COUNTRY_NAMES.get(locale, country), country_code=code,
        language=locale.replace("_", "-"),
        calling_code=CALLING_CODES.get(code, "999"),
        first_names=first, last_names=last,
        first_ascii=[ascii_word(n) or "contact" for n in first], last_ascii=[ascii_word(n) or "person" for n in last],
        cities=cities, city_zones=city_zones, faker_state=fake.random.getstate())


_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")
TOKEN_POOL = 200


def company_names(pools: LocalePools, count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct company names in the style of the locale.

    Faker's company() costs ~100 µs a call (it parses a format each time), too slow for tens of thousands of
    accounts: the locale's company formats are filled here from the name pools and small pools of the other
    parts (suffixes, prefixes...), which gives the same kind of names.
    """
    fake: Any = pools.resume_faker()
    formats = list(getattr(_company_provider(fake), "formats", None) or ["{{last_name}} {{company_suffix}}"])
    parts: dict[str, list[str]] = {"last_name": pools.last_names, "first_name": pools.first_names}
    for fmt in formats:
        for token in _TOKEN.findall(fmt):
            if token not in parts:
                parts[token] = [str(getattr(fake, token)()) for _ in range(TOKEN_POOL)]
    chosen = rng.integers(0, len(formats), count).tolist()
    picks = {token: rng.integers(0, len(values), 3 * count).tolist() for token, values in parts.items()}
    names: list[str] = []
    seen: set[str] = set()
    for i, f in enumerate(chosen):
        used = dict.fromkeys(parts, 0)

        def fill(m: re.Match[str], i: int = i, used: dict[str, int] = used) -> str:
            token = m.group(1)
            k = used[token] = used[token] + 1
            return parts[token][picks[token][3 * i + (k - 1) % 3]]

        name = _TOKEN.sub(fill, formats[f]).strip()
        if name.casefold() in seen:
            name = f"{name} {len(names) + 1}"
        seen.add(name.casefold())
        names.append(name)
    return names


def _company_provider(fake: Any) -> Any:
    for provider in fake.get_providers():
        if type(provider).__module__.startswith("faker.providers.company"):
            return provider
    return None


__all__ = ["COUNTRY_NAMES", "INDUSTRIES", "LOCALE_ZONES", "LocalePools", "PERSONAL_DOMAINS", "ascii_word",
           "city_zone_table", "company_names", "country_name", "known_locale", "locale_pools"]
