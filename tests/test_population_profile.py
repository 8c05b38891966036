"""Population profiles (the distributions synthetic contacts are drawn from): files with their errors located,
fitting to a project's contacts, and the command line: profile, simulate --profile, --population-out (a project
file whose segment counts are the simulator's), --shared-population, and --allow-errors."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from simulator.runs import load_run
from app.audience.fit import fit_profile
from app.audience.members import count
from app.audience.population import generate
from app.audience.profile import PopulationProfile, profile_file_text, read_profile_text
from app.audience.synthetic import synthesize
from app.errors import FormatError
from app.resources import resource_path
from app.store import ProjectFile
from tests.cli_helpers import run


def test_a_profile_round_trips_and_every_figure_is_bounded() -> None:
    p = replace(PopulationProfile.for_locales(("en_GB", "fr_FR")), buyers=0.4, segments=(("VIP", 0.05),))
    again = read_profile_text(profile_file_text(p), file="p.yaml")
    assert again == p and again.locales == (("en_GB", 0.5), ("fr_FR", 0.5))
    bad = [("buyers: 1.5\n", "p.yaml:1:9: buyers: must be from 0 to 1, not 1.5"),
           ("locales: {xx_XX: 1}\n", "p.yaml:1:11: locales.xx_XX: is not a locale Faker knows"),
           ("recency_days: .nan\n", "p.yaml:1:15: recency_days: must be a number, not nan"),
           ("consent: {nobody: 1}\n", "p.yaml:1:11: consent.nobody: is not one of: not_set"),
           ("shoe_size: 3\n", "p.yaml:1:1: shoe_size: is not a profile figure"),
           ("format: population-profile/9\n", "p.yaml:1:9: format: unsupported profile format"),
           ("lists: {'': 0.2}\n", "p.yaml:1:8: lists: a name must be text"),
           ("engagement: {a: 0}\n", "p.yaml:1:17: engagement.a: must be from 0.05 to 1000, not 0")]
    for text, message in bad:
        with pytest.raises(FormatError) as e:
            read_profile_text(text, file="p.yaml")
        assert str(e.value).startswith(message), (text, str(e.value))


def test_the_shares_of_a_profile_are_what_a_base_draws() -> None:
    p = replace(PopulationProfile(), consent=(0.5, 0.1, 0.1, 0.1, 0.1, 0.1), buyers=0.3,
                lists=(("Club", 0.2),), account_share=0.25)
    base = synthesize(40_000, 3, p, as_of=20_000 * 86_400, static=("Picked",), lists=("Opted out",))
    consent = base.column("consent_level")
    shares = np.bincount(consent.codes, minlength=6) / base.n
    assert abs(shares[0] - 0.5) < 0.02 and abs(shares[3] - 0.1) < 0.02
    assert abs(np.mean(~np.isnan(base.column("last_purchase_date"))) - 0.3) < 0.02
    assert abs(np.mean(base.account >= 0) - 0.25) < 0.02
    club = base.lists.values.index("Club")
    assert abs(np.mean(np.bincount(base.lists.owners[base.lists.codes == club], minlength=base.n) > 0) - 0.2) < 0.02
    assert abs(len(base.static["Picked"]) / base.n - 0.02) < 0.005  # the assumed share of a static segment
    assert "Opted out" in base.lists.values


def test_a_profile_fitted_to_a_project_gives_back_its_distributions(tmp_path: Path) -> None:
    source = replace(PopulationProfile.for_locales(("de_DE",)), buyers=0.35, value_median=250.0,
                     consent=(0.05, 0.05, 0.1, 0.2, 0.4, 0.2), account_share=0.3, contacts_per_account=12.0)
    with ProjectFile.create(tmp_path / "p.jstudio") as pf:
        generate(pf, 20_000, 4, as_of=date(2026, 6, 1), profile=source)
        with pf.connection() as conn:
            fitted = fit_profile(conn, project="p")
    assert fitted.locales == (("de_DE", 1.0),)
    assert abs(fitted.buyers - 0.35) < 0.02 and abs(fitted.value_median / 250 - 1) < 0.1
    assert all(abs(a - b) < 0.02 for a, b in zip(fitted.consent, source.consent))
    assert abs(fitted.account_share - 0.3) < 0.02 and abs(fitted.contacts_per_account / 12 - 1) < 0.15
    assert abs(fitted.engagement[0] / fitted.engagement[1] - 2 / 5) < 0.05
    assert fitted.source.startswith("fitted to the 20,000 contacts of p")
    text = profile_file_text(fitted)
    assert "@" not in text and "Müller" not in text  # aggregates only: no address or name


def test_profile_command_writes_the_default_or_a_fitted_profile(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "default.yaml"
    assert run(capsys, "profile", "--locale", "fr_FR", "--out", out)[0] == 0
    assert read_profile_text(out.read_text(encoding="utf-8")).locales == (("fr_FR", 1.0),)
    project = tmp_path / "p.jstudio"
    assert run(capsys, "new", project)[0] == 0
    code, _, err = run(capsys, "profile", project)
    assert code == 2 and "has no contacts to fit a population profile to" in err
    assert run(capsys, "population", project, "--contacts", "2000", "--seed", "5")[0] == 0
    code, text, err = run(capsys, "profile", project)
    assert code == 0, err
    assert read_profile_text(text).source.startswith("fitted to the 2,000 contacts of p.jstudio")
    code, _, err = run(capsys, "profile", "--locale", "xx_XX")
    assert code == 2 and "xx_XX" in err


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "p.jstudio"
    assert run(capsys, "new", path)[0] == 0
    assert run(capsys, "import", path, resource_path("templates", "re-engagement.yaml"))[0] == 0
    return path


def test_population_out_counts_the_segments_the_simulator_saw(project: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "population.jstudio"
    code, text, err = run(capsys, "simulate", project, "--journey", "Re-engagement", "--contacts", "3000",
                          "--seed", "9", "--population-out", out, "--json", tmp_path / "r.json")
    assert code == 0, err
    assert f"Wrote the population to {out}" in text
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    from datetime import datetime
    start = datetime.fromisoformat(doc["start"].replace("Z", "+00:00"))
    with ProjectFile.open(out, readonly=True) as pf:
        members = count(pf, "No purchase in 60 days", start)
        audience_at_start = count(pf, pf.project.segments["No purchase in 60 days"], start)
        assert pf.project.find_journey("Re-engagement") is not None
    assert members == audience_at_start > 500
    # those at the start with enough consent are exactly the journey's entries at its start
    with ProjectFile.open(project, readonly=True) as pf:
        record = load_run(pf, 1)
    trace = record.trace()
    at_start = int((trace.units["entered"] == 0).sum())
    with ProjectFile.open(out, readonly=True) as pf, pf.connection() as conn:
        from sqlalchemy import text as sql
        consenting = conn.execute(sql(
            "SELECT count(*) FROM contacts WHERE consent_level IN ('marketing', 'profiling')")).scalar_one()
        assert 0 < consenting < 3000
    from app.audience.members import audience_count
    with ProjectFile.open(out, readonly=True) as pf:
        assert audience_count(pf, "Re-engagement", start) == at_start
    code, _, err = run(capsys, "simulate", project, "--journey", "Re-engagement", "--contacts", "10", "--seed", "9",
                       "--population-out", out)
    assert code == 2 and "already exists" in err


def test_shared_population_and_per_replica_intervals(project: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The announcement is one-time: with one population for every replica, who enters never varies (an interval
    of width 0, conditional on the population); drawn anew per replica, it does."""
    assert run(capsys, "import", project, resource_path("templates", "announcement.yaml"))[0] == 0
    args = ("simulate", project, "--journey", "Product announcement", "--contacts", "3000", "--seed", "2",
            "--replicas", "4", "--no-save")
    code, out, err = run(capsys, *args, "--shared-population", "--json", tmp_path / "a.json")
    assert code == 0, err and "intervals are conditional on it" in out
    shared = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    code, out, err = run(capsys, *args, "--json", tmp_path / "b.json")
    drawn = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert shared["population_per_replica"] is False and drawn["population_per_replica"] is True
    e_shared, e_drawn = shared["entries"], drawn["entries"]
    assert e_shared["low"] == e_shared["high"] and e_drawn["high"] - e_drawn["low"] > 10


