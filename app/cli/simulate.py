"""`journey-studio simulate`: play a journey over a population before it goes live, with intervals; `runs`:
the saved runs of a project; `review`: name a saved run, write notes on it, approve it or withdraw the approval.

Registered on the `journey-studio` group by importing this module (app/cli/main.py does, after defining `cli`).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.cli.main import EXIT_FINDINGS, OUTPUT, STDOUT, _open, cli, fail, in_flight_choice_options, write_output
from app.files import OutputFileError, check_output_path, csv_text, os_error_text

if TYPE_CHECKING:
    from app.store.runs import RunInfo

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
    """A progress bar on standard error when it is a terminal (redrawn a few times a second); nothing otherwise,
    so that piped output and --json stay clean."""

    WIDTH = 28

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.last, self.shown = enabled, 0.0, False
        self.started = time.monotonic()

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and fraction < 1.0):
            return
        self.last = now
        done = int(self.WIDTH * min(max(fraction, 0.0), 1.0))
        bar = "=" * done + (">" if done < self.WIDTH else "") + " " * (self.WIDTH - done - 1)
        line = f"[{bar}] {fraction:4.0%} {now - self.started:5.1f} s  {message}"
        click.echo(f"\r{line[:100]:<100}", err=True, nl=False)
        self.shown = True

    def clear(self) -> None:
        """Take the bar away (before the summary is printed)."""
        if self.shown:
            click.echo("\r" + " " * 100 + "\r", err=True, nl=False)
            self.shown = False


def _since_process_start() -> float | None:
    """Seconds since this process started (the interpreter's start-up and imports before the command ran), read
    from /proc; None where there is none."""
    import os
    try:
        with open("/proc/self/stat") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(after_name[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time, ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return None


POPULATIONS = ("synthetic", "project", "segment")


def read_behaviour(path: str) -> Any:
    """A behaviour model from a YAML or JSON file; one clear line (file:line for syntax) on anything wrong."""
    from simulator.behaviour_file import read_behaviour_file
    try:
        return read_behaviour_file(path)
    except ValueError as e:
        fail(str(e))


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text}: not a date or date-time; write e.g. 2026-12-01 or 2026-12-01T09:00")
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _population_kind(population: str | None, segment: str | None, contacts: int | None,
                     as_of: str | None = None) -> str:
    kind = population or ("segment" if segment else "synthetic")
    if kind == "synthetic":
        if contacts is None:
            fail("a synthetic population needs its size: add --contacts N (or use --population project)")
        if segment:
            fail("--segment is for --population segment; a synthetic population has no segment to read")
    else:
        if contacts is not None:
            fail(f"--contacts is only for --population synthetic; --population {kind} reads the project's contacts")
        if kind == "segment" and not segment:
            fail("--population segment needs the segment: add --segment NAME")
        if kind == "project" and segment:
            fail("--segment needs --population segment (or leave out --population)")
        if kind == "project" and as_of:
            fail("--as-of is when a segment's members are read (--population segment); the journey's audience is "
                 "evaluated over the simulated period from its start, as the live runner does")
    return kind


def _open_for(project: str, save: bool | None) -> Any:
    """Open the project: writable to save (refused if it cannot be), read-only for --no-save, else as it comes."""
    if save is True:
        return _open(project, write=True)
    if save is False:
        return _open(project, write=False)
    from app.store import ProjectFile
    p = Path(project)
    if not p.exists():
        fail(f"{p}: no such project file (create one with: journey-studio new {p})")
    return ProjectFile.open(p)


def _read_plain(project: str, kind: str, save: bool | None, fit: bool) -> Any:
    """The project read with sqlite3 alone, for a run that reads nothing else from it before it is saved (a
    synthetic population from a given profile, unless --save insists on a writable file first); None to open it
    as `_open_for` does (also when the plain reader refuses the file: an older schema to upgrade, damage...
    ProjectFile then says what it does with it)."""
    if kind != "synthetic" or save is True or fit:
        return None
    from app.errors import ProjectFileError
    from app.store.plain_read import read_project
    p = Path(project)
    if not p.exists():
        fail(f"{p}: no such project file (create one with: journey-studio new {p})")
    try:
        return read_project(p)
    except ProjectFileError:
        return None


class _SaveTarget:
    """The project file opened to save the run, on a thread of its own while the run is simulated (its pages are
    checked there when they are in doubt). It is opened with sqlite3 alone (app.store.plain_write: the write lock,
    the schema checks and the transaction of ProjectFile, without importing SQLAlchemy, which cost 0.3-0.5 s of
    CPU competing with the run); a file of an older schema is opened with ProjectFile, which upgrades it.
    `result()` gives the writable file, or None and why it cannot be written; leaving the block closes whatever
    was opened."""

    def __init__(self, project: str) -> None:
        import threading
        from concurrent.futures import Future
        self._done: Future[tuple[Any, str | None]] = Future()
        self._taken = False
        threading.Thread(target=self._open, args=(Path(project),), name="open project", daemon=True).start()

    def _open(self, path: Path) -> None:
        try:
            from app.store.plain_write import NeedsProjectFile, RunWriter
            try:
                pf: Any = RunWriter.open(path)
            except NeedsProjectFile:
                from app.store import ProjectFile
                pf = ProjectFile.open(path)
            if pf.readonly:  # closed in this thread: a read-only connection belongs to the thread that made it
                reason = pf.readonly_reason
                pf.close()
                self._done.set_result((None, reason))
            else:
                self._done.set_result((pf, None))
        except BaseException as e:  # said in the command's thread, when the file is wanted
            self._done.set_exception(e)

    def result(self) -> tuple[Any, str | None]:
        self._taken = True
        return self._done.result()

    def __enter__(self) -> _SaveTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            pf, _ = self._done.result()
        except BaseException:
            if not self._taken and exc[0] is None:
                raise
            return
        if pf is not None:
            pf.close()


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--contacts", type=click.IntRange(1, 20_000_000),
              help="Size of the synthetic population (only with --population synthetic).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), required=True,
              help="Seed of the population and of the replicas; the same seed gives the same figures.")
@click.option("--replicas", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Runs with derived seeds; figures are given as means with 95% intervals.")
@click.option("--json", "json_out", type=OUTPUT,
              help="Also write the funnel per step (with intervals) and the daily time series as JSON ('-': to "
                   "standard output, the summary then going to standard error).")
@click.option("--population", type=click.Choice(POPULATIONS),
              help="Who is simulated: 'synthetic' (contacts generated from the seed, with the journey's segments; "
                   "the default), 'project' (the project's contacts in the journey's audience) or 'segment' (the "
                   "members of --segment, as the audience). Default: 'segment' with --segment, else 'synthetic'.")
@click.option("--locale", default="mixed", show_default=True,
              help="Where synthetic contacts live (time zones, countries, languages): 'mixed' or a region such as "
                   "en_US, en_GB, de_DE, fr_FR, ja_JP (only with --population synthetic).")
@click.option("--segment", help="The segment whose members are simulated (--population segment).")
@click.option("--as-of", "as_of", help="When the project's segments are evaluated (default: the journey's start), "
                                       "e.g. 2026-12-01 or 2026-12-01T09:00 (UTC).")
@click.option("--horizon-days", type=click.IntRange(1, 3660),
              help="Simulate this many days from the start (default: until the schedule ends, or 90 days).")
@click.option("--save/--no-save", "save", default=None,
              help="Save the run in the project (default: when the project can be written). --no-save leaves "
                   "the project file untouched; --save refuses a project that cannot be written.")
@click.option("--name", "run_name", default="", help="Name of the saved run (default: from its seed and replicas).")
@click.option("--behaviour", "behaviour_file", type=click.Path(dir_okay=False),
              help="The behaviour assumptions (YAML or JSON) instead of the defaults; write the defaults to edit "
                   "with: journey-studio behaviour --out FILE.")
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False),
              help="The population profile synthetic contacts are drawn from: a file (YAML or JSON; write one with: "
                   "journey-studio profile [PROJECT] --out FILE), or 'project' for one fitted to the project's own "
                   "contacts. Default: the default profile in --locale.")
@click.option("--shared-population", is_flag=True,
              help="Keep one synthetic population for every replica (by default each replica draws its own, so "
                   "that the intervals include who happens to be in it); intervals are then conditional on it.")
@click.option("--population-out", "population_out", type=OUTPUT,
              help="Also write the synthetic population (contacts, accounts, lists, history as of the journey's "
                   "start), with the journey and its segments, as a new project file, to count its segments with "
                   "the app itself.")
@click.option("--allow-errors", is_flag=True,
              help="Simulate a journey the check for errors finds errors in (what the run reads its own way is "
                   "printed). Without it such a journey is refused, with its findings, exit status 1.")
@in_flight_choice_options
@click.option("--at", "at", metavar="DATE",
              help="With --in-flight-from: forecast the draft, as the next version, for the contacts the plan moves "
                   "off that run, from this moment (UTC, e.g. 2026-12-05T09:00); nothing is packaged or saved.")
def simulate(project: str, journey_name: str, contacts: int | None, seed: int, replicas: int, json_out: str | None,
             population: str | None, segment: str | None, as_of: str | None, horizon_days: int | None,
             save: bool | None, run_name: str, behaviour_file: str | None, locale: str, profile_file: str | None,
             shared_population: bool, population_out: str | None, allow_errors: bool, in_flight: str | None,
             moves: tuple[str, ...], leave: tuple[str, ...], finish: tuple[str, ...], in_flight_from: str | None,
             at: str | None) -> None:
    """Simulate a journey over a population: what it causes (against the same contacts without it), its funnel;
    save the run in the project. With --in-flight-from RUN --at DATE: forecast the draft for the contacts in flight
    on that run's version that the plan (--in-flight, --move, --leave, --finish; move by default) moves."""
    if in_flight_from is not None or at is not None or in_flight is not None or moves or leave or finish:
        _in_flight(locals())
        return
    from contextlib import ExitStack, contextmanager

    from simulator.behaviour import BehaviourModel
    from simulator.effect_text import effect_lines, figure_lines, headline
    from simulator.request import JourneyHasErrors, RunError, RunRequest, execute, population_label, snapshot

    started = time.perf_counter()
    startup = _since_process_start()
    to_stderr = json_out == STDOUT  # the JSON takes standard output; the summary goes to standard error

    def say(line: str) -> None:
        click.echo(line, err=to_stderr)

    if json_out and json_out != STDOUT:
        check_output_path(json_out, dash=True)  # before the simulation, not after it
    kind = _population_kind(population, segment, contacts, as_of)
    moment = _as_of(as_of)
    if kind != "synthetic":
        for flag, given in (("--profile", profile_file), ("--shared-population", shared_population),
                            ("--population-out", population_out)):
            if given:
                fail(f"{flag} is for synthetic populations; --population {kind} reads the project's contacts")
    out_path = _new_project_path(population_out) if population_out else None
    fit = profile_file == "project" and not Path("project").exists()
    profile = read_profile(profile_file) if profile_file and not fit else None
    timings: dict[str, float] = {}
    plain = _read_plain(project, kind, save, fit)
    target: _SaveTarget | None = None
    with ExitStack() as opened:
        if plain is None:
            pf = opened.enter_context(_open_for(project, save))
            the_project = pf.project
        else:  # read with sqlite3; the file is opened to save the run while the run is simulated
            pf, the_project = None, plain
            target = opened.enter_context(_SaveTarget(project)) if save is None else None
        journey = the_project.journey(journey_name)
        behaviour = read_behaviour(behaviour_file) if behaviour_file else BehaviourModel()
        request = RunRequest(journey.id, population=kind, contacts=contacts or 1, locale=locale, seed=seed,
                             segment=segment if kind == "segment" else None, as_of=moment,
                             horizon_days=horizon_days, replicas=replicas, behaviour=behaviour, name=run_name,
                             profile=profile, shared_population=shared_population, allow_errors=allow_errors,
                             fit_profile=fit)

        @contextmanager
        def connect() -> Any:  # the project's own connection: this command runs in one thread
            with pf.connection() as conn:
                yield conn

        source = snapshot(the_project, journey.id, connect if pf is not None else None)
        bar = _Progress(sys.stderr.isatty())
        try:  # the same path as the designer's run panel (simulator/request.py)
            outcome = execute(request, source, progress=bar)
        except JourneyHasErrors as e:
            bar.clear()
            _print_findings(e.journey, e.findings, err=to_stderr)
            click.echo("Not simulated: fix the errors, or add --allow-errors to simulate the journey as it is.",
                       err=True)
            sys.exit(EXIT_FINDINGS)
        except RunError as e:
            bar.clear()
            fail(str(e))
        except BaseException:
            bar.clear()
            raise
        result, record = outcome.result, outcome.record
        timings.update(result.timings)
        pop_spec = dict(record.population)
        doc = result.to_json()
        doc["population"] = pop_spec
        doc["notes"] = record.results.get("notes", [])
        run_id = None
        saving = time.perf_counter()
        readonly_reason = None
        if pf is None and target is not None:
            pf, readonly_reason = target.result()
        elif pf is not None and pf.readonly:
            readonly_reason = pf.readonly_reason
        if save is not False and pf is not None and readonly_reason is None:
            bar(1.0, "saving the run in the project")
            run_id = pf.save_run(record, name=run_name)
            doc["run"] = run_id
        timings["save"] = time.perf_counter() - saving
        not_saved = readonly_reason if save is None else None
        if out_path is not None:
            writing = time.perf_counter()
            _write_population(out_path, outcome, source)
            timings["population_out"] = time.perf_counter() - writing
        bar.clear()
    who = population_label(request, result.contacts)
    say(f"{journey.name} (version {journey.version}): {who}, seed {seed}, "
        f"{replicas} replica{'s' if replicas != 1 else ''}, {doc['start']} to {doc['horizon']}")
    for note in doc["notes"]:
        say(f"Note: {note}")
    say(headline(doc))
    lines = effect_lines(doc)
    if lines:
        say("What the journey causes among the contacts who entered (paired: the same contacts without "
            "the journey):")
        for line in lines:
            say(line)
    say("Funnel (contacts at each step):")
    for line in _table(doc["funnel"], replicas):
        say("  " + line)
    for entry in doc.get("ab_tests") or ():  # A/B splits with a test period: when and why the winner was chosen
        from simulator.branches import winner_text
        say(f"A/B test '{entry['name']}': {winner_text(entry)}")
    conv = doc["conversion"]
    if conv["mean"] is None:
        say("Nobody entered the journey.")
    else:
        ci = f" (95% interval {conv['low']:.2%} to {conv['high']:.2%})" if replicas > 1 else ""
        per_account = " (per account: when any of its contacts reaches it, it counts for all)" \
            if doc.get("target") == "accounts" else ""
        say(f"Goal reached by {conv['mean']:.2%} of the contacts who entered{ci}{per_account}, whatever "
            "caused it.")
    figures = figure_lines(doc)
    if figures:
        say("Behaviour figures: stated (the population's average), realised (this journey's recipients):")
        for line in figures:
            say(line)
    if not result.population_per_replica and replicas > 1 and kind == "synthetic":
        say("One population for every replica: the intervals are conditional on it.")
    if run_id is not None:
        say(f"Saved as run {run_id} in {project}")
    elif not_saved:
        click.echo(f"Not saved: {not_saved}", err=True)
    if out_path is not None:
        say(f"Wrote the population to {out_path} (count its segments with: journey-studio segment count "
            f"{out_path} NAME --at {doc['start'][:16]})")
    if json_out:
        write_output(json_out, json.dumps(doc, indent=1) + "\n")
        if json_out != STDOUT:
            click.echo(f"Wrote {json_out}", err=True)
    took = time.perf_counter() - started
    print_took(took, timings, startup)
    _end_process_now()


def _end_process_now() -> None:
    """End the process here when it was started to run this command (the `journey-studio` console script, or
    python -m app.cli.main: both exit as soon as the command returns): its output flushed, the project file
    closed, nothing left to run but the interpreter freeing the population and the trace (0.2-0.3 s of a
    million-contact run). Called in-process (tests, a script of its own calling main), or with a thread still
    running, it returns and the command ends as usual."""
    import os
    import threading
    started_as = sys.modules.get("__main__")
    spec = getattr(started_as, "__spec__", None)
    script = Path(getattr(started_as, "__file__", None) or "").stem
    if not (script == "journey-studio" or (spec is not None and spec.name == "app.cli.main")):
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    try:
        if "logging" in sys.modules:
            import logging
            logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit says it (app.cli.main.main)
        return
    os._exit(0)


def _in_flight(given: dict[str, Any]) -> None:
    """`simulate --in-flight-from RUN --at DATE` (app/cli/simulate_in_flight.py); the population's options refused."""
    from app.cli.simulate_in_flight import simulate_in_flight
    from simulator.behaviour import BehaviourModel
    if given["in_flight_from"] is None or given["at"] is None:
        fail("a forecast of the contacts in flight needs both --in-flight-from RUN and --at DATE")
    for flag, key in (("--contacts", "contacts"), ("--population", "population"), ("--segment", "segment"),
                      ("--as-of", "as_of"), ("--horizon-days", "horizon_days"), ("--save", "save"),
                      ("--name", "run_name"), ("--profile", "profile_file"),
                      ("--shared-population", "shared_population"), ("--population-out", "population_out")):
        if given[key]:
            fail(f"{flag} does not go with --in-flight-from: the contacts forecast are those the plan moves off the "
                 "run (synthetic, as many as wait there), and the forecast is not saved")
    if given["json_out"] and given["json_out"] != STDOUT:
        check_output_path(given["json_out"], dash=True)
    behaviour_file = given["behaviour_file"]
    behaviour = read_behaviour(behaviour_file) if behaviour_file else BehaviourModel()
    text = f"the behaviour assumptions of {Path(behaviour_file).name}" if behaviour_file else \
        "the default behaviour assumptions"
    simulate_in_flight(given["project"], given["journey_name"], given, given["at"], given["seed"],
                       given["replicas"], behaviour, text, given["json_out"], given["allow_errors"])


def print_took(took: float, timings: dict[str, float], startup: float | None) -> None:
    """'Took T s in all (start-up and imports S s, population P s, ...)' on standard error: the whole process
    (from the interpreter's start where it can be read) and its parts; what no part names is 'other' (opening
    the project, checking the journey, the summary and the JSON)."""
    parts = {"start-up and imports": startup} if startup is not None else {}
    parts.update(timings)
    parts["other"] = max(0.0, took - sum(timings.values()))
    total = took + (startup or 0.0)
    text = ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in parts.items())
    click.echo(f"Took {total:.2f} s in all ({text}).", err=True)


