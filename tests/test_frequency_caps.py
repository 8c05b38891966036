"""Frequency caps across journeys: the project's caps and journey priorities (model, file, codec, package,
checks), the engine's suppression given other journeys' sends, the portfolio simulation and the runner's cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.codec.plain import PlainError, caps_from_plain, caps_to_plain, settings_from_plain, settings_to_plain
from app.codec.yamlio import read_journey_text
from app.model.journey import Journey
from app.model.project import ChannelCap, Project
from app.model.project_commands import AddJourney, UpdateJourney, UpdateProjectSettings
from app.services import import_journey
from app.store import ProjectFile
from app.validation.checks import check_journey
from tests.samples import ANNOUNCEMENT

EMAIL_3_7D = ChannelCap("email", 3, timedelta(days=7))


# --- model and persistence -----------------------------------------------------------------------------------

def test_caps_and_priority_are_undoable_edits() -> None:
    p = Project()
    j = Journey(p.new_journey_id(), "A")
    AddJourney(j).do(p)
    assert j.priority == 5 and j.cap_exempt is False and p.settings.frequency_caps == ()
    cmd = UpdateProjectSettings("Change frequency caps", frequency_caps=(EMAIL_3_7D,))
    cmd.do(p)
    assert p.settings.cap_for("email") == EMAIL_3_7D and p.settings.cap_for("sms") is None
    cmd.undo(p)
    assert p.settings.frequency_caps == ()
    up = UpdateJourney(j.id, priority=1, cap_exempt=True)
    assert up.text == "Change priority and cap exemption"
    up.do(p)
    assert (j.priority, j.cap_exempt) == (1, True)
    up.undo(p)
    assert (j.priority, j.cap_exempt) == (5, False)


def test_caps_and_priority_survive_the_project_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jstudio"
    caps = (EMAIL_3_7D, ChannelCap("sms", 1, timedelta(days=1)))
    with ProjectFile.create(path) as pf:
        j = Journey(pf.project.new_journey_id(), "A")
        AddJourney(j).do(pf.project)
        UpdateProjectSettings("caps", frequency_caps=caps).do(pf.project)
        UpdateJourney(j.id, priority=2, cap_exempt=True).do(pf.project)
    with ProjectFile.open(path) as pf:
        assert pf.project.settings.frequency_caps == caps
        got = pf.project.journey("A")
        assert (got.priority, got.cap_exempt) == (2, True)


def test_a_project_without_caps_keeps_the_settings_row_it_had() -> None:
    from app.store.decoding import encode_settings
    assert "frequency_caps" not in encode_settings(Project().settings)
    j = Journey("x", "A")
    assert "priority" not in settings_to_plain(j) and "cap_exempt" not in settings_to_plain(j)


def test_caps_codec_round_trip_and_bounds() -> None:
    caps = (EMAIL_3_7D, ChannelCap("push", 10, timedelta(hours=12)))
    assert caps_from_plain(caps_to_plain(caps)) == caps
    assert caps_to_plain(caps)[0] == {"channel": "email", "messages": 3, "per": "7d"}
    # listed in any order, kept in channel order
    assert caps_from_plain(list(reversed(caps_to_plain(caps)))) == caps
    bad = [([{"channel": "fax", "messages": 1, "per": "1d"}], "channel"),
           ([{"channel": "email", "messages": 0, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": 101, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": True, "per": "1d"}], "messages"),
           ([{"channel": "email", "messages": 2, "per": "30m"}], "per"),
           ([{"channel": "email", "messages": 2, "per": "91d"}], "per"),
           ([{"channel": "email", "messages": 2}], None),
           ([{"channel": "email", "messages": 2, "per": "1d"}] * 2, "channel"),
           ({"email": 3}, None)]
    for value, where in bad:
        with pytest.raises(PlainError) as e:
            caps_from_plain(value)
        assert where is None or e.value.path[-1] == where, (value, e.value)


def test_priority_in_journey_files() -> None:
    assert settings_from_plain({"priority": 1, "cap_exempt": True})["priority"] == 1
    for bad in (0, 11, "high", True, 2.5):
        with pytest.raises(PlainError, match="priority"):
            settings_from_plain({"priority": bad})
    with pytest.raises(PlainError, match="cap_exempt"):
        settings_from_plain({"cap_exempt": "yes"})
    text = ANNOUNCEMENT.replace("frequency: one-time", "frequency: one-time\npriority: 2\ncap_exempt: true")
    j = read_journey_text(text)[0]
    assert (j.priority, j.cap_exempt) == (2, True)


def test_a_damaged_cap_in_the_file_is_one_line(tmp_path: Path) -> None:
    from sqlalchemy import update
    from app.errors import ProjectFileError
    from app.store import schema as t
    path = tmp_path / "p.jstudio"
    with ProjectFile.create(path) as pf:
        with pf.connection(write=True) as conn:
            conn.execute(update(t.project).values(settings={"custom_attributes": {}, "default_timezone": "UTC",
                                                            "frequency_caps": [{"channel": "email", "messages": -1,
                                                                                "per": "7d"}]}))
    with pytest.raises(ProjectFileError, match="project settings: frequency_caps.0.messages"):
        ProjectFile.open(path).close()


# --- checks ----------------------------------------------------------------------------------------------------

def _project_with(text: str, caps: tuple[ChannelCap, ...]) -> tuple[Project, Journey]:
    p = Project()
    j, contents, segments = read_journey_text(text)
    import_journey(p, j, contents, segments)
    p.settings.frequency_caps = caps
    return p, p.journey(j.name)


TWO_EMAILS = ANNOUNCEMENT.replace("launched: {type: sms, content: Product launched text}",
                                  "launched: {type: email, content: Product announcement email}")


def test_a_journey_that_sends_more_than_the_cap_alone_is_warned() -> None:
    p, j = _project_with(TWO_EMAILS, (ChannelCap("email", 1, timedelta(days=30)),))
    found = [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    assert len(found) == 1 and "2 email messages within 30d" in found[0].message and found[0].step == "launched"
    # the wait until a date is not a fixed duration: the two emails may be close; a 1 day window still holds both
    p.settings.frequency_caps = (ChannelCap("email", 2, timedelta(days=30)),)
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    p.settings.frequency_caps = (ChannelCap("email", 1, timedelta(days=30)),)
    j.cap_exempt = True
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]


def test_a_fixed_wait_longer_than_the_period_is_no_warning() -> None:
    text = TWO_EMAILS.replace("launch: {type: wait, until: 2026-12-10T09:00, next: launched}",
                              "launch: {type: wait, duration: 8d, next: launched}")
    p, j = _project_with(text, (ChannelCap("email", 1, timedelta(days=7)),))
    assert not [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]
    p.settings.frequency_caps = (ChannelCap("email", 1, timedelta(days=9)),)
    assert [f for f in check_journey(j, p) if f.code == "journey-exceeds-cap"]


def test_out_of_bounds_caps_and_priority_are_errors() -> None:
    p, j = _project_with(ANNOUNCEMENT, (ChannelCap("email", 0, timedelta(days=7)),))
    j.priority = 12
    codes = {f.code for f in check_journey(j, p) if f.is_error}
    assert {"project-cap-range", "priority-range"} <= codes


# --- package -----------------------------------------------------------------------------------------------------

def test_the_manifest_carries_the_caps() -> None:
    from app.package import manifest as m
    from app.package.errors import PackageError
    doc = m.make_manifest(journey_id="j", journey_name="J", version=1, created_at="2026-01-01T00:00:00Z",
                          members={n: b"x" for n in m.REQUIRED_MEMBERS}, project="P",
                          validation={"errors": 0, "warnings": 0}, approved_run=None,
                          frequency_caps=caps_to_plain((EMAIL_3_7D,)))
    parsed = m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")
    assert m.manifest_caps(parsed) == (EMAIL_3_7D,)
    doc["frequency_caps"] = [{"channel": "email", "messages": 0, "per": "7d"}]
    with pytest.raises(PackageError, match="frequency_caps.0.messages"):
        m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")
    del doc["frequency_caps"]
    assert m.manifest_caps(m.parse_manifest(m.manifest_bytes(doc), "x.jpkg")) == ()
