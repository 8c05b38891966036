"""The registry owns a tile type: how it runs, whether it acts once per account, its status line, its branch
figures and how the live runner carries it out. Plan, runner, canvas summary, report and branch figures read
that data, so a tile type added to the registry alone runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from app.model.journey import Journey, Schedule, Step, Trigger
from app.model.registry import END, REGISTRY, TILE_TYPES, LiveAction, Port, PropSpec, TileType
from app.semantics import outcomes as oc
from app.semantics.plan import Kind, compile_plan
from app.validation.checks import check_journey
from simulator.behaviour import BehaviourModel
from simulator.branches import AB_TEST_TYPES, BRANCH_TYPES
from simulator.engine import run
from simulator.reference_run import run_reference
from tests.sim_populations import synthetic

KINDS = {"message": {Kind.MESSAGE}, "wait": {Kind.WAIT_FOR, Kind.WAIT_UNTIL}, "action": {Kind.ACTION},
         "if-then": {Kind.IF_EVENT, Kind.IF_CONDITION, Kind.IF_SEGMENT}, "split": {Kind.SPLIT}, "exit": {Kind.EXIT}}
START = datetime(2027, 2, 1, 10, 0)


def _journey(*steps: Step, target: str = "contacts") -> Journey:
    j = Journey("j", "Registry", target=target,  # type: ignore[arg-type]
                schedule=Schedule(START, START + timedelta(days=20), "UTC"))
    for s in steps:
        j.add_step(s)
    return j


def test_every_tile_type_says_how_it_runs_and_has_a_status_line() -> None:
    for t in TILE_TYPES:
        assert t.execution in KINDS and t.summary is not None, t.id
        assert (t.channel is not None) == (t.execution == "message"), t.id
        assert (t.live is not None) == (t.execution == "action"), t.id  # every action runs live
        assert not t.per_account or t.execution == "action", t.id
    assert set(BRANCH_TYPES) == {"if-then", "random-split", "ab-split"} and AB_TEST_TYPES == ("ab-split",)


def test_the_plan_reads_the_execution_kind_and_per_account_from_the_registry() -> None:
    j = _journey(Step("t", "task", props={"subject": "Call"}, outputs={"next": "w"}),
                 Step("w", "webhook", props={"url": "https://example.com/h"}, outputs={"next": END}),
                 target="accounts")
    plan = compile_plan(j)
    by_id = {s.id: s for s in plan.steps}
    assert by_id["t"].kind == Kind.ACTION and by_id["t"].per_account  # a task: once per account
    assert by_id["w"].kind == Kind.ACTION and not by_id["w"].per_account  # a webhook: per contact


def test_a_tile_type_added_to_the_registry_alone_compiles_simulates_and_has_a_status_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    survey = TileType("survey", "Send survey invitation", "Actions", "task", "#0ea5e9", "Invite to a survey.",
                      props=(PropSpec("survey", "string", "Survey", required=True),),
                      ports=(Port("next", "next"),), per_account=True,
                      summary=lambda p: f"Survey: {p.get('survey') or '?'}",
                      live=LiveAction(kind="survey", subject_prop="survey"))
    monkeypatch.setitem(REGISTRY, "survey", survey)
    j = _journey(Step("s", "survey", props={"survey": "NPS"}, outputs={"next": END}))
    plan = compile_plan(j)
    assert plan.steps[0].kind == Kind.ACTION
    b = replace(BehaviourModel().neutral(), event_rates={})
    pop = synthetic(plan, 200, 1)
    for tr in (run(plan, pop, b, 2), run_reference(plan, pop, b, 2)):
        assert (tr.visits["outcome"][tr.visits["step"] == 0] == oc.DONE).all()
    tile = REGISTRY[j.step("s").type]  # what the canvas's status line reads (designer/canvas/summary.py)
    assert tile.summary is not None and tile.summary(j.step("s").props) == "Survey: NPS"


def test_what_the_live_runner_cannot_run_is_a_finding_with_its_step_and_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # an action tile the registry gives no live action: the simulator runs it, the runner cannot
    survey = TileType("survey", "Survey", "actions", "S", "#888", "Send a survey", ports=(Port("next", "next"),),
                      summary=lambda p: "Survey")
    monkeypatch.setitem(REGISTRY, "survey", survey)
    j = _journey(Step("s", "survey", outputs={"next": "m"}),
                 Step("m", "wait", props={"duration": timedelta(days=1)}, outputs={"next": END}), target="accounts")
    j.exit_when = (Trigger(segment="Churned", when="joins"),)
    for export in (False, True):
        found = {f.code: f for f in check_journey(j, for_export=export)}
        assert found["live-unsupported"].step == "s" and "Replace the Survey tile" in found["live-unsupported"].fix
        assert not found["live-unsupported"].is_error  # the package is still valid; the simulator runs it
        assert "live-accounts" not in found  # the runner runs account journeys (seed 003)
        assert "live-segment-trigger" not in found  # the runner looks at segments of exits and goals