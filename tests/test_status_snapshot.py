"""`status` reads a run's figures as one consistent moment: one listing of the journey's workflows (never a count
query per figure), and the runner's own state in one read transaction, so that no step ever shows more contacts
than the step before it passed on; the table follows the simulator's funnel. No Temporal server: the listing is
faked, the state is a real StateDb."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.runner.calls import COHORT_WORKFLOW, CONTACT_WORKFLOW
from app.runner.runnable import from_package
from app.runner.state import SENT, StateDb
from app.runner.status import Listed, format_counts, state_figures, step_counts, tally
from tests.runner_helpers import contacts_project, package_of


@pytest.fixture(scope="module")
def announcement(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The announcement journey compiled for the runner (announce -> clicked? -> launch -> launched)."""
    folder = tmp_path_factory.mktemp("status")
    db = folder / "contacts.jstudio"
    contacts_project(db, 3)
    return from_package(package_of(db, folder / "a.jpkg"))


def cohort(size: int, keys: dict[str, int], running: bool = True) -> Listed:
    """A cohort's workflow as the listing gives it: its tally in contacts."""
    return Listed(COHORT_WORKFLOW, running, False,
                  tally=(f"*{size}", *(f"{k}*{n}" for k, n in keys.items())))


class OneListingClient:
    """A Temporal client that answers one listing and refuses count queries (status must not make them)."""

    def __init__(self, workflows: list[Any]) -> None:
        self.workflows = workflows
        self.listings: list[str] = []

    async def count_workflows(self, query: str) -> Any:
        raise AssertionError(f"a count query per figure: {query}")

    def list_workflows(self, query: str, **_: Any) -> Any:
        self.listings.append(query)

        async def gen() -> Any:
            for wf in self.workflows:
                yield wf
        return gen()


def _execution(listed: Listed) -> Any:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import TypedSearchAttributes, SearchAttributePair
    from app.runner.workflows import OUTCOME, PATH, STEP, TALLY
    pairs = [SearchAttributePair(TALLY, list(listed.tally))] if listed.tally else []
    pairs += [SearchAttributePair(PATH, list(listed.path))] if listed.path else []
    pairs += [SearchAttributePair(STEP, listed.step)] if listed.step else []
    pairs += [SearchAttributePair(OUTCOME, listed.outcome)] if listed.outcome else []
    status = WorkflowExecutionStatus.RUNNING if listed.running else WorkflowExecutionStatus.COMPLETED
    return SimpleNamespace(workflow_type=listed.workflow_type, status=status,
                           typed_search_attributes=TypedSearchAttributes(pairs))


def test_status_makes_one_listing_not_a_query_per_figure(announcement: Any) -> None:
    r = announcement
    listed = [cohort(500, {"announce": 500, "announce=sent": 480, "announce=suppressed": 20, "clicked": 500,
                           "clicked=no": 400, "clicked=yes": 60, "@clicked": 40, "launch": 60, "@launch": 60,
                           "~running": 100, "=completed": 400}),
              Listed(CONTACT_WORKFLOW, False, False, "end", ("announce", "announce=sent", "clicked", "clicked=no"),
                     "completed")]
    client = OneListingClient([_execution(x) for x in listed])
    counts = asyncio.run(step_counts(client, r))  # type: ignore[arg-type]
    assert client.listings == [f"JourneyKey = '{r.key}'"]
    steps = {row["step"]: row for row in counts["steps"]}
    assert counts["enrolled"] == 501 and counts["outcomes"]["completed"] == 401
    assert (steps["announce"]["sent"], steps["clicked"]["no"], steps["clicked"]["waiting"]) == (481, 401, 40)
    assert [row["step"] for row in counts["funnel"]] == [s.id for s in r.plan.steps] + ["end"]


def test_the_table_follows_the_simulators_funnel(announcement: Any) -> None:
    r = announcement
    counts = tally(r, [cohort(10, {"announce": 10, "announce=sent": 9, "announce=no_address": 1, "clicked": 10,
                                   "clicked=no": 7, "clicked=yes": 3, "launch": 3, "launched": 3,
                                   "launched=sent": 3, "=completed": 10})])
    lines = format_counts(counts)
    head = next(line for line in lines if line.startswith("step"))
    assert head.split() == ["step", "type", "entered", "waiting", "sent", "suppressed", "no_address", "failed",
                            "capped", "yes", "no", "completed"]
    order = [line.split()[0] for line in lines[lines.index(head) + 1:]]
    assert order == ["announce", "clicked", "launch", "launched", "end"]  # the plan's order, the end last
    funnel = {row["step"]: row for row in counts["funnel"]}
    assert funnel["end"]["completed"] == 10 and funnel["announce"]["type"] == "email"