def _print_findings(journey: str, findings: Any, *, err: bool = False) -> None:
    """The findings as `validate` prints them (on standard error with `err`)."""
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    click.echo(f"{journey}: {errors} error{'s' if errors != 1 else ''}, {warnings} warning"
               f"{'s' if warnings != 1 else ''}", err=err)
    for f in findings:
        where = f.step or "journey"
        if f.field:
            where += f" ({f.field})"
        click.echo(f"  {f.severity.value:<7} {where}: {f.message} Fix: {f.fix}", err=err)


def read_profile(path: str) -> Any:
    """A population profile file; one clear line (file:line:column) on anything wrong."""
    from app.audience.profile import read_profile_file
    from app.errors import JourneyStudioError
    try:
        return read_profile_file(path)
    except JourneyStudioError as e:
        fail(str(e))


def _new_project_path(path: str) -> Path:
    if path == STDOUT:
        fail("--population-out -: a project file cannot go to standard output; give its file name")
    p = Path(path)
    if p.exists() or p.is_symlink():
        fail(f"{p}: already exists; --population-out writes a new project file (choose another name)")
    if not p.parent.exists():
        fail(f"{p.parent}: no such folder")
    return p


def _write_population(path: Path, outcome: Any, source: Any) -> None:
    """The run's (first) synthetic population as a new project file with the journey, its content and segments;
    written under a temporary name and moved into place, so a failure leaves nothing."""
    import os
    import tempfile

    from sqlalchemy.exc import SQLAlchemyError

    from app.audience.population import write_population
    from app.files import new_file_mode
    from app.services import import_journey
    from app.store import ProjectFile
    from app.store.opening import sqlite_error
    pop = outcome.population_data
    try:  # a free name beside the target, for SQLite to create
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".jstudio", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OutputFileError(os_error_text(path, e)) from None
    try:
        with ProjectFile.create(Path(tmp), name=f"{source.journey.name}: synthetic population") as pf:
            custom = dict(source.custom_attributes)
            if custom:
                pf.project.update_settings(custom_attributes=custom)
            import_journey(pf.project, source.journey, list(source.content.values()), list(source.segments.values()))
            write_population(pf, pop.source.base, seed=int(pop.spec.get("seed", 0)))
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException as e:
        for leftover in ("", "-journal", "-wal", "-shm"):
            Path(tmp + leftover).unlink(missing_ok=True)
        if isinstance(e, OSError):  # a full disk, a folder that cannot be written to...
            raise OutputFileError(os_error_text(path, e)) from None
        if isinstance(e, SQLAlchemyError):  # the disk filled while the population was written
            raise sqlite_error(path, e, "cannot be written") from None
        raise


