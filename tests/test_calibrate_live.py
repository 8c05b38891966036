"""Learning the behaviour figures from a live run: the runner's state file read as observations
(app/runner/observed.py) and fitted (simulator/live_fit.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from app.runner.observed import ObservedError, read_observed
from app.runner.state import StateDb
from simulator.behaviour import BehaviourModel
from simulator.live_fit import fit_live

DAY = 86_400
START = 1_800_000_000
KEY = "j-1:v1"
TRUE = {"open": 0.30, "click": 0.20, "unsubscribe": 0.01, "conversion": 0.10, "rate": 0.004}


def _run_state(folder: Path, n: int, seed: int = 1, delivered_events: bool = False, days: int = 20, key: str = KEY,
               step: str = "hello") -> dict[str, int]:
    """A runner state file as a run of one email to `n` contacts leaves it: each contact enters at START + a few
    hours, is sent `hello` a minute later, opens, clicks and buys with the TRUE figures; purchases of their own
    come at the background rate. The run is over `days` after the start. Returns the counts written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    state = StateDb(folder / "runner.db")
    counts = {"opened": 0, "clicked": 0, "background": 0}
    try:
        state.put("journey", {"key": key, "digest": "x"})
        state.put("clock", [0.0, float(START), 1.0])
        ended = datetime.fromtimestamp(days * DAY, timezone.utc).isoformat()  # the clock: START at real time 0
        state.put("final_counts", {"final": True, "ended_at": ended})
        now = START + days * DAY
        rows, events, marks = [], [], []
        claims: list[dict[str, object]] = []
        for c in range(n):
            wid = f"{key}:c{c}:0"
            entry = START + int(rng.integers(0, 6 * 3600))
            rows.append((c, wid, entry))
            sent = entry + 60
            claims.append({"key": f"{wid}:{step}", "journey": key, "contact": c, "iteration": 0, "step_id": step,
                           "channel": "email", "transport_id": f"t{c}"})
            marks.append((f"{wid}:{step}", "sent", sent))
            own = entry + int(rng.exponential(DAY / TRUE["rate"]))
            if delivered_events:
                events.append((wid, {"name": "delivered", "at": sent + 5, "step_id": step}))
            if rng.random() < TRUE["unsubscribe"]:
                events.append((wid, {"name": "unsubscribed", "at": sent + 300, "step_id": step}))
            click_at = None
            if rng.random() < TRUE["open"]:
                counts["opened"] += 1
                events.append((wid, {"name": "opened", "at": sent + 3600, "step_id": step}))
                if rng.random() < TRUE["click"]:
                    counts["clicked"] += 1
                    click_at = sent + 3700
                    events.append((wid, {"name": "clicked", "at": click_at, "step_id": step}))
            caused = click_at + 1800 if click_at is not None and rng.random() < TRUE["conversion"] else None
            buy = min(x for x in (own, caused, now + 1) if x is not None)
            if buy <= now:
                events.append((wid, {"name": "purchase", "at": buy}))
        state.claim_many(claims)
        state.mark_many(marks)
        state.record_enrolments(key, 0, rows)
        state.queue_events(events)
    finally:
        state.close()
    return counts


def test_the_state_file_is_read_as_each_contacts_sends_and_events(tmp_path: Path) -> None:
    counts = _run_state(tmp_path / "run", 300)
    obs = read_observed(tmp_path / "run", now=START + 20 * DAY)
    assert obs.journey == KEY and len(obs.entries) == 300 and len(obs.sends) == 300
    opened = sum(1 for s in obs.sends.values() for x in s if "opened" in x.events)
    clicked = sum(1 for s in obs.sends.values() for x in s if "clicked" in x.events)
    assert (opened, clicked) == (counts["opened"], counts["clicked"])
    assert all(set(ev) == {"purchase"} for ev in obs.contact_events.values())


def test_a_finished_run_is_observed_until_it_ended(tmp_path: Path) -> None:
    _run_state(tmp_path / "run", 5, days=3)
    obs = read_observed(tmp_path / "run")  # the clock says START at real time 0; the run ended 3 days later
    assert obs.now == START + 3 * DAY


def test_the_fit_recovers_the_figures_that_made_the_run(tmp_path: Path) -> None:
    _run_state(tmp_path / "run", 20_000, seed=3, delivered_events=True)
    obs = read_observed(tmp_path / "run", now=START + 20 * DAY)
    model, report = fit_live(obs, {"hello": "email"}, "purchase", BehaviourModel())
    step = report["steps"][0]
    figures = {f["figure"]: f for f in step["figures"]}
    assert step["delivery_observed"] and figures["delivery"]["mean"] > 0.99
    for name in ("open", "click", "unsubscribe"):
        f = figures[name]
        assert f["low"] <= TRUE[name] <= f["high"], (name, f)
        assert model.messages["hello"][name] == pytest.approx(f["mean"])
    bg = report["goal"]["background"]
    assert bg["low"] <= TRUE["rate"] <= bg["high"], bg
    assert model.event_rates["purchase"] == pytest.approx(bg["rate_per_day"])
    conv = report["goal"]["conversion"][0]
    assert conv["low"] <= TRUE["conversion"] <= conv["high"], conv
    assert model.messages["hello"]["conversion"] == pytest.approx(conv["mean"])


