"""`journey-studio calibrate PROJECT --live PACKAGE-or-RUN`: the behaviour figures learned from a live run (what
its runner saw of each message and of the goal: app/runner/observed.py, fitted by simulator/live_fit.py), written
as a behaviour file that says where each figure came from."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from app.cli.main import STDOUT, fail, write_output
from app.files import check_output_path

SETTLE_DEFAULT = "2d"


def calibrate_live(project: str, run: str, state_dir: str | None, out: str, json_out: str | None,
                   behaviour_file: str | None, prior_weight: float, settle: str) -> None:
    """Read the run, fit, write the behaviour file (and the report); one line and exit status 2 on bad input."""
    from app.cli.runner import _runnable, run_of
    from app.cli.simulate import read_behaviour
    from app.model.values import parse_duration
    from app.runner.observed import ObservedError, read_observed
    from app.semantics.plan import Kind
    from simulator.behaviour import BehaviourModel
    from simulator.behaviour_file import behaviour_file_text
    from simulator.live_fit import fit_live

    for path in (out, json_out):
        if path and path != STDOUT:
            check_output_path(Path(path))
    try:
        settle_td = parse_duration(settle)
    except ValueError as e:
        fail(f"--settle {settle}: {e}")
    if not 0 <= settle_td.total_seconds() <= 90 * 86_400:
        fail(f"--settle {settle}: give a duration from 0 to 90d, e.g. 2d")
    package, state = run_of(run, state_dir)
    r = _runnable(package)  # a RunnerError is one line, as every JourneyStudioError
    try:
        observed = read_observed(state)
    except ObservedError as e:
        fail(str(e))
    if observed.journey != r.key:
        fail(f"{state}: the run is of {observed.journey}, not of the package's journey {r.key}")
    base = read_behaviour(behaviour_file) if behaviour_file else BehaviourModel()
    steps = {s.id: s.channel for s in r.plan.steps if s.kind == Kind.MESSAGE and s.channel}
    if not steps:
        fail(f"{package}: the journey sends no message: there is nothing to learn from its run")
    goal = r.plan.goal.event if r.plan.goal is not None else None
    model, report = fit_live(observed, steps, goal, base, prior_weight=prior_weight,
                             settle_seconds=int(settle_td.total_seconds()))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = {"live_run": str(state), "package": str(package), "journey": observed.journey,
             "contacts": len(observed.entries), "read": when,
             "observed_until": datetime.fromtimestamp(observed.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    sources = {name: {**where, "measured": measured, "method": method}
               for name, (measured, method) in _figure_sources(report, prior_weight).items()}
    model = _with_sources(model, sources)
    text = behaviour_file_text(model)
    write_output(out, text)
    if json_out:
        write_output(json_out, json.dumps({**report, "sources": sources}, indent=2) + "\n")
    for line in summary_lines(report, f"'{r.plan.journey_name}' ({observed.journey})"):
        click.echo(line, err=out == STDOUT)
    if observed.truncated:
        click.echo("Note: the run is larger than what is read at once; its first part was fitted", err=True)
    if out != STDOUT:
        click.echo(f"Wrote {out}", err=True)


def _with_sources(model: Any, sources: dict[str, Any]) -> Any:
    """The model with these sources added to any it has (a behaviour model that records none keeps none)."""
    from dataclasses import fields, replace
    if "sources" not in {f.name for f in fields(model)}:
        return model
    return replace(model, sources={**(getattr(model, "sources", None) or {}), **sources})


def _figure_sources(report: dict[str, Any], weight: float) -> dict[str, tuple[str, str]]:
    """Each fitted figure's dotted name -> (what it was measured on, how it was fitted)."""
    prior = f"Beta posterior mean, the starting figure worth {weight:g} contacts"
    out: dict[str, tuple[str, str]] = {}
    for s in report["steps"]:
        for f in s["figures"]:
            out[f"messages.{s['step']}.{f['figure']}"] = (f"{f['hits']} of {f['of']} ({s['channel']})", prior)
    goal = report.get("goal")
    if goal:
        bg = goal["background"]
        out[f"event_rates.{goal['event']}"] = (
            f"{bg['events']} goals in {bg['contact_days']:g} contact-days",
            "goals before any click of the contact's, over the time watched before a click (Poisson rate, Gamma "
            f"posterior with the starting rate worth {weight:g} contact-days)")
        for c in goal["conversion"]:
            out[f"messages.{c['step']}.conversion"] = (
                f"{c['goal_after_click']} of {c['clickers']} clickers",
                "share of clickers reaching the goal after the click, net of the background rate: (p - b) / (1 - b)")
    return out


def summary_lines(report: dict[str, Any], journey: str) -> list[str]:
    """What was learned, one line per figure: the count it rests on, the prior and the estimate with its
    interval."""
    lines = [f"Learned from the live run of {journey}: {report['units']:,} contacts entered"]
    for s in report["steps"]:
        lines.append(f"  {s['step']} ({s['channel']}): {s['sent']:,} sent, {s['settled']:,} settled"
                     + ("" if s["delivery_observed"] else " (no deliveries reported: delivery kept)"))
        for f in s["figures"]:
            lines.append(f"    {f['figure']:<12} {f['hits']:>7,} of {f['of']:<7,} was {f['prior']:.4f}  now "
                         f"{f['mean']:.4f} (95% {f['low']:.4f} to {f['high']:.4f})")
    goal = report.get("goal")
    if goal:
        bg = goal["background"]
        lines.append(f"  {goal['event']} background: {bg['events']:,} in {bg['contact_days']:,.1f} contact-days, "
                     f"was {bg['prior']:g}/day now {bg['rate_per_day']:.5f}/day (95% {bg['low']:.5f} to "
                     f"{bg['high']:.5f})")
        for c in goal["conversion"]:
            lines.append(f"  {goal['event']} after a click on {c['step']}: {c['goal_after_click']:,} of "
                         f"{c['clickers']:,} clickers, background {c['background_share']:.4f}: conversion "
                         f"{c['mean']:.4f} (95% {c['low']:.4f} to {c['high']:.4f})")
    return lines