def _version(i: RunInfo) -> str:
    """'v3', or 'v3 (outdated: journey now v5)' / 'v3 (journey deleted)'."""
    if not i.outdated:
        return f"v{i.journey_version}"
    now = "journey deleted" if i.current_version is None else f"outdated: journey now v{i.current_version}"
    return f"v{i.journey_version} ({now})"


def _approval(i: RunInfo) -> str:
    """'approved by NAME on DATE UTC' or 'not approved'."""
    return f"approved by {i.approved_by} on {i.approved_at:%Y-%m-%d %H:%M} UTC" if i.approved else "not approved"


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", help="Only the runs of this journey (name, or id of a deleted one).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON (with their summaries).")
def runs(project: str, journey_name: str | None, as_json: bool) -> None:
    """List the simulation runs saved in a project (read-only)."""
    with _open(project, write=False) as pf:
        if journey_name is not None and pf.project.find_journey(journey_name) is None \
                and not any(r.journey_id == journey_name for r in pf.runs()):
            pf.project.journey(journey_name)  # the usual error, naming the journeys
        infos = pf.runs(journey_name)
    if as_json:
        click.echo(json.dumps([i.to_plain() for i in infos], indent=1))
        return
    if not infos:
        click.echo("No saved runs." if journey_name is None else f"No saved runs of '{journey_name}'.")
        return
    for i in infos:
        conv = i.summary.get("conversion", {}).get("mean")
        goal = f"goal {conv:.2%}" if isinstance(conv, (int, float)) else "goal -"
        caused = ((i.summary.get("effect") or {}).get(i.summary.get("goal") or "") or {}).get("incremental") or {}
        if isinstance(caused.get("mean"), (int, float)):
            goal += f" ({caused['mean'] * 100:+.2f} pt caused by the journey)"
        flag = f"  {_approval(i)}" if i.approved else ""
        click.echo(f"{i.id:>4}  {i.created_at:%Y-%m-%d %H:%M}  {i.journey_name} {_version(i)}  {i.name}  "
                   f"[{i.population_text}, seed {i.seed}, {i.replicas} replica{'s' if i.replicas != 1 else ''}, "
                   f"{goal}]{flag}")
        for n, line in enumerate(i.notes.splitlines()):
            click.echo(f"{'':6}{'notes: ' if n == 0 else '       '}{line}")


