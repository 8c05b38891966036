"""`journey-studio calibrate`: fit the behaviour model to a past campaign (one row per contact: its arm, 0/1
outcomes), predict the held-out contacts by simulating them, and write the fitted behaviour file
(simulator/calibrate.py does the work; the project is only read).

Registered on the `journey-studio` group by importing this module (app/cli/main.py's LAZY_COMMANDS).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from app.cli.main import OUTPUT, STDOUT, _open, cli, fail, write_output
from app.files import check_output_path, write_atomically


def _outcome(text: str) -> tuple[str, str]:
    name, sep, column = text.partition("=")
    if not sep or not name.strip() or not column.strip():
        fail(f"--outcome {text!r}: give NAME=COLUMN, e.g. purchase=bought_within_14d")
    return name.strip(), column.strip()


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def summary(doc: dict[str, Any]) -> list[str]:
    """The fitted figures and how well the held-out contacts were predicted, for the terminal."""
    fit = doc["fit"]
    rows = doc["rows"]
    lines = [f"Fitted on {rows['fitted']:,} of {rows['total']:,} contacts; predicted the other {rows['held_out']:,} "
             "by simulating them."]
    for o, r in fit["background_rates"].items():
        lines.append(f"  {o}: background rate {r['per_day'] * 100:.4f}% per day "
                     f"(95% interval {r['low'] * 100:.4f} to {r['high'] * 100:.4f})")
    for arm, r in fit["arms"].items():
        c = r["converted_per_delivered"]
        lines.append(f"  {arm}: {fit['conversion_outcome']} caused per delivered message {_pct(c['mean'])} "
                     f"(95% interval {_pct(c['low'])} to {_pct(c['high'])}), figures as messages.{r['step']}")
    if fit["multipliers"]:
        lines.append(f"  {len(fit['multipliers'])} attribute multipliers (shrunk toward 1), in the behaviour file")
    groups = doc["groups"]
    lines.append(f"Held-out groups: {len(groups)} (arm x group x outcome); observed within the 95% prediction "
                 f"interval: {doc['coverage'] * 100:.0f}%; mean absolute error {doc['mae'] * 100:.2f} points.")
    worst = sorted(groups, key=lambda g: -abs(g["observed"] - g["predicted"]["mean"]))[:5]
    for g in worst:
        p = g["predicted"]
        by = ", ".join(f"{k}={v}" for k, v in g["by"].items()) or "everyone"
        mark = "" if p["low"] <= g["observed"] <= p["high"] else "  (outside)"
        lines.append(f"  {g['arm']} / {by} / {g['outcome']} (n={g['n']:,}): observed {_pct(g['observed'])}, "
                     f"predicted {_pct(p['mean'])} ({_pct(p['low'])} to {_pct(p['high'])}){mark}")
    return lines


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("past", type=click.Path(dir_okay=False), required=False)
@click.option("--live", "live", metavar="PACKAGE-or-RUN",
              help="Learn from a live run instead of a past campaign file: its package (the run's state in "
                   "--state-dir or PACKAGE.run) or its state folder. Each message's delivery, open, click and "
                   "unsubscribe figures and the goal's background rate and conversion after a click are fitted "
                   "from what the runner saw (during the run or after it).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="With --live: the run's state folder.")
@click.option("--prior-weight", type=click.FloatRange(0.001, 1e6), default=20.0, show_default=True,
              help="With --live: how many contacts the starting figures are worth (a step few contacts reached "
                   "stays near them).")
@click.option("--settle", default="2d", show_default=True,
              help="With --live: sends younger than this are left out of their step's figures (their opens and "
                   "clicks are still coming).")
@click.option("--arm", help="The column saying which arm each contact was in.")
@click.option("--control", help="The arm column's value of the control (sent nothing).")
@click.option("--outcome", "outcomes", multiple=True, metavar="NAME=COLUMN",
              help="An outcome: the contact event (purchase, web_visit, registered, ...) and the 0/1 column saying "
                   "whether the contact did it within --days of the send. Repeat for several; the messages convert "
                   "to the first (or --conversion).")
@click.option("--days", type=click.IntRange(1, 365),
              help="Days after the send over which the outcomes were observed.")
@click.option("--by", "by", multiple=True, metavar="COLUMN",
              help="An attribute column to fit multipliers for (per value, shrunk toward 1) and to compare the "
                   "predictions by. Repeat for up to 4.")
@click.option("--holdout", type=float, default=0.3, show_default=True,
              help="The share of rows held out of the fit and predicted (strictly between 0 and 1).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1),
              help="Seed of the split, the simulation and the parameter draws.")
@click.option("--out", "out", type=OUTPUT, required=True, help="The fitted behaviour file to write (YAML).")
@click.option("--json", "json_out", type=OUTPUT,
              help="Also write the comparison (groups, coverage, mae, fit) as JSON ('-': standard output).")
@click.option("--opened", help="A 0/1 column: the contact opened the message (with --clicked: open and click rates "
                               "are fitted too).")
@click.option("--clicked", help="A 0/1 column: the contact clicked in the message.")
@click.option("--conversion", help="The outcome the messages convert to (default: the first --outcome).")
@click.option("--channel", type=click.Choice(["email", "sms", "push"]), default="email", show_default=True,
              help="The channel the arms were sent on.")
@click.option("--replicas", type=click.IntRange(1, 100), default=20, show_default=True,
              help="Simulation replicas of the held-out contacts (more: less simulation noise in the prediction).")
@click.option("--behaviour", "behaviour_file", type=click.Path(dir_okay=False),
              help="Behaviour assumptions to start from (delivery, and open and click without --opened): a file as "
                   "journey-studio behaviour writes; default: the defaults.")
def calibrate(project: str, past: str | None, live: str | None, state_dir: str | None, prior_weight: float,
              settle: str, arm: str | None, control: str | None, outcomes: tuple[str, ...], days: int | None,
              by: tuple[str, ...], holdout: float, seed: int | None, out: str, json_out: str | None,
              opened: str | None, clicked: str | None, conversion: str | None, channel: str, replicas: int,
              behaviour_file: str | None) -> None:
    """Fit the behaviour model to a past campaign and check it on contacts it was not fitted on.

    PAST is a CSV file with one row per contact: the arm (--arm, the control's value --control), 0/1 outcome
    columns observed over --days after the send, attribute columns (--by). A random 1 - holdout share is fitted:
    background rates from the control, each arm's message figures, multipliers per --by value; the held-out
    contacts are simulated (a one-message journey per arm, the control as its twin without it) and each group's
    observed share is compared with the predicted mean and 95% prediction interval.

    With --live PACKAGE-or-RUN instead of PAST, the figures are learned from what a live run's runner saw."""
    if live is not None:
        if past is not None:
            fail("give a past campaign file or --live RUN, not both")
        with _open(project, write=False):
            pass  # the project must be one (what is learned is written to --out, not into the project)
        from app.cli.calibrate_live import calibrate_live
        calibrate_live(project, live, state_dir, out, json_out, behaviour_file, prior_weight, settle)
        return
    missing = [name for name, v in (("PAST (the campaign file)", past), ("--arm", arm), ("--control", control),
                                    ("--outcome", outcomes), ("--days", days), ("--seed", seed)) if not v and
               v != 0]
    if missing:
        fail(f"calibrate from a past campaign needs {', '.join(missing)} (or learn from a live run: --live RUN)")
    assert past is not None and arm is not None and control is not None and days is not None and seed is not None
    from app.cli.simulate import read_behaviour
    from simulator.behaviour_file import behaviour_file_text
    from simulator.calibrate import CalibrateSpec, CampaignError, calibrate as run_calibration, read_campaign

    started = time.perf_counter()
    if not 0.0 < holdout < 1.0 or holdout != holdout:
        fail(f"--holdout is a share strictly between 0 and 1, not {holdout}")
    check_output_path(out)
    if json_out and json_out != STDOUT:
        check_output_path(json_out, dash=True)
    spec = CalibrateSpec(arm=arm, control=control, outcomes=tuple(_outcome(o) for o in outcomes), days=days,
                         by=tuple(by), holdout=holdout, seed=seed, opened=opened, clicked=clicked,
                         conversion=conversion, channel=channel, replicas=replicas)
    base = read_behaviour(behaviour_file) if behaviour_file else None
    with _open(project, write=False):
        pass  # the project must be one (what is fitted is written to --out, not into the project)
    shown = sys.stderr.isatty()

    def progress(fraction: float, message: str) -> None:
        if shown:
            click.echo(f"\r{fraction * 100:3.0f}% {message[:60]:<60}", err=True, nl=False)

    try:
        campaign = read_campaign(past, spec)
        result = run_calibration(campaign, spec, base=base, progress=progress)
    except CampaignError as e:
        fail(str(e))
    if shown:
        click.echo("\r" + " " * 66 + "\r", err=True, nl=False)
    doc = result.to_json()
    write_atomically(out, behaviour_file_text(result.model))
    to_stderr = json_out == STDOUT
    if json_out:
        write_output(json_out, json.dumps(doc, indent=2) + "\n")
    for line in summary(doc):
        click.echo(line, err=to_stderr)
    click.echo(f"Wrote {out} (read it with simulate --behaviour {out}). Took {time.perf_counter() - started:.1f} s.",
               err=to_stderr)


cli.add_command(calibrate)
