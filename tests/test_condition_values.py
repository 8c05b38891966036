"""If/then conditions with a range ('between') or a number of days: the check for errors tests the value's
shape (the same rule as segment query rows), and the condition's value field reads and refuses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from app.codec.yamlio import read_journey_file, read_journey_text
from app.model.project import Project
from app.resources import resource_path
from app.services import import_journey
from app.store import ProjectFile
from app.validation.checks import check_journey
from designer.document import Document
from designer.panels import PropertiesPanel
from designer.panels.condition_values import read_value, value_text


def condition_findings(condition: dict[str, Any]) -> list[str]:
    """The finding codes about the condition of an if/then that tests it."""
    text = f"""\
format: journey/1
name: Test
audience: {{segments: [Everyone]}}
schedule: {{start: 2026-12-01T09:00, end: 2027-01-31T00:00}}
steps:
  check: {{type: if-then, condition: {_flow(condition)}, yes: end, no: end}}
segments:
  Everyone: {{entity: contacts}}
"""
    journey, _, segments = read_journey_text(text, journey_id="j1")
    project = Project("Test")
    project.add_journey(journey)
    for s in segments:
        project.put_segment(s)
    return [f.code for f in check_journey(journey, project) if f.field == "condition"]


def _flow(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML


@pytest.mark.parametrize("condition, codes", [
    ({"attribute": "lifetime_value", "op": "between", "value": [100, 500]}, []),
    ({"attribute": "last_purchase_date", "op": "between", "value": ["2026-01-01", "2026-03-31"]}, []),
    ({"attribute": "created_on", "op": "between", "value": ["2026-01-01T09:00", "2026-01-02"]}, []),
    ({"attribute": "lifetime_value", "op": "between", "value": 100}, ["condition-value-type"]),
    ({"attribute": "lifetime_value", "op": "between", "value": [100]}, ["condition-value-type"]),
    ({"attribute": "lifetime_value", "op": "between", "value": [100, 200, 300]}, ["condition-value-type"]),
    ({"attribute": "lifetime_value", "op": "between", "value": [500, 100]}, ["condition-value-type"]),
    ({"attribute": "lifetime_value", "op": "between", "value": ["low", "high"]}, ["condition-value-type"]),
    ({"attribute": "last_purchase_date", "op": "in_last_days", "value": 30}, []),
    ({"attribute": "last_purchase_date", "op": "not_in_last_days", "value": 0}, []),
    ({"attribute": "last_purchase_date", "op": "in_last_days", "value": -1}, ["condition-value-type"]),
    ({"attribute": "last_purchase_date", "op": "in_last_days", "value": 2.5}, ["condition-value-type"]),
    ({"attribute": "last_purchase_date", "op": "in_last_days", "value": "30"}, ["condition-value-type"]),
    ({"attribute": "created_on", "op": "not_in_last_days", "value": True}, ["condition-value-type"]),
    ({"attribute": "lifetime_value", "op": "greater_than", "value": "lots"}, ["condition-value-type"]),
    ({"attribute": "loyalty_tier", "op": "equals", "value": "diamond"}, ["condition-value-type"]),
    ({"attribute": "loyalty_tier", "op": "in", "value": ["gold", "platinum"]}, []),
    ({"attribute": "lifetime_value", "op": "between"}, ["condition-value"]),
    ({"attribute": "lifetime_value", "op": "contains_data"}, []),
])
def test_the_check_tests_the_shape_of_a_condition_value(condition: dict[str, Any], codes: list[str]) -> None:
    assert condition_findings(condition) == codes


def test_a_value_shape_finding_says_what_to_write() -> None:
    text = f"""\
format: journey/1
name: Test
audience: {{segments: [Everyone]}}
steps:
  check: {{type: if-then, condition: {_flow({"attribute": "lifetime_value", "op": "between", "value": 5})},
          yes: end, no: end}}
segments:
  Everyone: {{entity: contacts}}
