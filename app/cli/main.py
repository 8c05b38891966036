"""`journey-studio`: open the designer, or work on project files from the command line.

Every user error ends in one line on stderr naming what is wrong and where, and a non-zero exit status:
1 when the check for errors finds errors, 2 for bad input or a file that cannot be used.
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence, TypeVar

import click

from app import __version__
from app.errors import JourneyStudioError
from app.files import STDOUT, check_output_path, write_atomically
from app.words import count

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
log = logging.getLogger("journey_studio")
_F = TypeVar("_F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    raise JourneyStudioError(message)


def _open(path: str, *, write: bool) -> Any:
    """Open a project for the command; a write command refuses a project it may not write."""
    from app.store import ProjectFile
    p = Path(path)
    if not p.exists():
        fail(f"{p}: no such project file (create one with: journey-studio new {p})")
    # a command that only reads does not read every page first (a damaged page it needs is said when read)
    pf = ProjectFile.open(p, readonly=not write, check="auto" if write else "never")
    if write and pf.readonly:
        pf.close()
        fail(f"{p}: cannot change the project: {pf.readonly_reason}")
    return pf


def _read(path: str) -> Any:
    """The project in a file, for a command that only reads it: read with sqlite3 alone (no SQLAlchemy), with
    the same checks and result as a read-only `_open`."""
    from app.store.plain_read import read_project
    p = Path(path)
    if not p.exists():
        fail(f"{p}: no such project file (create one with: journey-studio new {p})")
    return read_project(p)


OUTPUT = click.Path(path_type=str)  # checked when written (app.files): a folder or a device gets one clear line


def write_output(out: str, text: str) -> None:
    """A command's text output: to standard output for '-', else to the file, replaced atomically."""
    if out == STDOUT:
        click.echo(text, nl=False)
    else:
        write_atomically(Path(out), text, dash=True)


