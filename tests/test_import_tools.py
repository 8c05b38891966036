"""Journeys from other tools: a Mautic campaign export, a Dynamics 365 customer journey and a Dittofeed journey,
each mapped onto our tiles with every source step reported (placeholders for what does not map, never a silent
drop); through our YAML and the check for errors with the findings a user would expect; bad input is one line
naming the file and the source step or field."""

from __future__ import annotations

import json
from datetime import time, timedelta
from pathlib import Path

import pytest

from app.codec.yamlio import read_journey_text, write_journey_text
from app.errors import FormatError
from app.importers import ImportResult, read_import, read_import_text
from app.model.registry import END
from tests.cli_helpers import run

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
MAUTIC = FIXTURES / "mautic_reengagement.json"


def _by_source(result: ImportResult) -> dict[str, object]:
    return {r.source_id: r for r in result.steps}


def _round_trip(result: ImportResult) -> None:
    """The imported journey written as our YAML reads back to the same journey, content and segments."""
    text = write_journey_text(result.journey, {c.name: c for c in result.contents},
                              {s.name: s for s in result.segments})
    journey, contents, segments = read_journey_text(text, journey_id=result.journey.id)
    assert journey == result.journey
    assert sorted(contents, key=lambda c: c.name) == sorted(result.contents, key=lambda c: c.name)
    assert sorted(segments, key=lambda s: s.name) == sorted(result.segments, key=lambda s: s.name)


# --- Mautic --------------------------------------------------------------------------------------------------

def test_mautic_export_maps_sends_decisions_conditions_and_timing() -> None:
    r = read_import(MAUTIC)
    assert r.format == "mautic" and r.detected
    j = r.journey
    assert j.name == "Spring re-engagement" and j.frequency.kind == "ongoing"
    assert j.audience.segments == ("Lapsed customers",)
    # restricted hours 09:00-18:00 on the reminder: the journey sends nothing from 18:00 to 09:00
    assert j.schedule.quiet_hours is not None
    assert (j.schedule.quiet_hours.start, j.schedule.quiet_hours.end) == (time(18), time(9))
    entry = j.step(j.entry)
    assert entry.type == "email" and entry.props["content"] == "We miss you"
    opened = j.step(entry.outputs["next"])
    # email.open with a 3-day delay on its 'no' path: an if/then on the reminder's opens within 3 days
    assert opened.type == "if-then" and opened.props["wait_for"] == {"event": "opened", "step": entry.id}
    assert opened.props["within"] == timedelta(days=3)
    offer, nudge = j.step(opened.outputs["yes"]), j.step(opened.outputs["no"])
    assert (offer.type, offer.props["content"]) == ("email", "20% off for you")
    assert (nudge.type, nudge.props["content"]) == ("sms", "Come back text")
    france = j.step(offer.outputs["next"])
    assert france.props["condition"] == {"attribute": "country", "op": "equals", "value": "France"}
    crm = j.step(france.outputs["no"])
    assert crm.type == "webhook" and crm.props["url"] == "https://crm.example.com/hooks/mautic"
    vip = j.step(crm.outputs["next"])
    assert vip.props["segment"] == "VIP"  # named after Mautic's segment #2
    # the content is draft, named after Mautic's, with tokens in our form
    content = {c.name: c for c in r.contents}
    assert {c.status for c in content.values()} == {"draft"}
    assert content["We miss you"].subject == "We miss you, {{first_name}}"
    assert "Hello {{first_name}}" in content["We miss you"].body and "<p>" not in content["We miss you"].body
    assert content["Come back text"].kind == "sms"
    assert {s.name: s.query for s in r.segments} == {"Lapsed customers": None, "VIP": None}
    # Mautic's top-to-bottom canvas kept, turned to run left to right as ours: the decision right of the
    # reminder, its yes (left in Mautic) above its no; the wait before the survey email left of it
    assert entry.position is not None and opened.position is not None and opened.position.x > entry.position.x
    assert offer.position.y < nudge.position.y  # type: ignore[union-attr]
    assert abs(opened.position.y - entry.position.y) < 1e-9
    _round_trip(r)


