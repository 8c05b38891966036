"""`journey-studio report`: write the HTML report of a saved simulation run, for people without the app.

Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli.main import OUTPUT, STDOUT, _open, cli, write_output
from app.errors import JourneyStudioError


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--run", "run_id", type=int, required=True, help="The saved run's id (see: journey-studio runs).")
@click.option("--out", type=OUTPUT, required=True, help="The HTML file to write ('-': standard output).")
def report(project: str, run_id: int, out: str) -> None:
    """Write the HTML report of a saved simulation run (the project is only read)."""
    from app.files import check_output_path
    from simulator.report import report_for_run
    try:
        if out != STDOUT:
            check_output_path(out, dash=True)  # before the report is made
        with _open(project, write=False) as pf:
            text = report_for_run(pf, run_id)
        write_output(out, text)
    except JourneyStudioError as e:
        click.echo(f"journey-studio: error: {e}", err=True)
        sys.exit(1)
    if out != STDOUT:
        click.echo(f"Wrote {Path(out)}")