def test_a_listing_of_workflows_each_consistent_never_shows_a_child_above_its_parent(announcement: Any) -> None:
    """Cohorts move at their own pace; a listing reads each once, whole, so every sum keeps the funnel's order."""
    import random
    rng = random.Random(4)
    listed = []
    for _ in range(40):
        n = rng.randint(1, 500)
        sent = rng.randint(0, n)
        no = rng.randint(0, n)
        yes = rng.randint(0, n - no)
        launched = rng.randint(0, yes)
        listed.append(cohort(n, {"announce": n, "announce=sent": sent, "announce=suppressed": n - sent,
                                 "clicked": no + yes, "clicked=no": no, "clicked=yes": yes, "launch": yes,
                                 "launched": launched}))
    steps = {row["step"]: row for row in tally(announcement, listed)["steps"]}
    assert steps["clicked"]["entered"] <= steps["announce"]["entered"]
    assert steps["launch"]["entered"] <= steps["clicked"]["yes"]
    assert steps["launched"]["entered"] <= steps["launch"]["entered"]


def test_the_state_snapshot_taken_while_the_runner_writes_never_shows_more_sent_than_entered(
        tmp_path: Path) -> None:
    """The runner records a unit's enrolment, then (another transaction) its send: a reader that took the two
    figures in two transactions could see the send of a contact it did not see enter; one read transaction
    cannot."""
    state = StateDb(tmp_path / "run" / "runner.db")
    key, stop = "j-1:v1", threading.Event()
    seen: list[tuple[int, int]] = []

    def write() -> None:
        contact = 0
        while not stop.is_set() and contact < 3000:
            batch = list(range(contact + 1, contact + 21))
            contact += 20
            state.record_enrolments(key, 0, [(c, f"{key}:contact:{c}:it:0", 0) for c in batch])
            state.claim_many([{"key": f"{key}:contact:{c}:it:0:announce", "journey": key, "contact": c,
                               "iteration": 0, "step_id": "announce", "channel": "email", "transport_id": f"t{c}"}
                              for c in batch])
            state.mark_many([(f"{key}:contact:{c}:it:0:announce", SENT, 0) for c in batch])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while writer.is_alive():
            snap = state.snapshot(key)
            seen.append((snap["enrolled"], sum(snap["sends"].get("announce", {}).values())))
    finally:
        stop.set()
        writer.join()
    final = state.snapshot(key)
    state.close()
    assert len(seen) > 5 and all(sends <= enrolled for enrolled, sends in seen)
    assert final["enrolled"] == final["messages"]["sent"] == 3000
    assert any(0 < e < 3000 for e, _ in seen)  # some snapshots were taken mid-way


def test_state_figures_come_from_one_snapshot(tmp_path: Path) -> None:
    state = StateDb(tmp_path / "run" / "runner.db")
    key = "j-1:v1"
    state.record_enrolments(key, 0, [(1, "u1", 0), (2, "u2", 0)])
    state.claim_many([{"key": "u1:a", "journey": key, "contact": 1, "iteration": 0, "step_id": "a",
                       "channel": "email", "transport_id": "t1"}])
    state.fail("u1:a", "550 no such mailbox")
    state.dead_letter([{"contact": 9}], "unknown")
    figures = state_figures(state, key)
    assert figures["messages"] == state.message_counts(key)
    assert figures["failures"] == state.failures(key) and figures["failures"][0]["reason"] == "550 no such mailbox"
    assert figures["dead_letters"] == 1 and figures["events"] == state.event_counts()
    assert state.snapshot(key)["enrolled"] == 2
    state.close()


def test_a_run_that_is_over_answers_from_its_kept_counts_without_a_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run` keeps the counts of a run that reached its end; `status` reads them (no dev server started)."""
    from app.runner.status import keep_final_counts
    from tests.cli_helpers import run
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 3)
    pkg = package_of(db, tmp_path / "a.jpkg")
    r = from_package(pkg)
    state = Path(str(pkg) + ".run")
    StateDb(state / "runner.db").close()
    code, _, err = run(capsys, "status", pkg)  # no counts kept, no Temporal database: one line
    assert code == 2 and err.count("\n") == 1 and "Temporal" in err
    counts = tally(r, [cohort(3, {"announce": 3, "announce=sent": 3, "clicked": 3, "clicked=no": 3,
                                  "=completed": 3}, running=False)])
    keep_final_counts(state, counts)
    code, out, err = run(capsys, "status", state)
    assert code == 0, err
    assert out.startswith("The run is over (ended ") and "3 enrolled" in out
    assert not (state / "temporal.db").exists()
    other = tmp_path / "b.jpkg"
    other.write_bytes(pkg.read_bytes())
    code, out, err = run(capsys, "status", other, "--state-dir", state, "--json")
    assert code == 0 and json.loads(out)["final"] is True
