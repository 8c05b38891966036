"""A newcomer's first hour in the designer: never stuck at the start, and a keyboard path that follows the screen.

- A project without journeys shows the start page (new blank journey, from a template, open, recent); Ctrl+T and
  Add with no journey open start a blank one; an empty journey is a journey like any other, also after reopening.
- Tab goes from the canvas to the selected tile's properties (its Name field first), then the problems, the
  command bar and the left panels; it never stops on a control that is not on screen (a dock behind another's
  tab), and every stop has an accessible name. A new tile puts the focus in its Name field; Escape goes back.
- Redo is bound once per key (Ctrl+Shift+Z and Ctrl+Y alike); F7 puts the focus in the problems list.
- No dock tab bar is left on screen where no dock is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMenu, QTabBar, QWidget

from app.model.journey import Journey
from app.model.project_commands import AddJourney
from app.store import ProjectFile
from designer.main_window import MainWindow
from tests.window_helpers import template_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]
Key = Qt.Key


def _open(qtbot, path: Path) -> MainWindow:
    w = MainWindow.open(path)
    assert w is not None
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    return w


def _close(w: MainWindow) -> None:
    w.document.undo_stack.setClean()
    w.close()


def _on_screen(w: MainWindow, widget: QWidget) -> bool:
    """Visible, and not inside a dock whose tab is behind another's (Qt moves those off the window)."""
    if not widget.isVisible():
        return False
    parent: QWidget | None = widget
    while parent is not None and parent is not w:
        if isinstance(parent, QDockWidget) and parent.visibleRegion().isEmpty():
            return False
        parent = parent.parentWidget()
    return True


def _tab_walk(qtbot, w: MainWindow, presses: int) -> list[QWidget]:
    stops = []
    for _ in range(presses):
        qtbot.keyClick(QApplication.focusWidget(), Key.Key_Tab)
        stops.append(QApplication.focusWidget())
    return stops


