"""Reviewing saved runs: names, notes, approval (with its milestone), the approved run of a journey version, the
behaviour figures a run changed; refusals; and `journey-studio review` / `runs` end to end."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from app.codec.yamlio import read_journey_file
from app.errors import ModelError, ProjectFileError
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema
from app.store.runs import RunInfo, describe_change
from simulator.behaviour import behaviour_changes
from simulator.behaviour import DEFAULT_CHANNELS, BehaviourModel
from app.semantics.plan import compile_plan
from simulator.population import population_for
from simulator.replicas import simulate
from simulator.runs import RunRecord
from tests.cli_helpers import run

ANNOUNCEMENT = "Product announcement"


def make_project(path: Path) -> Path:
    """A project file with the re-engagement and announcement templates."""
    project = Project("Review")
    for name in ("re-engagement", "announcement"):
        import_journey(project, *read_journey_file(resource_path("templates", f"{name}.yaml")))
    ProjectFile.create(path, project=project).close()
    return path


def make_record(pf: ProjectFile, journey_name: str, seed: int, replicas: int = 2,
                behaviour: BehaviourModel | None = None) -> RunRecord:
    """A real run of a journey over 1,500 synthetic contacts."""
    journey = pf.project.journey(journey_name)
    plan = compile_plan(journey)
    pop = population_for(plan, 1500, seed)
    b = behaviour or BehaviourModel()
    result = simulate(plan, pop, b, seed, replicas, chunk_size=700)
    return RunRecord.from_result(result, journey, pop.spec, b, chunk_size=700, content=pf.project.content,
                                 segments=pf.project.segments)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The store's clock, one minute further at each reading (so that "approved last" is never a tie)."""
    readings: list[datetime] = []
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

    def now() -> datetime:
        readings.append(start + timedelta(minutes=len(readings)))
        return readings[-1]

    monkeypatch.setattr(schema, "utcnow", now)
    yield readings


def milestones(pf: ProjectFile, journey: str, kind: str) -> list[str]:
    return [detail for k, _, detail in pf.milestones(journey) if k == kind]


# --- the store ----------------------------------------------------------------------------------------------

