"""More than one worker process for one run: `journey-studio run --workers 2` starts a second worker
(`journey-studio run --join`) that shares the run's workflows and sends on the same Temporal server; each contact
still gets exactly one message, and the counts count each once. The run stops the worker it started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.runner.devserver import DevServer
from tests.runner_helpers import dev_server, needs_temporal
from tests.test_runner_faults import ROOT, Rehearsal, _finish, _wait_for

pytestmark = [needs_temporal, pytest.mark.temporal]
__all__ = ["dev_server"]


def test_two_worker_processes_send_each_contact_exactly_one_message(tmp_path: Path, dev_server: DevServer) -> None:
    run = Rehearsal(tmp_path, dev_server.address, n=60)
    run.cmd += ["--workers", "2"]
    try:
        proc = run.start()
        _wait_for("the second worker to join", lambda: "Working for" in _log(run.state_dir / "worker-1.log"))
        _finish(proc)
        run.assert_exactly_once()
        run.counted()
    finally:
        run.close()


def test_a_worker_joining_a_run_of_another_package_is_refused(tmp_path: Path, dev_server: DevServer) -> None:
    (tmp_path / "a").mkdir()
    first = Rehearsal(tmp_path / "a", dev_server.address, n=6, clicks=False)
    other = tmp_path / "b"
    other.mkdir()
    try:
        proc = first.start()
        _finish(proc)
        from tests.runner_helpers import announcement_text, contacts_project, package_of
        db = other / "contacts.jstudio"
        contacts_project(db, 4, announcement_text("2026-12-04T09:00"))
        pkg = package_of(db, other / "announcement.jpkg")
        joined = subprocess.run([sys.executable, "-m", "app.cli.main", "run", str(pkg), "--join", "--state-dir",
                                 str(first.state_dir)], cwd=ROOT, capture_output=True, timeout=120)
        assert joined.returncode != 0 and b"another journey or build" in joined.stderr
    finally:
        first.close()


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
