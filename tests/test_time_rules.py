"""Go-live checks on time (app/validation/time_rules.py): a start that has passed, an end before the last wait
can finish, quiet hours that leave no send slot; with `now` given, so that the findings do not depend on the day
the suite runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli.main import cli
from app.codec.yamlio import parse_text, read_journey_text
from app.model.project import Project
from app.validation.checks import check_journey
from app.validation.findings import Finding, Severity
from app.validation.time_rules import CLOCK_ENV, clock, start_now
from tests.samples import ANNOUNCEMENT

PARIS_DEC_3 = datetime(2026, 12, 3, 12, 14, 30, tzinfo=timezone.utc)  # 13:14:30 in Paris


def doc() -> dict[str, Any]:
    """The announcement (one-time, 2026-12-01T09:00 to 2027-01-31, Europe/Paris) as plain values."""
    return json.loads(json.dumps(parse_text(ANNOUNCEMENT)))


def findings(d: dict[str, Any], *, now: datetime | None = PARIS_DEC_3, for_export: bool = True) -> list[Finding]:
    journey, contents, segments = read_journey_text(json.dumps(d), journey_id="j1")
    project = Project("Test")
    project.add_journey(journey)
    for c in contents:
        project.put_content(c)
    for s in segments:
        project.put_segment(s)
    return check_journey(journey, project, for_export=for_export, now=now)


def coded(fs: list[Finding], code: str) -> list[Finding]:
    return [f for f in fs if f.code == code]


# --- the start, from now ----------------------------------------------------------------------------------

def test_a_one_time_journey_whose_start_passed_is_refused_with_start_now_offered() -> None:
    [f] = coded(findings(doc()), "start-passed")
    assert f.severity is Severity.ERROR and f.field == "schedule.start" and f.journey == "Product announcement"
    assert "2026-12-01T09:00 Europe/Paris" in f.message and "now 2026-12-03T13:14 Europe/Paris" in f.message
    assert "one-time" in f.message and "late" in f.message
    assert "set the start to 2026-12-03T13:15" in f.fix  # the next whole minute, local


def test_start_now_is_the_next_whole_minute_in_the_journeys_zone_and_clears_the_finding() -> None:
    assert start_now("Europe/Paris", PARIS_DEC_3) == datetime(2026, 12, 3, 13, 15)
    d = doc()
    d["schedule"]["start"] = start_now("Europe/Paris", PARIS_DEC_3).isoformat(timespec="minutes")
    assert not [f for f in findings(d) if f.code in ("start-passed", "schedule-ended")]


def test_while_drafting_a_passed_start_is_a_warning_and_without_now_it_is_not_looked_at() -> None:
    [f] = coded(findings(doc(), for_export=False), "start-passed")
    assert f.severity is Severity.WARNING
    assert not coded(findings(doc(), now=None, for_export=False), "start-passed")


def test_a_start_to_come_is_fine() -> None:
    early = datetime(2026, 11, 30, tzinfo=timezone.utc)
    assert not [f for f in findings(doc(), now=early) if f.code in ("start-passed", "schedule-ended")]


def test_the_start_is_local_to_the_journeys_time_zone() -> None:
    just_before = datetime(2026, 12, 1, 7, 59, tzinfo=timezone.utc)  # 08:59 in Paris, start 09:00
    assert not coded(findings(doc(), now=just_before), "start-passed")
    assert coded(findings(doc(), now=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)), "start-passed")


def test_an_end_that_passed_is_an_error_for_any_frequency() -> None:
    d = doc()
    d["frequency"] = "ongoing"
    [f] = coded(findings(d, now=datetime(2027, 2, 1, tzinfo=timezone.utc)), "schedule-ended")
    assert f.is_error and f.field == "schedule.end" and "2027-01-31T00:00" in f.message
    assert not coded(findings(d, now=datetime(2027, 2, 1, tzinfo=timezone.utc)), "start-passed")


def test_an_ongoing_journey_whose_start_passed_is_warned_about_late_entries() -> None:
    d = doc()
    d["frequency"] = "ongoing"
    [f] = coded(findings(d), "start-passed")
    assert f.severity is Severity.WARNING and "enters at once" in f.message


def test_a_repeating_journey_says_which_repetition_starts_next() -> None:
    d = doc()
    d["frequency"] = {"type": "repeating", "interval": "7d", "count": 8}
    d["schedule"]["end"] = "2027-01-31T00:00"
    [f] = coded(findings(d), "start-passed")  # 2 Dec 13:14: the first (1 Dec) started, the second is 8 Dec
    assert f.severity is Severity.WARNING
    assert "1 of its 8 repetitions" in f.message and "number 2, starts at 2026-12-08T09:00" in f.message
    assert "2026-12-08T09:00" in f.fix


def test_a_repeating_journey_whose_every_repetition_started_is_refused() -> None:
    d = doc()
    d["frequency"] = {"type": "repeating", "interval": "1d", "count": 2}
    [f] = coded(findings(d), "start-passed")
    assert f.is_error and "every one of its 2 repetitions" in f.message


def test_a_huge_count_is_worked_out_not_counted_through() -> None:
    d = doc()
    d["frequency"] = {"type": "repeating", "interval": "1s", "count": 2_000_000_000}
    d["schedule"]["end"] = "2030-01-01T00:00"
    [f] = coded(findings(d), "start-passed")
    assert "repetitions should have started" in f.message


def test_the_clock_comes_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLOCK_ENV, "2026-12-03T12:14:30")
    assert clock() == PARIS_DEC_3
    monkeypatch.setenv(CLOCK_ENV, "2026-12-03T13:14:30+01:00")
    assert clock() == PARIS_DEC_3
    [f] = coded(findings(doc(), now=None), "start-passed")
    assert "now 2026-12-03T13:14" in f.message
    monkeypatch.setenv(CLOCK_ENV, "soon")
    [bad] = coded(findings(doc(), now=None), "clock-invalid")
    assert bad.is_error and CLOCK_ENV in bad.message and "\n" not in bad.message


# --- the end before the last wait -------------------------------------------------------------------------

def short_end(end: str) -> dict[str, Any]:
    d = doc()
    d["schedule"]["end"] = end
    return d


def test_an_end_before_the_wait_until_finishes_names_the_wait() -> None:
    # announce (at 09:00) -> clicked? (up to 1 day) -> wait until 10 Dec 09:00 -> SMS; the end on 5 Dec
    fs = findings(short_end("2026-12-05T00:00"), now=None)
    [f] = coded(fs, "end-before-wait")
    assert f.severity is Severity.WARNING and f.step == "launch"  # said at go-live; an end may stop contacts
    assert "wait there until 2026-12-10T09:00" in f.message and "2026-12-05T00:00" in f.message
    assert "Move the end to 2026-12-10T09:00 or later" in f.fix


def test_an_end_within_the_if_thens_time_limit_names_the_if_then() -> None:
    d = short_end("2026-12-01T20:00")
    d["steps"]["launch"] = {"type": "wait", "duration": "2d", "next": "launched"}
    [f] = coded(findings(d, now=None), "end-before-wait")
    assert f.step == "clicked" and "may wait 1d there" in f.message
    assert "2026-12-04T09:00" in f.fix  # 1 day of time limit then 2 days of waiting
    assert f.severity is Severity.WARNING
    [w] = coded(findings(d, now=None, for_export=False), "end-before-wait")
    assert w.severity is Severity.WARNING


def test_an_end_after_the_longest_path_is_fine() -> None:
    assert not coded(findings(doc(), now=None), "end-before-wait")
    assert not coded(findings(short_end("2026-12-10T09:00"), now=None), "end-before-wait")


def test_a_repetition_ends_when_the_next_begins() -> None:
    d = doc()
    d["frequency"] = {"type": "repeating", "interval": "3d", "count": 5}
    [f] = coded(findings(d, now=None), "end-before-wait")
    assert f.step == "launch" and "each repetition lasts 3d" in f.message


def test_a_loop_or_no_end_is_left_to_the_other_rules() -> None:
    d = doc()
    d["schedule"].pop("end")
    assert not coded(findings(d, now=None), "end-before-wait")
    d = short_end("2026-12-05T00:00")
    d["steps"]["launched"]["next"] = "announce"  # a loop: the flow rules report it
    assert not coded(findings(d, now=None), "end-before-wait")


# --- quiet hours ------------------------------------------------------------------------------------------

def test_quiet_hours_over_the_whole_window_leave_no_slot_for_the_message() -> None:
    d = doc()
    d["schedule"].update({"start": "2026-12-01T22:00", "end": "2026-12-02T06:00",
                          "quiet_hours": {"start": "21:00", "end": "08:00"}})
    d["steps"]["launch"] = {"type": "wait", "duration": "1h", "next": "launched"}
    fs = findings(d, now=None)
    slots = coded(fs, "quiet-hours-no-slot")
    assert [f.step for f in slots] == ["announce"]  # the SMS comes after the end (end-before-wait says so)
    assert slots[0].is_error and "until 2026-12-02T08:00" in slots[0].message
    assert "Europe/Paris" in slots[0].message and "never sent" in slots[0].message


def test_quiet_hours_with_a_slot_before_the_end_are_fine() -> None:
    d = doc()
    d["schedule"]["quiet_hours"] = {"start": "21:00", "end": "08:00"}
    assert not coded(findings(d, now=None), "quiet-hours-no-slot")


def test_quiet_hours_over_nearly_the_whole_day_are_warned_about() -> None:
    d = doc()
    d["schedule"]["quiet_hours"] = {"start": "00:00", "end": "23:59"}
    [f] = coded(findings(d, now=None), "quiet-hours-no-slot")
    assert f.severity is Severity.WARNING and "leave 1m a day" in f.message and f.field == "schedule.quiet_hours"


def test_a_message_deferred_past_its_repetition_is_found() -> None:
    d = doc()
    d["frequency"] = {"type": "repeating", "interval": "6h", "count": 4}
    d["schedule"].update({"start": "2026-12-01T21:30", "quiet_hours": {"start": "21:00", "end": "08:00"}})
    d["steps"]["launch"] = {"type": "wait", "duration": "1h", "next": "launched"}
    assert [f.step for f in coded(findings(d, now=None), "quiet-hours-no-slot")] == ["announce"]


# --- the same checks at every door ------------------------------------------------------------------------

def test_validate_for_export_and_package_report_a_passed_start(tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    project, journey_file = tmp_path / "p.jstudio", tmp_path / "a.yaml"
    journey_file.write_text(ANNOUNCEMENT, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["new", str(project)]).exit_code == 0
    assert runner.invoke(cli, ["import", str(project), str(journey_file)]).exit_code == 0
    monkeypatch.setenv(CLOCK_ENV, "2026-12-03T12:14:30Z")
    done = runner.invoke(cli, ["validate", str(project), "--for-export"])
    assert done.exit_code == 1 and "schedule.start" in done.output and "2026-12-03T13:15" in done.output
    drafting = runner.invoke(cli, ["validate", str(project)])
    assert "start-passed" not in drafting.output and "has passed" not in drafting.output
    packaged = runner.invoke(cli, ["package", str(project), "--journey", "Product announcement",
                                   "--out", str(tmp_path / "a.jpkg")])
    assert packaged.exit_code == 1 and "has passed" in packaged.output and not (tmp_path / "a.jpkg").exists()
    assert "Traceback" not in packaged.output