def _state(i: RunInfo) -> list[str]:
    """A saved run as the reviewer sees it: what it is, its assumptions, approval and notes."""
    from app.store.runs import describe_change
    changes = i.behaviour_changes
    behaviour = "defaults" if not changes else "edited: " + ", ".join(describe_change(*c) for c in changes)
    from simulator.effect_text import headline
    lines = [f"Run {i.id} \"{i.name}\": {i.journey_name} {_version(i)}",
             f"  {headline(i.summary)}",
             f"  made {i.created_at:%Y-%m-%d %H:%M} UTC: {i.population_text}, seed {i.seed}, "
             f"{i.replicas} replica{'s' if i.replicas != 1 else ''}, {i.period_text}",
             f"  goal reached: {i.goal_text}",
             f"  behaviour: {behaviour}",
             f"  {_approval(i)}"]
    notes = i.notes.splitlines()
    lines += ["  notes:", *(f"    {line}" for line in notes)] if notes else ["  no notes"]
    return lines


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("run_id", type=int)
@click.option("--note", "note", help="Set the run's notes (this replaces them; --note '' clears them).")
@click.option("--approve", is_flag=True, help="Approve the run (the package of its journey will show it).")
@click.option("--by", "by", help="Who approves (default: your user name).")
@click.option("--withdraw", is_flag=True, help="Withdraw the run's approval.")
@click.option("--name", "new_name", help="Rename the run.")
def review(project: str, run_id: int, note: str | None, approve: bool, by: str | None, withdraw: bool,
           new_name: str | None) -> None:
    """Show a saved run; name it, write notes on it, approve it or withdraw the approval."""
    if approve and withdraw:
        fail("--approve and --withdraw go one at a time: choose one")
    if by is not None and not approve:
        fail("--by names who approves: add --approve")
    if approve and by is None:
        import getpass
        try:
            by = getpass.getuser()
        except (OSError, KeyError, ImportError):
            fail("cannot tell your user name: add --by NAME")
    if approve and not (by or "").strip():
        fail("--by needs the reviewer's name (it is recorded with the approval)")
    changing = approve or withdraw or note is not None or new_name is not None
    with _open(project, write=changing) as pf:
        info = pf.run_info(run_id)
        if new_name is not None:
            info = pf.rename_run(run_id, new_name)
        if note is not None:
            info = pf.set_run_notes(run_id, note)
        if approve:
            assert by is not None
            info = pf.approve_run(run_id, by)
        elif withdraw:
            info = pf.withdraw_approval(run_id)
    for line in _state(info):
        click.echo(line)


