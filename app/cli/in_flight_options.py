"""The in-flight options shared by `package` and `export --release` (declared once, by `in_flight_options` in
app/cli/main.py, and read here): what happens to the contacts still on the previous version when a new one is
released, its preview with a live run's counts, and the forecast of the new version for the contacts it moves
(simulator/in_flight.py).

Imports app.cli.main lazily (main.py imports this module only inside `export`, so `--help` stays light).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from app.words import count

@dataclass(frozen=True)
class InFlightArgs:
    """The options as read: the choice (None: none given), the live counts and where they came from, the moment."""

    choice: Any            # app.package.in_flight.InFlight | None
    live: dict[str, Any] | None
    source: str
    at: int | None
    seed: int


def _fail(message: str) -> NoReturn:
    from app.cli.main import fail
    fail(message)


def refuse(message: str, lines: list[str] | None = None) -> NoReturn:
    """List the reasons, say why in one line, exit with status 1."""
    from app.cli.main import EXIT_FINDINGS
    for line in lines or []:
        click.echo(f"  {line}", err=True)
    click.echo(f"journey-studio: error: {message}", err=True)
    sys.exit(EXIT_FINDINGS)


def moment(text: str, option: str = "--forecast-at") -> int:
    """A forecast's moment, UTC seconds ('2026-12-05T09:00', '2026-12-05 09:00', a time zone allowed)."""
    from datetime import datetime, timezone
    try:
        when = datetime.fromisoformat(text.strip()[:40])
    except ValueError:
        _fail(f"{option}: {text[:40]!r} is not a date and time (e.g. 2026-12-05T09:00)")
    return int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())


def read_in_flight(in_flight: str | None, moves: tuple[str, ...], leave: tuple[str, ...], finish: tuple[str, ...],
                   in_flight_from: str | None, forecast_at: str | None, forecast_seed: int,
                   default: str | None = None) -> InFlightArgs:
    """The options checked before anything is frozen: a run that cannot be read, a malformed option, a forecast
    without a run each stop here, in one line (a malformed option lists its problems). `default`: the plan's
    default when no option of the plan is given (else --in-flight-from without one is refused)."""
    if default is not None and in_flight is None and not moves and not leave and not finish:
        in_flight = default
    from app.package.in_flight import InFlightError, choice_from_options
    at = moment(forecast_at) if forecast_at is not None else None
    if forecast_at is not None and in_flight_from is None:
        _fail("--forecast-at forecasts the contacts in flight of a run: give --in-flight-from RUN")
    live = None
    if in_flight_from is not None:
        from app.runner.in_flight_read import run_counts
        from app.runner.runnable import RunnerError
        if in_flight is None and not moves and not leave and not finish:
            _fail("--in-flight-from previews a plan: give --in-flight (move or finish), --move, --leave or --finish")
        try:
            live = run_counts(in_flight_from)
        except RunnerError as e:
            _fail(f"--in-flight-from: {e}")
    choice = None
    if in_flight is not None or moves or leave or finish:
        try:
            choice = choice_from_options(0, in_flight, moves, leave, finish)
        except InFlightError as e:
            refuse(str(e), e.lines)
    return InFlightArgs(choice, live, in_flight_from or "", at, forecast_seed)


def echo_plan(plan: Any, new: Any, old: Any, args: InFlightArgs, note: str | None = None) -> None:
    """What the plan says (its chosen decisions, how the runner carries it out, or `note` instead); with the live
    counts, what happens to whom, and with a moment, the forecast of the new version (`new`) for the contacts it
    moves. `old`: version N."""
    moved = echo_in_flight(plan, new, args.live, args.source, old, note)
    if args.at is not None and moved:
        echo_forecast(new, moved, args.at, args.seed)


def echo_in_flight(plan: Any, new: Any, live: dict[str, Any] | None, source: str, old: Any,
                   note: str | None = None) -> dict[str, int]:
    """The plan in words; with a live run's counts (`live`, from `source`) and the previous version's journey
    (`old`), what happens to whom; the contacts it moves per step of the new version (none without counts)."""
    from app.package.in_flight import moved_population, preview, totals, waiting_from_counts
    from app.runner.in_flight_read import run_version
    click.echo(f"In flight: {plan.summary()}", err=True)
    for d in plan.decisions.values():
        if d.why == "chosen":
            what = f"move to '{d.target}'" if d.action == "move" else f"{d.action}"
            click.echo(f"  contacts at '{d.step}' {what}", err=True)
    note = note or plan.runner_note()
    if note:
        click.echo(f"Note: {note}", err=True)
    if live is None:
        return {}
    found = run_version(live)
    if found != (new.id, plan.from_version):
        what = f"version {found[1]}" if found is not None and found[0] == new.id else "another journey"
        click.echo(f"Note: {source} is a run of {what}, not of version {plan.from_version}: no preview", err=True)
        return {}
    if old is None:
        return {}
    lines = preview(plan, old, new, waiting_from_counts(live))
    t = totals(lines)
    click.echo(f"In flight now on version {plan.from_version} ({source}): {count(sum(t.values()), 'contact')}: "
               f"{t['move']:,} move to version {plan.to_version}, {t['finish']:,} finish on version "
               f"{plan.from_version}, {t['leave']:,} leave", err=True)
    for line in lines:
        click.echo(f"  {line.text}", err=True)
    return moved_population(plan, waiting_from_counts(live))


def forecast_lines(result: Any, moved: dict[str, int], seed: int, behaviour: str) -> list[str]:
    """A forecast of the new version for the contacts a plan moves (simulator/in_flight.py) in words: the head,
    a line per step entered, and what it assumed (`behaviour`: which behaviour assumptions it used)."""
    from datetime import datetime, timezone
    when = datetime.fromtimestamp(result.at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Forecast of version {result.version} for the {sum(moved.values()):,} contacts it moves, from {when} "
             f"(seed {seed}, {behaviour}):"]
    for row in result.funnel():
        if row["step"] == "end" or not row.get("entered"):
            continue
        figures = ", ".join(f"{row[k]:,.0f} {k}" for k in ("sent", "yes", "no", "opened", "clicked", "converted")
                            if row.get(k))
        lines.append(f"  '{row['name']}': {row['entered']:,.0f} entered" + (f", {figures}" if figures else ""))
    lines += [f"  assumed: {line}" for line in result.assumed]
    return lines


def echo_forecast(new: Any, moved: dict[str, int], at: int, seed: int) -> bool:
    """The forecast of the new version (`new`) for the contacts it moves, on standard error, with the default
    behaviour assumptions; False (and why, in one line) when there is none."""
    from app.semantics.plan import compile_plan
    from simulator.behaviour import BehaviourModel
    from simulator.in_flight import ForecastError, forecast
    try:
        result = forecast(compile_plan(new), moved, at, BehaviourModel(), seed, replicas=1)
    except ForecastError as e:
        click.echo(f"No forecast: {e}", err=True)
        return False
    for line in forecast_lines(result, moved, seed, "the default behaviour assumptions"):
        click.echo(line, err=True)
    return True


__all__ = ["InFlightArgs", "echo_forecast", "forecast_lines", "echo_in_flight", "echo_plan", "moment",
           "read_in_flight", "refuse"]
