"""Learning the behaviour figures from a live run: the runner's state file read as observations
(app/runner/observed.py) and fitted (simulator/live_fit.py)."""

from __future__ import annotations

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


def _run_state(folder: Path, n: int, seed: int = 1, delivered_events: bool = False, days: int = 20) -> dict[str, int]:
    """A runner state file as a run of one email to `n` contacts leaves it: each contact enters at START + a few
    hours, is sent `hello` a minute later, opens, clicks and buys with the TRUE figures; purchases of their own
    come at the background rate. The run is over `days` after the start. Returns the counts written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    state = StateDb(folder / "runner.db")
    counts = {"opened": 0, "clicked": 0, "background": 0}
    try:
        state.put("journey", {"key": KEY, "digest": "x"})
        state.put("clock", [0.0, float(START), 1.0])
        state.put("final_counts", {"final": True, "ended_at": "1970-01-01T00:00:00+00:00"})
        now = START + days * DAY
        rows, events, marks = [], [], []
        claims: list[dict[str, object]] = []
        for c in range(n):
            wid = f"{KEY}:c{c}:0"
            entry = START + int(rng.integers(0, 6 * 3600))
            rows.append((c, wid, entry))
            sent = entry + 60
            key = f"{wid}:hello"
            claims.append({"key": key, "journey": KEY, "contact": c, "iteration": 0, "step_id": "hello",
                           "channel": "email", "transport_id": f"t{c}"})
            marks.append((key, "sent", sent))
            own = entry + int(rng.exponential(DAY / TRUE["rate"]))
            if delivered_events:
                events.append((wid, {"name": "delivered", "at": sent + 5, "step_id": "hello"}))
            if rng.random() < TRUE["unsubscribe"]:
                events.append((wid, {"name": "unsubscribed", "at": sent + 300, "step_id": "hello"}))
            click_at = None
            if rng.random() < TRUE["open"]:
                counts["opened"] += 1
                events.append((wid, {"name": "opened", "at": sent + 3600, "step_id": "hello"}))
                if rng.random() < TRUE["click"]:
                    counts["clicked"] += 1
                    click_at = sent + 3700
                    events.append((wid, {"name": "clicked", "at": click_at, "step_id": "hello"}))
            caused = click_at + 1800 if click_at is not None and rng.random() < TRUE["conversion"] else None
            buy = min(x for x in (own, caused, now + 1) if x is not None)
            if buy <= now:
                events.append((wid, {"name": "purchase", "at": buy}))
        state.claim_many(claims)
        state.mark_many(marks)
        state.record_enrolments(KEY, 0, rows)
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
    _run_state(tmp_path / "run", 5)
    obs = read_observed(tmp_path / "run")  # the clock says START at real 0, the run ended at real 0
    assert obs.now == START


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
