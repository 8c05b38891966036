"""`journey-studio simulate`: play a journey over a population before it goes live, with intervals.

Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from app.cli.main import _open, cli, fail, write_atomically

COLUMNS = ("entered", "sent", "delivered", "opened", "clicked", "yes", "no", "exited", "goal", "stopped", "waiting")


def _cell(figure: dict[str, float], replicas: int) -> str:
    mean = figure["mean"]
    if replicas < 2:
        return f"{mean:,.0f}"
    half = (figure["high"] - figure["low"]) / 2
    return f"{mean:,.0f}±{half:,.0f}"


def _table(rows: list[dict[str, Any]], replicas: int) -> list[str]:
    cols = [c for c in COLUMNS if any(r[c]["mean"] for r in rows)]
    head = ["step", "type", *cols]
    body = [[r["step"], r["type"], *(_cell(r[c], replicas) for c in cols)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    for line in body:
        lines.append("  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(line, widths))))
    return lines


class _Progress:
    """Progress on standard error, at most a few times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.last = enabled, 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.5 or fraction >= 1.0):
            self.last = now
            click.echo(f"\r  {fraction:6.1%}  {message[:70]:<70}", err=True, nl=fraction >= 1.0)


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--contacts", type=click.IntRange(1, 20_000_000), required=True,
              help="Size of the synthetic population.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), required=True,
              help="Seed of the population and of the replicas; the same seed gives the same figures.")
@click.option("--replicas", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Runs with derived seeds; figures are given as means with 95% intervals.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="Also write the funnel per step (with intervals) and the daily time series as JSON.")
@click.option("--population", type=click.Choice(["synthetic"]), default="synthetic", show_default=True,
              help="Who is simulated. Only 'synthetic' for now (contacts generated from the seed, with the "
                   "journey's segments); the project's own contacts and segments come with the audience adapter.")
@click.option("--horizon-days", type=click.IntRange(1, 3660),
              help="Simulate this many days from the start (default: until the schedule ends, or 90 days).")
def simulate(project: str, journey_name: str, contacts: int, seed: int, replicas: int, json_out: str | None,
             population: str, horizon_days: int | None) -> None:
    """Simulate a journey over a population and print its funnel (read-only: the project is not changed)."""
    from simulator.behaviour import BehaviourModel
    from simulator.plan import DAY, PlanError, compile_plan
    from simulator.population import population_for
    from simulator.replicas import simulate as run_replicas

    with _open(project, write=False) as pf:
        journey = pf.project.journey(journey_name)
    try:
        plan = compile_plan(journey)
        if horizon_days is not None:
            plan = compile_plan(journey, horizon=plan.start + horizon_days * DAY)
    except PlanError as e:
        fail(f"cannot simulate '{journey.name}': {e}")
    pop = population_for(plan, contacts, seed)
    try:
        result = run_replicas(plan, pop, BehaviourModel(), seed, replicas,
                              progress=_Progress(sys.stderr.isatty()))
    except KeyError as e:  # a condition on an attribute the population lacks
        fail(f"cannot simulate '{journey.name}': {e.args[0] if e.args else e}")
    doc = result.to_json()
    doc["population"] = dict(pop.spec)
    click.echo(f"{journey.name} (version {journey.version}): {contacts:,} synthetic contacts, seed {seed}, "
               f"{replicas} replica{'s' if replicas != 1 else ''}, {doc['start']} to {doc['horizon']}")
    for line in _table(doc["funnel"], replicas):
        click.echo("  " + line)
    conv = doc["conversion"]
    ci = f" (95% interval {conv['low']:.2%} to {conv['high']:.2%})" if replicas > 1 else ""
    click.echo(f"Goal reached by {conv['mean']:.2%} of the contacts who entered{ci}; {result.seconds:.1f} s.")
    if json_out:
        write_atomically(Path(json_out), json.dumps(doc, indent=1) + "\n")
        click.echo(f"Wrote {json_out}", err=True)


cli.add_command(simulate)