def test_without_delivery_events_the_models_delivery_is_kept_and_said(tmp_path: Path) -> None:
    _run_state(tmp_path / "run", 2_000, seed=4)
    obs = read_observed(tmp_path / "run", now=START + 20 * DAY)
    base = BehaviourModel()
    model, report = fit_live(obs, {"hello": "email"}, None, base)
    step = report["steps"][0]
    assert not step["delivery_observed"]
    assert "delivery" not in {f["figure"] for f in step["figures"]} and "delivery" not in model.messages["hello"]
    assert step["delivered"] == round(2_000 * base.channels["email"].delivery)
    assert "goal" not in report and model.event_rates == base.event_rates


def test_a_step_few_contacts_reached_stays_near_the_prior(tmp_path: Path) -> None:
    _run_state(tmp_path / "run", 8, seed=5, delivered_events=True)
    obs = read_observed(tmp_path / "run", now=START + 20 * DAY)
    base = BehaviourModel()
    model, report = fit_live(obs, {"hello": "email"}, "purchase", base)
    f = {x["figure"]: x for x in report["steps"][0]["figures"]}["open"]
    observed = f["hits"] / f["of"]
    # the estimate lies between the prior and what 8 contacts showed, nearer the prior (its weight is 20)
    assert min(observed, base.channels["email"].open) <= f["mean"] <= max(observed, base.channels["email"].open)
    assert abs(f["mean"] - base.channels["email"].open) <= abs(observed - base.channels["email"].open)
    assert f["high"] - f["low"] > 0.2


def test_sends_too_recent_to_have_settled_are_left_out(tmp_path: Path) -> None:
    _run_state(tmp_path / "run", 50, seed=6)
    obs = read_observed(tmp_path / "run", now=START + 3600 * 7)  # every send is a few hours old
    _, report = fit_live(obs, {"hello": "email"}, None, BehaviourModel())
    step = report["steps"][0]
    assert step["sent"] == 50 and step["settled"] == 0 and step["figures"] == []


def test_what_is_not_a_run_gets_one_line(tmp_path: Path) -> None:
    with pytest.raises(ObservedError, match="no runner.db"):
        read_observed(tmp_path)
    (tmp_path / "runner.db").write_bytes(b"not a database at all" * 10)
    with pytest.raises(ObservedError, match="not a runner's state file"):
        read_observed(tmp_path)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A project, its announcement's package, and the state of a run of it beside the package (PACKAGE.run)."""
    from app.runner.runnable import from_package
    from tests.runner_helpers import contacts_project, package_of
    folder = tmp_path_factory.mktemp("live")
    project = folder / "shop.jstudio"
    contacts_project(project, 5)
    pkg = package_of(project, folder / "a.jpkg")
    _run_state(folder / "a.jpkg.run", 3_000, seed=8, delivered_events=True, key=from_package(pkg).key,
               step="announce")
    return {"project": project, "pkg": pkg, "folder": folder}


def test_calibrate_live_writes_a_behaviour_file_that_says_where_its_figures_came_from(
        live_run: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.behaviour_file import read_behaviour_file
    from tests.cli_helpers import run
    out, report = live_run["folder"] / "learned.yaml", live_run["folder"] / "learned.json"
    code, text, err = run(capsys, "calibrate", live_run["project"], "--live", live_run["pkg"], "--out", out,
                          "--json", report)
    assert code == 0, err
    assert "Learned from the live run" in text and "announce (email): 3,000 sent" in text
    doc = json.loads(report.read_text(encoding="utf-8"))
    figures = {f["figure"]: f for f in doc["steps"][0]["figures"]}
    model = read_behaviour_file(out)  # what simulate --behaviour reads
    assert model.messages["announce"]["open"] == pytest.approx(figures["open"]["mean"])
    assert figures["open"]["low"] <= TRUE["open"] <= figures["open"]["high"]
    assert figures["open"]["of"] == 3_000 and figures["open"]["hits"] == doc["steps"][0]["opened"]
    source = model.sources["messages.announce.open"]
    assert source["contacts"] == 3_000 and source["journey"] == doc["journey"]
    assert source["measured"] == f"{figures['open']['hits']} of 3000 (email)"
    assert source["live_run"].endswith("a.jpkg.run") and "Beta posterior" in source["method"]
    assert set(model.sources) >= {"event_rates.purchase", "messages.announce.conversion"}
    written = out.read_text(encoding="utf-8")
    # the same run named by its state folder gives the same file
    again = live_run["folder"] / "again.yaml"
    code, _, err = run(capsys, "calibrate", live_run["project"], "--live", live_run["folder"] / "a.jpkg.run",
                       "--out", again)
    assert code == 0, err
    strip = [line for line in written.splitlines() if "read:" not in line]
    assert strip == [line for line in again.read_text(encoding="utf-8").splitlines() if "read:" not in line]


@pytest.mark.parametrize("args, says", [
    (("past.csv", "--live", "{pkg}"), "not both"),
    (("--live", "{folder}/nowhere.jpkg"), "no such package file"),
    (("--live", "{pkg}", "--settle", "soon"), "--settle soon"),
    (("--live", "{pkg}", "--settle", "100d"), "from 0 to 90d"),
    ((), "--live RUN"),
    (("past.csv", "--control", "none"), "needs --arm, --outcome, --days, --seed"),
])
def test_calibrate_live_bad_input_is_one_line(live_run: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                             args: tuple[str, ...], says: str) -> None:
    from tests.cli_helpers import run
    given = [a.format(pkg=live_run["pkg"], folder=live_run["folder"]) for a in args]
    code, _, err = run(capsys, "calibrate", live_run["project"], *given, "--out",
                       live_run["folder"] / "x.yaml")
    assert code == 2 and says in err and err.count("\n") == 1, err
