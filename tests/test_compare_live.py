"""`compare PROJECT RUN --live PACKAGE-or-RUN`: the saved run's forecast next to the live counts, step by step,
with what each column means; bad input answered in one line. The live side here is a `status --json` snapshot
made from a faked listing (no Temporal server)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.runner.runnable import from_package
from app.runner.status import tally
from tests.cli_helpers import run
from tests.runner_helpers import contacts_project, package_of
from tests.test_status_snapshot import cohort

SIM = ("--journey", "Product announcement", "--contacts", "400", "--seed", "7", "--replicas", "2")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project with a saved, approved run of the announcement, its package, and a live snapshot of 1,000."""
    folder = tmp_path_factory.mktemp("compare")
    project = folder / "shop.jstudio"
    contacts_project(project, 5)
    pkg = package_of(project, folder / "a.jpkg")
    r = from_package(pkg)
    counts = tally(r, [cohort(1000, {"announce": 1000, "announce=sent": 900, "announce=no_address": 40,
                                     "announce=suppressed": 60, "clicked": 1000, "clicked=no": 700,
                                     "clicked=yes": 250, "@clicked": 50, "launch": 250, "@launch": 250,
                                     "~running": 300, "=completed": 700})])
    snapshot = folder / "status.json"
    snapshot.write_text(json.dumps(counts), encoding="utf-8")
    return {"project": project, "pkg": pkg, "snapshot": snapshot, "folder": folder}


def test_the_forecast_sits_next_to_the_live_counts_per_step(live: dict[str, Any],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "simulate", live["project"], *SIM)
    assert code == 0, err
    code, _, err = run(capsys, "review", live["project"], "1", "--approve", "--by", "Ana")
    assert code == 0, err
    code, out, err = run(capsys, "compare", live["project"], "1", "--live", live["snapshot"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Forecast and live: 'Product announcement'"
    assert "run 1" in lines[1] and "approved by Ana" in lines[1] and "400 simulated contacts" in lines[1]
    assert "1,000 enrolled, 300 still in the journey" in lines[2]
    assert "What the columns mean:" in lines and any(line.lstrip().startswith("forecast %") for line in lines)
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["step", "type", "figure"])
    assert lines[head].split()[3:] == ["forecast", "%", "live", "n", "live", "%"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[head + 1:]]
    by = {}
    step = ""
    for row in rows:
        if len(row) == 6 or row[0] == "(journey)":
            step = row[0]
            row = row if len(row) == 6 else [row[0], "", *row[1:]]
            by[(step, row[2])] = row[3:]
        else:
            by[(step, row[0])] = row[1:]
    assert by[("announce", "entered")][1:] == ["1,000", "100.0"]
    assert by[("announce", "entered")][0].startswith("100.0")
    assert by[("announce", "sent")][1:] == ["900", "90.0"]
    assert by[("announce", "suppressed")][1:] == ["100", "10.0"]  # suppressed, no address and failed, as simulated
    assert by[("clicked", "no")][1:] == ["700", "70.0"]
    assert re.fullmatch(r"\d+\.\d \(\d+\.\d-\d+\.\d\)", by[("clicked", "yes")][0])  # mean (95% interval)
    assert ("end", "completed") in by and by[("end", "completed")][1] == "700"
    assert [k[0] for k in by][:1] == ["announce"] and [k[0] for k in by][-2:] == ["end", "(journey)"]


def test_live_and_a_second_run_do_not_go_together(live: dict[str, Any],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", live["project"], "1", "2", "--live", live["snapshot"])
    assert code == 2 and "takes no second run" in err and err.count("\n") == 1
    code, _, err = run(capsys, "compare", live["project"], "1")
    assert code == 2 and "--live" in err and err.count("\n") == 1


@pytest.mark.parametrize("what", ["missing run", "no run here", "bad json", "not status", "folder"])
def test_bad_input_is_one_line(live: dict[str, Any], capsys: pytest.CaptureFixture[str], what: str) -> None:
    folder: Path = live["folder"]
    args: list[Any] = ["compare", live["project"], "1", "--live"]
    if what == "missing run":
        args = ["compare", live["project"], "99", "--live", live["snapshot"]]
        expected = "no saved simulation run 99"
    elif what == "no run here":
        args.append(live["pkg"])
        expected = "no run of this package here"
    elif what == "bad json":
        (folder / "bad.json").write_text("{nope", encoding="utf-8")
        args.append(folder / "bad.json")
        expected = "not the JSON of journey-studio status --json"
    elif what == "not status":
        (folder / "other.json").write_text("[1, 2]", encoding="utf-8")
        args.append(folder / "other.json")
        expected = "no 'key' and 'steps'"
    else:
        (folder / "plain").mkdir(exist_ok=True)
        args.append(folder / "plain")
        expected = "not a run's state folder"
    code, out, err = run(capsys, *args)
    assert code == 2 and expected in err and err.count("\n") == 1 and "Traceback" not in err + out


def test_status_takes_the_runs_state_folder_too(live: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    state = Path(str(live["pkg"]) + ".run")
    state.mkdir(exist_ok=True)
    code, _, err = run(capsys, "status", state)
    # the folder leads to its package (a.jpkg beside it); what is missing is the run's state in it
    assert code == 2 and err.count("\n") == 1 and "a.jpkg.run: no run of this package here" in err