def test_mautic_steps_that_do_not_map_are_reported_and_kept_as_placeholders() -> None:
    r = read_import(MAUTIC)
    rep = _by_source(r)
    assert set(rep) == {"10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20"}  # every event
    j = r.journey
    points = rep["15"]
    assert points.outcome == "placeholder" and "points" in points.note  # type: ignore[attr-defined]
    step = j.step(points.steps[0])  # type: ignore[attr-defined]
    assert step.type == "wait" and step.name == "Unmapped: Add 10 points (lead.changepoints)" and not step.props
    form = j.step(rep["19"].steps[0])  # type: ignore[attr-defined]
    assert form.type == "if-then" and form.name.startswith("Unmapped: Submitted the VIP form")
    assert rep["19"].outcome == "placeholder" and "form submission" in rep["19"].note  # type: ignore[attr-defined]
    jump = rep["17"]  # a jump back to the reminder would loop: a placeholder after the text
    assert jump.outcome == "placeholder" and "loop" in jump.note  # type: ignore[attr-defined]
    nudge = j.step(rep["13"].steps[0])  # type: ignore[attr-defined]
    assert nudge.outputs["next"] == jump.steps[0]  # type: ignore[attr-defined]
    survey = rep["20"]  # a second action under the reminder runs in parallel in Mautic: kept, unconnected
    assert survey.outcome == "approximated" and "parallel" in survey.note  # type: ignore[attr-defined]
    assert "email 99 is not in the export" in survey.note  # type: ignore[attr-defined]
    wait_id, email_id = survey.steps  # type: ignore[attr-defined]
    assert j.step(wait_id).props["duration"] == timedelta(days=2) and j.step(wait_id).outputs == {"next": email_id}
    assert not j.predecessors(wait_id)
    assert "Monday" in rep["13"].note  # type: ignore[attr-defined]  # restricted days: not mapped, said
    lines = r.lines()
    assert lines[0] == ("Detected a Mautic campaign export: 11 source steps (6 mapped, 2 approximated, "
                        "3 placeholder)")
    assert any("placeholder  action lead.changepoints #15 'Add 10 points'" in line for line in lines)


def test_mautic_import_validate_and_export_through_the_command_line(tmp_path: Path, capsys) -> None:
    project = tmp_path / "p.jstudio"
    assert run(capsys, "new", project)[0] == 0
    code, out, err = run(capsys, "import", project, MAUTIC)
    assert code == 0, err
    assert "Detected a Mautic campaign export" in out
    assert "placeholder  decision form.submit #19 'Submitted the VIP form'" in out
    assert "Imported journey 'Spring re-engagement' (12 steps)" in out
    code, out, _ = run(capsys, "validate", project, "--json")
    assert code == 1  # the placeholders are errors: it cannot go live until they are set up
    findings = json.loads(out)["journeys"]["Spring re-engagement"]
    got = {(f["code"], f["step"], f.get("field")) for f in findings}
    assert ("wait-mode", "unmapped_add_10_points_lead_changepoints", "duration") in got
    assert ("if-then-mode", "unmapped_submitted_the_vip_form_form_submit", "wait_for") in got
    assert ("unreachable-step", "wait", None) in got  # the parallel survey branch, until the user connects it
    assert ("content-not-ready", "reminder_email", "content") in got
    assert ("unknown-content", "survey_email", "content") not in got  # its empty draft is in the project
    no_query = [f for f in findings if f["code"] == "segment-no-query"]
    assert {f["message"].split("'")[1] for f in no_query} == {"Lapsed customers", "VIP"}
    # our YAML reads back as the same journey
    code, out, _ = run(capsys, "export", project, "--journey", "Spring re-engagement")
    assert code == 0
    again, _, _ = read_journey_text(out)
    assert [s.id for s in again] == [s.id for s in read_import(MAUTIC).journey]
    # a second import of the same campaign: refused unless renamed, and the placeholders never overwrite
    code, _, err = run(capsys, "import", project, MAUTIC)
    assert code == 2 and "--rename" in err
    code, out, _ = run(capsys, "import", project, MAUTIC, "--rename", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["imported_as"] == "Spring re-engagement (2)" and doc["counts"]["placeholder"] == 3
    assert "segment 'VIP' is already in the project: used as it is" in doc["notes"]


def _mautic_doc() -> list[dict]:
    return json.loads(MAUTIC.read_text())


@pytest.mark.parametrize("change, where", [
    (lambda d: d[0]["campaign_event"][3].update(parent_id=99), "campaign_event 12: parent_id 99 is not an event"),
    (lambda d: (d[0]["campaign_event"][0].update(parent_id=12)), "its parent_id chain loops (10 -> 12 -> 11 -> 10)"),
    (lambda d: d[0]["campaign_event"][1].update(event_type="trigger"), "campaign_event 11: event_type must be"),
    (lambda d: d[0]["campaign_event"][4].update(trigger_interval_unit="w"), "unknown trigger_interval_unit 'w'"),
    (lambda d: d[0]["campaign_event"][4].update(trigger_interval=10**9), "is more than ten years"),
    (lambda d: d[0]["campaign_event"][3].update(decisionPath="maybe"), "decision path must be yes or no"),
    (lambda d: d[0]["campaign"].append(dict(d[0]["campaign"][0])), "the export holds 2 campaigns"),
    (lambda d: d[0]["campaign_event"][2].update(name="x\u0000y"), "NUL character"),
])
def test_mautic_bad_input_is_one_line_naming_the_file_and_the_step(tmp_path: Path, change, where: str) -> None:
    doc = _mautic_doc()
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, indent=1))
    with pytest.raises(FormatError) as e:
        read_import(path)
    message = str(e.value)
    assert message.startswith(f"{path}:") and where in message and "\n" not in message
    assert e.value.line is not None  # located in the file


