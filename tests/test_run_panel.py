"""The run panel: runs from its controls in a worker thread, progress and cancel, project and segment populations,
the behaviour table's edits and refusals, and read-only projects."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from simulator.runs import load_run
from app.audience import members as m
from app.cli.simulate import read_behaviour
from app.codec.yamlio import read_journey_text
from app.services import create_demo_project, import_journey
from app.store import ProjectFile
from designer.document import Document
from designer.simulation.behaviour_model import COLUMNS
from designer.simulation.behaviour_table import BehaviourTable
from designer.simulation.run_panel import PROGRESS_STEPS, RunPanel
from designer.simulation.worker import running_jobs
from simulator.behaviour import BehaviourModel
from simulator.engine import DEFAULT_CHUNK
from app.semantics.plan import DAY, compile_plan
from simulator.population import population_for, replica_seed
from simulator.project_population import population_from_project
from simulator.replicas import simulate
from tests.samples import ANNOUNCEMENT

TIMEOUT_MS = 120_000
OPEN = next(i for i, c in enumerate(COLUMNS) if c.field == "open")
OPEN_DELAY = next(i for i, c in enumerate(COLUMNS) if c.field == "open_median")


@pytest.fixture(scope="module")
def demo_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("demo") / "demo.jstudio"
    create_demo_project(path, contacts=1500)
    return path.read_bytes()


@pytest.fixture
def demo(tmp_path: Path, demo_bytes: bytes) -> Path:
    path = tmp_path / "demo.jstudio"
    path.write_bytes(demo_bytes)
    return path


@pytest.fixture
def document(demo: Path) -> Iterator[Document]:
    doc = Document(ProjectFile.open(demo))
    yield doc
    doc.close()


@pytest.fixture
def panel(qtbot: QtBot, document: Document) -> RunPanel:
    p = RunPanel(document)
    qtbot.addWidget(p)
    p.resize(900, 900)
    p.show()
    return p


def _run(qtbot: QtBot, panel: RunPanel) -> tuple[Any, Any]:
    with qtbot.waitSignal(panel.runCompleted, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not panel.is_running()
    return blocker.args[0], blocker.args[1]


def _direct(document: Document, plan: Any, n: int, seed: int, replicas: int,
            behaviour: BehaviourModel | None = None, locale: str | None = None) -> tuple[Any, Any]:
    """The run the panel should make: each replica its own synthetic population, the project's definitions."""
    def pop(r: int) -> Any:
        return population_for(plan, n, replica_seed(seed, r), definitions=document.project.segments, locale=locale,
                              custom=document.project.settings.custom_attributes or {})
    first = pop(0)
    source = (lambda r: first if r == 0 else pop(r)) if replicas > 1 else first
    return simulate(plan, source, behaviour or BehaviourModel(), seed, replicas, chunk_size=DEFAULT_CHUNK), first


def _synthetic(panel: RunPanel, contacts: int, replicas: int, seed: int) -> None:
    panel.set_population_kind("synthetic")
    panel.contacts_spin.setValue(contacts)
    panel.replicas_spin.setValue(replicas)
    panel.seed_spin.setValue(seed)


def test_a_run_from_the_panel_is_the_simulator_s_run_and_is_saved(qtbot: QtBot, panel: RunPanel,
                                                                  document: Document) -> None:
    _synthetic(panel, 2000, 2, 77)
    panel.name_edit.setText("First try")
    values: list[int] = []
    panel.progress.valueChanged.connect(values.append)
    record, run_id = _run(qtbot, panel)

    journey = document.current_journey
    assert journey is not None and record.journey_id == journey.id
    plan = compile_plan(journey)
    direct, pop = _direct(document, plan, 2000, 77, 2)
    assert record.results["funnel"] == direct.to_json()["funnel"]
    assert record.results["effect"] == direct.to_json()["effect"]
    assert record.trace_digest == direct.trace.digest()
    assert record.population == {**pop.spec, "per_replica": True} and record.replicas == 2 and record.seed == 77

    assert panel.progress.value() == panel.progress.maximum() == PROGRESS_STEPS
    assert values == sorted(values) and values[-1] == PROGRESS_STEPS  # (how many steps between: timing)
    saved = document.file.runs()
    assert [(r.id, r.name, r.seed) for r in saved] == [(run_id, "First try", 77)]
    assert load_run(document.file, run_id).trace_digest == record.trace_digest
    assert panel.status_text().startswith(f"Saved as run {run_id}: 2,000 synthetic contacts")
    assert "Caused by the journey" in panel.status_text()
    assert not panel.is_error_shown() and panel.run_button.isEnabled()