@click.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("run_a", type=int)
@click.argument("run_b", type=int, required=False)
@click.option("--csv", "csv_out", type=OUTPUT,
              help="Also write every step's figures, deltas and intervals as CSV ('-': to standard output, the "
                   "table then going to standard error).")
@click.option("--different-journeys", is_flag=True,
              help="Compare runs of two different journeys (their steps match by id only); refused otherwise.")
# --- the live comparison (app/cli/compare_live.py): compare PROJECT RUN --live PACKAGE-or-RUN ---
@click.option("--live", metavar="PACKAGE-or-RUN", help="Put RUN_A's forecast next to the live counts of this run "
              "(its package, its state folder, or a file of status --json) instead of comparing two runs.")
@click.option("--state-dir", type=click.Path(file_okay=False), help="With --live: the run's state folder.")
@click.option("--temporal", help="With --live: HOST:PORT of the Temporal cluster the run is on.")
def compare(project: str, run_a: int, run_b: int | None, csv_out: str | None, different_journeys: bool,
            live: str | None, state_dir: str | None, temporal: str | None) -> None:
    """Compare two saved runs step by step (e.g. before and after an edit, or two behaviour assumptions): rates
    per contact who entered, and whether each difference is more than noise. With --live, one run's forecast
    next to a live run's counts."""
    if live is not None:
        if run_b is not None or csv_out or different_journeys:
            fail("--live compares one saved run (PROJECT RUN --live PACKAGE); it takes no second run, --csv or "
                 "--different-journeys")
        from app.cli.compare_live import compare_live
        compare_live(project, run_a, live, state_dir, temporal)
        return
    if run_b is None:
        fail("give two saved runs to compare (PROJECT RUN_A RUN_B), or one and --live PACKAGE")
    # --- end of the live comparison ---
    from simulator.compare import CompareError, compare_records
    from simulator.runs import load_run

    if csv_out and csv_out != STDOUT:
        check_output_path(csv_out, dash=True)
    with _open(project, write=False) as pf:
        infos = {i.id: i for i in pf.runs()}
        for rid in (run_a, run_b):
            if rid not in infos:
                fail(f"{project}: there is no saved simulation run {rid} (list them with: journey-studio runs "
                     f"{project})")
        a, b = load_run(pf, run_a), load_run(pf, run_b)
    labels = (f"A (run {run_a}: {infos[run_a].name})", f"B (run {run_b}: {infos[run_b].name})")
    try:
        comparison = compare_records(a, b, labels=labels, different_journeys=different_journeys)
    except CompareError as e:
        fail(f"runs {run_a} and {run_b}: {e}")
    click.echo(comparison.text_table(), err=csv_out == STDOUT)  # '-': the CSV takes standard output
    if csv_out:
        write_output(csv_out, csv_text(comparison.to_csv_rows()))
        if csv_out != STDOUT:
            click.echo(f"Wrote {csv_out}", err=True)


