"""Undoable edit commands: each do / undo / redo cycle, one transaction per step, and random edit sequences."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.codec.yamlio import read_journey_text
from app.errors import ModelError
from app.model.commands import (NO_MERGE, AddJourney, AddStep, Command, Connect, Disconnect, DuplicateJourney,
                                DuplicateSteps, InsertOnLink, MacroCommand, MoveSteps, PasteSteps, PutContent,
                                PutSegment, RemoveContent, RemoveJourney, RemoveSegment, RemoveSteps, RenameStep,
                                SetEntry, SetProps, UpdateJourney, copy_steps, steps_from_clipboard_text,
                                steps_to_clipboard_text)
from app.model.content import Content
from app.model.journey import Audience, Journey, Position, Schedule, Step, Trigger
from app.model.project import Project
from app.model.registry import END, REGISTRY
from app.model.segment import Segment
from tests.samples import ANNOUNCEMENT


State = tuple[list[Journey], dict[str, Content], dict[str, Segment]]


_BASE, _CONTENTS, _ = read_journey_text(ANNOUNCEMENT, journey_id="j1")  # parsed once: the schema check is slow
for _i, _step in enumerate(_BASE):
    _BASE.move_step(_step.id, Position(220.0 * _i, 0.0))


def base_journey(journey_id: str = "j1", name: str | None = None) -> Journey:
    """The announcement journey, its steps laid out left to right."""
    return _BASE.clone(id=journey_id, name=name)


def make_project() -> Project:
    """The announcement journey (j1), a second one with the same step ids (j2), and their content."""
    project = Project("Test")
    project.add_journey(base_journey("j1"))
    project.add_journey(base_journey("j2", "Follow-up"))
    for c in _CONTENTS:
        project.put_content(c)
    project.put_segment(Segment("Most valuable customers"))
    return project


def state(project: Project) -> State:
    return [j.clone() for j in project.journeys], dict(project.content), dict(project.segments)


class Commits:
    """Counts `project.committed` emissions (one per transaction)."""

    def __init__(self, project: Project) -> None:
        self.count = 0
        project.committed.connect(self._on)

    def _on(self, changes: list[Any]) -> None:
        self.count += 1

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def cycle(project: Project, command: Command, check: Callable[[Project], None] | None = None,
          rounds: int = 3) -> None:
    """do -> expected state (one commit); undo -> the state before (one commit); again, `rounds` times."""
    commits = Commits(project)
    before = state(project)
    command.do(project)
    assert commits.take() == 1
    after = state(project)
    assert after != before
    if check:
        assert check(project) is not False
    for _ in range(rounds):
        command.undo(project)
        assert commits.take() == 1
        assert state(project) == before
        command.do(project)
        assert commits.take() == 1
        assert state(project) == after
    command.undo(project)
    assert state(project) == before


def outputs(project: Project, step_id: str, journey_id: str = "j1") -> list[tuple[str, str]]:
    return list(project.journey(journey_id).step(step_id).outputs.items())


def order(project: Project, journey_id: str = "j1") -> list[str]:
    return list(project.journey(journey_id).steps)


def email(step_id: str, **outs: str) -> Step:
    return Step(step_id, "email", props={"content": "Product announcement email"}, outputs=dict(outs))


def wait(step_id: str, **outs: str) -> Step:
    return Step(step_id, "wait", props={"duration": timedelta(days=2)}, outputs=dict(outs))


# --- adding -------------------------------------------------------------------------------------------------------

def test_add_step_at_the_end_and_at_an_index() -> None:
    p = make_project()
    cmd = AddStep("j1", email("reminder"))
    assert cmd.text == "Add Send email"
    cycle(p, cmd, lambda p: order(p)[-1] == "reminder" and p.journey("j1").entry == "announce")
    cycle(p, AddStep("j1", wait("pause"), index=1), lambda p: order(p)[1] == "pause")


def test_add_step_from_a_free_port_links_it() -> None:
    p = make_project()

    def check(p: Project) -> None:
        assert outputs(p, "launched") == [("next", "thanks")]
        assert outputs(p, "thanks") == []
    cycle(p, AddStep("j1", email("thanks"), connect_from=("launched", "next")), check)


def test_add_step_that_brings_its_own_links() -> None:
    p = make_project()
    step = email("thanks", next="launch")
    cycle(p, AddStep("j1", step, connect_from=("launched", "next")),
          lambda p: outputs(p, "thanks") == [("next", "launch")] and outputs(p, "launched") == [("next", "thanks")])
    assert step.outputs == {"next": "launch"}  # the command works on its own copy


def test_add_step_dropped_on_a_linked_port_inserts_it() -> None:
    p = make_project()

    def check(p: Project) -> None:
        assert outputs(p, "clicked") == [("yes", "pause"), ("no", END)]
        assert outputs(p, "pause") == [("next", "launch")]
    cycle(p, AddStep("j1", wait("pause"), connect_from=("clicked", "yes")), check)


def test_add_step_explicit_connect_to_wins_over_the_takeover() -> None:
    p = make_project()

    def check(p: Project) -> None:
        assert outputs(p, "announce") == [("next", "pause")]
        assert outputs(p, "pause") == [("next", "launched")]
    cycle(p, AddStep("j1", wait("pause"), connect_from=("announce", "next"), connect_to=("next", "launched")), check)


def test_add_step_to_an_empty_journey_makes_it_the_entry() -> None:
    p = Project()
    p.add_journey(Journey("e", "Empty"))
    cycle(p, AddStep("e", email("first")), lambda p: p.journey("e").entry == "first")
    assert p.journey("e").entry is None


def test_add_step_refused_leaves_the_model_untouched() -> None:
    p = make_project()
    before, commits = state(p), Commits(p)
    with pytest.raises(ModelError):
        AddStep("j1", email("x", next="nowhere")).do(p)
    with pytest.raises(ModelError):
        AddStep("j1", email("announce")).do(p)
    with pytest.raises(ModelError):  # fails after the step was added: the command reverts itself
        AddStep("j1", email("x"), connect_from=("launched", "next"), connect_to=("nope", "launch")).do(p)
    assert state(p) == before
    assert commits.take() == 1  # only the last one got as far as changing (and reverting) the model


def test_insert_on_link() -> None:
    p = make_project()
    cmd = InsertOnLink("j1", wait("pause"), "clicked", "yes")
    assert cmd.text == "Insert Wait"

    def check(p: Project) -> None:
        assert order(p) == ["announce", "clicked", "pause", "launch", "launched"]
        assert outputs(p, "clicked") == [("yes", "pause"), ("no", END)]
        assert outputs(p, "pause") == [("next", "launch")]
    cycle(p, cmd, check)
    cycle(p, InsertOnLink("j1", wait("pause"), "clicked", "no"),
          lambda p: outputs(p, "pause") == [("next", END)])


def test_insert_on_link_needs_a_link_and_an_output() -> None:
    p = make_project()
    before = state(p)
    with pytest.raises(ModelError, match="no link"):
        InsertOnLink("j1", wait("pause"), "launched", "next").do(p)
    with pytest.raises(ModelError, match="no output"):
        InsertOnLink("j1", Step("stop", "exit"), "announce", "next").do(p)
    assert state(p) == before


# --- removing -----------------------------------------------------------------------------------------------------

def test_remove_one_step_restores_its_place_and_the_port_order_of_its_predecessor() -> None:
    p = make_project()
    cmd = RemoveSteps("j1", ["launch"])
    assert cmd.text == "Delete tile"

    def check(p: Project) -> None:
        assert order(p) == ["announce", "clicked", "launched"]
        assert outputs(p, "clicked") == [("no", END)]
    cycle(p, cmd, check)
    assert outputs(p, "clicked") == [("yes", "launch"), ("no", END)]


def branches_journey() -> Journey:
    """start -> split (A: a1 -> a2 (yes: join, no: tail), B: b1 -> join, C: end); join -> tail (an exit)."""
    j = Journey("b", "Branches")
    j.add_step(email("start", next="split"))
    j.add_step(Step("split", "random-split", props={"split": (40, 30, 30)},
                    outputs={"A": "a1", "B": "b1", "C": END}))
    j.add_step(wait("a1", next="a2"))
    j.add_step(Step("a2", "if-then", props={"segment": "VIP", "within": timedelta(days=1)},
                    outputs={"yes": "join", "no": "tail"}))
    j.add_step(wait("b1", next="join"))
    j.add_step(email("join", next="tail"))
    j.add_step(Step("tail", "exit"))
    return j


def branchy_project() -> Project:
    p = Project()
    p.add_journey(branches_journey())
    return p


def test_multi_delete_in_a_branching_chain_restores_order_and_links() -> None:
    p = branchy_project()
    before = state(p)
    cmd = RemoveSteps("b", ["a2", "split", "join"])
    assert cmd.text == "Delete 3 tiles"

    def check(p: Project) -> None:
        assert order(p, "b") == ["start", "a1", "b1", "tail"]
        for sid in ("start", "a1", "b1"):
            assert outputs(p, sid, "b") == []
        assert p.journey("b").predecessors("tail") == []
    cycle(p, cmd, check)
    assert state(p) == before
    assert outputs(p, "split", "b") == [("A", "a1"), ("B", "b1"), ("C", END)]
    assert sorted(p.journey("b").predecessors("join")) == [("a2", "yes"), ("b1", "next")]


def test_removing_the_entry_step_and_everything() -> None:
    p = make_project()
    cycle(p, RemoveSteps("j1", ["announce"]), lambda p: p.journey("j1").entry == "clicked")
    cycle(p, RemoveSteps("j1", list(order(p))), lambda p: p.journey("j1").entry is None)


def test_remove_with_heal_reconnects_a_chain() -> None:
    p = make_project()

    def check(p: Project) -> None:
        assert outputs(p, "clicked") == [("yes", "launched"), ("no", END)]  # the port keeps its place
    cycle(p, RemoveSteps("j1", ["launch"], heal=True), check)



def test_remove_the_entry_with_heal_passes_the_entry_to_its_successor() -> None:
    p = Project()
    j = Journey("o", "Order")
    j.add_step(email("c"))
    j.add_step(email("a", next="b"))
    j.add_step(wait("b", next="c"))
    j.set_entry("a")
    p.add_journey(j)
    cycle(p, RemoveSteps("o", ["a"], heal=True), lambda p: p.journey("o").entry == "b")
    cycle(p, RemoveSteps("o", ["a"]), lambda p: p.journey("o").entry == "c")
    cycle(p, RemoveSteps("o", ["a", "b"], heal=True), lambda p: p.journey("o").entry == "c")


def test_heal_goes_through_several_removed_steps_but_not_through_branches() -> None:
    p = branchy_project()

    def check(p: Project) -> None:
        assert outputs(p, "split", "b") == [("A", "a2"), ("B", "tail"), ("C", END)]
        assert outputs(p, "a2", "b") == [("yes", "tail"), ("no", "tail")]
    cycle(p, RemoveSteps("b", ["a1", "b1", "join"], heal=True), check)

    def check_branch(p: Project) -> None:  # a2 has two outputs: a1 loses its link
        assert outputs(p, "a1", "b") == []
    cycle(p, RemoveSteps("b", ["a2"], heal=True), check_branch)


# --- links --------------------------------------------------------------------------------------------------------

def test_connect_new_replacing_and_to_end() -> None:
    p = make_project()
    cycle(p, Connect("j1", "launched", "next", "announce"),
          lambda p: outputs(p, "launched") == [("next", "announce")])
    cycle(p, Connect("j1", "clicked", "yes", "launched"),
          lambda p: outputs(p, "clicked") == [("yes", "launched"), ("no", END)])
    cmd = Connect("j1", "launched", "next", END)
    assert cmd.text == "End path"
    cycle(p, cmd)
    with pytest.raises(ModelError):
        Connect("j1", "launched", "yes", "announce").do(p)


def test_disconnect_restores_the_port_in_its_place() -> None:
    p = make_project()
    cycle(p, Disconnect("j1", "clicked", "yes"),
          lambda p: outputs(p, "clicked") == [("no", END)])
    assert outputs(p, "clicked") == [("yes", "launch"), ("no", END)]
    commits = Commits(p)
    cmd = Disconnect("j1", "launched", "next")  # nothing to remove: no change, no transaction
    cmd.do(p)
    cmd.undo(p)
    assert commits.take() == 0


# --- properties, names, positions, entry --------------------------------------------------------------------------

def test_set_props_restores_values_and_links_a_smaller_split_dropped() -> None:
    p = branchy_project()
    cmd = SetProps("b", "split", {"split": (50, 50)})
    assert cmd.text == "Edit split"

    def check(p: Project) -> None:
        assert outputs(p, "split", "b") == [("A", "a1"), ("B", "b1")]
        assert p.journey("b").step("split").props["split"] == (50, 50)
    cycle(p, cmd, check)
    cycle(p, SetProps("b", "split", {"split": (50, 50, 0), "holdout": 5}))
    # the dropped path is not the last port: the restored outputs keep their order
    p.journey("b").disconnect("split", "A")
    p.journey("b").connect("split", "A", "a1")
    assert [port for port, _ in outputs(p, "split", "b")] == ["B", "C", "A"]
    cycle(p, SetProps("b", "split", {"split": (50, 50)}))


def test_set_props_clearing_a_property() -> None:
    p = make_project()
    cycle(p, SetProps("j1", "clicked", {"within": None, "segment": "VIP"}),
          lambda p: "within" not in p.journey("j1").step("clicked").props)


def test_set_props_keeps_its_own_copy_of_the_values() -> None:
    p = make_project()
    wait_for = {"event": "opened", "step": "announce"}
    cmd = SetProps("j1", "clicked", {"wait_for": wait_for})
    wait_for["event"] = "delivered"
    cmd.do(p)
    assert p.journey("j1").step("clicked").props["wait_for"]["event"] == "opened"


def test_rename_set_entry_move() -> None:
    p = make_project()
    cycle(p, RenameStep("j1", "clicked", "Clicked the link?"),
          lambda p: p.journey("j1").step("clicked").display_name == "Clicked the link?")
    cycle(p, SetEntry("j1", "launch"), lambda p: p.journey("j1").entry == "launch")
    cmd = MoveSteps("j1", {"announce": Position(5, 5), "launch": None})
    assert cmd.text == "Move 2 tiles"
    cycle(p, cmd, lambda p: p.journey("j1").step("launch").position is None)


def test_moves_of_the_same_steps_merge_into_one_undo_entry() -> None:
    p = make_project()
    start = state(p)
    first = MoveSteps("j1", {"announce": Position(10, 10), "clicked": Position(230, 10)})
    first.do(p)
    for k in range(2, 6):
        nxt = MoveSteps("j1", {"announce": Position(10 * k, 10), "clicked": Position(220 + 10 * k, 10)})
        nxt.do(p)  # QUndoStack: redo the new command, then offer it to the top one
        assert first.merge_id == nxt.merge_id != NO_MERGE
        assert first.merge_with(nxt)
    moved = state(p)
    assert p.journey("j1").step("announce").position == Position(50, 10)
    first.undo(p)
    assert state(p) == start
    first.do(p)
    assert state(p) == moved
    assert not first.merge_with(MoveSteps("j1", {"announce": Position(0, 0)}))
    assert not first.merge_with(MoveSteps("j2", {"announce": Position(0, 0), "clicked": Position(0, 0)}))
    assert not first.merge_with(Connect("j1", "launched", "next", END))
    apart = MoveSteps("j1", {"announce": Position(0, 0), "clicked": Position(0, 0)})
    apart.merge_id = NO_MERGE
    assert not first.merge_with(apart)


# --- copy, paste, duplicate ---------------------------------------------------------------------------------------

def test_paste_into_another_journey_remaps_ids_and_links() -> None:
    p = make_project()
    clip = copy_steps(p.journey("j1"), ["launch", "clicked", "announce"])
    assert [s.id for s in clip] == ["announce", "clicked", "launch"]  # journey order
    cmd = PasteSteps("j2", clip, offset=(0, 300))
    assert cmd.text == "Paste 3 tiles"

    def check(p: Project) -> None:
        j2 = p.journey("j2")
        assert cmd.new_ids == ["announce_2", "clicked_2", "launch_2"]
        assert order(p, "j2")[-3:] == cmd.new_ids
        assert outputs(p, "announce_2", "j2") == [("next", "clicked_2")]
        assert outputs(p, "clicked_2", "j2") == [("yes", "launch_2"), ("no", END)]
        assert outputs(p, "launch_2", "j2") == []  # launched was not copied
        assert j2.step("clicked_2").props["wait_for"]["step"] == "announce_2"
        assert j2.step("launch_2").position == Position(440, 300)
        assert j2.entry == "announce"
    cycle(p, cmd, check)
    assert p.journey("j1") == base_journey("j1")  # the copies are deep: the source is untouched


def test_paste_keeps_references_to_steps_left_behind() -> None:
    p = make_project()
    cmd = PasteSteps("j1", copy_steps(p.journey("j1"), ["clicked"]))

    def check(p: Project) -> None:
        assert outputs(p, "clicked_2") == [("no", END)]
        assert p.journey("j1").step("clicked_2").props["wait_for"]["step"] == "announce"
    cycle(p, cmd, check)


def test_paste_into_an_empty_journey_of_another_project_via_clipboard_text() -> None:
    p = make_project()
    text = steps_to_clipboard_text(copy_steps(p.journey("j1"), ["announce", "clicked", "launch", "launched"]))
    other = Project("Other")
    other.add_journey(Journey("new", "New"))
    steps = steps_from_clipboard_text(text)
    assert [(s.id, s.type, s.props, s.outputs, s.position) for s in steps] == [
        (s.id, s.type, s.props, s.outputs, s.position) for s in p.journey("j1")]

    def check(q: Project) -> None:
        j = q.journey("new")
        assert list(j.steps) == ["announce", "clicked", "launch", "launched"]
        assert j.entry == "announce"
        assert [(s.id, s.props, s.outputs, s.position) for s in j] == [
            (s.id, s.props, s.outputs, s.position) for s in p.journey("j1")]
    cycle(other, PasteSteps("new", steps), check)


@pytest.mark.parametrize("text", ["", "hello", "[1, 2]", '{"format": "journey/1"}',
                                  '{"format": "journey-steps/1", "steps": {"a": {"type": "nope"}}}',
                                  '{"format": "journey-steps/1", "steps": {"a": {"type": "wait"}}, '
                                  '"layout": {"a": [1]}}'])
def test_clipboard_text_that_is_not_steps(text: str) -> None:
    with pytest.raises(ModelError):
        steps_from_clipboard_text(text)


def test_duplicate_steps() -> None:
    p = make_project()
    cmd = DuplicateSteps("j1", ["launch", "launched"])
    assert cmd.text == "Duplicate 2 tiles"

    def check(p: Project) -> None:
        assert order(p)[-2:] == ["launch_2", "launched_2"]
        assert outputs(p, "launch_2") == [("next", "launched_2")]
        assert p.journey("j1").step("launched_2").position == Position(700, 40)
    cycle(p, cmd, check)
    with pytest.raises(ModelError):
        PasteSteps("j1", [email("a"), email("a")])


# --- journeys, content, segments ----------------------------------------------------------------------------------

def test_update_journey_settings() -> None:
    p = make_project()
    cmd = UpdateJourney("j1", audience=Audience(segments=("New",)), exit_when=[Trigger(event="unsubscribe")],
                        schedule=Schedule(start=datetime(2027, 1, 1, 9), timezone="UTC"))
    cycle(p, cmd, lambda p: p.journey("j1").exit_when == (Trigger(event="unsubscribe"),))
    cycle(p, UpdateJourney("j1", name="Launch"), lambda p: p.journey("Launch").id == "j1")
    assert p.journey("Product announcement").id == "j1"


def test_update_journey_to_a_taken_name_changes_nothing() -> None:
    p = make_project()
    before = state(p)
    with pytest.raises(ModelError, match="already"):
        UpdateJourney("j1", name="Follow-up", description="changed").do(p)
    assert state(p) == before
    with pytest.raises(ModelError, match="unknown"):
        UpdateJourney("j1", colour="red")


def test_add_remove_duplicate_journey() -> None:
    p = make_project()
    p.add_journey(base_journey("j3", "Third"))
    cycle(p, RemoveJourney("j2"), lambda p: [j.id for j in p.journeys] == ["j1", "j3"])
    assert [j.id for j in p.journeys] == ["j1", "j2", "j3"]
    assert p.journey("j2") == base_journey("j2", "Follow-up")
    cycle(p, AddJourney(Journey("j4", "Fourth")), lambda p: p.journeys[-1].id == "j4")
    dup = DuplicateJourney("j1")

    def check(p: Project) -> None:
        copy = p.journeys[1]
        assert copy.name == "Product announcement (copy)" and copy.id not in ("j1", "j2", "j3")
        assert copy.id == dup.copy.id  # type: ignore[union-attr]
        assert copy.clone(id="j1", name="Product announcement") == p.journey("j1")
    cycle(p, dup, check)


def test_content_and_segments() -> None:
    p = make_project()
    cycle(p, PutContent(Content("Reminder", "email", subject="Still there?")),
          lambda p: "Reminder" in p.content)
    cycle(p, PutContent(Content("Product launched text", "sms", text="Changed")),
          lambda p: p.content["Product launched text"].text == "Changed")
    cycle(p, RemoveContent("Product launched text"))
    cycle(p, PutSegment(Segment("VIP")))
    cycle(p, PutSegment(Segment("Most valuable customers", kind="static")))
    cycle(p, RemoveSegment("Most valuable customers"))
    with pytest.raises(ModelError):
        RemoveContent("nothing").do(p)


# --- macros and the command contract ------------------------------------------------------------------------------

def test_macro_is_one_transaction_and_reverts_when_a_part_fails() -> None:
    p = make_project()
    macro = MacroCommand("Add and link", [AddStep("j1", email("thanks")), Connect("j1", "launched", "next", "thanks"),
                                          MoveSteps("j1", {"thanks": Position(900, 0)})])
    cycle(p, macro, lambda p: outputs(p, "launched") == [("next", "thanks")])
    before, commits = state(p), Commits(p)
    bad = MacroCommand("Bad", [AddStep("j1", email("x")), Connect("j1", "x", "next", "nowhere")])
    with pytest.raises(ModelError):
        bad.do(p)
    assert state(p) == before
    assert commits.take() == 1  # the edit and its reversal went out as one (net empty) group


def test_do_twice_or_undo_before_do_is_refused() -> None:
    p = make_project()
    cmd = RenameStep("j1", "announce", "Hello")
    with pytest.raises(ModelError):
        cmd.undo(p)
    cmd.do(p)
    with pytest.raises(ModelError):
        cmd.do(p)


# --- a big journey ------------------------------------------------------------------------------------------------

def big_project(n: int = 1000) -> Project:
    p = Project()
    j = Journey("big", "Big")
    for i in range(n):
        j.add_step(Step(f"s{i}", "wait", props={"duration": timedelta(hours=1)},
                        outputs={"next": f"s{i + 1}"} if i + 1 < n else {}, position=Position(i * 10.0, 0)))
    p.add_journey(j)
    return p


def test_edits_on_a_1000_step_journey_undo_exactly() -> None:
    p = big_project()
    mid = [f"s{i}" for i in range(500, 510)]
    commands: list[Command] = [
        AddStep("big", wait("new"), index=500, connect_from=("s499", "next")),
        InsertOnLink("big", wait("new"), "s500", "next"),
        RemoveSteps("big", ["s500"]),
        RemoveSteps("big", mid, heal=True),
        Connect("big", "s10", "next", "s900"),
        Disconnect("big", "s10", "next"),
        SetProps("big", "s10", {"duration": timedelta(days=3)}),
        MoveSteps("big", {s: Position(0, 0) for s in mid}),
        DuplicateSteps("big", mid),
    ]
    before = state(p)
    for cmd in commands:  # (how long each takes: benchmarks/bench_foundation.py)
        cmd.do(p)
        cmd.undo(p)
    assert state(p) == before


# --- random edit sequences ----------------------------------------------------------------------------------------

TEXT = st.text("abcdefgh XYZ", min_size=1, max_size=8)
MESSAGE_TYPES = [t for t, tile in REGISTRY.items() if tile.is_message]


def prop_value(data: st.DataObject, project: Project, journey: Journey, kind: str, spec: Any) -> Any:
    """A value of a property kind (or None, which clears the property)."""
    if data.draw(st.integers(0, 6)) == 0:
        return None
    if kind in ("string", "text", "segment"):
        return data.draw(TEXT)
    if kind in ("int", "percent"):
        return data.draw(st.integers(0, 99))
    if kind == "duration":
        return timedelta(hours=data.draw(st.integers(1, 200)))
    if kind == "datetime":
        return datetime(2026, 12, data.draw(st.integers(1, 28)), 9)
    if kind == "bool":
        return data.draw(st.booleans())
    if kind == "choice":
        return data.draw(st.sampled_from(spec.choices))
    if kind == "content":
        return data.draw(st.sampled_from(sorted(project.content) + ["Missing"]))
    if kind == "wait_for":
        return {"event": "opened", "step": data.draw(st.sampled_from(list(journey.steps)))}
    if kind == "condition":
        return {"attribute": "city", "op": "equals", "value": data.draw(TEXT)}
    if kind == "percent_list":  # the number of paths decides the split's ports
        n = data.draw(st.integers(2, 4))
        return tuple([100 // n] * n)
    raise AssertionError(kind)


def new_step(data: st.DataObject, journey: Journey, *, with_ports: bool = False) -> Step:
    """A new step of a random type, sometimes already linked to an existing step."""
    types = [t for t in REGISTRY if REGISTRY[t].ports_for(REGISTRY[t].defaults()) or not with_ports]
    type_id = data.draw(st.sampled_from(types))
    step = Step(journey.new_step_id(type_id), type_id, props=REGISTRY[type_id].defaults(),
                position=Position(data.draw(st.integers(0, 2000)), 0))
    if type_id in MESSAGE_TYPES:
        step.props["content"] = "Product announcement email"
    if step.ports() and journey.steps and data.draw(st.booleans()):
        step.outputs[step.ports()[0].id] = data.draw(st.sampled_from([*journey.steps, END]))
    return step


SPLITS = ("ab-split", "random-split")


def draw_command(data: st.DataObject, project: Project, last: Command | None) -> Command | None:
    """A random edit that is valid in the current state (None when the drawn kind has no target)."""
    jid = data.draw(st.sampled_from([x.id for x in project.journeys]))
    j = project.journey(jid)
    ids = list(j.steps)
    with_ports = [s for s in ids if j.step(s).ports()]
    links = list(j.links())
    kind = data.draw(st.sampled_from([
        "add", "add_linked", "insert", "remove", "connect", "disconnect", "set_props", "resplit", "rename", "move",
        "move_again", "paste", "paste_text", "duplicate", "update", "entry", "content", "macro", "journey"]))
    needs_steps = kind not in ("add", "paste", "paste_text", "update", "content", "journey", "move_again")
    if needs_steps and not ids:
        return None
    some = st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True) if ids else st.just([])
    if kind == "add":
        return AddStep(jid, new_step(data, j), index=data.draw(st.none() | st.integers(0, len(ids))))
    if kind == "add_linked":
        if not with_ports:
            return None
        src = data.draw(st.sampled_from(with_ports))
        port = data.draw(st.sampled_from([p.id for p in j.step(src).ports()]))
        step = new_step(data, j)
        to = None
        if step.ports() and data.draw(st.booleans()):
            to = (step.ports()[-1].id, data.draw(st.sampled_from(ids + [END])))
        return AddStep(jid, step, connect_from=(src, port), connect_to=to)
    if kind == "insert":
        if not links:
            return None
        src, port, _ = data.draw(st.sampled_from(links))
        return InsertOnLink(jid, new_step(data, j, with_ports=True), src, port)
    if kind == "remove":
        return RemoveSteps(jid, data.draw(some), heal=data.draw(st.booleans()))
    if kind == "connect":
        if not with_ports:
            return None
        src = data.draw(st.sampled_from(with_ports))
        port = data.draw(st.sampled_from([p.id for p in j.step(src).ports()]))
        targets = [s for s in ids if s != src] + [END]
        return Connect(jid, src, port, data.draw(st.sampled_from(targets)))
    if kind == "disconnect":
        if not links:
            return None
        src, port, _ = data.draw(st.sampled_from(links))
        return Disconnect(jid, src, port)
    if kind == "set_props":
        sid = data.draw(st.sampled_from(ids))
        specs = REGISTRY[j.step(sid).type].props
        if not specs:
            return None
        chosen = data.draw(st.lists(st.sampled_from(specs), min_size=1, max_size=2, unique_by=lambda s: s.name))
        return SetProps(jid, sid, {s.name: prop_value(data, project, j, s.kind, s) for s in chosen})
    if kind == "resplit":  # fewer paths drop the links of the lost ones
        splits = [s for s in ids if j.step(s).type in SPLITS]
        if not splits:
            return None
        n = data.draw(st.integers(0, 4))
        return SetProps(jid, data.draw(st.sampled_from(splits)), {"split": tuple([100 // n] * n) if n else None})
    if kind == "rename":
        return RenameStep(jid, data.draw(st.sampled_from(ids)), data.draw(st.just("") | TEXT))
    if kind in ("move", "move_again"):
        if kind == "move_again" and isinstance(last, MoveSteps):
            jid, keys = last.journey_id, list(last.positions)  # the next event of the same drag
        elif ids:
            keys = data.draw(some)
        else:
            return None
        return MoveSteps(jid, {s: Position(data.draw(st.integers(-500, 500)), data.draw(st.integers(-500, 500)))
                               for s in keys})
    if kind in ("paste", "paste_text"):
        sources = [x for x in project.journeys if len(x)]
        if not sources:
            return None
        source = data.draw(st.sampled_from(sources))
        picked = data.draw(st.lists(st.sampled_from(list(source.steps)), min_size=1, max_size=4, unique=True))
        clip = copy_steps(source, picked)
        if kind == "paste_text":
            clip = steps_from_clipboard_text(steps_to_clipboard_text(clip))
        return PasteSteps(jid, clip, offset=(data.draw(st.integers(0, 100)), 40))
    if kind == "duplicate":
        return DuplicateSteps(jid, data.draw(some))
    if kind == "update":
        return UpdateJourney(jid, **data.draw(st.sampled_from([
            {"audience": Audience(segments=("VIP",), exclude=("Do not contact",))},
            {"description": "Edited"},
            {"schedule": Schedule(start=datetime(2027, 2, 1, 9), timezone="UTC")},
            {"exit_when": [Trigger(segment="VIP", when="leaves")], "goal": Trigger(event="purchase")},
            {"name": f"Renamed {jid}"},
        ])))
    if kind == "entry":
        return SetEntry(jid, data.draw(st.sampled_from(ids)))
    if kind == "content":
        if project.content and data.draw(st.booleans()):
            return RemoveContent(data.draw(st.sampled_from(sorted(project.content))))
        return PutContent(Content(data.draw(st.sampled_from(["Product launched text", "Extra"])), "sms",
                                  text=data.draw(TEXT)))
    if kind == "macro":
        step = new_step(data, j)
        src = data.draw(st.sampled_from(with_ports)) if with_ports else None
        parts: list[Command] = [AddStep(jid, step)]
        if src is not None:
            parts.append(Connect(jid, src, j.step(src).ports()[0].id, step.id))
        return MacroCommand("Add and link", parts)
    assert kind == "journey"
    if len(project.journeys) > 1 and data.draw(st.booleans()):
        return RemoveJourney(jid)
    return DuplicateJourney(jid)


def one_transaction(commits: int, before: State, after: State) -> bool:
    """One committed group, or none when the command changed nothing."""
    return commits == 1 or (commits == 0 and before == after)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edit_sequences_undo_to_the_original_and_redo_to_the_edited(data: st.DataObject) -> None:
    project = make_project()
    project.add_journey(branches_journey())
    commits = Commits(project)
    stack: list[Command] = []
    states = [state(project)]
    for _ in range(data.draw(st.integers(1, 14), label="edits")):
        command = draw_command(data, project, stack[-1] if stack else None)
        if command is None:
            continue
        command.do(project)
        assert commits.take() <= 1
        top = stack[-1] if stack else None
        # as QUndoStack does: the new command is done, then offered to the top command for merging
        if top is not None and top.merge_id != NO_MERGE and top.merge_id == command.merge_id \
                and top.merge_with(command):
            states[-1] = state(project)
        else:
            stack.append(command)
            states.append(state(project))
    for _ in range(2):
        for i in reversed(range(len(stack))):
            stack[i].undo(project)
            assert one_transaction(commits.take(), states[i + 1], states[i])
            assert state(project) == states[i]
        assert state(project) == states[0]
        for i, command in enumerate(stack):
            command.do(project)
            assert one_transaction(commits.take(), states[i], states[i + 1])
            assert state(project) == states[i + 1]
        assert state(project) == states[-1]


def test_a_taken_name_refuses_the_whole_settings_change() -> None:
    """Journey.update checks the name before changing anything, so no setting is left half-changed."""
    from app.errors import ModelError
    from app.model.journey import Journey
    from app.model.project import Project
    p = Project()
    a, b = Journey("a", "First"), Journey("b", "Second")
    p.add_journey(a)
    p.add_journey(b)
    seen: list[object] = []
    p.changed.connect(seen.append)
    with pytest.raises(ModelError, match="already in the project"):
        b.update(name="First", description="changed")
    assert (b.name, b.description, seen) == ("Second", "", [])
    removed = p.remove_journey("a")
    removed.update(name="Second")  # outside the project no name is taken
    assert removed.name == "Second"