"""
    journey, _, _ = read_journey_text(text, journey_id="j1")
    [finding] = [f for f in check_journey(journey) if f.code == "condition-value-type"]
    assert "not a range" in finding.message and "[100, 500]" in finding.fix and finding.step == "check"


@pytest.mark.parametrize("text, attr_type, op, value", [
    ("100, 500", "number", "between", [100, 500]),
    ("100 and 500.5", "number", "between", [100, 500.5]),
    ("100 to 500", "number", "between", [100, 500]),
    ("2026-01-01, 2026-03-31", "date", "between", ["2026-01-01", "2026-03-31"]),
    ("2026-01-01T09:00, 2026-01-02", "datetime", "between", ["2026-01-01T09:00", "2026-01-02"]),
    ("30", "date", "in_last_days", 30),
    (" 0 ", "datetime", "not_in_last_days", 0),
])
def test_typed_ranges_and_day_counts_are_read(text: str, attr_type: str, op: str, value: Any) -> None:
    assert read_value(text, attr_type, op) == value
    assert read_value(value_text(value), attr_type, op) == value  # what is shown reads back the same


@pytest.mark.parametrize("text, attr_type, op, why", [
    ("100", "number", "between", "low, high"),
    ("100,", "number", "between", "low, high"),
    ("1, 2, 3", "number", "between", "low, high"),
    ("lots, 5", "number", "between", "not a number"),
    ("2026-13-01, 2026-12-31", "date", "between", "not a date"),
    ("soon", "date", "in_last_days", "number of days"),
    ("-3", "date", "in_last_days", "number of days"),
    ("2.5", "datetime", "not_in_last_days", "number of days"),
])
def test_bad_ranges_and_day_counts_are_refused(text: str, attr_type: str, op: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_value(text, attr_type, op)


# --- the field ------------------------------------------------------------------------------------------------

@pytest.fixture
def doc(tmp_path: Path, qtbot: Any) -> Iterator[Document]:
    pf = ProjectFile.create(tmp_path / "p.jstudio")
    import_journey(pf.project, *read_journey_file(resource_path("templates", "announcement.yaml")))
    document = Document(pf)
    yield document
    document.close()


def _choose(combo: Any, data: str) -> None:
    index = combo.findData(data)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _type(editor: Any, text: str) -> None:
    editor.value_edit.setText(text)
    editor.value_edit.editingFinished.emit()


@pytest.mark.gui
def test_the_condition_field_takes_ranges_and_days_and_refuses_bad_ones(doc: Document, qtbot: Any) -> None:
    journey = doc.current_journey
    assert journey is not None
    panel = PropertiesPanel(doc)
    qtbot.addWidget(panel)
    panel.show_step(journey.id, "clicked")
    condition = panel.editor("condition")
    _choose(condition.attr_combo, "lifetime_value")
    _choose(condition.op_combo, "between")
    assert "low, high" in condition.value_edit.placeholderText()
    _type(condition, "100, 500")
    assert journey.step("clicked").props["condition"] == {"attribute": "lifetime_value", "op": "between",
                                                          "value": [100, 500]}
    _type(condition, "500, 100")  # an empty range: refused at the field, nothing saved
    assert "lower bound first" in condition.note.plain_text() and condition.value_edit.property("invalid")
    assert journey.step("clicked").props["condition"]["value"] == [100, 500]
    _type(condition, "100")
    assert "low, high" in condition.note.plain_text()

    _choose(condition.attr_combo, "last_purchase_date")  # another attribute: what was typed is dropped
    assert journey.step("clicked").props["condition"] == {"attribute": "last_purchase_date", "op": "between"}
    assert "in_last_days" in [condition.op_combo.itemData(i) for i in range(condition.op_combo.count())]
    _type(condition, "2026-01-01, 2026-03-31")
    assert journey.step("clicked").props["condition"]["value"] == ["2026-01-01", "2026-03-31"]
    _choose(condition.op_combo, "in_last_days")  # another kind of value: the range is dropped, not refused
    assert journey.step("clicked").props["condition"] == {"attribute": "last_purchase_date", "op": "in_last_days"}
    assert condition.value_edit.text() == "" and "days" in condition.value_edit.placeholderText()
    _type(condition, "soon")
    assert "number of days" in condition.note.plain_text()
    _type(condition, "30")
    assert journey.step("clicked").props["condition"]["value"] == 30 and condition.note.input_error is None
    _choose(condition.attr_combo, "loyalty_tier")
    _type(condition, "diamond")  # not a choice: the field says which ones are
    assert "one of: none, bronze" in condition.note.plain_text()
