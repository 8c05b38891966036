"""The project's own contacts as a simulated population: the audience queries' counts, a run, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import and_, select

from simulator.runs import load_run
from app.audience import members as m
from app.audience.population import generate
from app.codec.yamlio import read_journey_file
from app.errors import AudienceError
from app.model.attributes import CONSENT_LEVELS
from app.model.project import Project
from app.model.segment import Segment
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t
from simulator.behaviour import BehaviourModel
from simulator.metrics import funnel
from app.semantics.plan import compile_plan
from simulator.population import population_from_npz, population_to_npz
from simulator.project_population import population_from_project
from simulator.replicas import simulate
from simulator.runs import RunRecord
from simulator.world import build_world

AS_OF = date(2026, 12, 1)
START = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)  # the announcement's start, 09:00 in Paris
BIG = Segment("Big spenders", query={"blocks": [{"where": {"all": [
    {"attribute": "lifetime_value", "op": "greater_than", "value": 1000}]}}]})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pp") / "p.jstudio"
    project = Project("Base")
    for name in ("announcement", "re-engagement"):
        j, contents, segments = read_journey_file(resource_path("templates", f"{name}.yaml"))
        import_journey(project, j, contents, segments)
    project.put_segment(BIG)
    with ProjectFile.create(path, project=project) as pf:
        generate(pf, 3000, seed=1, as_of=AS_OF)
        audience = m.audience_ids(pf, "Product announcement", START)
        m.add_members(pf, "Do not contact", list(range(1, 3001, 10)))
        m.subscribe(pf, "Unsubscribed", audience[::7])
    return path


def _entered(pop, journey, seed=3, replicas=1):  # type: ignore[no-untyped-def]
    plan = compile_plan(journey)
    result = simulate(plan, pop, BehaviourModel(), seed, replicas, chunk_size=1000)
    return result, int(funnel(result.trace)["entered"][plan.entry])


def test_project_population_is_the_journey_audience(project: Path) -> None:
    """A one-time journey: the audience at the start is read, and its segments evaluate as the project's SQL."""
    with ProjectFile.open(project, readonly=True) as pf:
        j = pf.project.journey("Product announcement")
        pop = population_from_project(pf, j)
        expected = m.audience_ids(pf, j, START)
        assert len(pop) == len(expected) == m.audience_count(pf, j, START) > 100
        assert pop.contact_id.tolist() == expected
        with pf.connection() as conn:
            unsub = m.ids_where(conn, and_(m.audience_condition(j, pf.project.segments, at=START),
                                           m.segment_condition(pf.project.segments["Unsubscribed"])))
        plan = compile_plan(j)
        world = build_world(plan, pop, BehaviourModel(), 3)
        rows = np.arange(len(pop))
        assert pop.contact_id[world.member("Unsubscribed", rows, plan.start)].tolist() == unsub
        assert len(unsub) > 10
        assert not world.member("Do not contact", rows, plan.start).any()  # the audience leaves them out
        assert world.member("Most valuable customers", rows, plan.start).all()
        assert {"lifetime_value", "last_purchase_date", "account.size"} <= set(pop.numeric)
        assert pop.spec["kind"] == "project" and pop.spec["size"] == len(pop)
        assert 0.0 <= pop.engagement.min() and pop.engagement.max() <= 1.0
        assert (pop.account_id >= 0).any() and (pop.tz >= 0).mean() > 0.9
        result, entered = _entered(pop, j)
        assert entered == len(expected)
        sent = funnel(result.trace)
        assert int(sent["suppressed"].sum()) > 0  # the unsubscribed are suppressed
        with pytest.raises(AudienceError, match="the journey's audience is evaluated over the simulated period"):
            population_from_project(pf, j, as_of=START)


