"""`journey-studio portfolio`: several journeys over one synthetic population under the project's frequency caps,
and what the caps hold back in each (simulator/portfolio.py does the work; nothing is saved in the project).

Registered on the `journey-studio` group by importing this module (app/cli/main.py's LAZY_COMMANDS).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

import click

from app.cli.main import EXIT_FINDINGS, OUTPUT, STDOUT, _open, cli, fail, write_output
from app.files import check_output_path

MAX_NAME = 200


def _pt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.2f}" if signed else f"{x * 100:.2f}"


def table(doc: dict[str, Any]) -> list[str]:
    """Per journey and message step: wanted, sent, capped and sent without the caps (per replica); then the
    journey's incremental effect without and with the caps and the change, in points."""
    head = ["journey", "prio", "step", "channel", "wanted", "sent", "capped", "sent without cap"]
    body: list[list[str]] = []
    for j in doc["journeys"]:
        label = j["journey"] + (" (exempt)" if j["exempt"] else "")
        for k, s in enumerate(j["steps"]):
            body.append([label if k == 0 else "", str(j["priority"]) if k == 0 else "", s["step"], s["channel"],
                         f"{s['wanted']:,.1f}", f"{s['sent']:,.1f}", f"{s['capped']:,.1f}",
                         f"{s['sent_without_cap']:,.1f}"])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in [head, *body]]
    lines.append("")
    for j in doc["journeys"]:
        e = j["effect"]
        wo, w, c = e["incremental_without_cap"], e["incremental_with_cap"], e["change"]
        lines.append(f"{j['journey']}: incremental {e['event'] or 'effect'} {_pt(wo['mean'])} pt without the caps, "
                     f"{_pt(w['mean'])} pt with them; change {_pt(c['mean'], True)} pt "
                     f"(95% {_pt(c['low'], True)} to {_pt(c['high'], True)}"
                     f"{', paired' if e['paired'] else ', unpaired'})")
    return lines


def _duration_text(seconds: int) -> str:
    from app.model.values import format_duration
    return format_duration(timedelta(seconds=seconds))


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_names", multiple=True, required=True,
              help="A journey of the portfolio (repeat: --journey A --journey B).")
@click.option("--contacts", type=click.IntRange(1, 5_000_000), required=True,
              help="Size of the one synthetic population every journey runs over.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), required=True, help="Seed of the population and runs.")
@click.option("--replicas", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Replicas, with derived seeds (the same for the runs with and without the caps: paired).")
@click.option("--json", "json_out", type=OUTPUT, help="Write the results as JSON ('-': to standard output, the "
                                                      "table then going to standard error).")
@click.option("--max-passes", type=click.IntRange(1, 100), default=8, show_default=True,
              help="At most this many passes of the fixed point (the results say whether it settled).")
@click.option("--horizon-days", type=click.IntRange(1, 3660),
              help="Simulate this many days from each journey's start (default: until its schedule ends, or 90 days).")
@click.option("--behaviour", "behaviour_file", type=click.Path(dir_okay=False),
              help="The behaviour assumptions (YAML or JSON) for every journey.")
@click.option("--allow-errors", is_flag=True, help="Simulate journeys the check for errors finds errors in.")
def portfolio(project: str, journey_names: tuple[str, ...], contacts: int, seed: int, replicas: int,
              json_out: str | None, max_passes: int, horizon_days: int | None, behaviour_file: str | None,
              allow_errors: bool) -> None:
    """Simulate several journeys over one population under the project's frequency caps: what the caps hold
    back in each.

    Per journey and message step: the messages wanted, sent and capped; and what the caps change in each
    journey's incremental effect.

    The caps and the journeys' priorities come from the project (Project Settings, and each journey's
    settings). Every journey is also simulated without the caps, with the same seeds, to pair the change."""
    from app.cli.simulate import _print_findings, read_behaviour
    from app.semantics.plan import PlanError
    from simulator.behaviour import BehaviourModel
    from simulator.portfolio import PortfolioError, members_of, run_portfolio
    from simulator.request import snapshot

    started = time.perf_counter()
    to_stderr = json_out == STDOUT
    if json_out and json_out != STDOUT:
        check_output_path(json_out, dash=True)
    if any(len(n) > MAX_NAME or "\x00" in n for n in journey_names):
        fail(f"--journey: a journey name is at most {MAX_NAME} characters, without NUL")
    behaviour = read_behaviour(behaviour_file) if behaviour_file else BehaviourModel()
    with _open(project, write=False) as pf:
        the_project = pf.project
        caps = the_project.settings.frequency_caps
        journeys, bad = [], False
        segments: dict[str, Any] = {}
        for name in journey_names:
            source = snapshot(the_project, the_project.journey(name).id)
            if not allow_errors and any(f.is_error for f in source.findings):
                _print_findings(source.journey.name, source.findings, err=to_stderr)
                bad = True
            journeys.append(source.journey)
            segments.update(source.segments)
            content = source.content
        custom = dict(the_project.settings.custom_attributes or {})
    if bad:
        click.echo("Not simulated: fix the errors, or add --allow-errors to simulate the journeys as they are.",
                   err=True)
        sys.exit(EXIT_FINDINGS)
    if not caps:
        click.echo("The project has no frequency caps (Project Settings): nothing is held back; the figures are "
                   "each journey on its own.", err=True)
    shown = sys.stderr.isatty()

    def progress(message: str) -> None:
        if shown:
            click.echo(f"\r{message} ({time.perf_counter() - started:.1f} s)   ", err=True, nl=False)

    try:
        members = members_of(journeys, content, horizon_days)
        doc = run_portfolio(members, caps, contacts, seed, replicas=replicas, behaviour=behaviour,
                            definitions=segments, custom=custom, max_passes=max_passes, progress=progress)
    except (PortfolioError, PlanError) as e:
        fail(str(e))
    if shown:
        click.echo("", err=True)
    cap_text = ", ".join(f"{c['messages']} {c['channel']} per {_duration_text(c['per_seconds'])}"
                         for c in doc["caps"]) or "none"
    click.echo(f"Caps: {cap_text}. {contacts:,} contacts, {replicas} replica{'s' if replicas != 1 else ''}; "
               "counts per replica.", err=to_stderr)
    for line in table(doc):
        click.echo(line, err=to_stderr)
    if not doc["settled"]:
        click.echo(f"Warning: the fixed point did not settle in {max_passes} passes (passes per replica: "
                   f"{doc['passes']}); the figures are those of the last pass.", err=to_stderr)
    if json_out:
        write_output(json_out, json.dumps(doc, indent=1) + "\n")
        if json_out != STDOUT:
            click.echo(f"Wrote {json_out}", err=True)
    click.echo(f"Took {time.perf_counter() - started:.2f} s ({sum(doc['passes'])} passes).", err=True)


cli.add_command(portfolio)