def test_notes_and_name_round_trip(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        run_id = pf.save_run(make_record(pf, ANNOUNCEMENT, 3))
        assert pf.run_info(run_id).name == "seed 3, 2 replicas" and pf.run_info(run_id).notes == ""
        after = pf.set_run_notes(run_id, "  Open rate looks high.\nCheck the SMS wait.\n\n")
        assert after.notes == "Open rate looks high.\nCheck the SMS wait."
        assert pf.rename_run(run_id, "  Launch plan A ").name == "Launch plan A"
        with pytest.raises(ProjectFileError, match=f"simulation run {run_id} needs a name"):
            pf.rename_run(run_id, "   ")
    with ProjectFile.open(path, readonly=True) as pf:
        info = pf.run_info(run_id)
        assert (info.name, info.notes) == ("Launch plan A", "Open rate looks high.\nCheck the SMS wait.")
        assert pf.runs() == [info]
        assert info.to_plain()["notes"] == info.notes and info.to_plain()["name"] == "Launch plan A"


def test_approve_and_withdraw_record_milestones(tmp_path: Path, clock: list[datetime]) -> None:
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        run_id = pf.save_run(make_record(pf, ANNOUNCEMENT, 3), name="baseline")
        approved = pf.approve_run(run_id, "  Alice Martin ")
        assert approved.approved and approved.approved_by == "Alice Martin" and approved.approved_at == clock[-1]
        assert milestones(pf, ANNOUNCEMENT, "approved") == [
            f"run {run_id}: version 1, baseline, approved by Alice Martin"]
        for name in ("", "   "):
            with pytest.raises(ProjectFileError, match="needs the reviewer's name"):
                pf.approve_run(run_id, name)
        assert pf.run_info(run_id).approved_by == "Alice Martin"
    with ProjectFile.open(path) as pf:
        assert pf.run_info(run_id) == approved
        withdrawn = pf.withdraw_approval(run_id)
        assert not withdrawn.approved and withdrawn.approved_at is None and withdrawn.approved_by is None
        assert pf.withdraw_approval(run_id) == withdrawn  # nothing to withdraw: nothing recorded
        assert milestones(pf, ANNOUNCEMENT, "approval-withdrawn") == [
            f"run {run_id}: version 1, baseline, was approved by Alice Martin"]
        assert len(milestones(pf, ANNOUNCEMENT, "approved")) == 1
        assert pf.approved_run(ANNOUNCEMENT) is None


def test_approved_run_is_the_latest_approved_of_a_version(tmp_path: Path, clock: list[datetime]) -> None:
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        a = pf.save_run(make_record(pf, ANNOUNCEMENT, 1, 1), name="a")
        b = pf.save_run(make_record(pf, ANNOUNCEMENT, 2, 1), name="b")
        other = pf.save_run(make_record(pf, "Re-engagement", 3, 1), name="other journey")
        pf.freeze(ANNOUNCEMENT)  # version 1 frozen; the journey is now a draft of version 2
        c = pf.save_run(make_record(pf, ANNOUNCEMENT, 4, 1), name="c")

        def expected(version: int | None) -> int | None:  # by brute force over the listing
            mine = [r for r in pf.runs(ANNOUNCEMENT) if r.approved and version in (None, r.journey_version)]
            return max(mine, key=lambda r: (r.approved_at, r.id)).id if mine else None

        def got(version: int | None = None) -> int | None:
            found = pf.approved_run(ANNOUNCEMENT, version)
            return found.id if found is not None else None

        assert got() is None and got(1) is None
        pf.approve_run(other, "Sam")
        assert got() is None  # another journey's approval is not this one's
        pf.approve_run(b, "Sam")
        pf.approve_run(a, "Kim")  # approved after b: a is the one
        assert got(1) == expected(1) == a and got() == expected(None) == a
        pf.approve_run(c, "Kim")
        assert got() == expected(None) == c and got(1) == a and got(2) == c and got(3) is None
        pf.withdraw_approval(a)
        assert got(1) == expected(1) == b
        info = pf.approved_run(pf.project.journey(ANNOUNCEMENT).id, 1)  # by id as well as by name
        assert isinstance(info, RunInfo) and info.id == b and info.current_version == 2
        assert not info.outdated  # the draft of version 2 is still the released version 1 (issue 16)
        with pytest.raises(ModelError, match="no journey named 'Nope'"):
            pf.approved_run("Nope")
        jid = pf.project.journey(ANNOUNCEMENT).id
        pf.project.remove_journey(jid)
        gone = pf.approved_run(jid)  # a deleted journey's history is still found by its id
        assert gone is not None and gone.id == c and gone.current_version is None


def test_read_only_and_unknown_runs_are_refused(tmp_path: Path) -> None:
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        run_id = pf.save_run(make_record(pf, ANNOUNCEMENT, 5, 1))
        for call in (lambda: pf.run_info(99), lambda: pf.set_run_notes(99, "x"), lambda: pf.rename_run(99, "x"),
                     lambda: pf.approve_run(99, "Ann"), lambda: pf.withdraw_approval(99)):
            with pytest.raises(ProjectFileError, match="there is no saved simulation run 99$"):
                call()
        assert milestones(pf, ANNOUNCEMENT, "approved") == []  # the refused approval left no milestone
    before = path.read_bytes()
    with ProjectFile.open(path, readonly=True) as pf:
        refusals = {"change the notes of a simulation run": lambda: pf.set_run_notes(run_id, "x"),
                    "rename a simulation run": lambda: pf.rename_run(run_id, "x"),
                    "approve a simulation run": lambda: pf.approve_run(run_id, "Ann"),
                    "withdraw the approval of a simulation run": lambda: pf.withdraw_approval(run_id)}
        for doing, call in refusals.items():
            with pytest.raises(ProjectFileError, match=f"cannot {doing}: it was opened read-only"):
                call()
        assert pf.run_info(run_id).notes == "" and not pf.run_info(run_id).approved
    assert path.read_bytes() == before


def test_behaviour_changes_name_the_edited_figures(tmp_path: Path) -> None:
    assert behaviour_changes(BehaviourModel().to_plain()) == ()
    email = DEFAULT_CHANNELS["email"]
    edited = BehaviourModel.from_plain({"channels": {"email": {"open": 0.3}}, "messages": {"announce": {"click": 0.5}},
                                        "event_rates": {**BehaviourModel().event_rates, "purchase": 0.01}})
    changes = behaviour_changes(edited.to_plain())
    assert sorted(changes) == sorted([("channels.email.open", 0.3, email.open),
                                      ("messages.announce.click", 0.5, None),
                                      ("event_rates.purchase", 0.01, 0.002)])
    assert describe_change("channels.email.open", 0.3, email.open) == f"email open 0.3 (default {email.open:g})"
    assert describe_change("messages.announce.click", 0.5, None) == "step 'announce' click 0.5 (default not set)"
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        plain = pf.save_run(make_record(pf, ANNOUNCEMENT, 1, 1))
        changed = pf.save_run(make_record(pf, ANNOUNCEMENT, 1, 1, behaviour=edited))
        assert pf.run_info(plain).behaviour_changes == ()
        assert sorted(pf.run_info(changed).behaviour_changes) == sorted(changes)
        listed = pf.run_info(changed).to_plain()["behaviour_changes"]
        assert {(d["figure"], d["value"], d["default"]) for d in listed} == set(changes)


# --- the command line ---------------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, int, int]:
    """A project with two saved runs of the announcement (ids returned)."""
    path = make_project(tmp_path / "p.jstudio")
    with ProjectFile.open(path) as pf:
        first = pf.save_run(make_record(pf, ANNOUNCEMENT, 5, 2), name="first")
        second = pf.save_run(make_record(pf, ANNOUNCEMENT, 6, 1))
    return path, first, second


def test_review_names_notes_and_approves_a_run(project: tuple[Path, int, int], capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path, first, second = project
    before = path.read_bytes()
    code, out, err = run(capsys, "review", path, first)
    assert code == 0, err
    with ProjectFile.open(path, readonly=True) as pf:
        info = pf.run_info(first)
    lines = out.splitlines()
    assert lines[1].startswith("  Caused by the journey: ") and " would without it" in lines[1]
    assert [lines[0], *lines[2:4]] == [
        f'Run {first} "first": {ANNOUNCEMENT} v1',
        f"  made {info.created_at:%Y-%m-%d %H:%M} UTC: 1,500 synthetic contacts, seed 5, 2 replicas, "
        f"{info.summary['start'][:16].replace('T', ' ')} to {info.summary['horizon'][:16].replace('T', ' ')} UTC",
        f"  goal reached: {info.summary['conversion']['mean']:.2%} (95% interval "
        f"{info.summary['conversion']['low']:.2%} to {info.summary['conversion']['high']:.2%})"]
    assert "  not approved" in out and "  no notes" in out and path.read_bytes() == before

    code, out, err = run(capsys, "review", path, first, "--name", "Launch plan A", "--note",
                         "Checked the open rate.\nSMS wait is right.", "--approve", "--by", "Alice")
    assert code == 0, err
    assert f'Run {first} "Launch plan A"' in out and "  approved by Alice on " in out
    assert "  notes:\n    Checked the open rate.\n    SMS wait is right.\n" in out
    with ProjectFile.open(path, readonly=True) as pf:
        info = pf.run_info(first)
        assert (info.name, info.notes, info.approved_by) == ("Launch plan A", "Checked the open rate.\n"
                                                              "SMS wait is right.", "Alice")
        assert any(k == "approved" and f"run {first}" in d for k, _, d in pf.milestones(ANNOUNCEMENT))
        assert pf.approved_run(ANNOUNCEMENT, 1).id == first  # type: ignore[union-attr]

    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    code, out, err = run(capsys, "review", path, second, "--approve")
    assert code == 0 and "approved by os-user on " in out, err
    code, out, _ = run(capsys, "review", path, first, "--withdraw", "--note", "")
    assert code == 0 and "  not approved" in out and "  no notes" in out


def test_runs_listing_shows_approval_notes_and_outdated(project: tuple[Path, int, int],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path, first, second = project
    assert run(capsys, "review", path, first, "--approve", "--by", "Alice", "--note", "Ready.\nSee the SMS.")[0] == 0
    with ProjectFile.open(path) as pf:
        pf.freeze(ANNOUNCEMENT)
        pf.project.journey(ANNOUNCEMENT).update(description="Second wave")  # the draft changes after release
    code, out, err = run(capsys, "runs", path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{first:>4}  ")
    assert f"{ANNOUNCEMENT} v1 (outdated: journey now v2)  first  [" in lines[0]
    assert "1,500 synthetic contacts, seed 5, 2 replicas" in lines[0] and "approved by Alice on " in lines[0]
    assert lines[1:3] == ["      notes: Ready.", "             See the SMS."]
    assert lines[3].startswith(f"{second:>4}  ") and "approved" not in lines[3] and len(lines) == 4
    code, out, _ = run(capsys, "runs", path, "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert listed[first]["approved"] is True and listed[first]["approved_by"] == "Alice"
    assert listed[first]["notes"] == "Ready.\nSee the SMS." and listed[first]["journey"]["current_version"] == 2
    assert listed[second]["approved"] is False and listed[second]["behaviour_changes"] == []


def test_review_refuses_bad_requests(project: tuple[Path, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    path, first, _ = project
    before = path.read_bytes()
    bad = {("--approve", "--withdraw"): "--approve and --withdraw go one at a time",
           ("--by", "Alice"): "--by names who approves: add --approve",
           ("--approve", "--by", "  "): "--by needs the reviewer's name",
           ("--name", " "): f"simulation run {first} needs a name"}
    for args, message in bad.items():
        code, out, err = run(capsys, "review", path, first, *args)
        assert code == 2 and message in err and err.count("\n") == 1 and out == "", (args, err)
    code, _, err = run(capsys, "review", path, 99, "--note", "x")
    assert code == 2 and err.strip().endswith("there is no saved simulation run 99")
    assert path.read_bytes() == before
    os.chmod(path, stat.S_IRUSR)
    try:
        code, _, err = run(capsys, "review", path, first, "--note", "x")
        assert code == 2 and "cannot change the project: the file is read-only" in err
        assert run(capsys, "review", path, first)[0] == 0  # looking needs no write access
    finally:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