def test_segment_population_and_determinism(project: Path) -> None:
    with ProjectFile.open(project, readonly=True) as pf:
        j = pf.project.journey("Product announcement")
        pop = population_from_project(pf, j, segment="Big spenders", as_of=START)
        assert pop.contact_id.tolist() == m.member_ids(pf, "Big spenders", START)
        assert pop.spec["kind"] == "segment" and pop.spec["segment"] == "Big spenders"
        with pf.connection() as conn:  # the segment stands for the audience; the exclusion still applies
            admitted = m.count_where(conn, and_(m.segment_condition(BIG, at=START),
                                                ~m.segment_condition(pf.project.segments["Do not contact"])))
        a, entered = _entered(pop, j, replicas=2)
        assert entered == admitted > 10
        again = population_from_project(pf, j, segment="Big spenders", as_of=START)
        b, _ = _entered(again, j, replicas=2)
        assert a.trace.digest() == b.trace.digest() and a.to_json()["funnel"] == b.to_json()["funnel"]
        back = population_from_npz(population_to_npz(pop))
        assert back.spec == pop.spec and set(back.segments) == set(pop.segments)
        c, _ = _entered(back, j, replicas=2)
        assert c.trace.digest() == a.trace.digest()
        with pytest.raises(AudienceError, match="no segment named 'Nobody'"):
            population_from_project(pf, j, segment="Nobody", as_of=START)


def test_an_ongoing_journey_enters_contacts_when_they_come_to_qualify(project: Path) -> None:
    """Re-engagement (ongoing, 'No purchase in 60 days', minimum consent 'marketing'): contacts join when 60 days
    have passed since their last purchase, as the live runner finds them; everyone in the audience at a moment
    has entered by then."""
    quiet = BehaviourModel().neutral()
    quiet = replace(quiet, event_rates={})  # no purchases of their own: recency only grows
    with ProjectFile.open(project, readonly=True) as pf:
        j = pf.project.journey("Re-engagement")
        pop = population_from_project(pf, j)
        assert (pop.consent >= CONSENT_LEVELS.index("marketing")).all()
        plan = compile_plan(j)
        result = simulate(plan, pop, quiet, 4, 1, chunk_size=1000)
        units = result.trace.units
        entered_at = dict(zip(pop.contact_id[units["contact"]].tolist(),
                              result.trace.absolute(units["entered"]).tolist()))
        at_start = m.audience_ids(pf, j, START)
        assert at_start and all(entered_at[c] == plan.start for c in at_start)
        later = [c for c, t in entered_at.items() if t > plan.start]
        assert len(later) > 20, "contacts whose last purchase was recent join part-way"
        for days in (10, 31, 75):
            moment = datetime.fromtimestamp(plan.start + days * 86_400, timezone.utc)
            members = m.audience_ids(pf, j, moment)
            assert all(entered_at.get(c, 1 << 62) <= plan.start + days * 86_400 for c in members), days
        with pf.connection() as conn:
            lpd = dict(conn.execute(select(t.contacts.c.id, t.contacts.c.last_purchase_date)
                                    .where(t.contacts.c.id.in_(later[:30]))).all())
        for c in later[:30]:  # the day after the 60 days since the last purchase, at midnight UTC
            joined = datetime.combine(lpd[c], datetime.min.time(), timezone.utc) + timedelta(days=61)
            assert entered_at[c] == int(joined.timestamp())


def test_a_run_on_project_contacts_replays_after_the_contacts_change(tmp_path: Path, project: Path) -> None:
    path = tmp_path / "copy.jstudio"
    path.write_bytes(project.read_bytes())
    with ProjectFile.open(path) as pf:
        j = pf.project.journey("Product announcement")
        pop = population_from_project(pf, j)
        plan = compile_plan(j)
        b = BehaviourModel()
        result = simulate(plan, pop, b, 9, 2, chunk_size=1000)
        rec = RunRecord.from_result(result, j, pop.spec, b, chunk_size=1000, content=pf.project.content,
                                    segments=pf.project.segments, population=pop)
        run_id = pf.save_run(rec, name="own contacts")
        m.add_members(pf, "Do not contact", m.audience_ids(pf, j, START)[:50])  # the audience changes later
    with ProjectFile.open(path, readonly=True) as pf:
        loaded = load_run(pf, run_id)
        assert loaded.replay().trace.digest() == rec.trace_digest
        assert pf.runs()[0].population["kind"] == "project"
