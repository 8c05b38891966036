"""The command line starts light: `--help` and `validate` import neither the simulator's nor the runner's
libraries, and the commands loaded when run are the ones `--help` lists (no wall-clock timing here: the
figures are in benchmarks/bench_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from app.cli import main as cli_main
from app.resources import resource_path

HEAVY = ("networkx", "numpy", "scipy", "pyqtgraph", "PySide6", "designer", "temporalio", "cryptography", "simulator",
         "app.runner", "app.package")
"""Libraries and layers no command that only reads and checks a project needs."""


def _modules_after(*args: str) -> tuple[int, set[str]]:
    """Run `journey-studio ARGS` in a fresh interpreter; its exit status and the modules it imported."""
    code = ("import sys, json\nfrom app.cli.main import main\nstatus = main(sys.argv[1:])\n"
            "sys.stdout.flush()\nprint(json.dumps([status, sorted(sys.modules)]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    status, modules = json.loads(done.stderr.strip().splitlines()[-1])
    return status, set(modules)


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_no_heavy_library() -> None:
    status, modules = _modules_after("--help")
    assert status == 0
    assert _heavy(modules) == []
    assert not {"sqlalchemy", "asyncio", "app.store", "yaml"} & modules
    assert not any(m.startswith("app.cli.") and m != "app.cli.main" for m in modules)


def test_validate_imports_no_graph_simulation_or_runner_library(tmp_path: Path) -> None:
    project = tmp_path / "shop.jstudio"
    assert cli_main.main(["new", str(project)]) == 0
    assert cli_main.main(["import", str(project), str(resource_path("templates", "announcement.yaml"))]) == 0
    status, modules = _modules_after("validate", str(project))
    assert status == 0
    assert _heavy(modules) == []
    assert not {"sqlalchemy", "alembic"} & modules  # it reads the file with sqlite3 (app.store.plain_read)


def test_each_lazy_command_is_defined_by_its_module_with_the_summary_help_lists() -> None:
    for module in sorted({m for m, _ in cli_main.LAZY_COMMANDS.values()}):
        cli_main.load_commands(module)
    defined = {name: cmd for name, cmd in cli_main.cli.commands.items()
               if cmd.callback is not None and cmd.callback.__module__ != "app.cli.main"
               or isinstance(cmd, click.Group)}
    assert set(defined) == set(cli_main.LAZY_COMMANDS)
    for name, cmd in defined.items():
        module, summary = cli_main.LAZY_COMMANDS[name]
        where = cmd.callback.__module__ if cmd.callback is not None else module
        assert where == module, name
        assert cmd.get_short_help_str(1000) == summary, name


def test_help_lists_every_command_and_a_lazy_one_runs(capsys) -> None:
    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in [*cli_main.LAZY_COMMANDS, "validate", "new", "export"]:
        assert f"\n  {name} " in out
    assert cli_main.main(["behaviour"]) == 0
    assert "Email" in capsys.readouterr().out
