"""Building a journey with the keyboard alone: the add-tile list, then numbered insertion points on the canvas.

The journey is the announcement of seed 000: email -> if/then on a link click; yes -> wait until launch -> text
message; no ends. Properties are set in the properties panel, so only types, links and names are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMenu

from app.model.registry import END
from designer.canvas import AddTileFlow
from tests.canvas_helpers import Canvas, assert_mirrors, make_canvas

pytestmark = pytest.mark.gui
Key = Qt.Key


@pytest.fixture
def canvas(qtbot, tmp_path: Path) -> Canvas:
    c = make_canvas(qtbot, tmp_path / "p.jstudio", empty_journey="Product announcement")
    yield c
    c.doc.close()


def choose_type(qtbot, c: Canvas, type_id: str) -> AddTileFlow:
    """Open the add list as the command bar's Add button does, then pick the type with Down and Return."""
    flow = c.view.start_add_flow()
    assert flow is not None
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu) and menu is flow.menu and menu.isVisible()
    for _ in range(len(menu.actions())):
        if menu.activeAction() is not None and menu.activeAction().data() == type_id:
            break
        qtbot.keyClick(menu, Key.Key_Down)
    qtbot.keyClick(menu, Key.Key_Return)
    # the list reports "closed" a turn of the event loop later: wait for that, however busy the machine is
    qtbot.waitUntil(lambda: flow.type_id == type_id and bool(flow.candidates), timeout=5_000)
    return flow


def rename_selected(qtbot, c: Canvas, name: str) -> None:
    qtbot.keyClick(c.view, Key.Key_F2)
    editor = c.view.rename_editor
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, name)
    qtbot.keyClick(editor, Key.Key_Return)


def test_build_the_announcement_journey_with_the_keyboard_alone(canvas: Canvas, qtbot) -> None:
    c, view = canvas, canvas.view
    flow = choose_type(qtbot, c, "email")
    assert [x.kind for x in flow.candidates] == ["start"]  # an empty journey offers one place: the start
    qtbot.keyClick(view, Key.Key_Return)
    j = c.journey
    (email,) = j.steps
    assert j.entry == email and c.scene.selected_step_ids() == [email]
    rename_selected(qtbot, c, "Product announcement")

    flow = choose_type(qtbot, c, "if-then")
    assert (flow.current_candidate.kind, flow.current_candidate.step) == ("after", email)
    qtbot.keyClick(view, Key.Key_Return)
    branch = j.step(email).outputs["next"]
    rename_selected(qtbot, c, "Clicked product link?")

    flow = choose_type(qtbot, c, "wait")
    # The new if/then is selected, so its first free output (yes) is offered first; Down goes to no, Up back.
    assert flow.current_candidate[:3] == ("after", branch, "yes")
    qtbot.keyClick(view, Key.Key_Down)
    assert flow.current_candidate[:3] == ("after", branch, "no")
    qtbot.keyClick(view, Key.Key_Up)
    assert flow.current_candidate[:3] == ("after", branch, "yes")
    qtbot.keyClick(view, Key.Key_Return)
    wait = j.step(branch).outputs["yes"]
    rename_selected(qtbot, c, "Until launch day")

    choose_type(qtbot, c, "sms")
    qtbot.keyClick(view, Key.Key_Return)
    sms = j.step(wait).outputs["next"]
    rename_selected(qtbot, c, "Product launched")

    assert [s.type for s in j] == ["email", "if-then", "wait", "sms"]
    assert {(s, p, t) for s, p, t in j.links()} == {(email, "next", branch), (branch, "yes", wait),
                                                   (wait, "next", sms)}
    assert [s.name for s in j] == ["Product announcement", "Clicked product link?", "Until launch day",
                                   "Product launched"]
    assert j.entry == email
    assert c.doc.undo_stack.count() == 8  # four adds, four renames
    positions = [c.scene.tile_pos(s.id).x() for s in j]
    assert positions == sorted(positions)  # each new tile went right of the one it follows
    cards = c.scene.occupied_rects()
    assert not any(a.intersects(b) for i, a in enumerate(cards) for b in cards[i + 1:])
    assert_mirrors(c)
    # Arrow keys then walk the built journey: back from the text message to the branch, then up the chain.
    qtbot.keyClick(view, Key.Key_Left)
    qtbot.keyClick(view, Key.Key_Left)
    assert c.scene.selected_step_ids() == [branch]