SPLIT = """
  split: {type: random-split, split: [60, 60], A: end, B: end}"""


def test_simulate_refuses_a_journey_with_errors_unless_allowed(project: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = resource_path("templates", "re-engagement.yaml").read_text(encoding="utf-8")
    text = text.replace("name: Re-engagement", "name: Split 60/60").replace(
        "  sms: {type: sms, name: SMS reminder, content: We miss you text}",
        "  sms: {type: sms, name: SMS reminder, content: We miss you text, next: split}" + SPLIT)
    path = tmp_path / "split.yaml"
    path.write_text(text, encoding="utf-8")
    project = tmp_path / "split.jstudio"
    assert run(capsys, "new", project)[0] == 0
    code, _, err = run(capsys, "import", project, path)
    assert code == 0, err
    code, out, err = run(capsys, "simulate", project, "--journey", "Split 60/60", "--contacts", "500", "--seed", "1")
    assert code == 1 and "Split 60/60: 1 error" in out and "  error   split" in out
    assert "--allow-errors" in err
    _, validated, _ = run(capsys, "validate", project, "--journey", "Split 60/60")
    assert [line for line in out.splitlines() if line.startswith("  error")] == \
        [line for line in validated.splitlines() if line.startswith("  error")]
    code, out, err = run(capsys, "simulate", project, "--journey", "Split 60/60", "--contacts", "500", "--seed", "1",
                         "--allow-errors", "--json", tmp_path / "s.json")
    assert code == 0, err
    assert "Note: split 'split': its paths add up to 120%, not 100%; simulated as shares of the total: " \
           "50.0% / 50.0%" in out
    doc = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert doc["notes"] and doc["notes"][0].startswith("split 'split'")


# --- the generator's numbers stay the same -------------------------------------------------------------------------

def test_a_seed_gives_the_same_contacts_as_the_generator_always_has() -> None:
    """Saved runs make their population again from its spec: a change to the generator that changes its numbers
    must version it (keeping the old version), not slip in. The digest was taken before the generator's speed-ups
    of issue 15 (every column but the Faker-made full name, as codes; the history; the lists; a static segment)."""
    import hashlib

    from app.audience.base import Text
    base = synthesize(5000, 7, PopulationProfile(lists=(("Club", 0.2),), account_share=0.3), as_of=1_796_115_600,
                      static=("Picked",), lists=("Weekly",))
    h = hashlib.sha256()
    for name in sorted(set(base.columns) - {"full_name"}):
        col = base.column(name)
        h.update(name.encode())
        h.update(np.ascontiguousarray(col.codes if isinstance(col, Text) else col).tobytes())
    inter = base.interactions
    for a in (base.account, inter.contact, inter.kind, inter.at, inter.value, base.lists.indptr, base.lists.codes,
              base.static["Picked"]):
        h.update(np.ascontiguousarray(a).tobytes())
    assert h.hexdigest()[:32] == "71747e33052321969855b1867f77825a"


def test_a_seed_gives_the_same_names_addresses_and_phones_as_the_generator_always_has() -> None:
    """The texts the generator makes (Faker's full names, e-mail addresses, phones), as written to the project:
    the digest was taken before their columns stopped looking for repeated values (issue 15)."""
    import hashlib
    base = synthesize(5000, 7, PopulationProfile(lists=(("Club", 0.2),), account_share=0.3), as_of=1_796_115_600,
                      static=("Picked",), lists=("Weekly",))
    h = hashlib.sha256()
    for name in ("full_name", "mobile_phone", "email"):
        h.update(repr(base.column(name).texts()).encode())
    assert h.hexdigest()[:32] == "c5e85052eb338da5fcc7483351acdc5b"


@pytest.mark.parametrize("shares", [[1.0], [0.2, 0.0, 0.8], [0.0, 0.5, 0.0, 0.5, 0.0], "zipf"])
def test_account_picks_are_the_numbers_numpy_choice_draws(shares: object) -> None:
    from app.audience.synthetic import _choice
    p = 1.0 / (np.arange(1, 30_001) + 10.0) ** 1.1 if shares == "zipf" else np.array(shares, dtype=np.float64)
    p = p / p.sum()
    for seed in (1, 2):
        ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
        assert np.array_equal(_choice(ours, p, 50_000), numpys.choice(len(p), size=50_000, p=p))
        assert ours.random() == numpys.random()  # the stream goes on from the same place


def test_levels_are_counted_as_a_search_finds_them() -> None:
    from app.audience.synthetic import _level
    cuts = np.array([-1.0, 0.0, 0.0, 2.5])
    x = np.concatenate([np.random.default_rng(3).normal(0.0, 2.0, 10_000), [-1.0, 0.0, 2.5, -np.inf, np.inf]])
    assert np.array_equal(_level(cuts, x), np.searchsorted(cuts, x, side="right"))
