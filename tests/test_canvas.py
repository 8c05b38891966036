"""The journey canvas, driven offscreen: it mirrors the model, and every gesture becomes one undoable command."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.model.commands import (AddJourney, AddStep, Connect, Disconnect, MoveSteps, RemoveSteps, RenameStep,
                                SetProps)
from app.model.journey import Journey, Position, Step
from app.model.layout import layered_layout
from app.model.registry import END
from designer.canvas import DropTarget
from designer.canvas.geometry import TILE_H, TILE_W
from designer.canvas.items import EdgeItem, TileItem
from designer.mime import STEPS_MIME
from tests.canvas_helpers import Canvas, assert_mirrors, drag_tile, make_canvas

pytestmark = pytest.mark.gui
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def canvas(qtbot, tmp_path: Path) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    yield c
    c.doc.close()


def empty_spot(c: Canvas) -> QPointF:
    """A scene point well below the journey, on no tile or link."""
    rect = c.scene.content_rect()
    return QPointF(rect.center().x(), rect.bottom() + 160.0)


# --- mirroring ------------------------------------------------------------------------------------------------

def test_scene_mirrors_the_journey_it_opens(canvas: Canvas) -> None:
    assert_mirrors(canvas)
    assert len(canvas.scene.tile_items()) == 4 and len(canvas.scene.edge_items()) == 4
    assert canvas.scene.edge_item("clicked", "no").target is None  # drawn as an end stub
    assert canvas.scene.tile_item("announce").is_entry
    assert canvas.scene.tile_item("clicked").status_text == "product-details clicked within 1 day"
    assert canvas.scene.tile_item("launch").status_text == "until 10 Dec 09:00"
    assert canvas.scene.edge_item("clicked", "yes").label == "yes"


def test_steps_without_position_are_laid_out_without_a_command(qtbot, tmp_path: Path) -> None:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", empty_journey="Plain")
    j = c.journey
    with c.doc.project.batch():
        j.add_step(Step("a", "email", outputs={}))
        j.add_step(Step("b", "wait"))
        j.connect("a", "next", "b")
    c.scene.rebuild()
    assert all(s.position is None for s in j)
    assert c.doc.undo_stack.count() == 0
    layout = layered_layout(j)
    assert c.scene.tile_pos("b").x() - c.scene.tile_pos("a").x() == layout["b"].x - layout["a"].x
    assert_mirrors(c)
    c.doc.close()


def test_model_changes_update_only_the_items_concerned(canvas: Canvas) -> None:
    tile = canvas.scene.tile_item("launch")
    edge = canvas.scene.edge_item("announce", "next")
    canvas.doc.run(SetProps(canvas.journey.id, "launch", {"until": None, "duration": timedelta(days=5)}))
    canvas.doc.run(RenameStep(canvas.journey.id, "launched", "Launch text"))
    assert canvas.scene.tile_item("launch") is tile and canvas.scene.edge_item("announce", "next") is edge
    assert tile.status_text == "for 5 days"
    assert canvas.scene.tile_item("launched").name == "Launch text"
    canvas.scene.set_status_lines({"launch": "120 waiting"})
    assert tile.status_text == "120 waiting"
    canvas.scene.set_status_lines({})
    assert tile.status_text == "for 5 days"
    assert_mirrors(canvas)


def test_badges_follow_the_check_for_errors(canvas: Canvas) -> None:
    assert canvas.scene.tile_item("launched").findings_count == (0, 0)
    canvas.doc.run(SetProps(canvas.journey.id, "launched", {"content": "No such text"}))
    canvas.doc.refresh_findings()
    errors, _ = canvas.scene.tile_item("launched").findings_count
    assert errors >= 1
    assert "does not exist" in canvas.scene.tile_item("launched").tooltip()
    canvas.doc.undo_stack.undo()
    canvas.doc.refresh_findings()
    assert canvas.scene.tile_item("launched").findings_count == (0, 0)


def test_random_edits_and_undos_keep_the_scene_in_step(canvas: Canvas) -> None:
    rng = random.Random(7)
    jid = canvas.journey.id
    for k in range(40):
        j = canvas.journey
        ids = list(j.steps)
        roll = rng.random()
        if roll < 0.3 or not ids:
            source = rng.choice(ids) if ids else None
            ports = [p.id for p in j.step(source).ports()] if source else []
            canvas.doc.run(AddStep(jid, Step(j.new_step_id("wait"), "wait", position=Position(k * 30.0, 400.0)),
                                   connect_from=(source, ports[0]) if ports else None))
        elif roll < 0.45:
            canvas.doc.run(RemoveSteps(jid, rng.sample(ids, min(len(ids), rng.randint(1, 2))), heal=rng.random() < .5))
        elif roll < 0.6 and len(ids) > 1:
            a, b = rng.sample(ids, 2)
            ports = [p.id for p in j.step(a).ports()]
            if ports:
                canvas.doc.run(Connect(jid, a, rng.choice(ports), rng.choice([b, END])))
        elif roll < 0.7:
            source = rng.choice(ids)
            for port in list(j.step(source).outputs)[:1]:
                canvas.doc.run(Disconnect(jid, source, port))
        elif roll < 0.8:
            canvas.doc.run(MoveSteps(jid, {rng.choice(ids): Position(rng.uniform(-500, 500), rng.uniform(-300, 300))}))
        else:
            canvas.doc.undo_stack.undo()
        assert_mirrors(canvas)
    while canvas.doc.undo_stack.canUndo():
        canvas.doc.undo_stack.undo()
        assert_mirrors(canvas)


# --- drag and drop from the palette ---------------------------------------------------------------------------

def test_drop_on_empty_canvas_adds_the_tile_there(canvas: Canvas) -> None:
    spot = empty_spot(canvas)
    target = drag_tile(canvas, "push", canvas.view_pos(spot))
    assert target is None
    j = canvas.journey
    new = [s for s in j if s.type == "push"]
    assert len(new) == 1 and not j.predecessors(new[0].id) and not new[0].outputs
    pos = new[0].position
    assert pos is not None and abs(pos.x + TILE_W / 2 - spot.x()) <= 2 and abs(pos.y + TILE_H / 2 - spot.y()) <= 2
    assert canvas.doc.undo_stack.count() == 1
    assert canvas.scene.selected_step_ids() == [new[0].id]
    assert_mirrors(canvas)
    canvas.doc.undo_stack.undo()
    assert not [s for s in canvas.journey if s.type == "push"]
    assert_mirrors(canvas)


def test_drop_on_a_port_adds_after_it(canvas: Canvas) -> None:
    target = drag_tile(canvas, "wait", canvas.port_pos("launched", "next"), drop=False)
    assert target == DropTarget("port", "launched", "next")
    assert canvas.scene.tile_item("launched")._drop_port == "next"  # highlighted while hovering
    drag_tile(canvas, "wait", canvas.port_pos("launched", "next"))
    assert canvas.scene.drop_target is None
    new = canvas.journey.step("launched").outputs["next"]
    assert canvas.journey.step(new).type == "wait"
    assert canvas.scene.tile_pos(new).x() > canvas.scene.tile_pos("launched").x() + TILE_W
    assert_mirrors(canvas)


def test_drop_on_a_linked_port_takes_over_its_link(canvas: Canvas) -> None:
    drag_tile(canvas, "sms", canvas.port_pos("announce", "next"))
    new = canvas.journey.step("announce").outputs["next"]
    assert canvas.journey.step(new).outputs == {"next": "clicked"}
    assert_mirrors(canvas)


def test_drop_on_a_link_inserts_into_it(canvas: Canvas) -> None:
    edge = canvas.scene.edge_item("clicked", "yes")
    at = canvas.view_pos(edge.point_at(0.5))
    assert drag_tile(canvas, "email", at, drop=False) == DropTarget("edge", "clicked", "yes")
    assert edge._drop
    drag_tile(canvas, "email", at)
    new = canvas.journey.step("clicked").outputs["yes"]
    assert canvas.journey.step(new).type == "email" and canvas.journey.step(new).outputs == {"next": "launch"}
    assert canvas.doc.undo_stack.undoText().startswith("Insert")
    assert_mirrors(canvas)
    canvas.doc.undo_stack.undo()
    assert canvas.journey.step("clicked").outputs["yes"] == "launch"
    assert_mirrors(canvas)


# --- mouse gestures -------------------------------------------------------------------------------------------

def test_drag_from_a_port_to_a_tile_links_them(canvas: Canvas, qtbot) -> None:
    jid = canvas.journey.id
    canvas.doc.run(AddStep(jid, Step("bye", "exit", position=Position(1000.0, 200.0))))
    canvas.view.centerOn(QPointF(900.0, 120.0))
    vp = canvas.view.viewport()
    start, end = canvas.port_pos("launched", "next"), canvas.tile_center("bye")
    qtbot.mousePress(vp, LEFT, pos=start)
    qtbot.mouseMove(vp, pos=(start + end) / 2)
    qtbot.mouseMove(vp, pos=end)
    assert canvas.scene.tile_item("bye")._link_target
    qtbot.mouseRelease(vp, LEFT, pos=end)
    assert canvas.journey.step("launched").outputs == {"next": "bye"}
    assert canvas.doc.undo_stack.undoText() == "Link tiles"
    assert not canvas.scene.tile_item("bye")._link_target
    assert_mirrors(canvas)
    # Released over empty canvas: nothing happens.
    count = canvas.doc.undo_stack.count()
    start = canvas.port_pos("bye", "next") if canvas.journey.step("bye").ports() else canvas.port_pos("clicked", "no")
    qtbot.mousePress(vp, LEFT, pos=start)
    qtbot.mouseMove(vp, pos=start + QPoint(30, 150))
    qtbot.mouseRelease(vp, LEFT, pos=start + QPoint(30, 150))
    assert canvas.doc.undo_stack.count() == count
    assert not [i for i in canvas.scene.items() if not isinstance(i, (TileItem, EdgeItem))]


def test_dragging_tiles_is_one_move_command(canvas: Canvas, qtbot) -> None:
    vp = canvas.view.viewport()
    canvas.scene.select_steps(["announce", "clicked"])
    before = {sid: canvas.journey.step(sid).position for sid in ("announce", "clicked")}
    start = canvas.tile_center("announce")
    qtbot.mousePress(vp, LEFT, pos=start)
    for k in range(1, 6):
        qtbot.mouseMove(vp, pos=start + QPoint(8 * k, 12 * k))
    qtbot.mouseRelease(vp, LEFT, pos=start + QPoint(40, 60))
    stack = canvas.doc.undo_stack
    assert stack.count() == 1 and stack.undoText() == "Move 2 tiles"
    for sid in ("announce", "clicked"):
        assert canvas.journey.step(sid).position == Position(before[sid].x + 40, before[sid].y + 60)
    assert_mirrors(canvas)
    stack.undo()
    assert {sid: canvas.journey.step(sid).position for sid in before} == before
    assert_mirrors(canvas)


def test_click_selects_and_ctrl_click_adds_to_the_selection(canvas: Canvas, qtbot) -> None:
    vp = canvas.view.viewport()
    qtbot.mouseClick(vp, LEFT, pos=canvas.tile_center("announce"))
    assert canvas.scene.selected_step_ids() == ["announce"]
    qtbot.mouseClick(vp, LEFT, Qt.KeyboardModifier.ControlModifier, pos=canvas.tile_center("launch"))
    assert canvas.scene.selected_step_ids() == ["announce", "launch"]
    assert canvas.doc.undo_stack.count() == 0  # clicking is not moving


def test_wheel_zooms_around_the_pointer_within_limits(canvas: Canvas) -> None:
    view = canvas.view
    at = canvas.tile_center("clicked")
    under = view.mapToScene(at)

    def wheel(delta: int) -> None:
        event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(), QPoint(0, delta),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(view.viewport(), event)

    wheel(240)
    assert view.zoom > 1.2
    assert (view.mapToScene(at) - under).manhattanLength() < 3  # the point under the pointer stays put
    for _ in range(20):
        wheel(1200)
    assert view.zoom == pytest.approx(4.0)
    for _ in range(40):
        wheel(-1200)
    assert view.zoom == pytest.approx(0.1)
    view.fit()
    assert view.visible_scene_rect().contains(canvas.scene.content_rect())
    view.zoom_in()
    view.reset_zoom()
    assert view.zoom == 1.0


def test_middle_drag_pans_and_minimap_navigates(canvas: Canvas, qtbot) -> None:
    view, vp = canvas.view, canvas.view.viewport()
    before = view.visible_center()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=QPoint(500, 300))
    qtbot.mouseMove(vp, pos=QPoint(400, 250))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=QPoint(400, 250))
    moved = view.visible_center() - before
    assert (moved.x(), moved.y()) == pytest.approx((100, 50), abs=2)
    qtbot.keyPress(view, Qt.Key.Key_Space)  # space + left drag pans too, and selects nothing
    qtbot.mousePress(vp, LEFT, pos=canvas.tile_center("clicked"))
    qtbot.mouseMove(vp, pos=canvas.tile_center("clicked") + QPoint(-60, 0))
    qtbot.mouseRelease(vp, LEFT, pos=canvas.tile_center("clicked") + QPoint(-60, 0))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert (view.visible_center() - before).x() == pytest.approx(160, abs=3)
    assert canvas.scene.selected_step_ids() == [] and canvas.doc.undo_stack.count() == 0
    view.set_zoom(2.0)
    assert view.minimap.isVisible()  # part of the journey is out of sight
    target = canvas.scene.tile_pos("launched") + QPointF(100, 42)
    qtbot.mouseClick(view.minimap, LEFT, pos=view.minimap.to_map(target).toPoint())
    assert (view.visible_center() - target).manhattanLength() < 20
    view.set_minimap_visible(False)
    assert not view.minimap.isVisible()


# --- keys -----------------------------------------------------------------------------------------------------

def test_delete_key_removes_the_selection_as_one_command(canvas: Canvas, qtbot) -> None:
    canvas.scene.select_steps(["launch"])
    qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    j = canvas.journey
    assert "launch" not in j.steps and j.step("clicked").outputs["yes"] == "launched"  # the chain is healed
    assert_mirrors(canvas)
    canvas.scene.select_steps(["announce", "clicked"])
    qtbot.keyClick(canvas.view, Qt.Key.Key_Backspace)
    assert list(canvas.journey.steps) == ["launched"] and canvas.doc.undo_stack.count() == 2
    assert_mirrors(canvas)
    canvas.doc.undo_stack.undo()
    canvas.doc.undo_stack.undo()
    assert list(canvas.journey.steps) == ["announce", "clicked", "launch", "launched"]
    assert_mirrors(canvas)
    canvas.doc.undo_stack.redo()
    assert "launch" not in canvas.journey.steps
    assert_mirrors(canvas)


def test_delete_with_only_links_selected_removes_the_links(canvas: Canvas, qtbot) -> None:
    canvas.scene.clearSelection()
    canvas.scene.edge_item("clicked", "yes").setSelected(True)
    canvas.scene.edge_item("clicked", "no").setSelected(True)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert canvas.journey.step("clicked").outputs == {}
    assert canvas.doc.undo_stack.count() == 1
    assert_mirrors(canvas)


def test_arrow_keys_move_the_selection_along_the_links(canvas: Canvas, qtbot) -> None:
    view = canvas.view
    drag_tile(canvas, "wait", canvas.port_pos("clicked", "no"))  # clicked.no now leads to a second branch
    other = canvas.journey.step("clicked").outputs["no"]
    canvas.scene.select_steps([])
    walk = [(Qt.Key.Key_Right, "announce"), (Qt.Key.Key_Right, "clicked"), (Qt.Key.Key_Right, "launch"),
            (Qt.Key.Key_Down, other), (Qt.Key.Key_Up, "launch"), (Qt.Key.Key_Right, "launched"),
            (Qt.Key.Key_Left, "launch"), (Qt.Key.Key_Left, "clicked")]
    for key, expected in walk:
        qtbot.keyClick(view, key)
        assert canvas.scene.selected_step_ids() == [expected], key


def test_f2_renames_inline(canvas: Canvas, qtbot) -> None:
    view = canvas.view
    canvas.scene.select_steps(["launch"])
    qtbot.keyClick(view, Qt.Key.Key_F2)
    editor = view.rename_editor
    assert editor is not None and editor.isVisible() and editor.text() == "Until launch day"
    assert editor.maxLength() == 80
    editor.selectAll()
    qtbot.keyClicks(editor, "Hold until launch")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert canvas.journey.step("launch").name == "Hold until launch" and view.rename_editor is None
    qtbot.keyClick(view, Qt.Key.Key_F2)
    view.rename_editor.clear()
    qtbot.keyClick(view.rename_editor, Qt.Key.Key_Return)
    assert canvas.journey.step("launch").name == "" and canvas.scene.tile_item("launch").name == "Wait until 10 Dec 09:00"
    qtbot.keyClick(view, Qt.Key.Key_F2)
    qtbot.keyClicks(view.rename_editor, "ignored")
    qtbot.keyClick(view.rename_editor, Qt.Key.Key_Escape)
    assert canvas.journey.step("launch").name == ""
    assert not view.rename_selected("x" * 81) and canvas.journey.step("launch").name == ""
    assert view.rename_selected("y" * 80) and canvas.journey.step("launch").name == "y" * 80
    assert_mirrors(canvas)


def test_select_all_and_selection_signal(canvas: Canvas, qtbot) -> None:
    with qtbot.waitSignal(canvas.scene.stepsSelected) as blocker:
        qtbot.keyClick(canvas.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args == [["announce", "clicked", "launch", "launched"]]


def test_copy_paste_into_another_journey_and_project(canvas: Canvas, qtbot, tmp_path: Path) -> None:
    view = canvas.view
    canvas.scene.select_steps(["announce", "clicked"])
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().mimeData().hasFormat(STEPS_MIME)
    other = Journey(canvas.doc.project.new_journey_id(), "Second")
    canvas.doc.run(AddJourney(other))
    canvas.doc.set_current_journey(other.id)
    assert canvas.scene.journey_id == other.id and not canvas.scene.tile_items()
    qtbot.keyClick(view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    j = canvas.doc.project.journey(other.id)
    assert [s.type for s in j] == ["email", "if-then"]
    email, branch = list(j)
    assert email.outputs == {"next": branch.id} and branch.outputs == {"no": END}  # yes led out of the copy
    assert branch.props["wait_for"]["step"] == email.id
    assert canvas.scene.selected_step_ids() == [email.id, branch.id]
    assert_mirrors(canvas)
    # Another project, in another window.
    second = make_canvas(qtbot, tmp_path / "q.jstudio", empty_journey="Elsewhere")
    assert len(second.view.paste()) == 2 and len(second.journey) == 2
    assert_mirrors(second)
    second.doc.close()


def test_cut_and_duplicate(canvas: Canvas, qtbot) -> None:
    view = canvas.view
    canvas.scene.select_steps(["clicked", "launch"])
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    j = canvas.journey
    copies = canvas.scene.selected_step_ids()
    assert len(j) == 6 and len(copies) == 2 and j.step(copies[0]).outputs["yes"] == copies[1]
    assert canvas.scene.tile_pos(copies[0]) == canvas.scene.tile_pos("clicked") + QPointF(40, 40)
    qtbot.keyClick(view, Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier)
    assert len(canvas.journey) == 4 and canvas.doc.undo_stack.undoText().startswith("Cut")
    assert len(view.paste()) == 2 and len(canvas.journey) == 6
    assert_mirrors(canvas)


def test_auto_layout_is_one_undoable_move(canvas: Canvas) -> None:
    jid = canvas.journey.id
    canvas.doc.run(MoveSteps(jid, {"launch": Position(-700.0, 500.0), "announce": Position(900.0, -300.0)}))
    before = {s.id: s.position for s in canvas.journey}
    count = canvas.doc.undo_stack.count()
    assert canvas.view.auto_layout("LR")
    assert canvas.doc.undo_stack.count() == count + 1
    assert {s.id: s.position for s in canvas.journey} == layered_layout(canvas.journey, "LR")
    assert_mirrors(canvas)
    canvas.doc.undo_stack.undo()
    assert {s.id: s.position for s in canvas.journey} == before
    assert_mirrors(canvas)
    assert canvas.view.auto_layout("TB")
    assert_mirrors(canvas)


def test_screenshot(canvas: Canvas, qtbot) -> None:
    """Saves /tmp/shots/canvas.png (the announcement journey, a tile selected) for a person to look at."""
    view = canvas.view
    view.resize(1200, 480)
    view.fit()
    canvas.scene.select_steps(["clicked"])
    canvas.doc.refresh_findings()
    Path("/tmp/shots").mkdir(exist_ok=True)
    image = view.grab()
    assert image.save("/tmp/shots/canvas.png")
    assert image.width() == 1200


# --- context menus -------------------------------------------------------------------------------------------

def _menu_action(menu, *path: str):  # type: ignore[no-untyped-def]
    """The action at `path` in a menu (submenu titles, then the action's text)."""
    for title in path[:-1]:
        menu = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == title)
    return next(a for a in menu.actions() if a.text() == path[-1])


