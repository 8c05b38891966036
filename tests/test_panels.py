"""The designer's panels, driven offscreen: palette, properties, journey settings, problems, project browser,
template gallery and content dialog. Edits must become commands, bad input must stop at the field."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from app.codec.yamlio import read_journey_file
from app.model.commands import AddJourney, AddStep, SetProps
from app.model.content import Content
from app.model.journey import Journey, QuietHours, Step
from app.model.registry import CATEGORIES, REGISTRY, TILE_TYPES
from app.resources import resource_path
from app.services import import_journey, template_paths
from app.store import ProjectFile
from designer.document import Document
from designer.mime import TILE_MIME
from designer.panels import (ContentDialog, JourneySettingsPanel, PalettePanel, ProblemsPanel, ProjectBrowser,
                             PropertiesPanel, TemplateGallery, journey_from_template_command)
from designer.panels import ref_fields
from designer.panels.palette import make_drag

pytestmark = pytest.mark.gui
SHOTS = Path("/tmp/shots")


@pytest.fixture
def doc(tmp_path: Path, qtbot) -> Iterator[Document]:
    pf = ProjectFile.create(tmp_path / "p.jstudio")
    import_journey(pf.project, *read_journey_file(resource_path("templates", "announcement.yaml")))
    document = Document(pf)
    yield document
    if not document.file.closed:
        document.close()


def journey(doc: Document) -> Journey:
    assert doc.current_journey is not None
    return doc.current_journey


def add_step(doc: Document, type_id: str, step_id: str) -> None:
    assert doc.run(AddStep(journey(doc).id, Step(step_id, type_id, props=REGISTRY[type_id].defaults())))


def commit_text(qtbot, widget: QWidget, text: str) -> None:
    """Type into a line edit as a user would (select all, type, Return)."""
    widget.setFocus()
    widget.selectAll()  # type: ignore[attr-defined]
    if text:
        qtbot.keyClicks(widget, text)
    else:
        qtbot.keyClick(widget, Qt.Key.Key_Delete)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def problem_texts(panel: ProblemsPanel) -> list[str]:
    return [panel.tree.topLevelItem(i).text(1) for i in range(panel.row_count())]


def shoot(widget: QWidget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.show()
    QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


# --- palette ------------------------------------------------------------------------------------------------

def test_palette_lists_every_tile_type_by_category(qtbot) -> None:
    panel = PalettePanel()
    qtbot.addWidget(panel)
    assert sorted(panel.type_ids()) == sorted(REGISTRY)
    groups = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert groups == list(CATEGORIES)
    for tile in TILE_TYPES:
        item = panel.item(tile.id)
        assert item.parent().text(0) == tile.category
        assert item.text(0) == tile.label and tile.description in item.toolTip(0)
        assert not item.icon(0).isNull()
    panel.resize(260, 560)
    shoot(panel, "palette")


def test_palette_drag_carries_the_tile_type(qtbot) -> None:
    panel = PalettePanel()
    qtbot.addWidget(panel)
    mime = panel.tree.mimeData([panel.item("wait")])
    assert bytes(mime.data(TILE_MIME).data()).decode() == "wait"
    drag = make_drag(panel.tree, "if-then")
    assert bytes(drag.mimeData().data(TILE_MIME).data()).decode() == "if-then"
    assert not drag.pixmap().isNull() and drag.pixmap().width() > drag.pixmap().height()


def test_palette_filter_and_keyboard_activation(qtbot) -> None:
    panel = PalettePanel()
    qtbot.addWidget(panel)
    panel.resize(260, 560)
    panel.show()
    qtbot.keyClicks(panel.filter, "webhook")
    assert panel.type_ids(visible_only=True) == ["webhook"]
    with qtbot.waitSignal(panel.tileActivated) as sig:
        qtbot.keyClick(panel.filter, Qt.Key.Key_Return)
    assert sig.args == ["webhook"]
    panel.filter.clear()
    panel.tree.setCurrentItem(panel.item("sms"))
    panel.tree.setFocus()
    with qtbot.waitSignal(panel.tileActivated) as sig:
        qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert sig.args == ["sms"]
    rect = panel.tree.visualItemRect(panel.item("exit"))
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(panel.tileActivated) as sig:  # the view wants the press before the double click
        qtbot.mouseDClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == ["exit"]


# --- properties ---------------------------------------------------------------------------------------------

def test_properties_shows_a_hint_then_the_step(doc: Document, qtbot) -> None:
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(None, None)
    assert panel.stack.currentWidget() is panel.hint and "Select a tile" in panel.hint.text()
    panel.show_step(journey(doc).id, "clicked")
    assert panel.stack.currentIndex() == 1
    assert panel.name_edit is not None and panel.name_edit.text() == "Clicked product link?"
    assert list(panel.editors) == [p.name for p in REGISTRY["if-then"].props]
    assert panel.editor("within").edit.text() == "1d"
    wait_for = panel.editor("wait_for")
    assert wait_for.step_combo.currentData() == "announce"
    assert wait_for.event_combo.currentData() == "link_clicked"
    assert wait_for.link_combo.currentData() == "product-details"
    panel.resize(340, 560)
    shoot(panel, "properties_if_then")
    panel.show_step(journey(doc).id, "announce")
    content = panel.editor("content").combo
    assert "Ready to send" in content.currentText()
    shoot(panel, "properties_email")


def test_property_edit_is_one_set_props_and_undo_shows_again(doc: Document, qtbot) -> None:
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    j = journey(doc)
    panel.show_step(j.id, "clicked")
    before = doc.undo_stack.count()
    commit_text(qtbot, panel.editor("within").edit, "2h30m")
    assert j.step("clicked").props["within"] == timedelta(hours=2, minutes=30)
    assert doc.undo_stack.count() == before + 1 and doc.undo_stack.undoText() == "Edit within"
    doc.undo_stack.undo()
    assert j.step("clicked").props["within"] == timedelta(days=1)
    assert panel.editor("within").edit.text() == "1d"
    commit_text(qtbot, panel.name_edit, "Clicked?")
    assert j.step("clicked").name == "Clicked?" and doc.undo_stack.undoText() == "Rename tile"
    doc.undo_stack.undo()
    assert panel.name_edit.text() == "Clicked product link?"


def test_switching_steps_commits_the_edit_in_progress(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    panel.activateWindow()
    panel.show_step(j.id, "clicked")
    edit = panel.editor("within").edit
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    edit.selectAll()
    qtbot.keyClicks(edit, "3d")  # no Return: the user clicks another tile instead
    panel.show_step(j.id, "launch")
    assert j.step("clicked").props["within"] == timedelta(days=3)
    assert panel.step_id == "launch" and panel.name_edit.text() == "Until launch day"


def test_editing_a_property_clears_the_problem(doc: Document, qtbot) -> None:
    j = journey(doc)
    problems, props = ProblemsPanel(doc), PropertiesPanel(doc)
    qtbot.addWidget(problems)
    qtbot.addWidget(props)
    props.show()
    assert doc.run(SetProps(j.id, "clicked", {"within": None}))
    qtbot.waitUntil(lambda: any("time limit" in t for t in problem_texts(problems)))
    assert problems.summary.text() == "1 error"
    props.show_step(j.id, "clicked")
    within = props.editor("within")
    assert "time limit" in within.note.plain_text() and within.note.isVisible()
    commit_text(qtbot, within.edit, "1d")
    qtbot.waitUntil(lambda: problems.row_count() == 0)
    assert problems.summary.text() == "No problems" and not within.note.plain_text()

    add_step(doc, "email", "promo")  # a message step without content: a warning until content is chosen
    qtbot.waitUntil(lambda: any("has no content" in t for t in problem_texts(problems)))
    props.show_step(j.id, "promo")
    combo = props.editor("content").combo
    index = combo.findData("Product announcement email")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert j.step("promo").props["content"] == "Product announcement email"
    qtbot.waitUntil(lambda: not any("has no content" in t for t in problem_texts(problems)))


def test_bad_input_stops_at_the_field(doc: Document, qtbot, tmp_path: Path) -> None:
    add_step(doc, "ab-split", "split")
    j = journey(doc)
    saved = j.clone()
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    count = doc.undo_stack.count()

    panel.show_step(j.id, "split")
    holdout = panel.editor("holdout")
    commit_text(qtbot, holdout.spin, "150")
    assert "more than 100%" in holdout.note.plain_text()
    path_a = panel.editor("split").spins[0]
    commit_text(qtbot, path_a, "250")
    assert "more than 100%" in panel.editor("split").note.plain_text()

    panel.show_step(j.id, "launch")
    duration = panel.editor("duration")
    for text, why in (("-5d", "negative"), ("soon", "not a duration")):
        commit_text(qtbot, duration.edit, text)
        assert why in duration.note.plain_text() and duration.edit.property("invalid")
    commit_text(qtbot, duration.edit, "")  # clearing is allowed, and nothing was set: no change
    assert not duration.edit.property("invalid")

    panel.show_step(j.id, "clicked")
    commit_text(qtbot, panel.name_edit, "   ")
    assert panel.name_edit.text() == "Clicked product link?" and "kept" in panel.name_note.plain_text()
    condition = panel.editor("condition")
    index = condition.attr_combo.findData("lifetime_value")
    condition.attr_combo.setCurrentIndex(index)
    condition.value_edit.setText("lots")  # a number attribute: 'lots' is refused before anything is saved
    condition.attr_combo.activated.emit(index)
    assert "not a number" in condition.note.plain_text()

    assert doc.undo_stack.count() == count and j == saved
    path = doc.file.path
    doc.close()
    with ProjectFile.open(path) as reopened:
        assert reopened.project.journey(j.id) == saved


def test_split_paths_add_remove_and_total(doc: Document, qtbot) -> None:
    add_step(doc, "random-split", "rs")
    j = journey(doc)
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(j.id, "rs")
    split = panel.editor("split")
    split.add_button.click()
    assert j.step("rs").props["split"] == (50, 25, 25) and len(split.spins) == 3
    assert "Total 100%" in split.total.text()
    panel.editor("holdout").spin.setValue(10)
    assert j.step("rs").props["holdout"] == 10 and "\u2716 Total 110%" in split.total.text()
    split.even_button.click()
    assert j.step("rs").props["split"] == (30, 30, 30)
    split.remove_button.click()
    assert j.step("rs").props["split"] == (30, 60)
    assert [p.id for p in j.step("rs").ports()] == ["A", "B"]
    panel.resize(340, 520)
    shoot(panel, "properties_split")


def test_new_content_from_the_picker_is_one_gesture(doc: Document, qtbot, monkeypatch) -> None:
    add_step(doc, "sms", "text")
    j = journey(doc)
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(j.id, "text")

    class FakeDialog:
        def __init__(self, *args: object, **kw: object) -> None:
            pass

        def exec(self) -> int:
            return 1

        def content(self) -> Content:
            return Content("Flash sale text", "sms", "ready", text="Today only!")

    monkeypatch.setattr(ref_fields, "ContentDialog", FakeDialog)
    count = doc.undo_stack.count()
    panel.editor("content").new_button.click()
    assert doc.undo_stack.count() == count + 1
    assert j.step("text").props["content"] == "Flash sale text" and "Flash sale text" in doc.project.content
    assert "Flash sale text — Ready to send" == panel.editor("content").combo.currentText()
    doc.undo_stack.undo()
    assert "content" not in j.step("text").props and "Flash sale text" not in doc.project.content


def test_wait_for_follows_the_message_channel(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(j.id, "clicked")
    wait_for = panel.editor("wait_for")
    index = wait_for.step_combo.findData("launched")  # an sms step: its events are delivered, link_clicked
    wait_for.step_combo.setCurrentIndex(index)
    wait_for.step_combo.activated.emit(index)
    value = j.step("clicked").props["wait_for"]
    assert value == {"event": "link_clicked", "step": "launched"}
    events = [wait_for.event_combo.itemData(i) for i in range(wait_for.event_combo.count())]
    assert events == ["delivered", "link_clicked"]


def test_condition_offers_operators_for_the_attribute_type(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(j.id, "clicked")
    condition = panel.editor("condition")

    def choose(combo, data: str) -> None:
        index = combo.findData(data)
        combo.setCurrentIndex(index)
        combo.activated.emit(index)

    choose(condition.attr_combo, "loyalty_tier")
    ops = [condition.op_combo.itemData(i) for i in range(condition.op_combo.count())]
    assert "greater_than" not in ops and "in" in ops
    assert j.step("clicked").props["condition"] == {"attribute": "loyalty_tier", "op": "equals"}
    choose(condition.attr_combo, "lifetime_value")
    choose(condition.op_combo, "greater_than")
    condition.value_edit.setText("100")
    condition.value_edit.editingFinished.emit()
    assert j.step("clicked").props["condition"] == {"attribute": "lifetime_value", "op": "greater_than", "value": 100}
    choose(condition.op_combo, "contains_data")  # a unary operator: no value
    assert j.step("clicked").props["condition"] == {"attribute": "lifetime_value", "op": "contains_data"}
    assert not condition.value_edit.isVisibleTo(panel)
    qtbot.waitUntil(lambda: "exactly one thing" in condition.note.plain_text() or
                    "exactly one thing" in panel.editor("wait_for").note.plain_text())


def test_missing_content_and_read_only_projects(doc: Document, qtbot) -> None:
    j = journey(doc)
    assert doc.run(SetProps(j.id, "announce", {"content": "Old newsletter"}))  # content the project lacks
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(j.id, "announce")
    assert panel.editor("content").combo.currentText() == "Old newsletter — missing"
    qtbot.waitUntil(lambda: "does not exist" in panel.editor("content").note.plain_text())
    path = doc.file.path
    doc.close()
    with ProjectFile.open(path, readonly=True) as pf:
        ro = Document(pf)
        ro_panel = PropertiesPanel(ro)
        qtbot.addWidget(ro_panel)
        ro_panel.show_step(j.id, "announce")
        assert not ro_panel.editor("content").isEnabled() and "read-only" in ro_panel.general_note.plain_text()
        settings = JourneySettingsPanel(ro)
        qtbot.addWidget(settings)
        assert not settings.scroll.widget().isEnabled()


# --- journey settings ---------------------------------------------------------------------------------------

def test_journey_settings_edits_are_update_journey_commands(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = JourneySettingsPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(360, 1100)
    panel.show()
    assert panel.name.text() == "Product announcement" and panel.timezone.currentText() == "Europe/Paris"
    count = doc.undo_stack.count()
    commit_text(qtbot, panel.name, "Launch of X")
    assert j.name == "Launch of X" and doc.undo_stack.count() == count + 1
    assert doc.undo_stack.undoText() == "Rename journey"
    doc.undo_stack.undo()
    assert j.name == "Product announcement" and panel.name.text() == "Product announcement"

    panel.segments.set_checked("Unsubscribed", True)
    assert j.audience.segments == ("Most valuable customers", "Unsubscribed")
    assert doc.undo_stack.undoText() == "Change audience"  # the History panel names the setting
    assert panel.combine.isEnabled()
    panel.quiet.check.setChecked(True)
    assert doc.undo_stack.undoText() == "Change schedule"
    assert j.schedule.quiet_hours == QuietHours(time(21, 0), time(8, 0))
    kind = panel.frequency.kind
    kind.setCurrentIndex(kind.findData("repeating"))
    kind.activated.emit(kind.currentIndex())
    assert j.frequency.kind == "repeating" and panel.frequency.interval.isEnabled()
    commit_text(qtbot, panel.frequency.interval, "7d")
    assert j.frequency.interval == timedelta(days=7)
    panel.exits.add()
    assert [t.event for t in j.exit_when] == ["purchase", "web_visit"]
    panel.cap.check.setChecked(True)
    assert j.frequency_cap is not None and j.frequency_cap.messages == 3
    assert doc.undo_stack.count() == count + 6
    for _ in range(6):
        doc.undo_stack.undo()
    assert j.audience.segments == ("Most valuable customers",) and j.schedule.quiet_hours is None
    assert j.frequency.kind == "one-time" and len(j.exit_when) == 1 and j.frequency_cap is None
    assert not panel.quiet.check.isChecked() and panel.exits.rows.__len__() == 1
    shoot(panel, "journey_settings")


def test_journey_settings_refuse_bad_input(doc: Document, qtbot) -> None:
    j = journey(doc)
    saved = j.clone()
    assert doc.run(AddJourney(Journey(doc.project.new_journey_id(), "Other")))  # a name to collide with
    panel = JourneySettingsPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    count = doc.undo_stack.count()
    commit_text(qtbot, panel.name, "")
    assert panel.name.text() == "Product announcement" and "kept" in panel.notes["name"].plain_text()
    commit_text(qtbot, panel.name, "Other")
    assert "Another journey" in panel.notes["name"].plain_text() and j.name == "Product announcement"
    commit_text(qtbot, panel.timezone.lineEdit(), "Mars/Olympus")
    assert "not a time zone" in panel.notes["schedule.timezone"].plain_text()
    assert j.schedule.timezone == "Europe/Paris"
    commit_text(qtbot, panel.end.edit, (saved.schedule.start - timedelta(days=1)).isoformat(" "))  # before the start
    assert "after the start" in panel.notes["schedule.end"].plain_text()
    assert j.schedule.end == saved.schedule.end and doc.undo_stack.count() == count
    commit_text(qtbot, panel.timezone.lineEdit(), "america/new_york")  # case does not matter
    assert j.schedule.timezone == "America/New_York"


def test_journey_settings_show_findings_and_follow_the_current_journey(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = JourneySettingsPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    panel.activateWindow()
    problems = ProblemsPanel(doc)
    qtbot.addWidget(problems)
    problems.settingsRequested.connect(panel.focus_field)
    panel.segments.set_checked("Most valuable customers", False)
    qtbot.waitUntil(lambda: "no audience" in panel.notes["audience.segments"].plain_text())
    row = next(i for i in range(problems.row_count()) if "no audience" in problem_texts(problems)[i])
    with qtbot.waitSignal(problems.settingsRequested) as sig:
        problems.activate(problems.tree.topLevelItem(row))
    assert sig.args == ["audience"]
    qtbot.waitUntil(panel.segments.hasFocus)
    command = journey_from_template_command(doc.project, resource_path("templates", "renewal-reminder.yaml"))
    assert doc.run(command)
    doc.set_current_journey(command.journey_id)
    assert panel.name.text() == "Renewal reminder" and panel.frequency.count.value() == 12
    doc.set_current_journey(j.id)
    assert panel.name.text() == "Product announcement"


# --- problems -----------------------------------------------------------------------------------------------

def test_problems_click_selects_the_step_and_field(doc: Document, qtbot) -> None:
    j = journey(doc)
    panel = ProblemsPanel(doc)
    qtbot.addWidget(panel)
    panel.resize(900, 200)
    panel.show()
    assert doc.run(SetProps(j.id, "clicked", {"within": None}))
    add_step(doc, "email", "promo")
    qtbot.waitUntil(lambda: panel.row_count() >= 3)
    assert panel.summary.text() == "2 errors, 1 warning"  # no time limit, promo unreachable; promo has no content
    row = next(i for i in range(panel.row_count()) if "time limit" in panel.tree.topLevelItem(i).text(1))
    item = panel.tree.topLevelItem(row)
    assert item.text(0).startswith("Clicked product link?")
    rect = panel.tree.visualItemRect(item)
    emitted: list[tuple[str, ...]] = []
    doc.selectRequested.connect(lambda jid, sid: emitted.append((jid, sid)))
    panel.fieldRequested.connect(lambda sid, field: emitted.append((sid, field)))
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert emitted == [(j.id, "clicked"), ("clicked", "within")]
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    with qtbot.waitSignal(doc.selectRequested):
        qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    shoot(panel, "problems")


def test_properties_focus_field_from_a_problem(doc: Document, qtbot) -> None:
    j = journey(doc)
    problems, props = ProblemsPanel(doc), PropertiesPanel(doc)
    for w in (problems, props):
        qtbot.addWidget(w)
    props.show()
    props.activateWindow()
    problems.fieldRequested.connect(lambda step_id, field: props.focus_field(field, step_id))
    doc.selectRequested.connect(props.show_step)
    assert doc.run(SetProps(j.id, "clicked", {"within": None}))
    qtbot.waitUntil(lambda: problems.row_count() == 1)
    problems.activate(problems.tree.topLevelItem(0))
    assert props.step_id == "clicked"
    qtbot.waitUntil(lambda: props.editor("within").edit.hasFocus())
    props.focus_field("name")  # a field of the step shown
    qtbot.waitUntil(lambda: props.name_edit.hasFocus())


# --- project browser ----------------------------------------------------------------------------------------

def test_browser_lists_the_project_and_opens_journeys(doc: Document, qtbot) -> None:
    browser = ProjectBrowser(doc)
    qtbot.addWidget(browser)
    browser.resize(320, 480)
    browser.show()
    assert browser.names("journeys") == ["Product announcement"]
    assert browser.names("segments") == ["Do not contact", "Most valuable customers", "Unsubscribed"]
    assert browser.names("content") == ["Product announcement email", "Product launched text"]
    assert browser.item("content", "Product launched text").text(1) == "Ready"
    assert browser.item("journey", journey(doc).id).font(0).bold()
    command = journey_from_template_command(doc.project, resource_path("templates", "welcome-series.yaml"))
    assert doc.run(command)
    assert browser.names("journeys") == ["Product announcement", "Welcome series"]
    item = browser.item("journey", command.journey_id)
    assert item.text(1) == "7 steps · v1"
    browser.tree.setCurrentItem(item)
    browser.tree.setFocus()
    with qtbot.waitSignal(doc.currentJourneyChanged):
        qtbot.keyClick(browser.tree, Qt.Key.Key_Return)
    assert journey(doc).id == command.journey_id and item.font(0).bold()
    shoot(browser, "browser")


def test_browser_actions_are_undoable_commands(doc: Document, qtbot, monkeypatch) -> None:
    browser = ProjectBrowser(doc)
    qtbot.addWidget(browser)
    j = journey(doc)
    browser.duplicate_journey(j.id)
    assert browser.names("journeys") == ["Product announcement", "Product announcement (copy)"]
    copy_id = journey(doc).id
    assert browser.rename("journey", copy_id, "Second launch")
    assert not browser.rename("journey", copy_id, "Product announcement")  # taken
    monkeypatch.setattr(browser, "confirm", lambda _q: True)
    browser.delete_journey(copy_id)
    assert browser.names("journeys") == ["Product announcement"] and journey(doc).id == j.id
    doc.undo_stack.undo()
    assert browser.names("journeys") == ["Product announcement", "Second launch"]

    browser.set_content_status("Product launched text", "draft")
    assert doc.project.content["Product launched text"].status == "draft"
    assert browser.item("content", "Product launched text").text(1) == "Draft"
    assert browser.rename("content", "Product launched text", "Launch SMS")
    assert j.step("launched").props["content"] == "Launch SMS"
    assert browser.rename("segment", "Unsubscribed", "Opted out")
    assert j.audience.suppress == "Opted out" and "Unsubscribed" not in doc.project.segments
    doc.undo_stack.undo()
    assert j.audience.suppress == "Unsubscribed" and browser.item("segment", "Unsubscribed") is not None
    browser.item("segment", "Do not contact").setText(0, "Never contact")  # as the inline editor does
    qtbot.waitUntil(lambda: j.audience.exclude == ("Never contact",))
    assert browser.names("segments") == ["Most valuable customers", "Never contact", "Unsubscribed"]
    browser.item("journey", j.id).setText(0, "Second launch")  # taken: the old name comes back
    qtbot.waitUntil(lambda: browser.names("journeys")[0] == "Product announcement")
    assert j.name == "Product announcement"
    browser.delete_content("Launch SMS")
    assert "Launch SMS" not in doc.project.content
    menu = browser.context_menu(browser.item("journey", j.id))
    assert [a.text() for a in menu.actions() if a.text()] == ["Open", "New from template…", "Duplicate", "Rename",
                                                              "Delete…"]


# --- templates and content ----------------------------------------------------------------------------------

def test_every_template_becomes_one_undoable_command(doc: Document, qtbot) -> None:
    project = doc.project
    before_content, before_segments = set(project.content), set(project.segments)
    for path in template_paths():
        command = journey_from_template_command(project, path)
        count = len(project.journeys)
        assert doc.run(command)
        created = project.journey(command.journey_id)
        assert len(project.journeys) == count + 1 and len(created) > 0
        assert all(step.position is not None for step in created)
        assert not any(f.code == "unknown-segment" for f in doc.findings(created.id))
        doc.undo_stack.undo()
        assert project.find_journey(command.journey_id) is None
        assert set(project.content) == before_content and set(project.segments) == before_segments
    command = journey_from_template_command(project, resource_path("templates", "announcement.yaml"))
    assert doc.run(command) and project.journey(command.journey_id).name == "Product announcement (2)"


def test_template_gallery_search_and_command(doc: Document, qtbot) -> None:
    gallery = TemplateGallery(doc)
    qtbot.addWidget(gallery)
    assert gallery.list.count() == len(template_paths())
    qtbot.keyClicks(gallery.search, "cart")
    visible = [gallery.list.item(i).text() for i in range(gallery.list.count()) if not gallery.list.item(i).isHidden()]
    assert visible == ["Abandoned cart follow-up"]
    assert gallery.title.text() == "Abandoned cart follow-up" and "6 tiles" in gallery.facts.text()
    gallery.search.setText("")
    gallery.list.setCurrentRow(1)
    shoot(gallery, "template_gallery")
    count = doc.undo_stack.count()
    gallery.accept()  # OK
    assert gallery.result() == gallery.DialogCode.Accepted and doc.undo_stack.count() == count + 1
    assert journey(doc).id == gallery.journey_id and journey(doc).name == "Re-engagement"


def test_content_dialog_validates_name_and_builds_content(doc: Document, qtbot) -> None:
    dialog = ContentDialog(doc.project, kind="email")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.name.setText("Product launched text")
    assert not ok.isEnabled() and "already" in dialog.name_note.plain_text()
    dialog.name.setText("Spring sale")
    dialog.subject.setText("Hi {{first_name}}")
    dialog.body.setPlainText("See [shop] and [faq]")
    dialog.links.setText("shop")
    assert ok.isEnabled() and "faq" in dialog.links_note.plain_text()
    dialog.status.setCurrentIndex(dialog.status.findData("ready"))
    content = dialog.content()
    assert content == Content("Spring sale", "email", "ready", subject="Hi {{first_name}}", body="See [shop] and [faq]",
                              links=("shop",))
    shoot(dialog, "content_dialog")
    edit = ContentDialog(doc.project, doc.project.content["Product launched text"])
    qtbot.addWidget(edit)
    assert edit.problem() is None and not edit.kind.isEnabled() and edit.text.toPlainText().startswith("X is here")


def test_panels_fit_a_narrow_dock_and_a_dark_palette(doc: Document, qtbot) -> None:
    from PySide6.QtGui import QColor, QPalette
    app = QApplication.instance()
    old = app.palette()
    dark = QPalette(QColor("#2b2b2b"), QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e6e6e6"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    app.setPalette(dark)
    try:
        props, settings = PropertiesPanel(doc), JourneySettingsPanel(doc)
        for w in (props, settings):
            qtbot.addWidget(w)
            w.resize(340, 900)
        assert doc.run(SetProps(journey(doc).id, "clicked", {"within": None}))
        doc.refresh_findings()
        props.show_step(journey(doc).id, "clicked")
        for w, name in ((props, "properties_dark"), (settings, "journey_settings_dark")):
            shoot(w, name)
            page = w.scroll.widget()
            assert page.minimumSizeHint().width() <= w.scroll.viewport().width() + 1, name
    finally:
        app.setPalette(old)


def test_journey_settings_edit_the_goals_window_and_keep_it_when_the_goal_changes(doc: Document, qtbot) -> None:
    from app.model.journey import Trigger
    from app.model.project_commands import UpdateJourney

    j = journey(doc)
    assert doc.run(UpdateJourney(j.id, goal=Trigger(event="purchase")))
    panel = JourneySettingsPanel(doc)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.goal_within.isEnabled() and panel.goal_within.text() == ""  # the default (30 days)
    commit_text(qtbot, panel.goal_within, "14d")
    assert j.goal is not None and j.goal.within == timedelta(days=14)
    panel._commit_goal(Trigger(event="web_visit"))  # another event: the window stays
    assert j.goal == Trigger(event="web_visit", within=timedelta(days=14))
    commit_text(qtbot, panel.goal_within, "400d")
    assert "366 days" in panel.notes["goal.within"].plain_text() and j.goal.within == timedelta(days=14)
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert j.goal == Trigger(event="purchase") and panel.goal_within.text() == ""