def test_a_project_without_journeys_opens_on_the_start_page(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "empty.jstudio"
    ProjectFile.create(path).close()
    w = _open(qtbot, path)
    try:
        page = w.start_page
        assert w.centre.currentWidget() is page and page.isVisible()
        assert "no journeys yet" in page.subtitle.text()
        assert [b.accessibleName() for b in (page.blank, page.template, page.open)] == \
            ["New blank journey", "New from template…", "Open project…"]
        page.blank.setFocus()
        qtbot.keyClick(page.blank, Key.Key_Return)  # the keyboard alone gets a journey
        journey = w.document.current_journey
        assert journey is not None and len(journey) == 0 and journey.name == "New journey"
        assert w.centre.currentWidget() is w.view
        w.document.undo_stack.undo()  # one edit: undone, back to the start page
        assert w.document.current_journey is None and w.centre.currentWidget() is page
    finally:
        _close(w)


def test_adding_a_tile_with_no_journey_open_starts_a_blank_one(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "empty.jstudio"
    ProjectFile.create(path).close()
    w = _open(qtbot, path)
    try:
        flow = w.view.start_add_flow("email")  # Ctrl+T, Add, a double-click in the Tiles panel
        assert flow is not None and w.document.current_journey is not None
        assert [x.kind for x in flow.candidates] == ["start"]
        qtbot.keyClick(w.view, Key.Key_Return)
        (step,) = w.document.current_journey.steps.values()
        assert step.type == "email"
        # the new tile's properties come forward with the focus in its Name field
        qtbot.waitUntil(lambda: w.properties.name_edit is not None and w.properties.name_edit.hasFocus())
        qtbot.keyClicks(w.properties.name_edit, "Product announcement")
        qtbot.keyClick(w.properties.name_edit, Key.Key_Return)
        assert w.document.current_journey.step(step.id).name == "Product announcement"
        qtbot.keyClick(w.properties.name_edit, Key.Key_Escape)  # back to the canvas
        qtbot.waitUntil(lambda: w.view.hasFocus())
    finally:
        _close(w)


def test_an_empty_journey_is_a_journey_after_reopening(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "blank.jstudio"
    with ProjectFile.create(path) as pf:
        AddJourney(Journey(pf.project.new_journey_id(), "Blank")).do(pf.project)
    w = _open(qtbot, path)
    try:
        assert w.scene.journey is not None and w.scene.journey.name == "Blank"
        assert w.centre.currentWidget() is w.view
        assert w.settings_panel.isEnabled()
        assert w.view.start_add_flow("wait") is not None  # adding works: the journey is not "dead"
    finally:
        _close(w)


def test_tab_follows_the_screen_from_the_canvas(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        w.resize(1366, 768)
        w.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
        journey = w.document.current_journey
        first = next(iter(journey.steps))
        w.docks["problems"].raise_()
        w.scene.select_steps([first])
        w.view.setFocus()
        qtbot.waitUntil(lambda: w.view.hasFocus())
        stops = _tab_walk(qtbot, w, 1)
        assert stops[0] is w.properties.name_edit  # one press from the canvas to the tile's Name
        stops += _tab_walk(qtbot, w, 40)
        assert w.problems.tree in stops and w.actions.add_button in stops
        assert stops.index(w.problems.tree) < stops.index(w.actions.add_button)  # properties, problems, bar
        assert w.view in stops  # round the window and back to the canvas
        hidden = [s for s in stops if not _on_screen(w, s)]
        assert hidden == [], [(type(s).__name__, s.accessibleName()) for s in hidden]
        unnamed = [s for s in stops if not s.accessibleName()]
        assert unnamed == [], [(type(s).__name__, s.toolTip()) for s in unnamed]
        # Shift+Tab walks back the same way
        qtbot.keyClick(QApplication.focusWidget(), Key.Key_Backtab)
        assert QApplication.focusWidget() is stops[-2]
    finally:
        _close(w)


def test_redo_has_each_standard_key_once_and_f7_focuses_the_problems(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        keys = [k.toString() for k in w.actions.redo.shortcuts()]
        assert len(keys) == len(set(keys)) and "Ctrl+Shift+Z" in keys and "Ctrl+Y" in keys
        bound = [k.toString() for a in w.findChildren(type(w.actions.redo)) for k in a.shortcuts()]
        assert bound.count("Ctrl+Y") == 1 and bound.count("Ctrl+Shift+Z") == 1  # no "ambiguous shortcut"
        assert w.actions.undo.shortcut().matches(QKeySequence(QKeySequence.StandardKey.Undo)) == \
            QKeySequence.SequenceMatch.ExactMatch
        w.actions.check.trigger()
        qtbot.waitUntil(lambda: w.problems.tree.hasFocus())
    finally:
        _close(w)


def test_no_dock_tab_bar_is_left_where_no_dock_is(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        w.resize(1366, 768)
        qtbot.wait(50)
        docks = {d.windowTitle(): d for d in w.findChildren(QDockWidget)}
        bars = [b for b in w.findChildren(QTabBar) if b.parent() is w and b.isVisible()]
        assert len(bars) == 3  # left, right and bottom groups
        for bar in bars:
            dock = docks[bar.tabText(bar.currentIndex())]
            assert abs(bar.geometry().top() - dock.geometry().bottom() - 1) <= 4, bar.tabText(0)
        w.simulation.show_docks("simulate")  # switching tabs keeps it so
        qtbot.wait(50)
        assert len([b for b in w.findChildren(QTabBar) if b.parent() is w and b.isVisible()]) == 3
    finally:
        _close(w)


def test_the_add_menu_lists_tiles_with_no_journey_open(qtbot, tmp_path: Path) -> None:
    """The Add button's list works from the start page too (it makes the journey when a type is chosen)."""
    path = tmp_path / "empty.jstudio"
    ProjectFile.create(path).close()
    w = _open(qtbot, path)
    try:
        flow = w.view.start_add_flow(None)
        assert flow is not None
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu) and menu.isVisible()
        menu.close()
    finally:
        _close(w)


def test_the_journey_settings_show_its_versions_and_milestones(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        journey = w.document.current_journey
        w.actions.check.trigger()  # F7 records a milestone
        w.docks["settings"].raise_()
        w.settings_panel.timeline_toggle.click()  # folded by default
        timeline = w.settings_panel.timeline
        assert timeline.isVisible()
        qtbot.waitUntil(lambda: timeline.topLevelItemCount() >= 1)
        rows = [(timeline.topLevelItem(i).text(1), timeline.topLevelItem(i).text(2))
                for i in range(timeline.topLevelItemCount())]
        assert ("Checked for errors", "0 errors, 0 warnings") in rows or \
            any(what == "Checked for errors" for what, _ in rows), rows
        assert journey is not None
    finally:
        _close(w)


def test_a_wait_and_an_if_then_offer_their_exclusive_settings_as_one_choice(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        j = w.document.current_journey
        wait = next(s.id for s in j if s.type == "wait")  # waits until the launch date
        w.scene.select_steps([wait])
        props = w.properties
        assert props.mode_combo is not None and props.mode_combo.accessibleName() == "Wait"
        assert props.mode_combo.currentText() == "Until a date"
        assert props.editor("until").isVisibleTo(props) and not props.editor("duration").isVisibleTo(props)
        count = w.document.undo_stack.count()
        props.mode_combo.setCurrentIndex(0)
        props.mode_combo.activated.emit(0)  # "For a duration": the date goes, in one undoable edit
        assert j.step(wait).props.get("until") is None and w.document.undo_stack.count() == count + 1
        assert props.editor("duration").isVisibleTo(props) and not props.editor("until").isVisibleTo(props)
        assert props.mode_combo.currentText() == "For a duration"  # nothing set yet: the choice stays
        w.document.undo_stack.undo()
        assert j.step(wait).props.get("until") is not None and props.mode_combo.currentText() == "Until a date"
        branch = next(s.id for s in j if s.type == "if-then")
        w.scene.select_steps([branch])
        assert [props.mode_combo.itemText(i) for i in range(props.mode_combo.count())] == [
            "An event on an earlier message", "An attribute of the contact", "Membership of a segment"]
        assert props.editor("wait_for").isVisibleTo(props) and props.editor("within").isVisibleTo(props)
        assert not props.editor("condition").isVisibleTo(props) and not props.editor("segment").isVisibleTo(props)
    finally:
        _close(w)


def test_ticking_a_date_box_opens_the_field_and_typing_replaces_the_date(qtbot) -> None:
    from datetime import datetime

    from designer.panels.common import FieldNote
    from designer.panels.inputs import OptionalDateTime
    note = FieldNote()
    box = OptionalDateTime(default=datetime(2027, 3, 4, 9, 0), note=note)
    qtbot.addWidget(box)
    box.show()
    seen: list[object] = []
    box.edited.connect(seen.append)
    box.check.setChecked(True)
    assert seen == [] and box.edit.isEnabled()  # nothing saved at once
    box.edit.editingFinished.emit()  # left (or Return): the date shown is committed
    assert seen == [datetime(2027, 3, 4, 9, 0)]
    box.edit.setFocus()
    box.edit.selectAll()
    qtbot.keyClicks(box.edit, "2026-11-01 10:30")  # typed over the selection: the old year does not survive
    qtbot.keyClick(box.edit, Key.Key_Return)
    assert seen[-1] == datetime(2026, 11, 1, 10, 30)
    box.edit.selectAll()
    qtbot.keyClicks(box.edit, "2026-11-31")
    qtbot.keyClick(box.edit, Key.Key_Return)  # no such day: said under the field, nothing saved
    assert seen[-1] == datetime(2026, 11, 1, 10, 30) and "not a date" in note.plain_text()
    assert box.edit.property("invalid")
    box.edit.selectAll()
    qtbot.keyClicks(box.edit, "2026-12-24")  # a date alone keeps the time of day shown
    qtbot.keyClick(box.edit, Key.Key_Return)
    assert seen[-1] == datetime(2026, 12, 24, 10, 30) and not note.plain_text() and not box.edit.property("invalid")
    qtbot.keyClick(box.edit, Key.Key_Down, Qt.KeyboardModifier.AltModifier)  # Alt+Down: a calendar to pick from
    cal = box.edit.calendar
    assert cal is not None and cal.isVisible() and cal.selectedDate().day() == 24
    assert cal.isAncestorOf(QApplication.focusWidget())
    qtbot.keyClick(QApplication.focusWidget(), Key.Key_Right)
    qtbot.keyClick(QApplication.focusWidget(), Key.Key_Return)
    assert seen[-1] == datetime(2026, 12, 25, 10, 30) and box.edit.text() == "2026-12-25 10:30"
    box.check.setChecked(False)
    assert seen[-1] is None


def test_a_project_without_segments_creates_the_audience_segment_from_the_journey_settings(qtbot,
                                                                                           tmp_path: Path) -> None:
    path = tmp_path / "empty.jstudio"
    ProjectFile.create(path).close()
    w = _open(qtbot, path)
    try:
        w.document.new_blank_journey()
        w.docks["settings"].raise_()
        editor = w.settings_panel.create_audience_segment()
        assert editor is not None and editor.isVisible()
        editor.name.setText("Newsletter readers")
        editor.kind.setCurrentIndex(editor.kind.findData("subscription"))
        editor.list_combo.setEditText("Newsletter")
        assert editor.save()
        j = w.document.current_journey
        assert "Newsletter readers" in w.document.project.segments
        assert j.audience.segments == ("Newsletter readers",)  # saved, it joined the audience
        assert "no-audience" not in {f.code for f in w.document.findings(j.id)}
    finally:
        _close(w)


def test_send_to_offers_address_attributes_in_words(qtbot, tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        j = w.document.current_journey
        email = next(s.id for s in j if s.type == "email")
        w.scene.select_steps([email])
        editor = w.properties.editor("send_to")
        combo = editor.combo
        assert combo is not None
        assert [combo.itemText(i) for i in range(combo.count())] == [
            "Email (email)", "Mobile phone (mobile_phone)", "Mobile app (mobile_app)"]
        combo.activated.emit(1)
        assert j.step(email).props["send_to"] == "mobile_phone"  # the attribute's name is what is kept
        assert editor.edit.text() == "Mobile phone (mobile_phone)"
        editor.edit.setText("work_email")  # a custom attribute is typed
        editor.edit.editingFinished.emit()
        assert j.step(email).props["send_to"] == "work_email"
    finally:
        _close(w)


def test_on_a_laptop_screen_the_canvas_gets_most_of_the_width_and_dock_tabs_read_in_full(qtbot,
                                                                                         tmp_path: Path) -> None:
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        w.resize(1366, 768)
        w.fit_docks()  # what a first start does for its window's size
        qtbot.waitUntil(lambda: w.width() == 1366 and w.view.width() > 0)
        assert w.view.width() >= 0.58 * w.width(), (w.view.width(), w.docks["properties"].width())
        bars = [b for b in w.findChildren(QTabBar) if b.parent() is w and b.isVisible()]
        assert bars
        for bar in bars:
            for i in range(bar.count()):
                text = bar.tabText(i)
                assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), text  # not elided
        # the View menu names the journey's settings in full; its tab says "Settings"
        assert w.docks["settings"].toggleViewAction().text() == "Journey settings"
        assert w.docks["settings"].windowTitle() == "Settings"
    finally:
        _close(w)


def test_a_narrow_project_panel_gives_the_names_the_width(qtbot, tmp_path: Path) -> None:
    from designer.panels import ProjectBrowser
    w = template_window(qtbot, tmp_path / "p.jstudio", "announcement.yaml")
    try:
        browser = ProjectBrowser(w.document)
        qtbot.addWidget(browser)
        browser.resize(190, 400)
        browser.show()
        qtbot.waitUntil(lambda: browser.tree.isColumnHidden(1))  # '4 steps · v1' would cut the names
        journey = browser.groups["journeys"].child(0)
        assert "4 steps" in journey.toolTip(0)  # the details are in the tooltip instead
        browser.resize(520, 400)
        qtbot.waitUntil(lambda: not browser.tree.isColumnHidden(1))
    finally:
        _close(w)
