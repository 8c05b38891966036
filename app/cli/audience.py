"""Command-line commands for the audience: generate a population, import contacts, count segment members."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NoReturn

import click

from app.errors import JourneyStudioError

MAX_ERRORS_SHOWN = 50


def _fail(message: str) -> NoReturn:
    raise JourneyStudioError(message)


def _open(path: str, *, write: bool) -> Any:
    from app.cli.main import _open as open_project
    return open_project(path, write=write)


@contextmanager
def _loading(path: str) -> Iterator[Any]:
    """The project open for a long load, with a status line on a terminal saying what the load is doing."""
    from app.audience.bulk import watched
    from app.cli.status_line import StatusLine
    with StatusLine(sys.stderr) as line, watched(line.show), _open(path, write=True) as pf:
        yield pf


def _moment(text: str | None) -> datetime | None:
    """--at: a date (its 00:00 UTC) or an ISO date-time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        return (datetime.fromisoformat(text) if len(text) > 10 else
                datetime.combine(date.fromisoformat(text), datetime.min.time()))
    except ValueError:
        raise JourneyStudioError(f"--at {text}: not a date or date-time; write e.g. 2026-12-01 or "
                                 "2026-12-01T09:00") from None


@click.command("population")
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--contacts", type=int, required=True, help="How many contacts to generate.")
@click.option("--seed", type=int, required=True, help="Seed: the same seed gives the same rows.")
@click.option("--locale", "locales", multiple=True, help="Faker locale, repeatable (default en_US), e.g. fr_FR.")
@click.option("--accounts", type=int, help="How many accounts (default: from the profile's contacts per account).")
@click.option("--as-of", help="Day the customer base is seen from (default: today), e.g. 2026-06-01.")
@click.option("--replace", is_flag=True, help="Delete the project's contacts and accounts first.")
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False),
              help="The population profile to draw from (YAML or JSON; see journey-studio profile). Not with --locale.")
def population(project: str, contacts: int, seed: int, locales: tuple[str, ...], accounts: int | None,
               as_of: str | None, replace: bool, profile_file: str | None) -> None:
    """Generate a synthetic population (contacts, accounts, lists, interactions) from a seed and a profile."""
    from app.audience.population import generate
    from app.audience.profile import read_profile_file
    if profile_file and locales:
        _fail("--locale goes with the default profile; a profile file says where its contacts live")
    profile = read_profile_file(profile_file) if profile_file else None
    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of {as_of}: not a date; write e.g. 2026-06-01")
    with _loading(project) as pf:
        report = generate(pf, contacts, seed, locales or ("en_US",), accounts=accounts, as_of=day,
                          replace=replace, profile=profile)
    click.echo(f"Generated {report.contacts:,} contacts, {report.accounts:,} accounts, "
               f"{report.interactions:,} interactions and {report.subscriptions:,} list subscriptions "
               f"in {report.seconds:.1f} s (seed {report.seed}, as of {report.as_of}, "
               f"locales {', '.join(report.locales)})")


@click.group("contacts")
def contacts_group() -> None:
    """Contacts of a project: import them from CSV."""


@contacts_group.command("import")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--map", "maps", multiple=True, metavar="COLUMN=ATTRIBUTE",
              help="Map a column to an attribute (repeatable); COLUMN= leaves the column out.")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows of a file that has errors.")
def import_contacts_command(project: str, file: str, maps: tuple[str, ...], skip_bad_rows: bool) -> None:
    """Import contacts from a CSV file (UTF-8); a file with errors imports nothing without --skip-bad-rows."""
    from app.audience.csv_import import import_contacts
    mapping: dict[str, str | None] = {}
    for item in maps:
        column, sep, attribute = item.partition("=")
        if not sep or not column.strip():
            _fail(f"--map {item}: write COLUMN=ATTRIBUTE (or COLUMN= to leave the column out)")
        mapping[column.strip()] = attribute.strip() or None
    with _loading(project) as pf:
        report = import_contacts(pf, file, mapping or None, skip_bad_rows)
    for header, target in report.mapping.items():
        new = report.new_custom.get(target or "")
        click.echo(f"  {header} -> {target or '(not imported)'}{f' (new custom attribute, {new})' if new else ''}")
    for error in report.errors[:MAX_ERRORS_SHOWN]:
        click.echo(f"  {error.format()}", err=True)
    for warning in report.warnings[:MAX_ERRORS_SHOWN]:
        click.echo(f"  warning: {warning.format()}", err=True)
    if report.rows_bad > min(len(report.errors), MAX_ERRORS_SHOWN):
        click.echo(f"  ... {report.rows_bad:,} rows with errors in all", err=True)
    if report.has_errors and not skip_bad_rows:
        _fail(f"{file}: {report.rows_bad:,} of {report.rows_ok + report.rows_bad:,} rows have errors; nothing "
              "was imported (fix them, or pass --skip-bad-rows to import the others)")
    skipped = f", skipped {report.rows_bad:,} rows with errors" if report.rows_bad else ""
    click.echo(f"Imported {report.imported:,} contacts{skipped}; created {report.accounts_created:,} accounts")


@click.group("segment")
def segment_group() -> None:
    """Segments of a project: count and list their members."""


AT_HELP = "Moment for date-relative conditions (default: now), e.g. 2026-12-01 or 2026-12-01T09:00 (UTC)."


@segment_group.command("count")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("name")
@click.option("--at", help=AT_HELP)
def segment_count(project: str, name: str, at: str | None) -> None:
    """Print how many contacts are members of a segment."""
    from app.audience.members import count
    with _open(project, write=False) as pf:
        click.echo(count(pf, name, _moment(at), columnar=False))  # one count: reading columns would not pay


@segment_group.command("members")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("name")
@click.option("--at", help=AT_HELP)
@click.option("--limit", type=int, default=20, show_default=True, help="How many members to list.")
@click.option("--offset", type=int, default=0, show_default=True, help="How many members to skip first.")
def segment_members(project: str, name: str, at: str | None, limit: int, offset: int) -> None:
    """List a page of a segment's members in id order: id, full name and e-mail, tab-separated."""
    from sqlalchemy import select

    from app.audience.members import member_ids
    from app.store import schema as t
    if limit < 0 or offset < 0:
        _fail("--limit and --offset cannot be negative")
    with _open(project, write=False) as pf:
        ids = member_ids(pf, name, _moment(at), offset=offset, limit=limit)
        c = t.contacts
        with pf.connection() as conn:
            rows = conn.execute(select(c.c.id, c.c.full_name, c.c.email).where(c.c.id.in_(ids))
                                .order_by(c.c.id)).all() if ids else []
    for row in rows:
        click.echo(f"{row.id}\t{row.full_name or ''}\t{row.email or ''}")


def register(cli: click.Group) -> None:
    """Add the audience commands to the `journey-studio` command group."""
    for command in (population, contacts_group, segment_group):
        cli.add_command(command)