def test_bad_files_of_any_kind_are_one_line(tmp_path: Path, capsys) -> None:
    cases = {
        "not-json.json": "{ this is not json",
        "aliases.yaml": "a: &x [1, 2]\nb: *x\n",
        "unknown.json": json.dumps({"hello": "world"}),
        "nul.json": '{"campaign": []\x00}',
        "twice.json": '{"campaign": [], "campaign": []}',
    }
    expected = {"not-json.json": "malformed YAML", "aliases.yaml": "aliases (*x) are not supported",
                "unknown.json": "cannot tell the format", "nul.json": "NUL byte",
                "twice.json": "twice.json:1:18: malformed YAML: duplicate key 'campaign'"}
    project = tmp_path / "p.jstudio"
    run(capsys, "new", project)
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        code, out, err = run(capsys, "import", project, path)
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and str(path) in err and expected[name] in err, err
    big = tmp_path / "huge.json"
    with big.open("wb") as f:
        f.truncate(17 * 1024 * 1024)
    with pytest.raises(FormatError, match="too large to import"):
        read_import(big)
    with pytest.raises(FormatError, match="not a Mautic campaign export|'campaign' must be a list"):
        read_import_text(json.dumps({"campaign": "x", "campaign_event": []}), file="x.json", fmt="mautic")
    doc = _mautic_doc()
    doc[0]["campaign_event"] = [{"id": i, "type": "email.send", "event_type": "action"} for i in range(1, 2002)]
    many = tmp_path / "many.json"
    many.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="2,001 campaign events; at most 2,000 are read"):
        read_import(many)


# --- Dynamics 365 --------------------------------------------------------------------------------------------

D365 = FIXTURES / "d365_webinar_followup.json"


def test_d365_customer_journey_maps_segment_group_email_trigger_splitter_and_actions() -> None:
    r = read_import(D365)
    assert r.format == "d365" and r.detected
    j = r.journey
    assert j.name == "Webinar follow-up" and j.target == "contacts"
    assert j.audience.segments == ("Webinar registrants 2027",) and j.audience.exclude == ("Competitors",)
    email = j.step(j.entry)
    assert (email.type, email.props["content"]) == ("email", "Webinar recording")
    trigger = j.step(email.outputs["next"])
    assert trigger.props["wait_for"] == {"event": "opened", "step": email.id}
    assert trigger.props["within"] == timedelta(days=3)
    lead, wait = j.step(trigger.outputs["yes"]), j.step(trigger.outputs["no"])
    assert (lead.type, lead.props["topic"]) == ("lead", "Webinar follow-up")
    assert (wait.type, wait.props["duration"]) == ("wait", timedelta(days=2))
    split = j.step(lead.outputs["next"])
    assert split.type == "random-split" and split.props["split"] == (70, 30)
    call, nurture = j.step(split.outputs["A"]), j.step(split.outputs["B"])
    assert (call.type, call.props["activity"], call.props["subject"]) == ("task", "phone_call",
                                                                          "Call about the webinar")
    assert (nurture.type, nurture.props["workflow"]) == ("workflow", "Nurture programme")
    reminder = j.step(wait.outputs["next"])
    assert reminder.props["content"] == "Recording reminder"
    rep = _by_source(r)
    assert len(rep) == 13  # every activity but the hidden root
    survey = rep["01_0_3_1_1_0_0"]
    assert survey.outcome == "placeholder" and "survey" in survey.note  # type: ignore[attr-defined]
    assert reminder.outputs["next"] == survey.steps[0]  # type: ignore[attr-defined]
    linkedin = rep["01_0_3_2"]  # a second flow under the email: kept, unconnected, said
    assert linkedin.outcome == "placeholder" and "parallel" in linkedin.note  # type: ignore[attr-defined]
    assert "LandingPage 'Recording page': not mapped" in rep["01_0_3"].note  # type: ignore[attr-defined]
    assert all(s.position is not None for s in j)  # no layout in the source: laid out
    _round_trip(r)


