"""`simulate --in-flight-from RUN --at DATE`: forecast the journey's draft, as version N+1, for the contacts the
in-flight plan would move off the run of version N, through the simulator's in-flight forecast
(simulator/in_flight.py), without packaging or freezing anything; what it assumed is said with it.

Called by app/cli/simulate.py when --in-flight-from is given; the plan's options are read as `package` reads them
(app/cli/in_flight_options.py), with `--in-flight move` the default.
"""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.in_flight_options import forecast_lines, moment, read_in_flight, refuse
from app.cli.main import EXIT_FINDINGS, STDOUT, _open, fail, write_output
from app.words import count


def simulate_in_flight(project: str, journey_name: str, options: dict[str, Any], at_text: str, seed: int,
                       replicas: int, behaviour: Any, behaviour_text: str, json_out: str | None,
                       allow_errors: bool) -> None:
    """The forecast, on standard output (or its JSON with --json); exit 1 when the draft has errors or the plan
    cannot be carried out, 2 on bad input."""
    from dataclasses import replace

    from app.package.in_flight import InFlightError, moved_population, preview, resolve, totals, waiting_from_counts
    from app.runner.in_flight_read import run_version
    from app.semantics.plan import compile_plan
    from app.validation.checks import check_journey
    from simulator.in_flight import ForecastError, forecast
    flight = read_in_flight(options["in_flight"], options["moves"], options["leave"], options["finish"],
                            options["in_flight_from"], None, seed, default="move")
    at = moment(at_text, "--at")
    live, source = flight.live or {}, flight.source
    with _open(project, write=False) as pf:
        journey = pf.project.journey(journey_name)
        found = run_version(live)
        if found is None or found[0] != journey.id:
            fail(f"--in-flight-from: {source} is not a run of '{journey.name}' (its key: "
                 f"{str(live.get('key'))[:80]!r})")
        versions = [v for v, _ in pf.versions(journey.id)]
        if found[1] not in versions:
            fail(f"--in-flight-from: {source} is a run of version {found[1]}, which this project does not have "
                 f"(its versions: {', '.join(map(str, versions)) or 'none'})")
        old = pf.read_version(journey.id, found[1])[0]
        from app.store.runs import unchanged_since
        if unchanged_since(pf, journey) == found[1]:
            fail(f"the draft of '{journey.name}' is version {found[1]} unchanged: there is no new version for the "
                 "contacts in flight to move to")
        errors = [f for f in check_journey(journey, pf.project) if f.is_error]
    if errors and not allow_errors:
        for f in errors:
            click.echo(f"  error   {f.step or 'journey'}: {f.message} Fix: {f.fix}", err=True)
        click.echo(f"Not simulated: the draft of '{journey.name}' has {count(len(errors), 'error')}; fix them, or add "
                   "--allow-errors to forecast it as it is.", err=True)
        raise SystemExit(EXIT_FINDINGS)
    new = journey.clone()
    if new.version <= old.version:  # the draft as the version after the one the run is of
        new.version = old.version + 1
    try:
        plan = resolve(replace(flight.choice, from_version=old.version), old, new)
    except InFlightError as e:
        refuse(f"{e} (nothing was forecast)", e.lines)
    waiting = waiting_from_counts(live)
    lines = preview(plan, old, new, waiting)
    t = totals(lines)
    moved = moved_population(plan, waiting)
    head = [f"The draft of '{journey.name}' as version {plan.to_version}, for the contacts in flight on version "
            f"{plan.from_version} ({source}): {plan.summary()}",
            f"  {count(sum(t.values()), 'contact')} in flight: {t['move']:,} move, {t['finish']:,} finish on version "
            f"{plan.from_version}, {t['leave']:,} leave"] + [f"  {line.text}" for line in lines]
    if not moved:
        for line in head:
            click.echo(line)
        click.echo("Nothing to forecast: the plan moves nobody waiting now (not saved: a forecast of the contacts in "
                   "flight is not a run of the journey)")
        return
    try:
        result = forecast(compile_plan(new), moved, at, behaviour, seed, replicas=replicas)
    except ForecastError as e:
        fail(f"--at: {e}")
    body = forecast_lines(result, moved, seed, behaviour_text)
    if replicas > 1:
        body[0] = body[0][:-2] + f", the mean of {replicas} replicas):"
    if json_out:
        doc = result.to_json()
        doc.update({"journey": journey.name, "from_version": plan.from_version, "source": source,
                    "plan": plan.to_plain(), "totals": t, "seed": seed, "replicas": replicas,
                    "preview": [line.text for line in lines]})
        write_output(json_out, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    to_stderr = json_out == STDOUT
    for line in head + body:
        click.echo(line, err=to_stderr)
    click.echo("Not saved: a forecast of the contacts in flight is not a run of the journey", err=True)


__all__ = ["simulate_in_flight"]
