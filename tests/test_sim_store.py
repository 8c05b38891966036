"""Saved simulation runs in the project file: save, reopen, load, replay bit for bit; listing; refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.runs import load_run
from app.codec.yamlio import read_journey_file
from app.errors import ProjectFileError
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from simulator.behaviour import BehaviourModel
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import RunRecord


def _project(path: Path) -> Path:
    project = Project("Runs")
    for name in ("re-engagement", "announcement"):
        j, contents, segments = read_journey_file(resource_path("templates", f"{name}.yaml"))
        import_journey(project, j, contents, segments)
    ProjectFile.create(path, project=project).close()
    return path


def _record(pf: ProjectFile, journey_name: str, seed: int, replicas: int = 2) -> RunRecord:
    journey = pf.project.journey(journey_name)
    plan = compile_plan(journey)
    pop = population_for(plan, 1500, seed)
    b = BehaviourModel()
    result = simulate(plan, pop, b, seed, replicas, chunk_size=700)
    return RunRecord.from_result(result, journey, pop.spec, b, chunk_size=700, content=pf.project.content,
                                 segments=pf.project.segments)


def test_saved_run_reloads_and_replays_bit_for_bit(tmp_path: Path) -> None:
    path = _project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        rec = _record(pf, "Re-engagement", 3)
        run_id = pf.save_run(rec, name="baseline")
        assert any(kind == "simulated" and f"run {run_id}" in detail
                   for kind, _, detail in pf.milestones("Re-engagement"))
    with ProjectFile.open(path, readonly=True) as pf:
        loaded = load_run(pf, run_id)
        assert loaded == rec and loaded.to_bytes() == rec.to_bytes()
        replayed = loaded.replay()
        assert replayed.trace.digest() == rec.trace_digest
        assert replayed.to_json()["funnel"] == rec.results["funnel"]
        with pytest.raises(ProjectFileError, match="no saved simulation run 999"):
            load_run(pf, 999)


def test_runs_are_listed_per_journey_with_their_summary(tmp_path: Path) -> None:
    path = _project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        a = pf.save_run(_record(pf, "Re-engagement", 1, 1), name="first")
        b = pf.save_run(_record(pf, "Product announcement", 2, 1))
        c = pf.save_run(_record(pf, "Re-engagement", 3, 3), name="second")
        everything = pf.runs()
        assert [r.id for r in everything] == [a, b, c]
        mine = pf.runs("Re-engagement")
        assert [(r.id, r.name, r.seed, r.replicas) for r in mine] == [(a, "first", 1, 1), (c, "second", 3, 3)]
        info = mine[1]
        assert info.journey_name == "Re-engagement" and info.population["kind"] == "synthetic"
        assert info.population["contacts"] == 1500 and not info.approved and info.notes == ""
        assert [row["step"] for row in info.summary["funnel"]][0] == "reminder"
        assert {"mean", "low", "high"} <= set(info.summary["conversion"])
        assert "time_series" not in info.summary
        assert pf.runs(pf.project.journey("Product announcement").id)[0].name == "seed 2, 1 replica"
        pf.delete_run(a)
        assert [r.id for r in pf.runs("Re-engagement")] == [c]
        with pytest.raises(ProjectFileError, match=f"no saved simulation run {a}"):
            pf.delete_run(a)


def test_read_only_project_refuses_to_save_or_delete_a_run(tmp_path: Path) -> None:
    path = _project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        run_id = pf.save_run(_record(pf, "Product announcement", 5, 1))
    before = path.read_bytes()
    with ProjectFile.open(path, readonly=True) as pf:
        rec = load_run(pf, run_id)
        with pytest.raises(ProjectFileError, match="cannot save a simulation run: it was opened read-only"):
            pf.save_run(rec)
        with pytest.raises(ProjectFileError, match="cannot delete a simulation run: it was opened read-only"):
            pf.delete_run(run_id)
        assert [r.id for r in pf.runs()] == [run_id]
    assert path.read_bytes() == before


def test_a_run_of_an_older_version_is_identifiable(tmp_path: Path) -> None:
    path = _project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        old = pf.save_run(_record(pf, "Product announcement", 7, 1))
        pf.freeze("Product announcement")  # version 1 frozen: the journey is now a draft of version 2
        assert not pf.run_info(old).outdated  # ... which is still the released version 1
        pf.project.journey("Product announcement").update(description="Second wave")  # now it is not
        new = pf.save_run(_record(pf, "Product announcement", 7, 1))
    with ProjectFile.open(path) as pf:
        infos = {r.id: r for r in pf.runs("Product announcement")}
        assert infos[old].journey_version == 1 and infos[old].current_version == 2 and infos[old].outdated
        assert infos[new].journey_version == 2 and not infos[new].outdated
        assert load_run(pf, old).journey_version == 1
        pf.project.remove_journey(pf.project.journey("Product announcement").id)
    with ProjectFile.open(path) as pf:  # history outlives the journey
        gone = pf.runs()
        assert {r.journey_name for r in gone} >= {"Product announcement"}
        assert all(r.current_version is None for r in gone if r.journey_name == "Product announcement")
