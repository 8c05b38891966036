"""The behaviour assumptions are editable from the command line: write the defaults, edit, simulate with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run, template_project


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    return template_project(tmp_path / "p.jstudio", "announcement.yaml", capsys)


def _opened(doc: dict) -> float:
    """Mean number of opens at the announcement email, from the simulate JSON."""
    step = next(s for s in doc["funnel"] if s["step"] == "announce")
    return step["opened"]["mean"]


def test_edited_assumptions_change_the_figures_and_are_saved(project: Path, tmp_path: Path, capsys) -> None:
    defaults = tmp_path / "behaviour.yaml"
    assert run(capsys, "behaviour", "--out", defaults)[0] == 0
    text = defaults.read_text(encoding="utf-8")
    assert "# - Email: Mailchimp" in text and "format: behaviour/1" in text
    edited = tmp_path / "keen.yaml"
    edited.write_text(text.replace("    open: 0.2133\n", "    open: 0.9\n", 1), encoding="utf-8")
    base_json, keen_json = tmp_path / "base.json", tmp_path / "keen.json"
    args = ("simulate", project, "--journey", "Product announcement", "--contacts", "3000", "--seed", "4", "--no-save")
    assert run(capsys, *args, "--json", base_json)[0] == 0
    code, _, err = run(capsys, *args, "--json", keen_json, "--behaviour", edited)
    assert code == 0, err
    base, keen = json.loads(base_json.read_text()), json.loads(keen_json.read_text())
    assert _opened(keen) > 2.5 * _opened(base) > 0
    # the defaults file read back gives exactly the default figures
    again = tmp_path / "again.json"
    assert run(capsys, *args, "--json", again, "--behaviour", defaults)[0] == 0
    assert json.loads(again.read_text())["funnel"] == base["funnel"]


@pytest.mark.parametrize("text,message", [
    ("format: behaviour/1\nchannels:\n  email: {open: 1.5}\n", "channels.email.open is a probability"),
    ("format: behaviour/1\nchannels:\n  email: {opne: 0.5}\n", "unknown behaviour field(s) for email: opne"),
    ("format: behaviour/1\nchannels: {email: {open: 0.5}\n", "keen.yaml:3:1: malformed YAML"),
    ("- 1\n- 2\n", "a behaviour file is a mapping"),
    ("format: behaviour/9\n", "unsupported behaviour model format"),
])
def test_bad_behaviour_files_get_one_clear_line(project: Path, tmp_path: Path, capsys, text, message) -> None:
    bad = tmp_path / "keen.yaml"
    bad.write_text(text, encoding="utf-8")
    before = project.read_bytes()
    code, _, err = run(capsys, "simulate", project, "--journey", "Product announcement", "--contacts", "100",
                       "--seed", "1", "--behaviour", bad)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert project.read_bytes() == before


def test_a_partial_file_keeps_the_other_defaults() -> None:
    from simulator.behaviour import BehaviourModel
    default = BehaviourModel()
    model = BehaviourModel.from_file({"event_rates": {"purchase": 0.01}, "engagement_effect": {"open": 0.0}})
    assert model.event_rates["purchase"] == 0.01
    assert {k: v for k, v in model.event_rates.items() if k != "purchase"} == \
        {k: v for k, v in default.event_rates.items() if k != "purchase"}
    assert model.engagement_effect["open"] == 0.0
    assert {k: v for k, v in model.engagement_effect.items() if k != "open"} == \
        {k: v for k, v in default.engagement_effect.items() if k != "open"}
    assert BehaviourModel.from_file(default.to_plain()) == default
    # a saved run's record is read exactly: a rate it lacks stays absent
    assert "web_visit" not in BehaviourModel.from_plain({"event_rates": {"purchase": 0.01}}).event_rates


def test_the_command_line_checks_every_figure_of_a_behaviour_file(project: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("messages:\n  announce: {open: 1.5}\n")
    code, _, err = run(capsys, "simulate", project, "--journey", "Product announcement", "--contacts", "100",
                       "--seed", "1", "--behaviour", bad, "--no-save")
    assert code == 2 and "messages.announce.open is a probability from 0 to 1, not 1.5" in err
    bad.write_text("event_rates: {purchase: -1}\n")
    code, _, err = run(capsys, "simulate", project, "--journey", "Product announcement", "--contacts", "100",
                       "--seed", "1", "--behaviour", bad, "--no-save")
    assert code == 2 and "event_rates.purchase" in err and err.count("\n") == 1