def test_d365_import_then_validate(tmp_path: Path, capsys) -> None:
    project = tmp_path / "p.jstudio"
    run(capsys, "new", project)
    code, out, err = run(capsys, "import", project, D365, "--from", "d365")
    assert code == 0, err
    assert out.startswith("Read a Dynamics 365 customer journey")  # given, not detected
    code, out, _ = run(capsys, "validate", project, "--json")
    findings = json.loads(out)["journeys"]["Webinar follow-up"]
    got = {(f["code"], f["step"]) for f in findings}
    assert ("wait-mode", "unmapped_webinar_feedback_survey") in got
    assert ("unreachable-step", "unmapped_sponsored_post_linkedincampaign") in got
    assert ("content-not-ready", "webinar_recording") in got and ("content-not-ready", "recording_reminder") in got
    assert {f["message"].split("'")[1] for f in findings if f["code"] == "segment-no-query"} == {
        "Webinar registrants 2027", "Competitors"}


def _d365_with(change) -> str:
    rec = json.loads(D365.read_text())
    acts = json.loads(rec["msdyncrm_workflowdefinition"])
    change(acts)
    rec["msdyncrm_workflowdefinition"] = json.dumps(acts)
    return json.dumps(rec, indent=1)


@pytest.mark.parametrize("change, where", [
    (lambda a: a[3].update(ParentActivityId="01_9"), "activity 01_0_3_1: ParentActivityId '01_9' is not an activity"),
    (lambda a: a[1].update(ParentActivityId="01_0_3"), "ParentActivityId chain loops"),
    (lambda a: a[3]["Properties"]["Items"][0].update(Timeout="three days"), "activity 01_0_3_1: 'three days'"),
    (lambda a: a[2].update(ActivityId="01_0"), "activity 01_0 appears twice"),
    (lambda a: a.append(dict(a[0], ActivityId="02")), "one bpf_root activity; this one has 2"),
])
def test_d365_bad_input_is_one_line_naming_the_activity(tmp_path: Path, change, where: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(_d365_with(change))
    with pytest.raises(FormatError) as e:
        read_import(path)
    assert str(e.value).startswith(f"{path}:") and where in str(e.value) and "\n" not in str(e.value)
    broken = json.loads(D365.read_text())
    broken["msdyncrm_workflowdefinition"] = '[{"ActivityTypeId": "bpf_root", '
    path.write_text(json.dumps(broken))
    with pytest.raises(FormatError, match="msdyncrm_workflowdefinition|cannot tell the format"):
        read_import(path, "d365")


# --- the designer: File > Import ------------------------------------------------------------------------------

@pytest.mark.gui
@pytest.mark.usefixtures("leftover_windows_closed")
def test_file_import_of_a_mautic_export_shows_the_report_and_undoes_as_one_edit(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.store import ProjectFile
    from designer.import_report import ImportReportDialog
    from designer.main_window import MainWindow
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warned.append(text))
    shown: list[ImportReportDialog] = []

    def read_it(dialog: ImportReportDialog) -> int:  # instead of waiting for the user: look at it, then close
        shown.append(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        dialog.grab().save(str(tmp_path / "import_report.png"))
        dialog.only_attention.setChecked(True)
        dialog.grab().save(str(tmp_path / "import_report_attention.png"))
        return 0
    monkeypatch.setattr(ImportReportDialog, "exec", read_it)
    path = tmp_path / "p.jstudio"
    ProjectFile.create(path, name="Imports").close()
    w = MainWindow.open(path)
    assert w is not None
    doc = w.document
    w.actions.import_journey_file(str(MAUTIC))
    assert not warned
    journey = doc.current_journey
    assert journey is not None and journey.name == "Spring re-engagement" and len(journey) == 12
    assert {"We miss you", "20% off for you", "Come back text", "Mautic email 99"} <= set(doc.project.content)
    assert {"Lapsed customers", "VIP"} <= set(doc.project.segments)
    (dialog,) = shown
    table = dialog.table
    assert table.rowCount() == 11
    rows = {table.item(r, 1).text(): (table.item(r, 0).text(), table.item(r, 4).text()) for r in range(11)}
    assert rows["#15 Add 10 points"] == ("Placeholder", "changes the contact's points; we keep no points")
    assert rows["#19 Submitted the VIP form"][0] == "Placeholder"
    assert "loop" in rows["#17 Back to the reminder"][1]
    visible = [table.item(r, 1).text() for r in range(11) if not table.isRowHidden(r)]
    assert visible == ["#20 Survey email", "#13 Text nudge", "#17 Back to the reminder", "#15 Add 10 points",
                       "#19 Submitted the VIP form"]  # only what needs attention
    assert "Placeholder" in dialog.report_text() or "placeholder" in dialog.report_text()
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.view.fit()
    w.view.grab().save(str(tmp_path / "imported_canvas.png"))
    doc.undo_stack.undo()  # the import is one edit: journey, content and segments go together
    assert doc.project.find_journey("Spring re-engagement") is None
    assert not doc.project.content and not doc.project.segments
    doc.undo_stack.redo()
    assert doc.project.find_journey("Spring re-engagement") is not None
    doc.undo_stack.setClean()
    w.close()


# --- Dittofeed -----------------------------------------------------------------------------------------------

DITTOFEED = FIXTURES / "dittofeed_onboarding.yaml"


def test_dittofeed_journey_maps_messages_delays_splits_and_wait_for() -> None:
    r = read_import(DITTOFEED)
    assert r.format == "dittofeed" and r.detected
    j = r.journey
    assert j.name == "Onboarding" and j.audience.segments == ("New sign-ups",) and j.frequency.kind == "ongoing"
    welcome = j.step(j.entry)
    assert (welcome.type, welcome.props["content"]) == ("email", "Welcome to Contoso")  # the template's name
    wait = j.step(welcome.outputs["next"])
    assert wait.props["duration"] == timedelta(days=2)
    activated = j.step(wait.outputs["next"])
    assert activated.props["segment"] == "Activated users" and activated.outputs["yes"] == END
    rep = _by_source(r)
    wait_for = rep["wait-for-login"]  # waits up to a day for 'Logged in': a wait, then the segment test
    assert wait_for.outcome == "approximated"  # type: ignore[attr-defined]
    pause, test = (j.step(s) for s in wait_for.steps)  # type: ignore[attr-defined]
    assert activated.outputs["no"] == pause.id and pause.props["duration"] == timedelta(days=1)
    assert test.props["segment"] == "Logged in"
    assert j.step(test.outputs["yes"]).type == "push" and j.step(test.outputs["no"]).type == "sms"
    assert rep["morning"].outcome == "placeholder" and "9:00" in rep["morning"].note  # type: ignore[attr-defined]
    assert rep["crm-hook"].outcome == "placeholder"  # type: ignore[attr-defined]
    assert j.step(rep["crm-hook"].steps[0]).outputs == {"next": END}  # type: ignore[attr-defined]
    assert set(rep) == {"entry", "welcome", "wait-two-days", "activated", "wait-for-login", "tips", "nudge-sms",
                        "morning", "crm-hook"}
    _round_trip(r)


def test_dittofeed_bad_input(tmp_path: Path) -> None:
    text = DITTOFEED.read_text()
    cases = {
        "child: activated": ("child: nowhere", "node wait-two-days: child 'nowhere' is not a node of this journey"),
        "child: crm-hook": ("child: welcome", "the nodes loop (welcome -> wait-two-days -> activated ->"),
        "seconds: 172800": ("seconds: -5", "node wait-two-days: a delay of -5 seconds is out of range"),
    }
    for old, (new, where) in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(FormatError) as e:
            read_import(path)
        assert str(e.value).startswith(f"{path}:") and where in str(e.value), str(e.value)
    bomb = tmp_path / "bomb.yaml"  # the 'billion laughs': refused at the first alias, before anything expands
    bomb.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "definition: {entryNode: *b}\n")
    with pytest.raises(FormatError, match=r"bomb.yaml:2:\d+: aliases \(\*a\) are not supported"):
        read_import(bomb, "dittofeed")


def test_a_mautic_jump_forward_becomes_a_link_and_a_temporary_jump_id_is_passed_over(tmp_path: Path) -> None:
    doc = _mautic_doc()
    jump = next(e for e in doc[0]["campaign_event"] if e["id"] == 17)
    jump["properties"] = {"properties": {"jumpToEvent": "newe0e4886b4731cd4ad34db364d745035aa077fad3"},
                          "jumpToEvent": 16}  # as Mautic saves it: the builder's temporary id beside the real one
    path = tmp_path / "forward.json"
    path.write_text(json.dumps(doc))
    r = read_import(path)
    rep = _by_source(r)
    assert rep["17"].outcome == "mapped" and "became a link to 'Tell the CRM'" in rep["17"].note  # type: ignore
    nudge = r.journey.step(rep["13"].steps[0])  # type: ignore[attr-defined]
    assert nudge.outputs["next"] == rep["16"].steps[0]  # type: ignore[attr-defined]
    assert not any(s.name.startswith("Unmapped: Back to") for s in r.journey)


def test_dittofeed_import_then_validate_and_our_own_files_still_import(tmp_path: Path, capsys) -> None:
    from tests.samples import ANNOUNCEMENT
    project = tmp_path / "p.jstudio"
    run(capsys, "new", project)
    code, out, err = run(capsys, "import", project, DITTOFEED)
    assert code == 0, err
    assert out.startswith("Detected a Dittofeed journey: 9 source steps (6 mapped, 1 approximated, 2 placeholder)")
    code, out, _ = run(capsys, "validate", project, "--json")
    findings = json.loads(out)["journeys"]["Onboarding"]
    got = {(f["code"], f["step"]) for f in findings}
    assert {("wait-mode", "unmapped_delay_delaynode"), ("wait-mode", "unmapped_tell_the_crm_messagenode"),
            ("content-not-ready", "welcome_email"), ("content-not-ready", "tips_push")} <= got
    assert {f["message"].split("'")[1] for f in findings if f["code"] == "segment-no-query"} == {
        "New sign-ups", "Activated users", "Logged in"}
    ours = tmp_path / "announcement.yaml"
    ours.write_text(ANNOUNCEMENT)
    code, out, err = run(capsys, "import", project, ours, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "journey" and doc["imported_as"] == doc["journey"]
    assert doc["changes"][-1].startswith(f"Imported journey '{doc['journey']}'")
    code, _, err = run(capsys, "import", project, ours, "--from", "mautic")
    assert code == 2 and "not a Mautic campaign export" in err and err.count("\n") == 1


def test_damaged_files_of_each_format_give_one_line_never_a_traceback() -> None:
    """Each fixture with one to three values replaced by a value of another kind, or removed (seeded): the import
    either succeeds or fails with one FormatError line."""
    import random

    import yaml
    strange = [None, 0, -1, 10**30, 2.5, "", "x", "\u0000", [], {}, [1], {"a": 1}, True, "P99999999D", "99:99"]
    rng = random.Random(2026)
    for fmt, path in (("mautic", MAUTIC), ("d365", D365), ("dittofeed", DITTOFEED)):
        base = yaml.safe_load(path.read_text())
        if fmt == "d365":
            base["msdyncrm_workflowdefinition"] = json.loads(base["msdyncrm_workflowdefinition"])
        places: list[tuple] = []
        stack: list[tuple[object, tuple]] = [(base, ())]
        while stack:
            node, where = stack.pop()
            places.append(where)
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            stack.extend((v, where + (k,)) for k, v in items)
        for _ in range(30):
            doc = json.loads(json.dumps(base))
            for _ in range(rng.randint(1, 3)):
                where = rng.choice(places[1:])
                try:
                    parent = doc
                    for k in where[:-1]:
                        parent = parent[k]
                    if rng.random() < 0.3:
                        del parent[where[-1]]
                    else:
                        parent[where[-1]] = json.loads(json.dumps(rng.choice(strange)))
                except (KeyError, IndexError, TypeError):
                    pass
            for given in (None, fmt):
                try:
                    read_import_text(json.dumps(doc), file="damaged.json", fmt=given)
                except FormatError as e:
                    assert "\n" not in str(e) and str(e).startswith("damaged.json")
