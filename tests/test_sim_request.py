"""A run request executed as `journey-studio simulate` does it; synthetic locales; the behaviour sources."""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from sqlalchemy import Connection

from app.audience import members as m
from app.codec.yamlio import read_journey_file, read_journey_text
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.store.opening import make_engine
from simulator import behaviour as behaviour_module
from simulator.behaviour import DEFAULT_CHANNELS, SOURCES, BehaviourModel
from simulator.engine import Cancelled
from simulator.metrics import funnel
from app.semantics.plan import DAY, compile_plan
from simulator.population import LOCALES, population_for, population_from_spec
from simulator.project_population import population_from_connection, population_from_project
from simulator.replicas import simulate
from simulator.population import replica_seed
from simulator.request import RunError, RunRequest, Snapshot, execute, snapshot
from simulator.runs import RunRecord
from tests.cli_helpers import run as run_cli
from tests.samples import ANNOUNCEMENT

START = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)  # the announcement's start (09:00 in Paris)


def _digest(pop: Any) -> str:
    """Every column, given membership, attribute and the spec of a population, hashed."""
    h = hashlib.sha256()
    for a in (pop.contact_id, pop.account_id, pop.tz, pop.consent, pop.engagement, pop.loyalty):
        h.update(a.tobytes())
    h.update(repr(pop.timezones).encode())
    for k, mem in pop.segments.items():
        h.update(k.encode())
        for v in mem.to_arrays().values():
            h.update(v.tobytes())
    for k in sorted(pop.numeric):
        h.update(k.encode())
        h.update(pop.numeric[k].tobytes())
    for k in sorted(pop.categories):
        c = pop.categories[k]
        h.update(k.encode())
        h.update(c.codes.tobytes())
        h.update(repr(c.values).encode())
    h.update(json.dumps(dict(pop.spec), sort_keys=True).encode())
    return h.hexdigest()


def _announcement() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    j, contents, segments = read_journey_file(resource_path("templates", "announcement.yaml"))
    return j, {c.name: c for c in contents}, {s.name: s for s in segments}


# --- locales ---------------------------------------------------------------------------------------------------

def test_the_same_seed_makes_the_same_population_and_the_spec_makes_it_again() -> None:
    j, _, segments = _announcement()
    plan = compile_plan(j)
    pop = population_for(plan, 5000, 7, definitions=segments)
    assert _digest(population_for(plan, 5000, 7, definitions=segments)) == _digest(pop)
    assert _digest(population_for(plan, 5000, 8, definitions=segments)) != _digest(pop)
    assert _digest(population_from_spec(pop.spec, definitions=segments)) == _digest(pop)
    assert "locale" not in pop.spec and pop.spec["profile"]["format"] == "population-profile/1"


def test_a_locale_puts_contacts_in_its_region_and_the_spec_rebuilds_it() -> None:
    j, _, segments = _announcement()
    plan = compile_plan(j)
    gb = population_for(plan, 4000, 5, locale="en_GB", definitions=segments)
    assert gb.timezones == ("Europe/London",) and set(np.unique(gb.tz)) <= {-1, 0}
    assert gb.categories["country"].values == ("United Kingdom",) and (gb.categories["country"].codes == 0).all()
    assert gb.categories["language"].values == ("en-GB",)
    assert gb.spec["locale"] == "en_GB"
    assert _digest(population_from_spec(gb.spec, definitions=segments)) == _digest(gb)

    us = population_for(plan, 20_000, 5, locale="en_US")
    zones = [us.timezones[i] for i in us.tz if i >= 0]
    assert all(z.startswith(("America/", "Pacific/")) for z in zones)
    share_ny = zones.count("America/New_York") / len(zones)
    assert 0.35 < share_ny < 0.60  # 47 % of the people; cities draw their zones from those shares
    jp = population_for(plan, 1000, 5, locale="ja_JP")
    assert jp.categories["language"].values == ("ja-JP",)
    assert LOCALES["en_US"].locales == ("en_US",)
    with pytest.raises(ValueError, match="unknown locale 'xx_XX'"):
        population_for(plan, 10, 5, locale="xx_XX")


def test_a_locale_run_is_recorded_and_replays() -> None:
    j, content, segments = _announcement()
    out = execute(RunRequest(j.id, contacts=1500, locale="de_DE", seed=4), Snapshot(j, content, segments, {}))
    assert out.population == "1,500 synthetic contacts (de_DE)"
    assert out.record.population["locale"] == "de_DE"
    again = RunRecord.from_bytes(out.record.to_bytes())
    assert again.replay().trace.digest() == out.record.trace_digest


# --- execute mirrors the command line ------------------------------------------------------------------------

