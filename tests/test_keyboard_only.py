"""Seed 000's announcement journey built in the designer with the keyboard alone, from an empty project.

A newcomer starts from nothing: New blank journey on the start page, Ctrl+T for each tile (email, if/then on a
link click within 1 day, wait until the launch date, text message), the content made in its dialog from the
properties (New…), then F7 and every problem the check reports fixed from the problems list (Return goes to the
field: a new audience segment in the segment editor, the start date; the open 'no' branch ended from the tile's
context menu with the Menu key), until the check finds nothing. The project is closed and reopened: identical.

Only key events drive the windows. The offscreen platform has no window manager: when a popup or a dialog
closes it activates no window, so the helper re-activates the one that would be (as a desktop does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QMenu, QWidget

from app.codec.plain import content_to_plain, segment_to_plain, settings_to_plain, step_to_plain
from app.store import ProjectFile
from designer.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]
Key = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
NONE = Qt.KeyboardModifier.NoModifier


class Keyboard:
    """Key presses to whatever has the focus, with the event loop running between them as it does for a
    person typing (widgets shown or deleted later are in place before the next key)."""

    def __init__(self, qtbot: Any, window: MainWindow) -> None:
        self.qtbot, self.window = qtbot, window

    @property
    def focus(self) -> QWidget:
        self.qtbot.wait(1)
        if QApplication.activeWindow() is None:  # no window manager offscreen: activate as a desktop would
            target = QApplication.activeModalWidget() or self.window
            target.activateWindow()
            self.qtbot.waitUntil(lambda: QApplication.activeWindow() is target, timeout=5_000)
        self.qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
        return QApplication.focusWidget()

    def press(self, key: Qt.Key, modifiers: Qt.KeyboardModifier = NONE, times: int = 1) -> None:
        for _ in range(times):
            self.qtbot.keyClick(self.focus, key, modifiers)

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(self.focus, text)

    def tab_to(self, name: str, limit: int = 20) -> QWidget:
        """Tab until the control with this accessible name has the focus."""
        seen = []
        for _ in range(limit):
            self.press(Key.Key_Tab)
            seen.append(self.focus.accessibleName())
            if seen[-1] == name:
                return self.focus
        raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")

    def choose(self, value: Any = None, *, text: str | None = None) -> None:
        """In the focused closed combo box: Home, then Down until the item (by data or text) is current."""
        combo = self.focus
        assert isinstance(combo, QComboBox), combo
        self.press(Key.Key_Home)
        for _ in range(combo.count()):
            if (text is None and combo.currentData() == value) or (text is not None and combo.currentText() == text):
                return
            self.press(Key.Key_Down)
        raise AssertionError(f"{value or text!r} not in {[combo.itemText(i) for i in range(combo.count())]}")

    def in_menu(self, text: str) -> None:
        """In the open popup menu: Down until the item whose text starts so is active, then Return."""
        self.qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5_000)
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        for _ in range(len(menu.actions()) + 1):
            if menu.activeAction() is not None and menu.activeAction().text().startswith(text):
                self.qtbot.keyClick(menu, Key.Key_Return)
                return
            self.qtbot.keyClick(menu, Key.Key_Down)
        raise AssertionError(f"{text!r} not in {[a.text() for a in menu.actions()]}")

    def in_dialog(self, opening_key: Qt.Key, fill: Callable[[], None], *, popup: bool = False) -> None:
        """Press the key that opens a modal dialog (or a popup menu) and fill it once it is there: the key may
        not come back until it is closed."""
        done: list[bool] = []

        def poll() -> None:
            dialog = QApplication.activeModalWidget()
            if (QApplication.activePopupWidget() is None) if popup else \
                    (dialog is None or QApplication.activeWindow() is not dialog):
                QTimer.singleShot(10, poll)
                return
            try:
                fill()
            finally:
                done.append(True)

        QTimer.singleShot(0, poll)
        self.press(opening_key)
        self.qtbot.waitUntil(lambda: bool(done) and QApplication.activeModalWidget() is None
                             and QApplication.activePopupWidget() is None, timeout=10_000)

    def add_tile(self, label: str) -> None:
        """Ctrl+T, the tile's type in the list, Return at the insertion point offered first."""
        self.press(Key.Key_Escape)  # from a panel back to the canvas
        self.press(Key.Key_T, CTRL)
        self.in_menu(label)
        view = self.window.view
        self.qtbot.waitUntil(lambda: view.flow is not None and bool(view.flow.candidates), timeout=5_000)
        self.press(Key.Key_Return)
        # the new tile's properties come forward with the focus in its Name field
        self.qtbot.waitUntil(lambda: self.focus is self.window.properties.name_edit, timeout=5_000)


