"""`journey-studio simulate` says how long the whole command took and each part of it; its progress bar shows on
a terminal only, so that piped output and --json - stay clean."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from app.cli.simulate import _Progress, _since_process_start
from tests.cli_helpers import run, template_project

TOOK = re.compile(r"^Took ([0-9.]+) s in all \((.*)\)\.$", re.M)


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    return template_project(tmp_path / "p.jstudio", "re-engagement.yaml", capsys)


def test_the_whole_time_and_its_parts_are_printed_and_json_to_stdout_stays_clean(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", project, "--journey", "Re-engagement", "--contacts", "3000",
                         "--seed", "2", "--json", "-")
    assert code == 0, err
    doc = json.loads(out)  # standard output holds the JSON alone: no progress bar, no summary
    assert doc["run"] == 1 and "\r" not in out + err
    found = TOOK.search(err)
    assert found, err
    parts = {name: float(v) for name, v in re.findall(r"([a-z -]+) ([0-9.]+) s", found.group(2))}
    names = [n.strip() for n in parts]
    for name in ("population", "world", "run", "twin", "record", "save", "other"):
        assert name in names, names
    assert float(found.group(1)) >= sum(v for n, v in parts.items() if n.strip() != "start-up and imports") - 0.05


def test_the_progress_bar_draws_on_a_terminal_and_clears_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    monkeypatch.setattr(click, "echo", lambda text="", err=False, nl=True: written.append(str(text)))
    bar = _Progress(True)
    bar(0.5, "making 1,000 synthetic contacts")
    assert written and written[-1].startswith("\r[") and " 50% " in written[-1]
    assert "=" * 14 + ">" in written[-1] and "making 1,000 synthetic contacts" in written[-1]
    bar.clear()
    assert written[-1].strip() == "" and written[-1].endswith("\r")
    quiet = _Progress(False)
    n = len(written)
    quiet(0.5, "anything")
    quiet.clear()
    assert len(written) == n


def test_the_process_age_is_read_where_the_system_gives_it() -> None:
    age = _since_process_start()
    assert age is None or 0.0 <= age < 24 * 3600