def test_execute_is_the_simulation_the_command_line_makes() -> None:
    j, content, segments = _announcement()
    b = replace(BehaviourModel(), messages={"announce": {"open": 0.5}})
    req = RunRequest(j.id, contacts=3000, seed=9, replicas=3, behaviour=b, horizon_days=20, chunk_size=1000)
    seen: list[tuple[float, str]] = []
    out = execute(req, Snapshot(j, content, segments, {}), progress=lambda f, msg: seen.append((f, msg)))

    plan = compile_plan(j, horizon=compile_plan(j).start + 20 * DAY)  # as app/cli/simulate.py does
    pop = population_for(plan, 3000, 9, definitions=segments)
    direct = simulate(plan, lambda r: pop if r == 0 else population_for(plan, 3000, replica_seed(9, r),
                                                                      definitions=segments),
                      b, 9, 3, chunk_size=1000)
    spec = {**pop.spec, "per_replica": True}
    expected = RunRecord.from_result(direct, j, spec, b, chunk_size=1000, content=content, segments=segments,
                                     population=pop)
    rec = out.record
    assert rec.trace_digest == direct.trace.digest() == expected.trace_digest
    assert rec.results["funnel"] == direct.to_json()["funnel"]
    assert rec.results["effect"] == direct.to_json()["effect"]
    assert rec.results["population"] == spec and rec.population == spec
    assert rec.horizon == plan.start + 20 * DAY
    assert rec.behaviour == b.to_plain() and rec.journey_doc == expected.journey_doc
    assert rec.to_bytes() is rec.to_bytes()  # made once, in execute
    assert out.population == "3,000 synthetic contacts"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(msg.startswith("replica 3 of 3") for _, msg in seen)


def test_execute_gives_the_funnel_of_journey_studio_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    path = tmp_path / "p.jstudio"
    journey_file = tmp_path / "a.yaml"
    journey_file.write_text(ANNOUNCEMENT, encoding="utf-8")
    assert run_cli(capsys, "new", path)[0] == 0
    assert run_cli(capsys, "import", path, journey_file)[0] == 0
    out_json = tmp_path / "out.json"
    code, _, err = run_cli(capsys, "simulate", path, "--journey", "Product announcement", "--contacts", "2500",
                           "--seed", "6", "--replicas", "2", "--no-save", "--json", out_json)
    assert code == 0, err
    cli = json.loads(out_json.read_text(encoding="utf-8"))
    with ProjectFile.open(path, readonly=True) as pf:
        source = snapshot(pf.project, pf.project.journey("Product announcement").id)
    got = execute(RunRequest(source.journey.id, contacts=2500, seed=6, replicas=2), source)
    assert got.record.results["funnel"] == cli["funnel"]
    assert got.record.results["population"] == cli["population"]


# --- the project's contacts through a connection of the worker's own -------------------------------------------

@pytest.fixture(scope="module")
def project_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.audience.population import generate
    path = tmp_path_factory.mktemp("req") / "p.jstudio"
    project = Project("Requests")
    j, contents, segments = read_journey_file(resource_path("templates", "announcement.yaml"))
    import_journey(project, j, contents, segments)
    with ProjectFile.create(path, project=project) as pf:
        generate(pf, 2000, seed=3, as_of=START.date())
        m.add_members(pf, "Do not contact", list(range(1, 2001, 11)))
    return path


def _read_only(path: Path) -> Any:
    @contextmanager
    def connect() -> Iterator[Connection]:
        engine = make_engine(path, readonly=True)
        try:
            with engine.connect() as conn, conn.begin():
                yield conn
        finally:
            engine.dispose()
    return connect


def test_project_and_segment_populations_read_through_a_connection(project_path: Path) -> None:
    with ProjectFile.open(project_path, readonly=True) as pf:
        journey = pf.project.journey("Product announcement")
        source = snapshot(pf.project, journey.id, _read_only(project_path))
        expected = population_from_project(pf, journey)
        audience = m.audience_ids(pf, journey, START)
        members = m.member_ids(pf, "Most valuable customers", START)
    with _read_only(project_path)() as conn:
        same = population_from_connection(conn, source.journey, source.segments, source.custom_attributes)
    assert _digest(same) == _digest(expected)

    out = execute(RunRequest(journey.id, population="project", seed=2, replicas=2), source)
    assert out.population == f"{len(audience):,} project contacts in the audience" and len(audience) > 50
    entered = int(funnel(out.result.trace)["entered"][out.result.plan.entry])
    assert entered == len(audience)
    assert out.record.population["kind"] == "project" and out.record.population_npz
    assert RunRecord.from_bytes(out.record.to_bytes()).replay().trace.digest() == out.record.trace_digest

    seg = execute(RunRequest(journey.id, population="segment", segment="Most valuable customers", seed=2), source)
    assert seg.record.population["segment"] == "Most valuable customers"
    assert seg.population == f"{len(members):,} members of segment 'Most valuable customers'"
    assert seg.record.population_npz and len(members) > len(audience)  # the audience also excludes some