cli.add_command(simulate)
cli.add_command(runs)
cli.add_command(review)
cli.add_command(compare)


@click.command()
@click.option("--out", type=OUTPUT, help="Write to this file ('-' or none: standard output).")
def behaviour(out: str | None) -> None:
    """Write the default behaviour assumptions (with their sources) as YAML, to edit and pass to simulate."""
    from simulator.behaviour import BehaviourModel
    from simulator.behaviour_file import behaviour_file_text
    _emit(behaviour_file_text(BehaviourModel()), out)


def _emit(text: str, out: str | None) -> None:
    """Write a command's text to --out (atomically) or to standard output ('-' or no --out)."""
    write_output(out or STDOUT, text)
    if out and out != STDOUT:
        click.echo(f"Wrote {out}", err=True)


cli.add_command(behaviour)


@click.command()
@click.argument("project", type=click.Path(dir_okay=False), required=False)
@click.option("--out", type=OUTPUT, help="Write to this file ('-' or none: standard output).")
@click.option("--locale", "locales", multiple=True,
              help="Where contacts live (repeat for several, in equal shares; default: the worldwide mix). "
                   "Not with PROJECT.")
def profile(project: str | None, out: str | None, locales: tuple[str, ...]) -> None:
    """Write a population profile (the distributions synthetic contacts are drawn from) as YAML to edit and pass
    to simulate --profile: the default one, or one fitted to PROJECT's contacts (aggregates only)."""
    from app.audience.fit import fit_profile
    from app.audience.profile import PopulationProfile, profile_file_text
    from app.errors import AudienceError
    if project and locales:
        fail("--locale goes with the default profile; a profile fitted to PROJECT takes its contacts' locales")
    if project:
        with _open(project, write=False) as pf, pf.connection() as conn:
            try:
                chosen = fit_profile(conn, project=Path(project).name)
            except AudienceError as e:
                fail(f"{project}: {e}")
    else:
        from app.audience.pools import known_locale
        for name in locales:
            if name != "mixed" and not known_locale(name):
                fail(f"--locale {name}: not a locale Faker knows; use e.g. en_US, fr_FR, de_DE, ja_JP")
        chosen = PopulationProfile.for_locales(tuple(locales))
    _emit(profile_file_text(chosen), out)


cli.add_command(profile)
