"""While a run's own process runs, `status` asks it (GET /status with the run's secret, both kept in the run's
state) instead of importing Temporal's client and connecting: the command then costs its imports and one local
request. A stand-in endpoint here plays the runner; nothing answering, a refused secret or another journey's
counts fall back to the usual path (here: no Temporal on record, one line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from app.runner.access import SECRET_SETTING, URL_SETTING
from app.runner.runnable import from_package
from app.runner.state import StateDb
from app.runner.status import state_figures, tally
from tests.runner_helpers import contacts_project, package_of
from tests.test_status_snapshot import cohort

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-of-the-run"


class _Runner(BaseHTTPRequestHandler):
    answer: dict[str, Any] = {}
    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).asked.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {SECRET}":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def run_with_endpoint(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    db = tmp_path / "contacts.jstudio"
    contacts_project(db, 3)
    pkg = package_of(db, tmp_path / "a.jpkg")
    r = from_package(pkg)
    state_dir = Path(str(pkg) + ".run")
    state = StateDb(state_dir / "runner.db")
    counts = {**tally(r, [cohort(3, {"announce": 3, "announce=sent": 3, "clicked": 2, "clicked=no": 2})]),
              **state_figures(state, r.key)}  # what the runner's counts() serves
    _Runner.answer, _Runner.asked = counts, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Runner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.put(URL_SETTING, f"http://127.0.0.1:{server.server_address[1]}")
    state.put(SECRET_SETTING, SECRET)
    state.close()
    try:
        yield pkg, state_dir, counts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom app.cli.main import main\nrc = main(sys.argv[1:])\n"
            "loaded = 'temporalio.client' in sys.modules\n"
            "print('TEMPORAL-CLIENT' if loaded else 'NO-TEMPORAL-CLIENT', file=sys.stderr)\n"
            "print('NUMPY' if 'numpy' in sys.modules else 'NO-NUMPY', file=sys.stderr)\n"
            "sys.exit(rc)")
    env = dict(os.environ, JOURNEY_STUDIO_NOW=os.environ.get("JOURNEY_STUDIO_NOW", "2000-01-01T00:00Z"))
    return subprocess.run([sys.executable, "-c", code, "status", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def test_status_asks_the_running_runner_and_imports_no_temporal_client(run_with_endpoint) -> None:
    pkg, state_dir, counts = run_with_endpoint
    out = _status(str(pkg), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == counts
    assert _Runner.asked == ["/status"]
    assert "NO-TEMPORAL-CLIENT" in out.stderr and "NO-NUMPY" in out.stderr  # neither is needed to name steps
    table = _status(str(state_dir))
    assert table.returncode == 0, table.stderr
    assert "announce" in table.stdout and "clicked" in table.stdout


def test_a_refused_secret_or_another_journeys_counts_are_not_taken(run_with_endpoint) -> None:
    pkg, state_dir, counts = run_with_endpoint
    _Runner.answer = {**counts, "key": "someone-else@v9"}
    out = _status(str(pkg))
    assert out.returncode == 2 and "no Temporal server on record" in out.stderr  # fell back, and said so
    state = StateDb(state_dir / "runner.db")
    state.put(SECRET_SETTING, "not-the-secret")
    state.close()
    _Runner.answer = counts
    out = _status(str(pkg))
    assert out.returncode == 2 and "no Temporal server on record" in out.stderr


def test_nothing_answering_falls_back(run_with_endpoint) -> None:
    pkg, state_dir, _ = run_with_endpoint
    state = StateDb(state_dir / "runner.db")
    state.put(URL_SETTING, "http://127.0.0.1:9")  # the discard port: nothing listens
    state.close()
    out = _status(str(pkg))
    assert out.returncode == 2 and "no Temporal server on record" in out.stderr
    assert out.stderr.count("journey-studio: error") == 1