def test_run_errors_name_the_journey_or_the_segment(project_path: Path) -> None:
    with ProjectFile.open(project_path, readonly=True) as pf:
        journey = pf.project.journey("Product announcement")
        source = snapshot(pf.project, journey.id, _read_only(project_path))
    with pytest.raises(RunError, match="cannot simulate 'Product announcement': no segment named 'Gone'"):
        execute(RunRequest(journey.id, population="segment", segment="Gone", seed=1), source)
    with pytest.raises(RunError, match="segment 'Unsubscribed' has no members at the journey's start"):
        execute(RunRequest(journey.id, population="segment", segment="Unsubscribed", seed=1), source)
    static = replace(source.segments["Most valuable customers"], kind="static", query=None)  # no members
    with pytest.raises(RunError, match="nobody is in the audience of 'Product announcement' at the journey's start"):
        execute(RunRequest(journey.id, population="project", seed=1),
                replace(source, segments={**source.segments, "Most valuable customers": static}))
    with pytest.raises(RunError, match="the journey's audience is evaluated over the simulated period"):
        execute(RunRequest(journey.id, population="project", as_of=datetime(2026, 11, 20, tzinfo=timezone.utc),
                           seed=1), source)
    with pytest.raises(RunError, match="choose the segment"):
        execute(RunRequest(journey.id, population="segment", seed=1), source)
    with pytest.raises(RunError, match="no project contacts to read"):
        execute(RunRequest(journey.id, population="project", seed=1), replace(source, connect=None))

    no_start = read_journey_text(ANNOUNCEMENT.replace("start: 2026-12-01T09:00, ", ""))[0]
    with pytest.raises(RunError, match="cannot simulate 'Product announcement': .*no start date"):
        execute(RunRequest(no_start.id, contacts=10, seed=1), replace(source, journey=no_start))
    attribute = read_journey_text(ANNOUNCEMENT.replace(
        "wait_for: {event: link_clicked, step: announce, link: product-details}\n    within: 1d",
        "condition: {attribute: shoe_size, op: greater_than, value: 40}"))[0]
    with pytest.raises(RunError, match="cannot simulate 'Product announcement': the population has no attribute "
                                       "'shoe_size'"):
        execute(RunRequest(attribute.id, contacts=100, seed=1), replace(source, journey=attribute))


def test_a_cancelled_run_stops() -> None:
    j, content, segments = _announcement()
    token = threading.Event()
    seen: list[float] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(fraction)
        if message.startswith("replica 1 of 4"):
            token.set()  # cancelled from "another thread" while replica 1 runs

    request = RunRequest(j.id, contacts=5000, seed=1, replicas=4, chunk_size=500)
    with pytest.raises(Cancelled):
        execute(request, Snapshot(j, content, segments, {}), progress=progress, cancel=token)
    assert max(seen) < 0.5  # it stopped within the first replica


def test_a_snapshot_does_not_follow_later_edits() -> None:
    project = Project("Snap")
    j, contents, segments = read_journey_file(resource_path("templates", "announcement.yaml"))
    import_journey(project, j, contents, segments)
    live = project.journeys[0]
    snap = snapshot(project, live.id)
    assert snap.journey == live and snap.journey is not live
    live.update(name="Renamed")
    assert snap.journey.name == "Product announcement"
    assert set(snap.segments) == set(project.segments) and set(snap.content) == set(project.content)


# --- sources of the default figures ------------------------------------------------------------------------------

def test_every_default_figure_has_its_source_from_the_docstring() -> None:
    doc = " ".join((behaviour_module.__doc__ or "").split())
    assert set(DEFAULT_CHANNELS) <= set(SOURCES) and {"conversion", "event_rates"} <= set(SOURCES)
    for key, (short, full) in SOURCES.items():
        assert short and len(short) <= 60 and full in doc
    assert "Mailchimp" in SOURCES["email"][0] and "21.33 %" in SOURCES["email"][1]
    assert "Airship" in SOURCES["push"][0] and "5 % opened" in SOURCES["push"][1]
    assert "8 % of readers click" in SOURCES["sms"][1] and "3 %" in SOURCES["conversion"][1]
    assert "your own data" in SOURCES["event_rates"][1]