class NoSuchCommand(click.ClickException):
    """A first argument that is neither a command nor a project: one line, exit status 2, and no designer."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"journey-studio: error: {self.format_message()}", err=True)


def looks_like_a_command(arg: str) -> bool:
    """Whether a first argument that is not a command was meant as one: a word, not a project path."""
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return (not any(s in arg for s in separators) and not arg.lower().endswith(".jstudio")
            and not os.path.lexists(arg))


# Commands defined in other modules, loaded when one of them is run (so that `validate` or `--help` does not
# import the simulator, the runner or the signing library): name -> (module, the first sentence of its help, as
# `--help` lists it). tests/test_cli_startup.py checks the table against the commands the modules define.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "behaviour": ("app.cli.simulate", "Write the default behaviour assumptions (with their sources) as YAML, to "
                  "edit and pass to simulate."),
    "calibrate": ("app.cli.calibrate", "Fit the behaviour model to a past campaign and check it on contacts it "
                  "was not fitted on."),
    "compare": ("app.cli.simulate", "Compare two saved runs step by step (e.g. before and after an edit, or two "
                "behaviour assumptions): rates per contact who entered, and whether each difference is more than "
                "noise."),
    "contacts": ("app.cli.audience", "Contacts of a project: import them from CSV."),
    "event": ("app.cli.runner", "Post a contact's event to the running run of a journey package (with the run's "
              "events secret)."),
    "import-package": ("app.cli.package", "Check a package and add its journey, content and segments to a "
                       "project, to review what was shipped."),
    "keygen": ("app.cli.package", "Make an Ed25519 key pair to sign packages (the private key is readable by "
               "you only)."),
    "keys": ("app.cli.package", "The trusted keys packages must be signed with: a project's (kept in its file) "
             "or a keyring file's."),
    "package": ("app.cli.package", "Freeze a journey that passes the check as a release and write it as a "
                "package for the live runner."),
    "portfolio": ("app.cli.portfolio", "Simulate several journeys over one population under the project's "
                  "frequency caps: what the caps hold back in each."),
    "population": ("app.cli.audience", "Generate a synthetic population (contacts, accounts, lists, "
                   "interactions) from a seed and a profile."),
    "profile": ("app.cli.simulate", "Write a population profile (the distributions synthetic contacts are drawn "
                "from) as YAML to edit and pass to simulate --profile: the default one, or one fitted to "
                "PROJECT's contacts (aggregates only)."),
    "report": ("app.cli.report", "Write the HTML report of a saved simulation run (the project is only read)."),
    "review": ("app.cli.simulate", "Show a saved run; name it, write notes on it, approve it or withdraw the "
               "approval."),
    "run": ("app.cli.runner", "Run a journey package live: enrol its audience, send, wait and branch until "
            "everybody has left."),
    "runs": ("app.cli.simulate", "List the simulation runs saved in a project (read-only)."),
    "segment": ("app.cli.audience", "Segments of a project: count and list their members."),
    "simulate": ("app.cli.simulate", "Simulate a journey over a population: what it causes (against the same "
                 "contacts without it), its funnel; save the run in the project."),
    "sweep": ("app.cli.sweep", "What if: simulate a journey over a grid of property values, paired with it as it is."),
    "status": ("app.cli.runner", "Live per-step counts of a running (or finished) run of a journey package."),
    "trace": ("app.cli.trace", "One contact's story in a run: each step entered and left, what was sent, what it "
              "did, and why each branch went the way it did."),
    "verify": ("app.cli.package", "Check a package: every member against its manifest, the format, the "
               "signature; exit status 1 if refused."),
}


def load_commands(module: str) -> None:
    """Import a module of commands: it registers them on `cli` (when it imports) or through its `register`."""
    loaded = importlib.import_module(module)
    register = getattr(loaded, "register", None)
    if callable(register):
        register(cli)


class _Cli(click.Group):
    """Subcommands (most loaded when run, see LAZY_COMMANDS), and a bare project path (or nothing) that opens
    the designer."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            load_commands(LAZY_COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands from LAZY_COMMANDS' summaries, without importing their modules."""
        rows = [(name, self.commands.get(name) or click.Command(name, help=LAZY_COMMANDS[name][1]))
                for name in self.list_commands(ctx)]
        rows = [(name, cmd) for name, cmd in rows if not cmd.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.list_commands(ctx) and not args[0].startswith("-"):
            if looks_like_a_command(args[0]):
                raise NoSuchCommand(self.no_such_command(args[0]))
            ctx.meta["designer_project"] = args[0]
            args = []
        return super().parse_args(ctx, args)

    def no_such_command(self, word: str) -> str:
        """'no such command 'simulat'; did you mean 'simulate'?', or the list of commands when none is close."""
        names = sorted(set(self.commands) | set(LAZY_COMMANDS))
        close = difflib.get_close_matches(word.lower(), names, n=1)
        if close:
            return f"no such command '{word}'; did you mean '{close[0]}'?"
        return (f"no such command '{word}' (commands: {', '.join(names)}); to open a project, "
                f"give its file ({word}.jstudio or ./{word})")


@click.group(cls=_Cli, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journey-studio")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Design customer journeys offline, check them, and hand them to a live runner.

    With no command (or a project path), opens the designer.
    """
    if ctx.invoked_subcommand is None:
        project = ctx.meta.get("designer_project")
        from designer.launch import launch
        ctx.exit(launch(project))


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--name", help="Project name (default: the file name).")
def new(project: str, name: str | None) -> None:
    """Create an empty project file."""
    from app.store import ProjectFile
    p = Path(project)
    if p.exists():
        fail(f"{p}: already exists; choose another name (nothing was changed)")
    ProjectFile.create(p, name=name or p.stem).close()
    click.echo(f"Created {p}")


@cli.command("import")
@click.argument("project", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--rename", is_flag=True, help="When the project has a journey of that name, import it as 'NAME (2)'.")
@click.option("--replace", is_flag=True, help="When the project has a journey of that name, replace it.")
@click.option("--from", "source", type=click.Choice(["mautic", "d365", "dittofeed"]),
              help="Read the file as another tool's journey (default: detected from the file).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_(project: str, file: str, rename: bool, replace: bool, source: str | None, as_json: bool) -> None:
    """Import a journey file (YAML or JSON), or another tool's journey: a Mautic campaign export, a Dynamics 365
    customer journey (msdyncrm_workflowdefinition) or a Dittofeed journey, each source step reported (a journey
    of the same name: --rename or --replace)."""
    from app.importers import fit_to_project, read_import
    from app.services import plan_import
    if rename and replace:
        fail("--rename and --replace contradict each other: give one")
    result = read_import(file, source)  # parse and map fully before touching the project
    with _open(project, write=True) as pf:
        fit_to_project(result, pf.project)
        plan = plan_import(pf.project, result.journey, result.contents, result.segments, replace=replace,
                           rename=rename)
        from app.services import import_journey
        report = import_journey(pf.project, result.journey, result.contents, result.segments, replace=replace,
                                rename=rename)
    if as_json:
        doc: dict[str, Any] = (result.to_dict() if result.foreign
                               else {"format": "journey", "journey": result.journey.name})
        doc.update({"imported_as": plan.journey.name, "changes": report})
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    lines = result.lines() if result.foreign else []
    for line in lines + report:
        click.echo(line)


def in_flight_choice_options(f: _F) -> _F:
    """The in-flight plan's options (`package`, `export --release` and `simulate` share them), declared once and
    read by app/cli/in_flight_options.py, in the order `--help` lists them."""
    options = [
        click.option("--in-flight", "in_flight", type=click.Choice(["move", "finish"]),
                     help="What happens to contacts in flight on the previous version when this one goes live: move "
                          "to the same step of this version (steps it removes need --move, --leave or --finish), or "
                          "finish on theirs."),
        click.option("--move", "moves", multiple=True, metavar="STEP=TARGET",
                     help="Contacts at STEP of the previous version move to TARGET of this one (repeatable)."),
        click.option("--leave", "leave", multiple=True, metavar="STEP",
                     help="Contacts at STEP of the previous version leave the journey (repeatable)."),
        click.option("--finish", "finish", multiple=True, metavar="STEP",
                     help="Contacts at STEP of the previous version finish on it (repeatable; with --in-flight move)."),
        click.option("--in-flight-from", "in_flight_from", metavar="RUN",
                     help="The live counts of the run of the previous version: its state folder (NAME.jpkg.run), its "
                          "package, or a file of journey-studio status --json."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def in_flight_options(f: _F) -> _F:
    """The plan's options and its forecast's (`package` and `export --release`)."""
    f = click.option("--forecast-seed", type=click.IntRange(0, 2**63 - 1), default=7, show_default=True,
                     help="The forecast's seed.")(f)
    f = click.option("--forecast-at", "forecast_at", metavar="DATE",
                     help="With --in-flight-from: forecast the new version for the contacts it moves, from this "
                          "moment (UTC, e.g. 2026-12-05T09:00), with the default behaviour assumptions.")(f)
    return in_flight_choice_options(f)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--out", type=OUTPUT, help="Output file ('-' or none: standard output).")
@click.option("--json", "as_json", is_flag=True, help="Write JSON instead of YAML (also chosen by a .json --out).")
@click.option("--version", "version", type=int, help="Export this frozen version instead of the current draft.")
@click.option("--release", is_flag=True,
              help="Freeze the journey as its next version first (refused while the check finds errors).")
@in_flight_options
def export(project: str, journey_name: str, out: str | None, as_json: bool, version: int | None,
           release: bool, in_flight: str | None, moves: tuple[str, ...], leave: tuple[str, ...],
           finish: tuple[str, ...], in_flight_from: str | None, forecast_at: str | None, forecast_seed: int) -> None:
    """Write a journey as code (YAML or JSON).

    With --release, `--in-flight` (with `--move`, `--leave` and `--finish`) says what happens to the contacts still
    on the previous version, as `package` does: checked before anything is frozen, recorded as an in-flight
    milestone, previewed with `--in-flight-from` and forecast with `--forecast-at`.
    """
    from app.cli.in_flight_options import echo_plan, read_in_flight
    from app.codec.plain import journey_to_doc
    from app.codec.yamlio import dump_json, dump_yaml
    from app.validation.checks import check_journey
    as_json = as_json or bool(out and out.lower().endswith(".json"))
    if out and out != STDOUT:
        check_output_path(out, dash=True)  # before --release freezes anything
    if release and version is not None:
        fail("--release freezes the current draft; it does not go with --version")
    flight = read_in_flight(in_flight, moves, leave, finish, in_flight_from, forecast_at, forecast_seed)
    if flight.choice is not None and not release:
        fail("--in-flight and its options go with --release: they say what happens to the contacts on the previous "
             "version when this one is released")
    plan = old_journey = new_journey = None
    with _open(project, write=release) as pf:
        if release:
            journey = pf.project.journey(journey_name)
            errors = [f for f in check_journey(journey, pf.project, for_export=True) if f.is_error]
            if errors:
                for f in errors:
                    click.echo(f"  error   {f.step or 'journey'}: {f.message} Fix: {f.fix}", err=True)
                fail(f"journey '{journey.name}' has {count(len(errors), 'error')}; fix them before releasing "
                     "(nothing was frozen)")
            if flight.choice is not None:  # resolved before anything is frozen, as package does
                plan = _release_plan(pf, journey.name, flight.choice)
            from app.store.runs import unchanged_since
            same = unchanged_since(pf, journey)
            if same is not None:  # as package does: an unchanged journey is the version it was released as
                version = same
                click.echo(f"'{journey.name}' is unchanged since version {same} was released: exported version "
                           f"{same} again", err=True)
            else:
                version = pf.freeze(journey.id)
                click.echo(f"Froze '{journey.name}' as version {version}; edits now make version {version + 1}",
                           err=True)
            if plan is not None:
                pf.add_milestone(journey.id, "in-flight", f"version {version}: {plan.summary()}")
                old_journey = pf.read_version(journey.id, plan.from_version)[0]
                new_journey = pf.read_version(journey.id, version)[0]
        if version is not None:
            journey, contents, segments = pf.read_version(journey_name, version)
            doc = journey_to_doc(journey, {c.name: c for c in contents}, {s.name: s for s in segments})
        else:
            doc = journey_to_doc(pf.project.journey(journey_name), pf.project.content, pf.project.segments)
    text = dump_json(doc) if as_json else dump_yaml(doc)
    write_output(out or STDOUT, text)
    if out and out != STDOUT:
        click.echo(f"Wrote {out}", err=True)
    if plan is not None:  # a journey file does not carry the plan to the runner: a package of the version does
        echo_plan(plan, new_journey, old_journey, flight,
                  note=f"a journey file does not carry the plan to the live runner: package version {plan.to_version} "
                       f"with the same options (journey-studio package ... --version {plan.to_version} ...) and run "
                       f"it with --replaces and the state folder of the run of version {plan.from_version}")


def _release_plan(pf: Any, journey_name: str, choice: Any) -> Any:
    """`export --release`'s plan for the contacts in flight, resolved as `package` resolves it (refused, with
    every problem, before anything is frozen)."""
    from app.cli.in_flight_options import refuse
    from app.package.build import assess, in_flight_plan
    from app.package.errors import PackageRefused
    try:
        return in_flight_plan(pf, assess(pf, journey_name), choice)
    except PackageRefused as e:
        refuse(str(e).replace("no package was written, nothing was frozen", "nothing was frozen"), e.lines)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", help="Check only this journey.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--for-export", is_flag=True, help="Check as export does: draft content is an error.")
def validate(project: str, journey_name: str | None, as_json: bool, for_export: bool) -> None:
    """Check journeys for errors; exit status 1 when there are errors."""
    from app.validation.checks import check_journey
    loaded = _read(project)
    journeys = [loaded.journey(journey_name)] if journey_name else loaded.journeys
    results = {j.name: check_journey(j, loaded, for_export=for_export) for j in journeys}
    errors = sum(f.is_error for fs in results.values() for f in fs)
    warnings = sum(not f.is_error for fs in results.values() for f in fs)
    if as_json:
        click.echo(json.dumps({"errors": errors, "warnings": warnings,
                               "journeys": {n: [f.to_dict() for f in fs] for n, fs in results.items()}}, indent=2))
    else:
        for name, findings in results.items():
            e = sum(f.is_error for f in findings)
            click.echo(f"{name}: {count(e, 'error')}, {count(len(findings) - e, 'warning')}")
            for f in findings:
                where = f.step or "journey"
                if f.field:
                    where += f" ({f.field})"
                click.echo(f"  {f.severity.value:<7} {where}: {f.message} Fix: {f.fix}")
    if errors:
        sys.exit(EXIT_FINDINGS)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(project: str, as_json: bool) -> None:
    """Summarise a project: journeys, versions, milestones, segments and content."""
    from app.services import project_summary
    with _open(project, write=False) as pf:
        summary = project_summary(pf)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"{summary['name']}  ({summary['path']}, schema {summary['schema']}"
               f"{', read-only: ' + summary['readonly'] if summary['readonly'] else ''})")
    click.echo(f"Journeys ({len(summary['journeys'])}):")
    for j in summary["journeys"]:
        frozen = f", frozen versions {', '.join(map(str, j['frozen_versions']))}" if j["frozen_versions"] else ""
        click.echo(f"  {j['name']}: {count(j['steps'], 'step')}, {j['target']}, {j['frequency']}, "
                   f"draft of version {j['version']}{frozen}")
        for m in j["milestones"]:
            click.echo(f"      {m['at']}  {m['kind']}{'  ' + m['detail'] if m['detail'] else ''}")
    click.echo(f"Segments ({len(summary['segments'])}): "
               + ", ".join(f"{s['name']} [{s['entity']}]" for s in summary["segments"]))
    click.echo(f"Content ({len(summary['content'])}): "
               + ", ".join(f"{c['name']} [{c['kind']}, {c['status']}]" for c in summary["content"]))


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
def check(project: str) -> None:
    """Read every page of a project file and say whether it is sound (exit 1 when it is damaged)."""
    from app.store import integrity
    from app.store.opening import check_header
    p = Path(project)
    check_header(p)
    problems = integrity.full_check(p)
    if not problems:
        click.echo(f"{p}: sound (every page read and checked)")
        return
    integrity.forget(p)
    click.echo(f"{p}: damaged: {integrity.damage_reason(problems)}", err=True)
    for line in problems[1:]:
        click.echo(f"  {line.splitlines()[0][:200]}", err=True)
    sys.exit(EXIT_FINDINGS)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The new project file to copy what can be read into (must not exist).")
def repair(project: str, out: str) -> None:
    """Copy what can be read of a damaged project file into a new one (the damaged file is not changed)."""
    from app.files import check_output_path
    from app.store import integrity
    check_output_path(Path(out))  # a device, a pipe or a folder is refused; an existing file by repair
    report = integrity.repair(Path(project), Path(out))
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo(f"Repaired copy written to {out}" + ("" if report.complete else
                                                   ": some rows could not be read (see above)"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the command line, turning every user error into one line and an exit status."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name="journey-studio",
                      standalone_mode=False)
    except JourneyStudioError as e:
        click.echo(f"journey-studio: error: {e}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("journey-studio: aborted", err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as e:
        e.show()
        return EXIT_BAD_INPUT if e.exit_code != 0 else 0
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of standard output went away (`| head`): nothing more to say to it
        _quiet_stdout()
        return 1
    except Exception as e:  # noqa: BLE001 - the last net: one line for the user, the trace in the log
        where = _log_crash()
        click.echo(f"journey-studio: internal error: {type(e).__name__}: {e} (details in {where})", err=True)
        return 3
    return rv if isinstance(rv, int) else 0


def _quiet_stdout() -> None:
    """Point standard output at the null device, so that flushing it at exit raises no second BrokenPipeError."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no real descriptor (a test's captured stream): nothing to do
        pass


def _log_crash() -> str:
    from app.userdirs import log_dir
    d = log_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        path = d / "crash.log"
        with path.open("a", encoding="utf-8") as f:
            f.write(traceback.format_exc() + "\n")
        return str(path)
    except OSError:
        return "standard error"


if __name__ == "__main__":
    # Run as a script this module is `__main__`, and the subcommand modules register on `app.cli.main.cli`:
    # call that module's main so that every command is there.
    from app.cli.main import main as _main
    sys.exit(_main())
