"""What-if sweeps (`journey-studio sweep`, simulator/sweep.py): the grid and its refusals in one line, parallel
points equal to serial ones bit for bit, the baseline equal to `simulate`, effects in their certain direction,
the best point marked."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from app.cli.main import main
from app.store import ProjectFile
from simulator.request import RunError, RunRequest, execute, snapshot
from simulator.sweep import (MAX_POINTS, Sweep, SweepError, Varied, grid_points, parse_grid, parse_vary, prepare,
                             workers_for)
from tests.cli_helpers import run as run_cli

# a wait, then one email whose clicks bring purchases; the schedule ends 45 days after the start, so that a wait
# of 60 days sends nothing (and a journey that sends nothing causes nothing)
NUDGE = """\
format: journey/1
name: Nudge
target: contacts
audience: {segments: [Everyone]}
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-15T00:00, timezone: UTC}
goal: {event: purchase}
steps:
  pause: {type: wait, name: Short pause, duration: 2d, next: hello}
  hello: {type: email, content: Hello email}
content:
  Hello email: {kind: email, subject: "Hello", status: ready, links: [shop]}
segments:
  Everyone:
    entity: contacts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: -1}]}}]}
"""
SPLIT = NUDGE.replace("name: Nudge", "name: Split").replace(
    "  pause: {type: wait, name: Short pause, duration: 2d, next: hello}",
    "  split: {type: random-split, split: [50, 50], A: hello, B: end}")
SMALL = ("--contacts", "2000", "--replicas", "2", "--seed", "11")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "p.jstudio"
    assert main(["new", str(path)]) == 0
    for name, text in (("nudge", NUDGE), ("split", SPLIT)):
        journey = folder / f"{name}.yaml"
        journey.write_text(text, encoding="utf-8")
        assert main(["import", str(path), str(journey)]) == 0
    return path


def _sweep(capsys: pytest.CaptureFixture[str], project: Path, out: Path, *args: str, journey: str = "Nudge") -> dict:
    code, stdout, err = run_cli(capsys, "sweep", project, "--journey", journey, *args, "--json", out)
    assert code == 0, err
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc["_stdout"] = stdout
    return doc


# --- the grid ---------------------------------------------------------------------------------------------

def test_a_grid_is_every_combination_of_the_values_the_first_vary_slowest() -> None:
    varied = parse_grid(["pause.duration=1d, 2d", "behaviour.email.open=0.2,0.3,0.4"])
    assert [v.target for v in varied] == ["pause.duration", "behaviour.email.open"]
    points = grid_points(varied)
    assert len(points) == 6
    assert points[0] == {"pause.duration": "1d", "behaviour.email.open": "0.2"}
    assert points[-1] == {"pause.duration": "2d", "behaviour.email.open": "0.4"}


@pytest.mark.parametrize("texts, said", [
    (["pause.duration"], "write STEP.PROPERTY=v1,v2"),
    (["pause=1d"], "write STEP.PROPERTY=v1,v2"),
    (["pause.duration="], "give one or more values"),
    (["pause.duration=1d,,2d"], "none empty"),
    (["pause.duration=1d,1d"], "given twice"),
    (["pause.duration=1d", "pause.duration=2d"], "given twice"),
    (["pause.duration=" + "1" * 200 + "d"], "at most 80 characters"),
    (["pause.duration=" + ",".join(f"{i}d" for i in range(1, 102))], "at most 100"),
    ([f"s{i}.duration=" + ",".join(f"{d}d" for d in range(1, 5)) for i in range(5)], f"at most {MAX_POINTS:,}"),
    ([], "at least one --vary"),
])
def test_a_grid_it_cannot_take_is_refused_in_one_line(texts: list[str], said: str) -> None:
    with pytest.raises(SweepError) as e:
        parse_grid(texts)
    assert said in str(e.value) and "\n" not in str(e.value)


def test_a_long_vary_is_refused_before_it_is_split() -> None:
    with pytest.raises(SweepError, match="too long"):
        parse_vary("pause.duration=" + "1d," * 100_000)


@pytest.mark.parametrize("vary, said", [
    ("pause.duration=-1d", "--vary pause.duration=-1d: pause:"),
    ("pause.duration=soon", "--vary pause.duration=soon: "),
    ("pause.colour=red", "--vary pause.colour: a wait step has no property 'colour' (properties: duration, until)"),
    ("nowhere.duration=1d", "--vary nowhere.duration: no such step in 'Nudge' (steps: pause, hello)"),
    ("hello.content=Missing", "--vary hello.content=Missing: hello:"),
    ("behaviour.email.open=1.5", "--vary behaviour.email.open=1.5: a probability from 0 to 1"),
    ("behaviour.email.open=lots", "--vary behaviour.email.open=lots: a behaviour figure is a number"),
    ("behaviour.email.colour=1", "--vary behaviour.email.colour: no such behaviour figure"),
    ("behaviour.messages.hello.colour=1", "--vary behaviour.messages.hello.colour: a message's figure is"),
    ("behaviour.multipliers=1", "--vary behaviour.multipliers: no such behaviour figure"),
    ("behaviour.messages.pause.click=0.5", "--vary behaviour.messages.pause.click: 'pause' is not a message step "
                                           "of 'Nudge' (its message steps: hello)"),
    ("journey.quiet_hours=late", "--vary journey.quiet_hours=late: write the quiet hours as START-END"),
    ("journey.quiet_hours=25:00-08:00", "--vary journey.quiet_hours=25:00-08:00: not a time of day"),
    ("journey.timezone=UTC", "--vary journey.timezone: a sweep varies the journey's quiet_hours"),
])
def test_a_value_the_tile_or_the_model_refuses_is_one_line_naming_it(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path, vary: str, said: str) -> None:
    out = tmp_path / "s.json"
    code, stdout, err = run_cli(capsys, "sweep", project, "--journey", "Nudge", "--vary", vary,
                                "--vary", "behaviour.event_rates.purchase=0.001,0.002", "--contacts", "10",
                                "--seed", "1", "--json", out)
    assert code != 0 and stdout == ""
    assert len(err.strip().splitlines()) == 1, err
    assert said in err
    assert not out.exists()  # refused before anything ran


def test_a_step_can_be_named_by_its_name_as_well_as_its_id(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "Short pause.duration=2d", *SMALL,
                 "--workers", "1")
    assert doc["points"][0]["effect"] == doc["baseline"]["effect"]


# --- the runs ---------------------------------------------------------------------------------------------

GRID = ("--vary", "pause.duration=1d,60d", "--vary", "behaviour.email.conversion=0.03,0.3")


def test_parallel_points_give_the_serial_json_bit_for_bit_and_leave_no_process(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial.json", tmp_path / "parallel.json"
    _sweep(capsys, project, serial, *GRID, *SMALL, "--workers", "1")
    _sweep(capsys, project, parallel, *GRID, *SMALL, "--workers", "2")
    assert serial.read_bytes() == parallel.read_bytes()
    assert multiprocessing.active_children() == []


def test_the_baseline_is_the_effect_simulate_gives_and_a_point_at_the_current_values_equals_it(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "pause.duration=2d,3d", *SMALL, "--workers", "1")
    with ProjectFile.open(project, readonly=True) as pf:
        source = snapshot(pf.project, pf.project.journey("Nudge").id)
    plain = execute(RunRequest(source.journey.id, contacts=2000, seed=11, replicas=2), source)
    assert doc["outcome"] == "purchase"
    assert doc["baseline"]["values"] == {"pause.duration": "2d"}
    assert doc["baseline"]["effect"] == plain.result.effect["purchase"]["incremental"]
    current = doc["points"][0]  # the same journey as the baseline: run once
    assert current["values"] == {"pause.duration": "2d"} and current["effect"] == doc["baseline"]["effect"]
    assert doc["runs"] == 2
    assert current["vs_baseline"] == {"mean": 0.0, "low": 0.0, "high": 0.0, "sure": 0.0, "replicas": 2}


def test_effects_go_the_certain_way_and_the_best_point_is_marked(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", *GRID, *SMALL, "--workers", "1")
    by = {(p["values"]["pause.duration"], p["values"]["behaviour.email.conversion"]): p for p in doc["points"]}
    base = doc["baseline"]["effect"]
    assert base["mean"] > 0
    # a wait beyond the schedule's end: nothing is sent, so nothing is caused, and it is worse than now
    for conversion in ("0.03", "0.3"):
        late = by[("60d", conversion)]
        assert late["effect"] == {"mean": 0.0, "low": 0.0, "high": 0.0}
        assert late["vs_baseline"]["mean"] < 0 and late["vs_baseline"]["sure"] == 0.0
    # ten times the conversions of clickers: more purchases caused, in every replica
    better = by[("1d", "0.3")]
    assert better["effect"]["mean"] > by[("1d", "0.03")]["effect"]["mean"]
    assert better["vs_baseline"]["sure"] == 1.0 and better["vs_baseline"]["low"] > 0
    assert [p["best"] for p in doc["points"]] == [p is better for p in doc["points"]]
    lines = doc["_stdout"].splitlines()
    marked = [line for line in lines if line.endswith("* best")]
    assert len(marked) == 1 and marked[0].startswith("1d") and " 0.3 " in marked[0]
    assert lines[1].startswith("2d") and lines[1].endswith("current")
    assert doc["varied"] == [{"property": "pause.duration", "values": ["1d", "60d"], "current": "2d"},
                             {"property": "behaviour.email.conversion", "values": ["0.03", "0.3"],
                              "current": "0.03"}]
    assert doc["assumptions"] and doc["contacts"] == 2000 and doc["replicas"] == 2 and doc["seed"] == 11


def test_a_best_point_that_only_ties_the_current_settings_says_so(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "pause.duration=60d,2d", *SMALL, "--workers", "1")
    assert [p["best"] for p in doc["points"]] == [False, True]
    marked = [line for line in doc["_stdout"].splitlines() if "* best" in line]
    assert len(marked) == 1 and marked[0].startswith("2d") and marked[0].endswith("* best, no better than current")


def test_split_shares_vary_as_percentages_with_slashes_and_are_checked_as_the_tile_checks_them(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "split.split=10/90,90/10", "--vary",
                 "behaviour.email.conversion=0.3", *SMALL, "--workers", "1", journey="Split")
    few, many = doc["points"]
    assert doc["baseline"]["values"] == {"split.split": "50/50", "behaviour.email.conversion": "0.03"}
    assert many["effect"]["mean"] > few["effect"]["mean"] and many["best"]  # more contacts get the email
    for vary, said in (("split.split=10/80", "--vary split.split=10/80: split: The split percentages add up to 90%"),
                       ("split.split=ten/90", "--vary split.split=ten/90: shares are percentages separated by '/'"),
                       ("split.holdout=20", "--vary split.holdout=20: split: The split percentages and holdout")):
        code, _, err = run_cli(capsys, "sweep", project, "--journey", "Split", "--vary", vary, *SMALL)
        assert code != 0 and len(err.strip().splitlines()) == 1 and said in err, err


def test_for_unsubscribes_lower_is_better_and_an_unknown_outcome_is_refused_before_any_run(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "behaviour.email.unsubscribe=0.0005,0.02",
                 "--outcome", "unsubscribed", *SMALL, "--workers", "1")
    few, many = doc["points"]
    assert doc["better"] == "lower" and few["effect"]["mean"] < many["effect"]["mean"]
    assert few["best"] and not many["best"]
    assert few["vs_baseline"]["sure"] == 1.0 and many["vs_baseline"]["sure"] == 0.0
    code, _, err = run_cli(capsys, "sweep", project, "--journey", "Nudge", "--vary", "pause.duration=1d",
                           "--outcome", "happiness", *SMALL)
    assert code != 0 and "--outcome happiness: not an effect event of this run (events: purchase" in err


def test_workers_are_bounded_by_the_points_and_the_memory_their_populations_take() -> None:
    assert workers_for(8, 1000, 3, available=64 << 30) == 3
    assert workers_for(4, 1000, 30, available=64 << 30) == 4
    assert workers_for(4, 20_000_000, 30, available=64 << 30) == 1  # about 30 GB a population: one at a time
    assert workers_for(4, 5_000_000, 30, available=20 << 30) == 2
    assert workers_for(4, 20_000_000, 30, available=1 << 30) == 1  # never fewer than one


def test_send_hours_vary_as_the_journeys_quiet_hours(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "journey.quiet_hours=21:00-08:00,none", *SMALL,
                 "--workers", "1")
    assert doc["varied"][0]["current"] == "none"
    assert doc["points"][1]["effect"] == doc["baseline"]["effect"]  # 'none' is the journey as it is
    assert doc["points"][0]["effect"] is not None


def test_a_message_figure_varies_from_its_channels_figure(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    doc = _sweep(capsys, project, tmp_path / "s.json", "--vary", "behaviour.messages.hello.click=0.05,0.6", *SMALL,
                 "--workers", "1")
    assert doc["varied"][0]["current"] == doc["baseline"]["values"]["behaviour.messages.hello.click"] != "-"
    low, high = doc["points"]
    assert low["effect"]["mean"] < doc["baseline"]["effect"]["mean"] < high["effect"]["mean"] and high["best"]


def test_the_pure_sweep_bounds_its_inputs_as_simulate_does(project: Path) -> None:
    from simulator.behaviour import BehaviourModel
    with ProjectFile.open(project, readonly=True) as pf:
        source = snapshot(pf.project, pf.project.journey("Nudge").id)

    def sweep(varied: tuple[Varied, ...], contacts: int = 100, replicas: int = 1) -> Sweep:
        return Sweep(source.journey, BehaviourModel(), source.content, source.segments, source.custom_attributes,
                     varied, contacts, 1, replicas)
    one = (Varied("pause.duration", ("1d",)),)
    with pytest.raises(RunError, match="from 1 to 20,000,000 contacts"):
        prepare(sweep(one, contacts=0))
    with pytest.raises(RunError, match="replicas go from 1 to 1000"):
        prepare(sweep(one, replicas=1001))
    wide = tuple(Varied(f"behaviour.email.open{i}", tuple(str(x) for x in range(4))) for i in range(6))
    with pytest.raises(SweepError, match="at most 1,000 points"):
        prepare(sweep(wide))
    points, tasks = prepare(sweep(one))
    assert points == [{"pause.duration": "1d"}] and len(tasks) == 2


# --- cancel -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_a_cancel_stops_the_points_and_leaves_no_worker_process(project: Path, workers: int) -> None:
    import threading

    from app.validation.checks import check_journey
    from simulator.behaviour import BehaviourModel
    from simulator.engine import Cancelled
    from simulator.sweep import run_points
    with ProjectFile.open(project, readonly=True) as pf:
        source = snapshot(pf.project, pf.project.journey("Nudge").id)
        the_sweep = Sweep(source.journey, BehaviourModel(), source.content, source.segments,
                          source.custom_attributes, parse_grid(["pause.duration=1d,2d,3d,4d,5d,6d"]), 3000, 5, 2)
        _, tasks = prepare(the_sweep, lambda j: check_journey(j, pf.project))
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        cancel.set()  # after the first point: the others are not run (or not waited for)

    with pytest.raises(Cancelled):
        run_points(tasks, workers, progress, cancel)
    assert seen and seen[0] < len(tasks)
    assert multiprocessing.active_children() == []


# --- a dask cluster ---------------------------------------------------------------------------------------

def test_dask_points_give_the_serial_json_bit_for_bit(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    serial, clustered = tmp_path / "serial.json", tmp_path / "dask.json"
    _sweep(capsys, project, serial, *GRID, *SMALL, "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster:
        doc = _sweep(capsys, project, clustered, *GRID, *SMALL, "--dask", cluster.scheduler_address)
    assert doc["runs"] == 5  # the baseline and four points
    assert serial.read_bytes() == clustered.read_bytes()
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("address, said", [
    ("tcp://127.0.0.1:9", "--dask tcp://127.0.0.1:9: no dask scheduler answered within 1 s"),
    ("not an address", "--dask 'not an address': give the scheduler's address"),
    ("nonsense://x:1", "--dask nonsense://x:1: not a scheduler's address"),
    ("tcp://127.0.0.1", "--dask tcp://127.0.0.1: not a scheduler's address"),
])
def test_a_scheduler_that_does_not_answer_is_one_line_after_a_timeout(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        address: str, said: str) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr("simulator.sweep_cluster.CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "s.json"
    code, stdout, err = run_cli(capsys, "sweep", project, "--journey", "Nudge", *GRID, *SMALL, "--dask", address,
                                "--json", out)
    assert code != 0 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert said in err
    assert not out.exists()


def test_without_distributed_dask_says_how_to_install_it(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "distributed", None)  # an import of it fails as where it is not installed
    code, stdout, err = run_cli(capsys, "sweep", project, "--journey", "Nudge", *GRID, *SMALL, "--dask",
                                "tcp://127.0.0.1:8786", "--json", tmp_path / "s.json")
    assert code != 0 and stdout == ""
    assert err.strip() == ("journey-studio: error: --dask needs dask.distributed, which is not installed: "
                           "pip install 'journey-studio[cluster]'")


def test_dask_and_workers_are_not_given_together(
        capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "sweep", project, "--journey", "Nudge", *GRID, *SMALL, "--dask",
                           "tcp://127.0.0.1:8786", "--workers", "2", "--json", tmp_path / "s.json")
    assert code != 0 and "--workers and --dask: choose one" in err


# --- for the Sweep panel ----------------------------------------------------------------------------------

def test_the_best_point_becomes_edits_of_the_journey_and_its_behaviour_figures_are_left_out(project: Path) -> None:
    from datetime import timedelta

    from app.validation.checks import check_journey
    from simulator.behaviour import BehaviourModel
    from simulator.sweep_targets import check_values, journey_changes, targets_for
    with ProjectFile.open(project, readonly=True) as pf:
        journey = pf.project.journey("Nudge")
        offered = [t.target for t in targets_for(journey, BehaviourModel())]
        assert offered[:2] == ["pause.duration", "pause.until"]
        assert {"hello.content", "journey.quiet_hours", "behaviour.email.open",
                "behaviour.messages.hello.click"} <= set(offered)
        steps, schedule, left_out = journey_changes(journey, {"Short pause.duration": "3d",
                                                              "journey.quiet_hours": "21:00-08:00",
                                                              "behaviour.email.open": "0.3"})
        assert steps == {"pause": {"duration": timedelta(days=3)}}
        assert schedule is not None and schedule.quiet_hours is not None
        assert left_out == ["behaviour.email.open"]
        assert journey_changes(journey, {"pause.duration": "2d"})[0] == {}  # already its value
        assert check_values(journey, BehaviourModel(), "pause.duration=1d,3d").values == ("1d", "3d")
        with pytest.raises(SweepError, match="--vary hello.content=Missing: hello:"):
            check_values(journey, BehaviourModel(), "hello.content=Missing", lambda j: check_journey(j, pf.project))