def test_locale_horizon_and_a_behaviour_edit_reach_the_record(qtbot: QtBot, panel: RunPanel) -> None:
    _synthetic(panel, 1000, 1, 5)
    panel.set_locale("en_GB")
    panel.days_radio.setChecked(True)
    panel.days_spin.setValue(12)
    panel.show_behaviour(True)
    table = panel.behaviour_table
    view, model = table.view, table.model
    email = model.index(model.row_of("channel", "email"), OPEN)
    view.setCurrentIndex(email)
    view.edit(email)
    editor = view.findChild(QLineEdit)
    assert editor is not None and editor.text() == "21.33"
    editor.setText("40")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: model.data(email) == "40 %")  # the delegate commits on the next event loop turn
    announce = model.index(model.row_of("message", "announce"), OPEN_DELAY)
    assert model.data(announce) == "3 h" and model.data(announce, Qt.ItemDataRole.FontRole).italic()  # inherited
    assert model.setData(announce, "90 min")
    assert model.data(email, Qt.ItemDataRole.FontRole).bold() and model.data(email) == "40 %"
    assert model.data(announce) == "1.5 h" and model.data(announce, Qt.ItemDataRole.FontRole).bold()
    assert "2 figures edited" in panel.behaviour_toggle.text()

    record, _ = _run(qtbot, panel)
    assert record.behaviour["channels"]["email"]["open"] == 0.4
    assert record.behaviour["messages"] == {"announce": {"open_median": 5400.0}}
    assert record.population["locale"] == "en_GB" and "(en_GB)" in panel.status_text()
    assert record.horizon == compile_plan(panel.document.current_journey).start + 12 * DAY
    plan = compile_plan(panel.document.current_journey, horizon=record.horizon)
    b = replace(BehaviourModel(), channels={**BehaviourModel().channels, "email": replace(
        BehaviourModel().channels["email"], open=0.4)}, messages={"announce": {"open_median": 5400.0}})
    direct, _ = _direct(panel.document, plan, 1000, 5, 1, b, locale="en_GB")
    assert record.results["funnel"] == direct.to_json()["funnel"]


def test_cancel_stops_the_run_and_saves_nothing(qtbot: QtBot, panel: RunPanel, document: Document) -> None:
    _synthetic(panel, 600_000, 6, 3)
    completed: list[Any] = []
    panel.runCompleted.connect(lambda *a: completed.append(a))
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.is_running() and not panel.run_button.isEnabled()
    assert not panel.run(), "a second run cannot start while one runs"
    qtbot.waitUntil(lambda: "replica 1 of 6" in panel.progress.format(), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(panel.runEnded, timeout=TIMEOUT_MS) as ended:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["cancelled"]
    assert "cancelled" in panel.status_text().lower() and not panel.is_error_shown()
    assert panel.progress.value() == 0 and not completed and document.file.runs() == []
    assert panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: not running_jobs())  # the thread ends just after it reports


def test_closing_the_panel_mid_run_leaves_no_thread(qtbot: QtBot, document: Document) -> None:
    p = RunPanel(document)
    p.show()
    _synthetic(p, 600_000, 6, 4)
    assert p.run()
    qtbot.waitUntil(lambda: p.progress.value() > 0, timeout=TIMEOUT_MS)
    p.close()
    assert not running_jobs() and not p.is_running() and document.file.runs() == []
    p.deleteLater()


