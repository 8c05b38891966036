"""`journey-studio`: open the designer, or work on project files from the command line.

Every user error ends in one line on stderr naming what is wrong and where, and a non-zero exit status:
1 when the check for errors finds errors, 2 for bad input or a file that cannot be used.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn, Sequence

import click

from app import __version__
from app.errors import JourneyStudioError
from app.files import STDOUT, check_output_path, write_atomically
from app.words import count

EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
log = logging.getLogger("journey_studio")


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


class _Cli(click.Group):
    """Subcommands, and a bare project path (or nothing) that opens the designer."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            if looks_like_a_command(args[0]):
                raise NoSuchCommand(self.no_such_command(args[0]))
            ctx.meta["designer_project"] = args[0]
            args = []
        return super().parse_args(ctx, args)

    def no_such_command(self, word: str) -> str:
        """'no such command 'simulat'; did you mean 'simulate'?', or the list of commands when none is close."""
        close = difflib.get_close_matches(word.lower(), sorted(self.commands), n=1)
        if close:
            return f"no such command '{word}'; did you mean '{close[0]}'?"
        return (f"no such command '{word}' (commands: {', '.join(sorted(self.commands))}); to open a project, "
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
@click.option("--replace", is_flag=True, help="Replace a journey of the same name.")
def import_(project: str, file: str, replace: bool) -> None:
    """Import a journey file (YAML or JSON) into a project."""
    from app.codec.yamlio import read_journey_file
    from app.services import import_journey
    journey, contents, segments = read_journey_file(file)  # parse fully before touching the project
    with _open(project, write=True) as pf:
        report = import_journey(pf.project, journey, contents, segments, replace=replace)
    for line in report:
        click.echo(line)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", required=True, help="Journey name.")
@click.option("--out", type=OUTPUT, help="Output file ('-' or none: standard output).")
@click.option("--json", "as_json", is_flag=True, help="Write JSON instead of YAML (also chosen by a .json --out).")
@click.option("--version", "version", type=int, help="Export this frozen version instead of the current draft.")
@click.option("--release", is_flag=True,
              help="Freeze the journey as its next version first (refused while the check finds errors).")
def export(project: str, journey_name: str, out: str | None, as_json: bool, version: int | None,
           release: bool) -> None:
    """Write a journey as code (YAML or JSON)."""
    from app.codec.plain import journey_to_doc
    from app.codec.yamlio import dump_json, dump_yaml
    from app.validation.checks import check_journey
    as_json = as_json or bool(out and out.lower().endswith(".json"))
    if out and out != STDOUT:
        check_output_path(out, dash=True)  # before --release freezes anything
    if release and version is not None:
        fail("--release freezes the current draft; it does not go with --version")
    with _open(project, write=release) as pf:
        if release:
            journey = pf.project.journey(journey_name)
            errors = [f for f in check_journey(journey, pf.project, for_export=True) if f.is_error]
            if errors:
                for f in errors:
                    click.echo(f"  error   {f.step or 'journey'}: {f.message} Fix: {f.fix}", err=True)
                fail(f"journey '{journey.name}' has {count(len(errors), 'error')}; fix them before releasing "
                     "(nothing was frozen)")
            version = pf.freeze(journey.id)
            click.echo(f"Froze '{journey.name}' as version {version}; edits now make version {version + 1}",
                       err=True)
        if version is not None:
            journey, contents, segments = pf.read_version(journey_name, version)
            doc = journey_to_doc(journey, {c.name: c for c in contents}, {s.name: s for s in segments})
        else:
            doc = journey_to_doc(pf.project.journey(journey_name), pf.project.content, pf.project.segments)
    text = dump_json(doc) if as_json else dump_yaml(doc)
    write_output(out or STDOUT, text)
    if out and out != STDOUT:
        click.echo(f"Wrote {out}", err=True)


@cli.command()
@click.argument("project", type=click.Path(dir_okay=False))
@click.option("--journey", "journey_name", help="Check only this journey.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--for-export", is_flag=True, help="Check as export does: draft content is an error.")
def validate(project: str, journey_name: str | None, as_json: bool, for_export: bool) -> None:
    """Check journeys for errors; exit status 1 when there are errors."""
    from app.validation.checks import check_journey
    with _open(project, write=False) as pf:
        journeys = [pf.project.journey(journey_name)] if journey_name else pf.project.journeys
        results = {j.name: check_journey(j, pf.project, for_export=for_export) for j in journeys}
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
    from platformdirs import user_log_dir
    d = Path(user_log_dir("journey-studio", appauthor=False))
    try:
        d.mkdir(parents=True, exist_ok=True)
        path = d / "crash.log"
        with path.open("a", encoding="utf-8") as f:
            f.write(traceback.format_exc() + "\n")
        return str(path)
    except OSError:
        return "standard error"


from app.cli.audience import register as _register_audience  # noqa: E402  (after `cli` exists)
_register_audience(cli)
from app.cli import simulate as _simulate  # noqa: E402,F401  (registers `simulate`; after `cli` exists)
from app.cli import report as _report  # noqa: E402,F401  (registers `report`)
from app.cli import package as _package  # noqa: E402,F401  (registers `package`, `verify`...)
from app.cli import runner as _runner  # noqa: E402,F401  (registers `run`, `status`)

if __name__ == "__main__":
    # Run as a script this module is `__main__`, and the subcommand modules register on `app.cli.main.cli`:
    # call that module's main so that every command is there.
    from app.cli.main import main as _main
    sys.exit(_main())
