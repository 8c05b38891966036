"""Versions in flight, the gaps after the first round (issue 18, item 3): `export --release` takes the plan as
`package` does; `simulate --in-flight-from RUN --at DATE` forecasts the moved contacts without packaging; a run
of N that N+1 has taken over enrols nobody new, even after a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.package.read import read_package
from app.store import ProjectFile
from tests.cli_helpers import run
from tests.test_package import NAME
from tests.test_versions_in_flight import released

Cap = pytest.CaptureFixture[str]
_fixtures = (released,)


def _status(project: Path, tmp_path: Path) -> Path:
    """A file of `status --json` of the run of version 1: 38 contacts wait at 'clicked', 412 at 'launch'."""
    with ProjectFile.open(project) as pf:
        jid = pf.project.journey(NAME).id
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"key": f"{jid}:v1", "steps": [{"step": "clicked", "waiting": 38},
                                                                {"step": "launch", "waiting": 412}]}))
    return status


# --- export --release ---------------------------------------------------------------------------------------

def test_export_release_refuses_a_plan_that_cannot_be_done_before_freezing(released: Path, tmp_path: Path,
                                                                           capsys: Cap) -> None:
    out = tmp_path / "v2.yaml"
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--in-flight", "move")
    assert code == 1 and not out.exists()
    assert "  contacts waiting at 'Wait until 10 Dec 09:00' (launch), which version 2 removes, need a choice" in stderr
    assert stderr.splitlines()[-1].endswith("(nothing was frozen)") and "package" not in stderr.splitlines()[-1]
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1]
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--move", "launch=launched")
    assert code == 2 and "--in-flight and its options go with --release" in stderr and not out.exists()
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--move", "launch")  # the same strict reading as package
    assert code == 1 and "--move 'launch': write it as STEP=TARGET" in stderr and not out.exists()


def test_export_release_records_previews_and_forecasts_the_plan_as_package_does(released: Path, tmp_path: Path,
                                                                                capsys: Cap) -> None:
    status = _status(released, tmp_path)
    out = tmp_path / "v2.yaml"
    code, _, stderr = run(capsys, "export", released, "--journey", NAME, "--out", out, "--release",
                          "--move", "launch=launched", "--leave", "clicked", "--in-flight-from", status,
                          "--forecast-at", "2026-12-03T09:00")
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[0] == "Froze 'Product announcement' as version 2; edits now make version 3"
    assert "  contacts at 'launch' move to 'launched'" in lines
    assert (f"In flight now on version 1 ({status}): 450 contacts: 412 move to version 2, 0 finish on version 1, "
            "38 leave") in lines
    assert "  412 contacts wait at 'Wait until 10 Dec 09:00', which version 2 removes: they will move to 'Product " \
           "launched text' of version 2" in lines
    head = lines.index("Forecast of version 2 for the 412 contacts it moves, from 2026-12-03 09:00 UTC (seed 7, the "
                       "default behaviour assumptions):")
    assert lines[head + 1].startswith("  'Product launched text': 412 entered")
    assert any(ln.startswith("  assumed: ") for ln in lines[head + 1:])
    assert "launched" in out.read_text()
    with ProjectFile.open(released) as pf:
        assert [v for v, _ in pf.versions(NAME)] == [1, 2]
        kinds = [d for k, _, d in pf.milestones(NAME) if k == "in-flight"]
    assert kinds == ["version 2: contacts in flight on version 1 move to the same steps of version 2; chosen: "
                     "clicked: leave, launch -> launched"]
    # the journey file does not carry the plan: a package of the version does, with the same options
    assert ("Note: a journey file does not carry the plan to the live runner: package version 2 with the same "
            "options (journey-studio package ... --version 2 ...) and run it with --replaces and the state folder "
            "of the run of version 1") in lines
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v2.jpkg",
                          "--version", "2", "--move", "launch=launched", "--leave", "clicked")
    assert code == 0, stderr
    assert read_package(tmp_path / "v2.jpkg").manifest["in_flight"]["to_version"] == 2


# --- simulate --in-flight-from RUN --at DATE ------------------------------------------------------------------

def test_simulate_forecasts_the_draft_for_the_contacts_the_plan_moves_without_packaging(released: Path, tmp_path: Path,
                                                                                       capsys: Cap) -> None:
    status = _status(released, tmp_path)
    code, stdout, stderr = run(capsys, "simulate", released, "--journey", NAME, "--seed", "7", "--in-flight-from",
                               status, "--at", "2026-12-03T09:00", "--move", "launch=launched",
                               "--move", "clicked=pause")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("The draft of 'Product announcement' as version 2, for the contacts in flight on "
                               f"version 1 ({status}): contacts in flight on version 1 move to the same steps")
    assert lines[1] == "  450 contacts in flight: 450 move, 0 finish on version 1, 0 leave"
    head = lines.index("Forecast of version 2 for the 450 contacts it moves, from 2026-12-03 09:00 UTC (seed 7, the "
                       "default behaviour assumptions):")
    body = lines[head + 1:]
    assert body[0] == "  'Wait 2 days': 38 entered" and body[1].startswith("  'Product announcement email': 38 entered")
    assert [ln for ln in body if ln.startswith("  assumed: ")] == [
        "  assumed: moved contacts enter their step of the new version afresh at the moment given (a wait starts "
        "again)",
        "  assumed: an if/then waiting for an event of a message sent on the old version sees none of it (a floor "
        "for 'yes')",
        "  assumed: contacts are synthetic, drawn from the default population profile; no audience test (they are "
        "in the journey already)"]
    assert "Not saved: a forecast of the contacts in flight is not a run of the journey" in stderr
    with ProjectFile.open(released) as pf:  # nothing frozen, nothing saved
        assert [v for v, _ in pf.versions(NAME)] == [1] and pf.runs(NAME) == []
    # the same figures as package --forecast-at, which goes through the same forecast
    code, _, stderr = run(capsys, "package", released, "--journey", NAME, "--out", tmp_path / "v2.jpkg",
                          "--move", "launch=launched", "--move", "clicked=pause", "--in-flight-from", status,
                          "--forecast-at", "2026-12-03T09:00")
    assert code == 0, stderr
    assert body == stderr.splitlines()[-len(body):]


def test_simulate_in_flight_json_and_its_refusals_are_one_line(released: Path, tmp_path: Path, capsys: Cap) -> None:
    status = _status(released, tmp_path)
    base: list[str | Path] = ["simulate", released, "--journey", NAME, "--seed", "3"]
    code, stdout, _ = run(capsys, *base, "--in-flight-from", status, "--at", "2026-12-03T09:00",
                          "--leave", "clicked", "--move", "launch=launched", "--replicas", "2", "--json", "-")
    assert code == 0
    doc = json.loads(stdout)
    assert (doc["version"], doc["from_version"], doc["groups"], doc["totals"]) == (
        2, 1, {"launched": 412}, {"move": 412, "finish": 0, "leave": 38})
    assert len(doc["assumed"]) == 3 and doc["replicas"] == 2
    cases: list[tuple[list[str | Path], str]] = [
        (["--in-flight-from", status], "needs both --in-flight-from RUN and --at DATE"),
        (["--in-flight-from", status, "--at", "soon"], "--at: 'soon' is not a date and time"),
        (["--in-flight-from", status, "--at", "2026-12-03T09:00", "--contacts", "5"],
         "--contacts does not go with --in-flight-from"),
        (["--in-flight-from", tmp_path / "nowhere.jpkg.run", "--at", "2026-12-03T09:00"], "--in-flight-from: "),
        (["--in-flight-from", status, "--at", "2030-01-01T00:00", "--move", "launch=launched"],
         "--at: the moment 2030-01-01 00:00 UTC is outside version 2's schedule (2026-"),
    ]
    for extra, said in cases:
        code, _, stderr = run(capsys, *base, *extra)
        assert code == 2 and said in stderr and "Traceback" not in stderr, (extra, stderr)
        assert len([ln for ln in stderr.splitlines() if ln.startswith("journey-studio: error")]) == 1
    code, _, stderr = run(capsys, *base, "--in-flight-from", status, "--at", "2026-12-03T09:00")  # move by default
    assert code == 1 and "  contacts waiting at 'Wait until 10 Dec 09:00' (launch), which version 2 removes, need a " \
        "choice" in stderr and "(nothing was forecast)" in stderr


# --- a run taken over enrols nobody new -----------------------------------------------------------------------

class _Starts:
    """A stand-in Temporal client that records the workflows the enrolment starts."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def start_workflow(self, workflow: Any, arg: Any, **kw: Any) -> None:
        self.ids.append(str(kw["id"]))