def snapshot(path: Path) -> dict[str, Any]:
    """What the project file holds of the journey: steps (with positions), settings, content and segments."""
    with ProjectFile.open(path) as pf:
        p = pf.project
        (journey,) = p.journeys
        return {"name": journey.name, "entry": journey.entry, "settings": settings_to_plain(journey),
                "steps": {s.id: (step_to_plain(s), s.position) for s in journey},
                "content": {n: content_to_plain(c) for n, c in p.content.items()},
                "segments": {n: segment_to_plain(s) for n, s in p.segments.items()}}


def test_seed_000_journey_with_the_keyboard_alone(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "announcement.jstudio"
    ProjectFile.create(path).close()
    w = MainWindow.open(path)
    assert w is not None
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    kb = Keyboard(qtbot, w)
    try:
        _build(kb, w)
        problems_fixed = _fix_every_problem(kb, w)
        assert {"no-audience", "no-start", "unconnected-output"} <= problems_fixed
        before = snapshot(path)
        kb.press(Key.Key_S, CTRL)  # a checkpoint; every edit is already in the file
        kb.press(Key.Key_W, CTRL)  # close
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=5_000)
    finally:
        if w.isVisible():
            w.document.undo_stack.setClean()
            w.close()
    after = snapshot(path)
    assert after == before
    j = after
    assert j["name"] == "Product announcement"
    types = {sid: plain["type"] for sid, (plain, _pos) in j["steps"].items()}
    assert sorted(types.values()) == ["email", "if-then", "sms", "wait"]
    by_type = {t: j["steps"][sid][0] for sid, t in types.items()}
    email_id = next(sid for sid, t in types.items() if t == "email")
    assert j["entry"] == email_id
    assert by_type["if-then"]["wait_for"] == {"event": "link_clicked", "step": email_id, "link": "product-details"}
    assert by_type["if-then"]["within"] == "1d" and by_type["wait"]["until"] == "2026-12-10T09:00"
    assert j["content"]["Product announcement email"]["status"] == "ready"
    assert j["content"]["Product launched text"]["status"] == "ready"
    assert j["settings"]["audience"]["segments"] == ["Most valuable customers"]
    # and a reopened window shows it, checked clean
    w2 = MainWindow.open(path)
    assert w2 is not None
    try:
        assert w2.document.current_journey is not None and len(w2.document.current_journey) == 4
        assert w2.document.findings() == []
    finally:
        w2.document.undo_stack.setClean()
        w2.close()


def _build(kb: Keyboard, w: MainWindow) -> None:
    """The journey as seed 000 walks through it: start, email, if/then, wait, text message."""
    kb.qtbot.waitUntil(lambda: kb.focus is w.start_page.blank, timeout=5_000)  # a first key goes somewhere useful
    kb.press(Key.Key_Return)  # New blank journey
    kb.qtbot.waitUntil(lambda: w.document.current_journey is not None, timeout=5_000)
    kb.press(Key.Key_Comma, CTRL)  # Journey settings, the focus in its name
    assert kb.focus is w.settings_panel.name
    kb.press(Key.Key_A, CTRL)
    kb.type("Product announcement")
    kb.press(Key.Key_Return)

    kb.add_tile("Send email")
    kb.type("Product announcement")
    kb.press(Key.Key_Return)
    kb.tab_to("Content: New…")

    def email() -> None:
        kb.type("Product announcement email")
        kb.tab_to("Status")
        kb.choose("ready")
        kb.tab_to("Subject")
        kb.type("{{first_name}}, meet the new X")
        kb.tab_to("Sender")
        kb.type("news@example.com")
        kb.tab_to("Body")
        kb.type("It is here. See [product-details].")
        kb.tab_to("Links")
        kb.type("product-details")
        kb.press(Key.Key_Return)  # OK

    kb.in_dialog(Key.Key_Space, email)

    kb.add_tile("If/then branch")  # after the email, the tile selected
    kb.tab_to("Message")
    kb.choose(text="Product announcement")
    kb.tab_to("Event")
    kb.choose("link_clicked")
    kb.tab_to("Link")
    kb.choose("product-details")
    kb.tab_to("Time limit")
    kb.type("1 day")
    kb.press(Key.Key_Return)

    kb.add_tile("Wait")  # on the if/then's yes branch, offered first
    kb.tab_to("Wait")
    kb.choose(text="Until a date")
    kb.tab_to("Wait until")
    kb.press(Key.Key_Space)  # ticked: the field opens, all selected, and what is typed replaces it
    kb.type("2026-12-10 09:00")
    kb.press(Key.Key_Return)

    kb.add_tile("Send text message")
    kb.type("Product launched")
    kb.press(Key.Key_Return)
    kb.tab_to("Content: New…")

    def text_message() -> None:
        kb.type("Product launched text")
        kb.tab_to("Status")
        kb.choose("ready")
        kb.tab_to("Text")
        kb.type("It is here: the new X. {{first_name}}, be the first to try it.")
        kb.tab_to("OK")
        kb.press(Key.Key_Space)

    kb.in_dialog(Key.Key_Space, text_message)
    kb.press(Key.Key_Escape)


