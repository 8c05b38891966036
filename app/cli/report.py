"""`journey-studio report`: write the HTML report of a saved simulation run, for people without the app.

Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli.main import _open, cli, write_atomically
from app.errors import JourneyStudioError


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--run", "run_id", type=int, required=True, help="The saved run's id (see: journey-studio runs).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The HTML file to write.")
def report(project: str, run_id: int, out: str) -> None:
    """Write the HTML report of a saved simulation run (the project is only read)."""
    from simulator.report import report_for_run
    try:
        with _open(project, write=False) as pf:
            text = report_for_run(pf, run_id)
    except JourneyStudioError as e:
        click.echo(f"journey-studio: error: {e}", err=True)
        sys.exit(1)
    path = Path(out)
    try:
        write_atomically(path, text)
    except OSError as e:
        click.echo(f"journey-studio: error: {path}: cannot write the report: {e.strerror or e}", err=True)
        sys.exit(1)
    click.echo(f"Wrote {path}")
