"""`journey-studio sweep`: what-if sweeps over a journey's step properties and behaviour figures, each point a
paired run against the journey as it is (simulator/sweep.py does the work; nothing is saved in the project).

Registered on the `journey-studio` group by importing this module (app/cli/main.py's LAZY_COMMANDS).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import click

from app.cli.main import EXIT_FINDINGS, OUTPUT, STDOUT, _open, cli, fail, write_output
from app.files import check_output_path

MAX_WORKERS = 64


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.2f}" if signed else f"{x * 100:.2f}"


def table(doc: dict[str, Any]) -> list[str]:
    """One line per point (the baseline first, the best marked '*'): values, effect and against the baseline,
    in percentage points of the contacts who entered."""
    names = [v["property"] for v in doc["varied"]]
    head = [*names, "effect pt", "95% interval", "vs current pt", "95% interval", "sure", ""]
    body: list[list[str]] = []
    base = doc["baseline"]["effect"] or {}
    body.append([*(doc["baseline"]["values"][n] for n in names), _pct(base.get("mean")),
                 f"{_pct(base.get('low'))} to {_pct(base.get('high'))}", "", "", "", "current"])
    for p in doc["points"]:
        e, v = p["effect"] or {}, p["vs_baseline"]
        interval = f"{_pct(v['low'], True)} to {_pct(v['high'], True)}" if v["low"] is not None else "-"
        sure = f"{v['sure']:.0%}" if v["sure"] is not None else "-"
        body.append([*(p["values"][n] for n in names), _pct(e.get("mean")),
                     f"{_pct(e.get('low'))} to {_pct(e.get('high'))}", _pct(v["mean"], True), interval, sure,
                     ("* best" if v["sure"] is None or v["sure"] > 0 else "* best, no better than current")
                     if p["best"] else ""])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    left = len(names)
    return ["  ".join(c.ljust(w) if i < left or i == len(head) - 1 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in [head, *body]]


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--vary", "vary", multiple=True, required=True, metavar="STEP.PROPERTY=v1,v2,...",
              help="A property to vary and its values: a step's property, the step by its id or name "
                   "(pause.duration=2d,5d,7d, opened.within=1d,2d, split.split=50/50,70/30), the send hours "
                   "(journey.quiet_hours=21:00-08:00,none) or a behaviour figure as journey-studio behaviour "
                   "names it (behaviour.email.open=0.2,0.3, behaviour.event_rates.purchase=0.001). Repeat for a "
                   "grid (at most 1,000 points).")
@click.option("--contacts", type=click.IntRange(1, 20_000_000), required=True,
              help="Size of the synthetic population of every point.")
@click.option("--replicas", type=click.IntRange(1, 1000), default=2, show_default=True,
              help="Replicas per point, with derived seeds (the same at every point: paired).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), required=True, help="Seed of every point's runs.")
@click.option("--json", "json_out", type=OUTPUT, help="Write the sweep as JSON ('-': to standard output, the "
                                                      "table then going to standard error).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS),
              help="Worker processes that run points at once (default: the number of CPUs; 1: one after the "
                   "other). The results are the same, bit for bit.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Run the points on an existing dask.distributed cluster, its scheduler at ADDRESS (e.g. "
                   "tcp://10.0.0.5:8786; its workers need journey-studio installed) instead of local worker "
                   "processes. The results are the same, bit for bit. Needs pip install 'journey-studio[cluster]'.")
@click.option("--outcome", help="The effect event the points are compared on (default: the journey's goal).")
@click.option("--horizon-days", type=click.IntRange(1, 3660),
              help="Simulate this many days from the start (default: until the schedule ends, or 90 days).")
@click.option("--behaviour", "behaviour_file", type=click.Path(dir_okay=False),
              help="The behaviour assumptions (YAML or JSON) the baseline and every point start from.")
@click.option("--shared-population", is_flag=True, help="One synthetic population for every replica.")
@click.option("--allow-errors", is_flag=True, help="Sweep a journey the check for errors finds errors in.")
def sweep(project: str, journey_name: str, vary: tuple[str, ...], contacts: int, replicas: int, seed: int,
          json_out: str | None, workers: int | None, dask_address: str | None, outcome: str | None,
          horizon_days: int | None, behaviour_file: str | None, shared_population: bool,
          allow_errors: bool) -> None:
    """What if: simulate a journey over a grid of property values, paired with it as it is.

    Each point (step properties and behaviour figures set to one combination of the values) is run with the
    same seeds as the journey as it is: its effect, its difference and how sure, the best point marked."""
    from app.cli.simulate import _print_findings, read_behaviour
    from app.validation.checks import check_journey
    from simulator.behaviour import BehaviourModel
    from simulator.request import RunError, snapshot
    from simulator.sweep import Sweep, SweepError, parse_grid, run_sweep, workers_for

    started = time.perf_counter()
    to_stderr = json_out == STDOUT
    if json_out and json_out != STDOUT:
        check_output_path(json_out, dash=True)
    try:
        varied = parse_grid(vary)
        if dask_address is not None:
            if workers is not None:
                raise SweepError("--workers and --dask: choose one (the cluster's workers run the points)")
            from simulator.sweep_cluster import connect
            connect(dask_address).close()  # said in one line before the project is read
    except SweepError as e:
        fail(str(e))
    behaviour = read_behaviour(behaviour_file) if behaviour_file else BehaviourModel()
    with _open(project, write=False) as pf:
        the_project = pf.project
        journey = the_project.journey(journey_name)
        source = snapshot(the_project, journey.id)
    if not allow_errors and any(f.is_error for f in source.findings):
        _print_findings(journey.name, source.findings, err=to_stderr)
        click.echo("Not swept: fix the errors, or add --allow-errors to sweep the journey as it is.", err=True)
        sys.exit(EXIT_FINDINGS)
    the_sweep = Sweep(source.journey, behaviour, source.content, source.segments, source.custom_attributes,
                      varied, contacts, seed, replicas, horizon_days, shared_population, outcome=outcome)
    wanted = workers or os.cpu_count() or 1
    points = math.prod(len(v.values) for v in varied) + 1
    chosen = workers_for(wanted, contacts, points)
    if dask_address is None and chosen < min(wanted, points):
        click.echo(f"Running {chosen} worker{'s' if chosen != 1 else ''}, not {min(wanted, points)}: the "
                   f"available memory holds {chosen} population{'s' if chosen != 1 else ''} of {contacts:,} "
                   "contacts at once (the results are the same).", err=True)
    shown = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if shown:
            click.echo(f"\rpoint {done} of {total} ({time.perf_counter() - started:.1f} s)", err=True,
                       nl=done == total)

    try:
        doc = run_sweep(the_sweep, workers=chosen, check=lambda j: check_journey(j, the_project), progress=progress,
                        dask=dask_address)
    except (SweepError, RunError) as e:
        fail(str(e))
    for line in table(doc):
        click.echo(line, err=to_stderr)
    click.echo(f"Effect: the journey's incremental share of {doc['outcome']} among the contacts who entered, in "
               "points; vs current: paired by replica; sure: share of replicas in which the point beats the "
               "current settings.", err=to_stderr)
    if json_out:
        write_output(json_out, json.dumps(doc, indent=1) + "\n")
        if json_out != STDOUT:
            click.echo(f"Wrote {json_out}", err=True)
    where = f"the dask cluster at {dask_address}" if dask_address else \
        f"{chosen} worker{'s' if chosen != 1 else ''}"
    click.echo(f"Took {time.perf_counter() - started:.2f} s for {doc['runs']} runs on {where}.", err=True)


cli.add_command(sweep)