def _fix_every_problem(kb: Keyboard, w: MainWindow) -> set[str]:
    """F7, then the first problem listed, fixed where Return takes the focus; until none is left."""
    fixed: set[str] = set()
    for _ in range(10):
        kb.press(Key.Key_F7)
        assert kb.focus is w.problems.tree
        if not w.problems.findings:
            return fixed
        finding = w.problems.findings[w.problems.tree.indexOfTopLevelItem(w.problems.tree.currentItem())]
        assert finding.code not in fixed, f"{finding.code} came back: {finding.message}"
        fixed.add(finding.code)
        kb.press(Key.Key_Return)  # to the field the problem is about
        if finding.field == "audience":
            assert kb.focus.accessibleName() == "Segments"
            kb.tab_to("New audience segment")

            def segment() -> None:
                kb.type("Most valuable customers")
                kb.tab_to("Attribute")
                kb.choose(text="Lifetime value")
                kb.tab_to("Operator")
                kb.choose("at_least")
                kb.tab_to("Value")
                kb.type("1000")
                kb.tab_to("Save")
                kb.press(Key.Key_Space)

            kb.in_dialog(Key.Key_Space, segment)
        elif finding.field == "schedule.start":
            assert kb.focus.accessibleName() == "Start"
            kb.press(Key.Key_Space)
            kb.type("2026-12-01 09:00")
            kb.press(Key.Key_Return)
        elif finding.field == "no":  # an open branch: end it from the tile's context menu
            kb.press(Key.Key_Escape)  # the problem selected the tile; back to the canvas
            assert kb.focus is w.view and w.scene.selected_step_ids() == [finding.step]
            kb.in_dialog(Key.Key_Menu, lambda: kb.in_menu("Connect 'no' to End"), popup=True)
        else:
            raise AssertionError(f"a problem this walk-through does not expect: {finding}")
    raise AssertionError(f"problems left: {[f.message for f in w.problems.findings]}")


def test_a_new_tile_s_name_is_at_most_two_tab_presses_away_and_nothing_hidden_takes_the_focus(qtbot,
                                                                                           tmp_path: Path) -> None:
    from tests.test_first_hour import _on_screen
    path = tmp_path / "p.jstudio"
    ProjectFile.create(path).close()
    w = MainWindow.open(path)
    assert w is not None
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    kb = Keyboard(qtbot, w)
    try:
        kb.press(Key.Key_Return)  # New blank journey
        kb.add_tile("Send email")  # the focus is in the new tile's Name at once (0 presses)
        kb.press(Key.Key_Escape)  # back on the canvas, the new tile selected
        assert kb.focus is w.view and len(w.scene.selected_step_ids()) == 1
        presses, stops = 0, []
        while kb.focus is not w.properties.name_edit and presses < 10:
            kb.press(Key.Key_Tab)
            presses += 1
            stops.append(kb.focus)
        assert presses <= 2, [s.accessibleName() for s in stops]
        for _ in range(40):  # once round the window: every stop is on screen and has a name
            kb.press(Key.Key_Tab)
            stops.append(kb.focus)
        hidden = [s for s in stops if not _on_screen(w, s)]
        assert hidden == [], [(type(s).__name__, s.accessibleName()) for s in hidden]
        assert all(s.accessibleName() for s in stops), [type(s).__name__ for s in stops if not s.accessibleName()]
    finally:
        w.document.undo_stack.setClean()
        w.close()