def test_insertion_points_cover_free_ports_links_and_the_start(canvas: Canvas, qtbot) -> None:
    c, view = canvas, canvas.view
    for type_id in ("email", "if-then"):
        choose_type(qtbot, c, type_id)
        qtbot.keyClick(view, Key.Key_Return)
    j = c.journey
    email, branch = list(j.steps)
    flow = choose_type(qtbot, c, "wait")
    kinds = {(x.kind, x.step, x.port) for x in flow.candidates}
    assert kinds == {("after", branch, "yes"), ("after", branch, "no"), ("insert", email, "next"),
                     ("before-start", email, "")}
    assert len(flow._markers) == 4 and sum(m.current for m in flow._markers) == 1
    first = flow.current
    qtbot.keyClick(view, Key.Key_Tab)
    assert flow.current == (first + 1) % 4
    qtbot.keyClick(view, Key.Key_Backtab)
    assert flow.current == first
    qtbot.keyClick(view, Key.Key_Escape)  # cancel: nothing added, markers gone
    assert len(j) == 2 and view.flow is None
    assert not [i for i in c.scene.items() if type(i).__name__ in ("InsertionMarker", "GhostTile")]

    flow = choose_type(qtbot, c, "wait")
    index = next(i for i, x in enumerate(flow.candidates) if x.kind == "insert")
    qtbot.keyClick(view, getattr(Key, f"Key_{index + 1}"))  # the number shown on the marker picks it
    qtbot.keyClick(view, Key.Key_Return)
    inserted = j.step(email).outputs["next"]
    assert j.step(inserted).type == "wait" and j.step(inserted).outputs == {"next": branch}

    flow = choose_type(qtbot, c, "exit")  # an exit cannot continue a link: it is offered free ports and ends
    assert all(x.kind == "after" for x in flow.candidates)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))  # a click elsewhere cancels
    assert view.flow is None and len(j) == 3

    flow = choose_type(qtbot, c, "task")  # the mouse may choose too: a click on a marker inserts there
    no_port = next(i for i, x in enumerate(flow.candidates) if x.port == "no")
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(flow.candidates[no_port].anchor))
    assert j.step(j.step(branch).outputs["no"]).type == "task"
    c.doc.undo_stack.undo()

    flow = choose_type(qtbot, c, "push")
    flow.set_current(next(i for i, x in enumerate(flow.candidates) if x.kind == "before-start"))
    qtbot.keyClick(view, Key.Key_Return)
    new_start = j.entry
    assert j.step(new_start).type == "push" and j.step(new_start).outputs == {"next": email}
    c.doc.undo_stack.undo()
    assert j.entry == email and len(j) == 3
    assert_mirrors(c)


def test_escape_in_the_type_list_cancels(canvas: Canvas, qtbot) -> None:
    flow = canvas.view.start_add_flow()
    menu = QApplication.activePopupWidget()
    with qtbot.waitSignal(flow.finished) as blocker:
        qtbot.keyClick(menu, Key.Key_Escape)
    assert blocker.args == [None] and canvas.view.flow is None and len(canvas.journey) == 0


def test_no_branch_can_end_with_an_explicit_end(canvas: Canvas, qtbot) -> None:
    """The no path may also be closed on the canvas: link it to `end` (here through the model command)."""
    c = canvas
    for type_id in ("email", "if-then"):
        choose_type(qtbot, c, type_id)
        qtbot.keyClick(c.view, Key.Key_Return)
    branch = list(c.journey.steps)[1]
    from app.model.commands import Connect
    c.doc.run(Connect(c.journey.id, branch, "no", END))
    assert c.scene.edge_item(branch, "no").target is None
    assert_mirrors(c)
