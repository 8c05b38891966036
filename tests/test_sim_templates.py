"""The seed journeys simulate from their YAML and give sensible funnels; the command line reports them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.codec.yamlio import read_journey_file
from app.resources import resource_path
from simulator.behaviour import BehaviourModel
from simulator.engine import run
from simulator.metrics import conversion, funnel, time_series
from app.semantics.plan import compile_plan
from simulator.population import population_for

TEMPLATES = ("announcement", "re-engagement", "renewal-reminder", "welcome-series", "abandoned-cart")


def simulate_template(name: str, n: int = 20_000, seed: int = 1):  # type: ignore[no-untyped-def]
    j = read_journey_file(resource_path("templates", f"{name}.yaml"))[0]
    plan = compile_plan(j)
    return plan, run(plan, population_for(plan, n, seed), BehaviourModel(), seed)


def check_sensible(plan, tr) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    f = funnel(tr)
    names = plan.step_names()
    assert f["entered"][plan.entry] == len(tr.units["contact"]) > 0
    assert (f["sent"] + f["suppressed"] + f["capped"] <= f["entered"]).all()
    assert (f["delivered"] <= f["sent"]).all() and (f["opened"] <= f["delivered"]).all()
    assert (f["clicked"] <= f["opened"]).all() and (f["converted"] <= f["clicked"]).all()
    assert (f["goal"] <= f["exited"]).all()
    for s in plan.steps:
        if s.type == "if-then":
            i = s.index  # contacts at an if/then are answered yes or no, unless they leave or time runs out
            assert f["yes"][i] + f["no"][i] + f["exited"][i] + f["stopped"][i] + f["waiting"][i] == f["entered"][i]
    # the same contacts end somewhere: every entry has one end
    ends = f["completed"] + f["holdout"] + f["exited"] + f["stopped"] + f["waiting"]
    assert ends.sum() == len(tr.units["contact"])
    series = time_series(tr)
    assert series["sent"].sum() == f["sent"].sum()
    assert series["entered"].sum() == len(tr.units["contact"])
    assert 0.0 < conversion(tr) < 1.0
    assert names[-1] == "end"
    return f


def test_announcement_funnel() -> None:
    plan, tr = simulate_template("announcement")
    f = check_sensible(plan, tr)
    i = {s: k for k, s in enumerate(plan.step_names())}
    rate = lambda a, b: f[a][i["announce"]] / f[b][i["announce"]]  # noqa: E731
    assert 0.95 < rate("delivered", "sent") < 1.0
    assert 0.15 < rate("opened", "delivered") < 0.35  # around Mailchimp's 21 %, lifted by engagement and loyalty
    assert 0.05 < rate("clicked", "opened") < 0.25
    assert f["no"][i["clicked"]] > 10 * f["yes"][i["clicked"]]  # few click within a day
    assert f["entered"][i["launch"]] == f["yes"][i["clicked"]]
    # the launch wait holds the clickers until 10 December, 09:00 in Paris, then the text message goes out
    launch = tr.visits["step"] == i["launch"]
    left = tr.absolute(tr.visits["t_leave"][launch & (tr.visits["outcome"] == 0)])
    assert set(left.tolist()) == {plan.steps[i["launch"]].until}
    assert f["sent"][i["launched"]] > 0


def test_re_engagement_funnel() -> None:
    plan, tr = simulate_template("re-engagement")
    f = check_sensible(plan, tr)
    i = {s: k for k, s in enumerate(plan.step_names())}
    assert f["entered"][i["offer"]] == f["yes"][i["opened"]]
    assert f["entered"][i["sms"]] == f["no"][i["opened"]]
    share = f["yes"][i["opened"]] / (f["yes"][i["opened"]] + f["no"][i["opened"]])
    assert 0.2 < share < 0.45  # opened within ten days of the reminder
    assert f["goal"].sum() > 0 and f["stopped"].sum() > 0  # purchases end some; the schedule end others
    # ongoing: contacts enter as they join, over the whole schedule
    entered_days = np.flatnonzero(time_series(tr)["entered"])
    assert entered_days.min() == 0 and entered_days.max() > 60


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_simulates(name: str) -> None:
    plan, tr = simulate_template(name, 3000)
    check_sensible(plan, tr)


def _project_with(tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str) -> Path:
    """A new project holding one template, made with the command line (its output read away)."""
    import app.cli.simulate  # noqa: F401 - registers the command (app/cli/main.py will import it)
    from app.cli.main import main
    project = tmp_path / "p.jstudio"
    assert main(["new", str(project)]) == 0
    assert main(["import", str(project), str(resource_path("templates", template))]) == 0
    capsys.readouterr()
    return project


def test_command_line_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli.main import main
    project = _project_with(tmp_path, capsys, "re-engagement.yaml")
    out_json = tmp_path / "out.json"
    code = main(["simulate", str(project), "--journey", "Re-engagement", "--contacts", "3000", "--seed", "4",
                 "--replicas", "3", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Re-engagement (version 1): 3,000 synthetic contacts, seed 4, 3 replicas" in out
    assert "reminder" in out and "±" in out and "Goal reached by" in out
    doc = json.loads(out_json.read_text())
    assert [r["step"] for r in doc["funnel"]] == ["reminder", "wait5", "opened", "offer", "sms", "end"]
    sent = doc["funnel"][0]["sent"]
    assert sent["low"] <= sent["mean"] <= sent["high"]
    assert len(doc["time_series"]["days"]) == len(doc["time_series"]["sent"]["mean"]) == 90
    assert doc["population"]["kind"] == "synthetic" and doc["replicas"] == 3
    # the same inputs give the same JSON figures
    again = tmp_path / "again.json"
    main(["simulate", str(project), "--journey", "Re-engagement", "--contacts", "3000", "--seed", "4",
          "--replicas", "3", "--json", str(again)])
    a, b = json.loads(out_json.read_text()), json.loads(again.read_text())
    assert a["funnel"] == b["funnel"] and a["time_series"] == b["time_series"]
    capsys.readouterr()
    assert main(["simulate", str(project), "--journey", "Nope", "--contacts", "10", "--seed", "1"]) == 2
    assert "no journey named 'Nope'" in capsys.readouterr().err


def test_an_account_journeys_goal_is_said_to_count_per_account(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli.main import main
    project = _project_with(tmp_path, capsys, "renewal-reminder.yaml")
    out_json = tmp_path / "out.json"
    code = main(["simulate", str(project), "--journey", "Renewal reminder", "--contacts", "2000", "--seed", "2",
                 "--json", str(out_json), "--allow-errors"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "(per account: when any of its contacts reaches it, it counts for all)" in out
    assert json.loads(out_json.read_text())["target"] == "accounts"