def test_closing_the_window_mid_run_cancels_the_job(qtbot: QtBot, document: Document) -> None:
    window = QWidget()
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    p = RunPanel(document, window)
    window.show()
    _synthetic(p, 600_000, 6, 5)
    assert p.run()
    job = p.job
    assert job is not None
    qtbot.waitUntil(lambda: p.progress.value() > 0, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.destroyed, timeout=TIMEOUT_MS):
        window.close()
    assert job.cancel_token.is_set()
    qtbot.waitUntil(lambda: not running_jobs(), timeout=TIMEOUT_MS)
    assert document.file.runs() == []


def test_project_and_segment_populations(qtbot: QtBot, panel: RunPanel, document: Document) -> None:
    journey = document.current_journey
    assert journey is not None
    plan = compile_plan(journey)
    panel.set_population_kind("project")
    panel.replicas_spin.setValue(2)
    panel.seed_spin.setValue(8)
    assert not panel.contacts_spin.isEnabled() and not panel.profile_combo.isEnabled()
    assert not panel.as_of_start.isEnabled()  # the audience is evaluated over the period, as the live runner does
    record, run_id = _run(qtbot, panel)
    pop = population_from_project(document.file, journey, plan=plan)
    direct = simulate(plan, pop, BehaviourModel(), 8, 2)
    assert record.results["funnel"] == direct.to_json()["funnel"] and len(pop) > 50
    assert record.population["kind"] == "project" and run_id is not None
    assert panel.status_text().startswith(f"Saved as run {run_id}: {len(pop):,} project contacts in the audience")

    panel.set_population_kind("segment")
    assert panel.segment_combo.isEnabled() and panel.as_of_start.isEnabled()
    panel.set_segment("No purchase in 60 days")
    record, _ = _run(qtbot, panel)
    seg = population_from_project(document.file, journey, segment="No purchase in 60 days", plan=plan)
    members = m.member_ids(document.file, "No purchase in 60 days", datetime.fromisoformat(seg.spec["as_of"]))
    assert record.population == dict(seg.spec) and len(members) == seg.spec["size"] > 0
    assert record.results["funnel"] == simulate(plan, seg, BehaviourModel(), 8, 2).to_json()["funnel"]

    panel.as_of_start.setChecked(False)
    assert panel.as_of_edit.isEnabled()
    panel.as_of_edit.setFocus()
    panel.as_of_edit.selectAll()
    qtbot.keyClicks(panel.as_of_edit, "2026-11-15 10:00")  # typed over: the whole moment is replaced
    qtbot.keyClick(panel.as_of_edit, Qt.Key.Key_Return)
    assert panel.as_of_edit.value() == datetime(2026, 11, 15, 10, 0)
    record, _ = _run(qtbot, panel)
    moment = datetime(2026, 11, 15, 10, 0, tzinfo=timezone.utc)
    earlier = population_from_project(document.file, journey, segment="No purchase in 60 days", plan=plan,
                                      as_of=moment)
    assert record.population == dict(earlier.spec) and record.population["as_of"] == "2026-11-15T10:00:00+00:00"
    panel.as_of_start.setChecked(True)

    panel.set_segment("Unsubscribed")  # a subscription list nobody left
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT_MS)
    assert panel.is_error_shown() and "Segment 'Unsubscribed' has no members" in panel.status_text()
    assert "Traceback" not in panel.status_text() and len(document.file.runs()) == 3