def _enrol_once(db: Path, state_path: Path, r: Any) -> list[str]:
    """N's enrolment activity, one page of iteration 0, as a runner (re)started on `state_path` runs it: the
    workflows it starts."""
    import asyncio
    import time

    from app.runner.activities import Activities
    from app.runner.calls import EnrolPage
    from app.runner.channels import Tokens
    from app.runner.contacts import ContactsDb
    from app.runner.state import StateDb
    client = _Starts()
    contacts, state = ContactsDb(str(db)), StateDb(state_path)
    try:
        acts = Activities(contacts, state, Tokens("s"), "http://127.0.0.1:9", client=client)  # type: ignore[arg-type]
        page = EnrolPage(r.key, r.digest, 0, r.plan.start, r.plan.start, 0, 100, [time.time(), r.plan.start, 1.0],
                         0, 10.0)
        asyncio.run(acts.enrol_page(page))
    finally:
        contacts.close()
        state.close()
    return client.ids


def test_once_the_next_version_took_over_the_old_run_enrols_nobody_new_even_after_a_restart(tmp_path: Path) -> None:
    from app.runner.migrate_flight import REPLACED, hand_over, replaced_by, taken
    from app.runner.runnable import from_package, register
    from app.runner.state import StateDb
    from app.runner.state_read import read_settings
    from tests.test_runner_journeys import _journey, _project
    db, pkg = _project(tmp_path, _journey("one-time", "2026-12-10T09:00", "1d"), [1, 2, 3, 5, 8])
    r = from_package(pkg)
    register(r)
    control = tmp_path / "control" / "runner.db"  # without the mark: the stand-in sees every start
    assert len(_enrol_once(db, control, r)) == 5
    old_db = tmp_path / "n.jpkg.run" / "runner.db"
    new_db = tmp_path / "n1.jpkg.run" / "runner.db"
    new_db.parent.mkdir()
    state = StateDb(old_db)  # N enrolled contacts 1 and 2 (the second while the take-over ran)
    state.record_enrolments(r.key, 0, [(1, "w1", 0), (2, "w2", 0)])
    state.close()
    assert replaced_by(old_db) is None
    hand_over(old_db, new_db, r.key, "j:v2", 2)  # N+1's ledger is complete
    mark = replaced_by(old_db)
    assert mark is not None and (mark["key"], mark["version"]) == ("j:v2", 2)
    assert taken(new_db, "j:v2", 0, [1, 2, 3, 5, 8]) == {1, 2}  # N+1 enrols neither again
    hand_over(old_db, new_db, r.key, "j:v2", 2)  # again (a crash, a restart of N+1): nothing changes
    assert read_settings(old_db, REPLACED)[REPLACED] == mark and taken(new_db, "j:v2", 0, [3]) == set()
    assert _enrol_once(db, old_db, r) == []  # N, running: nobody new (3, 5 and 8 belong to N+1)
    assert _enrol_once(db, old_db, r) == []  # N restarted on its state folder: the mark is durable
    state = StateDb(old_db)
    assert state.enrolment_count(r.key) == 2
    state.record_enrolments(r.key, 0, [(3, "w3", 0)])  # a page N had begun before the mark, recorded after it
    state.close()
    assert taken(new_db, "j:v2", 0, [1, 2, 3, 5, 8]) == {1, 2, 3}  # N+1 skips it too: it reads N's records
    assert taken(new_db, "j:v2", 1, [1, 2, 3]) == set() and taken(new_db, "other", 0, [1, 2, 3]) == set()
