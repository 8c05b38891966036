"""`journey-studio run`: run a journey package live on Temporal; `status`: its live per-step counts; `event`: post
a contact's event to the running run (with the run's events secret, read from its state).

Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.cli.main import cli, fail
from app.cli.trust_options import trust_options, trust_policy

T = TypeVar("T")


def _host_port(text: str | None, what: str, default_port: int | None = None) -> tuple[str, int] | None:
    from app.runner.channels import parse_host_port
    if text is None:
        return None
    try:
        return parse_host_port(text, what, default_port)
    except ValueError as e:
        fail(str(e))


def _runnable(package: str, public_key: str | None = None, require_signature: bool = False, trust: Any = None) -> Any:
    from app.runner.runnable import from_package
    if not Path(package).exists():
        fail(f"{package}: no such package file (make one with: journey-studio package PROJECT --journey NAME)")
    return from_package(package, public_key=public_key, require_signature=require_signature, trust=trust)


@cli.command()
@click.argument("package", type=click.Path(dir_okay=False))
@click.option("--contacts-db", help="The contacts: a project file, an SQLite file or a database URL (required, but "
              "with --join).")
@click.option("--temporal", help="HOST:PORT of a Temporal cluster to join (default: start a local dev server).")
@click.option("--smtp", help="HOST:PORT of the SMTP server email goes through.")
@click.option("--sms-url", help="URL of the HTTP gateway text messages are posted to.")
@click.option("--push-url", help="URL of the HTTP gateway push notifications are posted to (to: the contact's id "
                                 "unless the step's 'send to' attribute is a column of the contacts).")
@click.option("--time-scale", type=float, default=1.0, show_default=True,
              help="Run waits this many times faster than real time, from the journey's start (rehearsals).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where the run keeps its state "
              "(default: PACKAGE.run next to the package).")
@click.option("--listen", help="HOST:PORT of the tracking endpoint (default 127.0.0.1 and a free port, kept).")
@click.option("--public-url", help="The tracking endpoint's address as emails link to it.")
@click.option("--temporal-port", type=int, help="Port of the local dev server (default: a free port, kept).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split draws.")
@click.option("--send-timeout", type=float, default=60.0, show_default=True,
              help="Seconds a send may take before it is tried again.")
@click.option("--keep-running", is_flag=True, help="Do not stop when everybody has left the journey.")
@trust_options
@click.option("--rehearse", type=click.Path(dir_okay=False), help="A rehearsal: contacts do what this script says "
              "(rehearsal-script/1 JSON), on logical time (each move at the moment the journey gives it).")
@click.option("--public-status", is_flag=True, help="Serve GET /status without the run's events secret (it names "
              "the journey and its key): for the designer's live view.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes: this one and WORKERS - 1 more that it starts (and stops), sharing the run's "
                   "workflows and sends.")
@click.option("--caps-ledger", type=click.Path(dir_okay=False), help="The file the project's frequency caps count "
              "sends in: give every run of the project's journeys the same file to cap across them (default: this "
              "run's own state, its journey's sends only).")
@click.option("--replaces", type=click.Path(file_okay=False), help="The state folder of the run of the previous "
              "version (NAME.jpkg.run): its contacts in flight finish on it, move to this version or leave, as this "
              "package's plan says (package --in-flight), before this version enrols anyone.")
@click.option("--join", is_flag=True, help="Be an extra worker of the run of this package that keeps its state in "
              "--state-dir (started elsewhere with journey-studio run); work until stopped (Ctrl-C).")
def run(package: str, contacts_db: str | None, temporal: str | None, smtp: str | None, sms_url: str | None,
        push_url: str | None,
        time_scale: float, state_dir: str | None, listen: str | None, public_url: str | None,
        temporal_port: int | None, seed: int, send_timeout: float, keep_running: bool, public_key: str | None,
        keyrings: tuple[str, ...], require_signature: bool, allow_unsigned: bool, rehearse: str | None,
        public_status: bool, workers: int, join: bool, caps_ledger: str | None = None,
        replaces: str | None = None) -> None:
    """Run a journey package live: enrol its audience, send, wait and branch until everybody has left.

    With any trusted key (--public-key, --keyring), the package must be signed by one of them."""
    import os

    from app.package.keyring import KEYRING_ENV
    from app.runner.worker import RunSettings, default_state_dir, join_run, run_journey
    from app.runner.status import format_counts
    if time_scale <= 0:
        fail(f"--time-scale must be above zero, not {time_scale:g}")
    allow_unsigned = allow_unsigned or (join and os.environ.get(_JOIN_ALLOWS_UNSIGNED) == "1")
    r = _runnable(package, trust=trust_policy(public_key, keyrings, require_signature, allow_unsigned))
    if keyrings:  # the extra workers this run starts check the package with the same keys...
        os.environ[KEYRING_ENV] = os.pathsep.join(keyrings)
    if allow_unsigned:  # ... and what was allowed explicitly here
        os.environ[_JOIN_ALLOWS_UNSIGNED] = "1"
    from app.runner.in_flight_read import plan_note
    note = plan_note(package)  # a plan for the contacts in flight: carried out with --replaces only
    if note and not join and not replaces:
        click.echo(f"Note: {note}", err=True)
    if join:
        asyncio.run(_until_stopped(lambda stop: join_run(r, Path(state_dir) if state_dir else
                                                         default_state_dir(package),
                                                         say=lambda s: click.echo(s, err=True), stop=stop)))
        return
    if not contacts_db:
        fail("give the contacts with --contacts-db (a project file, an SQLite file or a database URL)")
    script = None
    if rehearse is not None:
        from app.runner.rehearsal import read_script
        script = read_script(rehearse, r)
    settings = RunSettings(
        contacts_db=contacts_db, state_dir=Path(state_dir) if state_dir else default_state_dir(package),
        temporal=temporal, temporal_port=temporal_port, smtp=_host_port(smtp, "--smtp", 25),
        sms_url=sms_url, push_url=push_url, time_scale=time_scale,
        listen=_host_port(listen or "127.0.0.1:0", "--listen") or ("", 0),
        public_url=public_url, seed=seed, send_timeout=send_timeout, until_done=not keep_running, script=script,
        public_status=public_status, workers=workers, package=str(package), public_key=public_key,
        caps_ledger=caps_ledger, replaces=replaces)
    if r.caps and not caps_ledger:
        click.echo("Note: the package carries the project's frequency caps; without --caps-ledger they count this "
                   "run's sends only (give every run of the project the same --caps-ledger FILE).", err=True)
    stops: list[asyncio.Event] = []

    def work(stop: asyncio.Event) -> Awaitable[Any]:
        stops.append(stop)
        return run_journey(r, settings, say=lambda s: click.echo(s, err=True), stop=stop)

    summary = asyncio.run(_until_stopped(work))
    if summary.counts and settings.until_done and not (stops and stops[0].is_set()):
        from app.runner.status import keep_final_counts
        keep_final_counts(settings.state_dir, summary.counts)  # over: `status` needs no Temporal server for it
    for line in format_counts(summary.counts) if summary.counts else []:
        click.echo(line)


_JOIN_ALLOWS_UNSIGNED = "JOURNEY_STUDIO_JOIN_ALLOWS_UNSIGNED"  # set by `run --allow-unsigned` for its --join workers


async def _until_stopped(work: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Do `work`, handing it an event that Ctrl-C or SIGTERM sets."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return await work(stop)


def run_of(target: str, state_dir: str | None) -> tuple[str, Path]:
    """(package, state folder) of a run named by its package (its state in --state-dir or PACKAGE.run) or by its
    state folder (NAME.jpkg.run, next to NAME.jpkg); one line and exit status 2 otherwise."""
    if len(target) > 4096 or (state_dir is not None and len(state_dir) > 4096):
        fail("the path given is longer than 4096 characters")
    p = Path(target)
    if not p.is_dir():
        # worker.default_state_dir's folder, without importing the worker (a status must start quickly)
        return target, Path(state_dir) if state_dir else p.resolve().with_name(p.resolve().name + ".run")
    if state_dir is not None and Path(state_dir).resolve() != p.resolve():
        fail(f"{target} is a run's state folder and --state-dir names another ({state_dir}); give one of them")
    package = p.resolve().with_name(p.resolve().name[:-len(".run")]) if p.name.endswith(".run") else None
    if package is None or not package.is_file():
        fail(f"{target}: a folder, but not a run's state folder next to its package (NAME.jpkg.run beside "
             f"NAME.jpkg); give the package: journey-studio status PACKAGE --state-dir {target}")
    return str(package), p


def live_counts(target: str, state_dir: str | None, temporal: str | None) -> dict[str, Any]:
    """The live counts of a run named by its package or its state folder (read_counts), or a bad-input exit."""
    from app.runner.status import read_counts
    package, state = run_of(target, state_dir)
    r = _runnable(package)
    counts: dict[str, Any] = asyncio.run(read_counts(r, state, temporal))  # RunnerError: one line
    return counts


@cli.command()
@click.argument("run", metavar="PACKAGE-or-RUN", type=click.Path())
@click.option("--temporal", help="HOST:PORT of the Temporal cluster the run is on (default: the run's own).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="The run's state folder (default: PACKAGE.run).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(run: str, temporal: str | None, state_dir: str | None, as_json: bool) -> None:
    """Live per-step counts of a running (or finished) run of a journey package.

    Give the package, or the run's state folder (PACKAGE.run). The steps are in the order of the simulator's
    funnel and the figures have its names, so that they sit next to a forecast (journey-studio compare PROJECT
    RUN --live PACKAGE)."""
    from app.runner.status import format_counts
    counts = live_counts(run, state_dir, temporal)
    if as_json:
        click.echo(json.dumps(counts, indent=2))
    else:
        for line in format_counts(counts):
            click.echo(line)


@cli.command()
@click.argument("package", type=click.Path(dir_okay=False))
@click.option("--contact", type=int, required=True, help="The contact's id.")
@click.option("--event", "name", required=True, help="The event: a contact event (e.g. purchase) or, with --step, "
              "a message event (opened, clicked, bounced, hard_bounced, unsubscribed...).")
@click.option("--step", help="The message step a message event belongs to.")
@click.option("--link", help="The link clicked (with --event clicked).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="The run's state folder (default: PACKAGE.run).")
def event(package: str, contact: int, name: str, step: str | None, link: str | None, state_dir: str | None) -> None:
    """Post a contact's event to the running run of a journey package (with the run's events secret)."""
    from app.runner.access import endpoint
    from app.runner.worker import default_state_dir
    doc: dict[str, Any] = {"contact": contact, "event": name}
    if step:
        doc["step"] = step
    if link:
        doc["link"] = link
    at = endpoint(Path(state_dir) if state_dir else default_state_dir(package))  # RunnerError: one line
    status, answer = at.call("POST", "/events", doc)
    if status >= 400:
        fail(f"the runner refused the event ({status}): {answer.get('error') if isinstance(answer, dict) else answer}")
    click.echo(f"queued {answer.get('queued', 0) if isinstance(answer, dict) else answer} event(s)")