def test_context_menus_offer_the_fixes_a_problem_names(canvas: Canvas) -> None:
    from app.model.registry import END
    from designer.canvas.context_menu import canvas_menu
    j, scene, view = canvas.journey, canvas.scene, canvas.view
    tile = scene.tile_item("clicked")
    centre = tile.sceneBoundingRect().center()
    menu = canvas_menu(view, centre)
    assert scene.selected_step_ids() == ["clicked"]  # the right-clicked tile is the one acted on
    texts = [a.text() for a in menu.actions()]
    assert {"Rename", "Properties", "Start Here", "Duplicate", "Delete", "Connect 'no' to End"} <= set(texts)
    _menu_action(menu, "Connect 'no' to End").trigger()  # "connect 'no' ... or to end": one gesture
    assert j.step("clicked").outputs["no"] == END
    assert not _menu_action(canvas_menu(view, centre), "Connect 'no' to End").isEnabled()
    canvas.doc.undo_stack.undo()
    # a link: insert a tile into it
    edge = scene.edge_item("announce", "next")
    at = edge.path().pointAtPercent(0.5) if hasattr(edge, "path") else edge.sceneBoundingRect().center()
    at = edge.mapToScene(at)
    menu = canvas_menu(view, at)
    _menu_action(menu, "Insert Tile Here", "Wait").trigger()
    new = j.step("announce").outputs["next"]
    assert j.step(new).type == "wait" and j.step(new).outputs["next"] == "clicked"
    # the empty canvas: add a tile where the pointer is
    empty = scene.itemsBoundingRect().bottomRight() + QPointF(400, 400)
    before = len(j)
    _menu_action(canvas_menu(view, empty), "Add Tile Here", "Send email").trigger()
    assert len(j) == before + 1
    assert_mirrors(canvas)
