"""The layers hold: read from the imports (import-linter's contracts in pyproject.toml), not by importing.

The core (model, validation, codec, store, audience, semantics, package, runner) imports neither the simulator
nor the designer nor Qt; the semantics import neither the simulator nor the live runner; `app.cli` is the one
front door that may import the simulator and the designer.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(_contracts())} kept, 0 broken" in done.stdout


def test_every_core_module_is_under_the_contracts() -> None:
    """A new package or module under app/ is covered by the contracts unless it is the front door (app.cli)."""
    core = next(c for c in _contracts() if c["name"].startswith("The core is below the simulator"))
    listed = set(core["source_modules"])
    found = {f"app.{p.stem}" for p in (ROOT / "app").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert found - {"app.cli"} == listed, f"add to (or remove from) the contracts: {sorted(found ^ (listed | {'app.cli'}))}"


def test_the_semantics_import_nothing_above_them() -> None:
    semantics = next(c for c in _contracts() if c["name"].startswith("The semantics"))
    assert {"simulator", "app.runner"} <= set(semantics["forbidden_modules"])