def test_profile_and_one_population_for_every_replica(qtbot: QtBot, panel: RunPanel, document: Document,
                                                      tmp_path: Path) -> None:
    """The profile fitted to the project's contacts, a profile file, and the option to keep one population."""
    _synthetic(panel, 1500, 2, 9)
    panel.profile_combo.setCurrentIndex(panel.profile_combo.findData("project"))
    panel.shared_check.setChecked(True)
    panel._sync_enabled()
    assert not panel.locale_combo.isEnabled()  # the fitted profile says where contacts live
    record, run_id = _run(qtbot, panel)
    assert record.population["profile"]["source"].startswith("fitted to the 1,500 contacts")
    assert record.population["per_replica"] is False and "one population for every replica" in panel.status_text()
    from app.audience.profile import PopulationProfile, profile_file_text
    path = tmp_path / "p.yaml"
    path.write_text(profile_file_text(replace(PopulationProfile(), buyers=0.9, source="mostly buyers")),
                    encoding="utf-8")
    assert panel.load_profile(path) and "p.yaml" in panel.profile_combo.currentText()
    panel.shared_check.setChecked(False)
    record, _ = _run(qtbot, panel)
    assert record.population["profile"]["buyers"] == 0.9 and record.population["per_replica"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("buyers: 3\n", encoding="utf-8")
    assert not panel.load_profile(bad) and panel.is_error_shown()
    assert f"{bad}:1:9: buyers: must be from 0 to 1, not 3" in panel.status_text()
    assert panel.profile_combo.currentData() == "default"


def test_a_journey_with_errors_runs_only_when_allowed_and_says_how_it_was_read(qtbot: QtBot, panel: RunPanel,
                                                                             document: Document) -> None:
    text = ANNOUNCEMENT.replace("name: Product announcement", "name: Split")
    journey, contents, segments = read_journey_text(text)
    import_journey(document.project, journey, contents, segments)
    split = document.project.journey("Split")
    from app.model.journey import Step
    from app.model.registry import END
    split.add_step(Step("ab", "ab-split", props={"split": (60, 60), "holdout": 0}, outputs={"A": END, "B": END}))
    split.step("launched").outputs["next"] = "ab"
    document.set_current_journey(split.id)
    panel._refresh()
    assert not panel.run_button.isEnabled() and panel.is_error_shown() and panel.allow_errors.isVisible()
    assert "finds 1 error" in panel.status_text()
    panel.allow_errors.setChecked(True)
    assert panel.run_button.isEnabled()
    _synthetic(panel, 800, 1, 3)
    record, _ = _run(qtbot, panel)
    assert any("split 'ab'" in n and "120%" in n for n in record.results["notes"])
    assert record.results["allowed_errors"] and "Note: split 'ab'" in panel.status_text()


def test_a_read_only_project_runs_but_does_not_save(qtbot: QtBot, demo: Path) -> None:
    os.chmod(demo, stat.S_IRUSR | stat.S_IRGRP)
    doc = Document(ProjectFile.open(demo))
    try:
        assert doc.readonly
        p = RunPanel(doc)
        qtbot.addWidget(p)
        _synthetic(p, 1500, 1, 2)
        record, run_id = _run(qtbot, p)
        assert run_id is None and record.results["funnel"]
        assert p.status_text().startswith("Not saved (") and doc.file.runs() == []
        p.set_population_kind("project")  # its contacts are read all the same
        record, run_id = _run(qtbot, p)
        assert run_id is None and record.population["kind"] == "project"
    finally:
        doc.close()
        os.chmod(demo, stat.S_IRUSR | stat.S_IWUSR)


def test_a_journey_the_simulator_cannot_compile_says_why(qtbot: QtBot, document: Document) -> None:
    text = ANNOUNCEMENT.replace("start: 2026-12-01T09:00, ", "").replace("name: Product announcement",
                                                                         "name: No start")
    import_journey(document.project, *read_journey_text(text))
    p = RunPanel(document)
    qtbot.addWidget(p)
    document.set_current_journey(document.project.journey("No start").id)
    assert not p.run_button.isEnabled() and p.is_error_shown()
    assert p.status_text().startswith("Cannot simulate 'No start': journey 'No start' has no start date")
    assert not p.run()
    document.set_current_journey(document.project.journey("Re-engagement").id)
    assert p.run_button.isEnabled() and p.status_text() == ""


# --- the behaviour table -----------------------------------------------------------------------------------------

def test_invalid_figures_are_refused_with_the_cell_and_why(qtbot: QtBot) -> None:
    table = BehaviourTable()
    qtbot.addWidget(table)
    model = table.model
    email = model.row_of("channel", "email")
    cases = [("120", OPEN, "Email, opened: 120 % is more than 100 %"),
             ("-3", OPEN, "Email, opened: a share cannot be negative"),
             ("lots", OPEN, "Email, opened: 'lots' is not a number"),
             ("-1 h", OPEN_DELAY, "Email, open delay: a delay cannot be negative"),
             ("5", OPEN_DELAY, "Email, open delay: '5' has no unit"),
             ("soon", OPEN_DELAY, "Email, open delay: 'soon' is not a duration")]
    for text, column, why in cases:
        assert not model.setData(model.index(email, column), text)
        assert table.refusal().startswith(why), table.refusal()
        assert "\n" not in table.refusal()
    assert table.behaviour() == BehaviourModel()
    purchase = model.row_of("event", "purchase")
    assert not model.setData(model.index(purchase, 1), "101")
    assert table.refusal().startswith("Purchase rate: 101 % is more than 100 %")
    assert model.setData(model.index(purchase, 1), "0.5")
    assert table.refusal() == "" and table.behaviour().event_rates["purchase"] == 0.005
    assert model.data(model.index(purchase, 1)) == "0.5 % a day"


def test_overrides_inherit_reset_and_files_round_trip(qtbot: QtBot, tmp_path: Path, document: Document) -> None:
    table = BehaviourTable()
    qtbot.addWidget(table)
    table.set_journey(document.current_journey)
    model = table.model
    row = model.row_of("message", "announce")
    assert row > 0 and model.row_of("message", "launched") > row
    cell = model.index(row, OPEN)
    grey = model.data(cell, Qt.ItemDataRole.ForegroundRole)
    assert model.data(cell) == "21.33 %" and grey is not None  # the channel's figure, greyed
    assert model.setData(cell, "21.33")  # the inherited figure confirmed: still inherited
    assert table.behaviour().messages == {}
    assert model.setData(cell, "35")
    assert table.behaviour().messages == {"announce": {"open": 0.35}}
    assert model.setData(model.index(model.row_of("channel", "email"), OPEN), "30")
    assert model.data(cell) == "35 %" and model.data(model.index(row, OPEN + 1)) == "12.28 %"

    path = tmp_path / "b.yaml"
    assert table.save_file(path)
    assert path.read_text(encoding="utf-8").startswith("# Default figures")
    assert read_behaviour(str(path)) == table.behaviour()  # the command line reads it
    edited = table.behaviour()

    table.view.selectionModel().select(cell, table.view.selectionModel().SelectionFlag.Select)
    table.reset_selected()
    assert table.behaviour().messages == {} and model.data(cell) == "30 %"
    table.reset_to_defaults()
    assert table.behaviour() == BehaviourModel() and model.edited_count() == 0
    assert not model.data(cell, Qt.ItemDataRole.FontRole).bold()
    assert table.load_file(path) and table.behaviour() == edited

    bad = tmp_path / "bad.yaml"
    bad.write_text("channels:\n  email: {open: 1.7}\n", encoding="utf-8")
    assert not table.load_file(bad) and table.behaviour() == edited
    assert table.refusal() == f"{bad}: channels.email.open is a probability: give a number from 0 to 1, not 1.7"
    bad.write_text("channels: [\n", encoding="utf-8")
    assert not table.load_file(bad) and table.refusal().startswith(f"{bad}:2")


def test_the_source_column_cites_the_defaults(qtbot: QtBot) -> None:
    table = BehaviourTable()
    qtbot.addWidget(table)
    model = table.model
    source = len(COLUMNS) - 1
    email = model.index(model.row_of("channel", "email"), source)
    assert "Mailchimp" in model.data(email)
    assert "21.33 %" in model.data(email, Qt.ItemDataRole.ToolTipRole)
    assert "Airship" in model.data(model.index(model.row_of("channel", "push"), source))
    assert "own data" in model.data(model.index(model.row_of("event", "purchase"), source))
    assert isinstance(model.data(model.index(model.row_of("channel", "sms"), OPEN), Qt.ItemDataRole.FontRole),
                      QFont)
