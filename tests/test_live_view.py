"""The designer pointed at a live runner: the counts its /status serves appear on the canvas's tiles."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit

from designer.main_window import MainWindow
from designer.simulation.live_view import status_lines, status_url
from tests.window_helpers import template_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("leftover_windows_closed")]


class FakeRunner:
    """A /status endpoint answering whatever `doc` holds (or `raw` bytes)."""

    def __init__(self) -> None:
        self.doc: Any = None
        self.raw: bytes | None = None
        self.secret = ""  # when set, /status needs 'Authorization: Bearer SECRET', as a run's does by default
        runner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if runner.secret and self.headers.get("Authorization") != f"Bearer {runner.secret}":
                    self.send_response(401)
                    self.end_headers()
                    self.wfile.write(b'{"error": "GET /status needs the run\'s secret"}')
                    return
                body = runner.raw if runner.raw is not None else json.dumps(runner.doc).encode()
                self.send_response(200 if self.path == "/status" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def runner() -> Iterator[FakeRunner]:
    r = FakeRunner()
    yield r
    r.server.shutdown()


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    return template_window(qtbot, tmp_path / "live.jstudio", "re-engagement.yaml")


def counts_for(w: MainWindow, entered: int) -> dict[str, Any]:
    journey = w.document.current_journey
    assert journey is not None
    steps = []
    for i, step in enumerate(journey.steps.values()):
        row: dict[str, Any] = {"step": step.id, "type": step.type, "entered": entered - i, "waiting": i}
        if step.type in ("email", "sms"):
            row["sent"] = entered - i - 1
        steps.append(row)
    return {"journey": journey.name, "key": f"{journey.id}:v{journey.version}", "enrolled": entered,
            "running": entered - 3, "failed": 0, "outcomes": {"completed": 3}, "steps": steps}


def test_status_lines_and_addresses() -> None:
    doc = {"steps": [{"step": "a", "entered": 1200, "waiting": 3, "sent": 1190, "no": 0},
                     {"step": "s", "entered": 10, "waiting": 0, "path A": 6, "path B": 4}]}
    assert status_lines(doc) == {"a": "3 waiting · 1,200 entered · 1,190 sent",
                                 "s": "0 waiting · 10 entered · path A 6 · path B 4"}
    assert status_url("127.0.0.1:8787") == "http://127.0.0.1:8787/status"
    assert status_url("https://runner.example/") == "https://runner.example/status"
    assert status_url("http://h:1/status") == "http://h:1/status"


def test_live_counts_reach_the_tiles_and_follow_the_runner(qtbot, window: MainWindow, runner: FakeRunner) -> None:
    ws = window.simulation
    runner.doc = counts_for(window, 100)
    ws.watch_runner(runner.address)
    first = next(iter(window.document.current_journey.steps.values()))
    tile = window.scene.tile_item(first.id)
    qtbot.waitUntil(lambda: tile.status_text == "0 waiting · 100 entered · 99 sent", timeout=10_000)
    assert "100 enrolled · 97 in the journey · 3 completed" in ws.live_bar.label.text()
    runner.doc = counts_for(window, 250)
    ws.live.refresh()
    qtbot.waitUntil(lambda: tile.status_text == "0 waiting · 250 entered · 249 sent", timeout=10_000)
    # another journey's counts do not land on this canvas
    runner.doc = {**counts_for(window, 5), "key": "someone-else:v1"}
    ws.live.refresh()
    qtbot.waitUntil(lambda: "open that journey" in ws.live_bar.label.text(), timeout=10_000)
    assert "entered" not in tile.status_text
    ws.live_bar.stop_button.click()
    assert not ws.live.active and ws.live_bar.isHidden()


def test_a_runner_that_does_not_answer_is_one_line(qtbot, window: MainWindow, runner: FakeRunner) -> None:
    ws = window.simulation
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    ws.watch_runner(f"127.0.0.1:{free}")
    qtbot.waitUntil(lambda: "Runner not reachable" in ws.live_bar.label.text(), timeout=10_000)
    assert "no runner answers there" in ws.live_bar.label.text()
    runner.raw = b"<html>not a runner</html>"
    ws.watch_runner(runner.address)
    qtbot.waitUntil(lambda: "not a runner's status" in ws.live_bar.label.text(), timeout=10_000)
    ws.live.stop()


def test_a_run_that_keeps_its_status_to_itself_is_watched_with_its_secret(qtbot, window: MainWindow,
                                                                         runner: FakeRunner) -> None:
    """A run's /status needs its secret unless it was started with --public-status: the designer asks for it."""
    from designer.simulation.live_view import WatchRunnerDialog
    ws = window.simulation
    runner.secret = "s3cret-of-the-run"
    runner.doc = counts_for(window, 40)
    ws.watch_runner(runner.address)  # no secret given
    qtbot.waitUntil(lambda: "asks for the run's secret" in ws.live_bar.label.text(), timeout=10_000)
    ws.watch_runner(runner.address, "wrong")
    qtbot.waitUntil(lambda: "not this run's" in ws.live_bar.label.text(), timeout=10_000)
    assert "wrong" not in ws.live_bar.label.text()  # a secret is never shown

    def answer() -> None:  # the dialog, as a user fills it in
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, WatchRunnerDialog) and w.isVisible())
        assert dialog.secret.echoMode() == QLineEdit.EchoMode.Password
        dialog.address.setText(runner.address)
        dialog.secret.setText(runner.secret)
        dialog.accept()

    QTimer.singleShot(0, answer)
    ws.watch_runner()
    first = next(iter(window.document.current_journey.steps.values()))
    tile = window.scene.tile_item(first.id)
    qtbot.waitUntil(lambda: tile.status_text == "0 waiting · 40 entered · 39 sent", timeout=10_000)
    ws.live.stop()
    assert ws.live.secret == ""  # forgotten when the watching stops
