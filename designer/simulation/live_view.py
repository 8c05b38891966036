"""The designer pointed at a live runner: its per-step counts on the canvas, refreshed every few seconds.

`journey-studio run` serves the live counts as JSON at `GET /status` of its tracking endpoint (app/runner). The
watcher reads them in a worker thread (an unreachable runner never freezes the window), and, while the canvas
shows the journey being run, writes each tile's status line from them (contacts waiting, entered and the step's
outcomes) the way a replay does. The bar under the canvas says which runner is watched, its totals and when
they were read, or why they could not be.
"""

from __future__ import annotations

import json
import time
from html import escape as _escape
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QToolButton,
                               QWidget)

from app.words import STATUS_SEP
from designer.panels.common import Dialog
from designer.simulation.background import Background

if TYPE_CHECKING:
    from designer.canvas.scene import JourneyScene
    from designer.document import Document

REFRESH_MS = 3000
TIMEOUT_S = 5.0
OUTCOME_ORDER = ("sent", "suppressed", "no_address", "failed", "capped", "yes", "no", "done", "holdout")
OUTCOME_WORDS = {"no_address": "without an address"}


def escape(text: str) -> str:
    """Text for a rich-text label (quotes stay as they are)."""
    return _escape(text, quote=False)


def status_url(base: str) -> str:
    """The status address of a runner given as 'host:port', 'http://host:port' or the full /status URL."""
    base = base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    return base if base.endswith("/status") else base + "/status"


def fetch_counts(url: str, secret: str = "", timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Read a runner's counts, with the run's secret when given (one line of error naming the address when it
    cannot)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"} if secret else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - an address the user typed
            doc = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 401:
            asked = "the secret given is not this run's" if secret else "it asks for the run's secret"
            raise RuntimeError(f"{url}: {asked} (journey-studio run printed it when the run started; or start "
                               "the run with --public-status)") from None
        detail = e.read().decode("utf-8", "replace").strip()[:200]
        raise RuntimeError(f"{url}: the runner answered {e.code} {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise RuntimeError(f"{url}: no runner answers there ({reason})") from None
    except ValueError:
        raise RuntimeError(f"{url}: the answer is not a runner's status (not JSON)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise RuntimeError(f"{url}: the answer is not a runner's status (no steps)")
    return doc


def journey_id_of(counts: dict[str, Any]) -> str:
    """The journey id of the counts (their key is 'journey id:vN')."""
    return str(counts.get("key", "")).rpartition(":v")[0]


def status_lines(counts: dict[str, Any]) -> dict[str, str]:
    """Each step's status line from a runner's counts, e.g. '3 waiting · 120 entered · 117 sent'."""
    lines: dict[str, str] = {}
    for row in counts.get("steps", []):
        parts = [f"{int(row.get('waiting', 0)):,} waiting", f"{int(row.get('entered', 0)):,} entered"]
        parts += [f"{int(row[k]):,} {OUTCOME_WORDS.get(k, k)}" for k in OUTCOME_ORDER if row.get(k)]
        parts += [f"{k} {int(v):,}" for k, v in sorted(row.items()) if k.startswith("path ") and v]
        lines[str(row.get("step"))] = STATUS_SEP.join(parts)
    return lines


def totals_text(counts: dict[str, Any]) -> str:
    outcomes = counts.get("outcomes", {}) or {}
    parts = [f"{int(counts.get('enrolled', 0)):,} enrolled", f"{int(counts.get('running', 0)):,} in the journey"]
    parts += [f"{int(v):,} {k}" for k, v in outcomes.items() if v]
    if counts.get("failed"):
        parts.append(f"{int(counts['failed']):,} failed")
    failed_sends = int((counts.get("messages") or {}).get("failed", 0))
    if failed_sends:
        parts.append(f"{failed_sends:,} sends failed")
    if counts.get("dead_letters"):
        parts.append(f"{int(counts['dead_letters']):,} events for unknown contacts")
    return " · ".join(parts)


class LiveBar(QWidget):
    """Which runner is watched, its totals and when they were read; Stop watching."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop watching")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.stop_button)


class LiveWatcher(QObject):
    """Polls a runner's status and shows it on the canvas while the canvas shows the journey it runs."""

    updated = Signal(object)  # the counts just read
    failed = Signal(str)

    def __init__(self, scene: JourneyScene, document: Document, bar: LiveBar, parent: QObject | None = None):
        super().__init__(parent)
        self.scene, self.document, self.bar = scene, document, bar
        self.url: str | None = None
        self.secret = ""  # the run's events secret, kept in memory only while watching
        self.counts: dict[str, Any] | None = None
        self.background = Background(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        bar.stop_button.clicked.connect(self.stop)
        scene.journeyShown.connect(lambda _jid: self._draw())
        bar.hide()

    @property
    def active(self) -> bool:
        return self.url is not None

    def start(self, address: str, secret: str = "") -> None:
        """Watch the runner at `address` (host:port or URL), with the run's secret unless its status is public."""
        self.url, self.secret = status_url(address), secret.strip()
        self.counts = None
        self.bar.label.setText(f"Connecting to the runner at {escape(self.url)}…")
        self.bar.show()
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.url, self.counts, self.secret = None, None, ""
        self.scene.set_status_lines({})
        self.bar.hide()

    def refresh(self) -> None:
        url, secret = self.url, self.secret
        if url is None or self.background.busy("live"):
            return
        self.background.submit("live", lambda: fetch_counts(url, secret), self._read, self._failed)

    def _read(self, counts: dict[str, Any]) -> None:
        if self.url is None:
            return
        self.counts = counts
        self._draw()
        self.updated.emit(counts)

    def _failed(self, message: str) -> None:
        if self.url is None:
            return
        self.bar.label.setText(f"Runner not reachable: {escape(message)} (trying again every "
                               f"{REFRESH_MS // 1000} s)")
        self.failed.emit(message)

    def _draw(self) -> None:
        counts = self.counts
        if counts is None or self.url is None:
            return
        journey = self.document.current_journey
        here = journey is not None and journey.id == journey_id_of(counts)
        shown = "" if here else " (open that journey to see its counts on the canvas)"
        self.bar.label.setText(f"<b>Live: {escape(str(counts.get('journey', '?')))}</b> "
                               f"({escape(str(counts.get('key', '')))}) at {escape(self.url)} · "
                               f"{totals_text(counts)} · read {time.strftime('%H:%M:%S')}{shown}")
        self.scene.set_status_lines(status_lines(counts) if here else {})

    def wait(self, msecs: int = 10_000) -> None:
        self.background.wait(msecs)


class WatchRunnerDialog(Dialog):
    """Where the runner is, and the run's secret (its status names the journey, so a run keeps it to itself
    unless it was started with --public-status)."""

    def __init__(self, address: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Watch a live runner")
        form = QFormLayout(self)
        self.address = QLineEdit(address)
        self.address.setAccessibleName("Runner address")
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setAccessibleName("Run secret")
        self.secret.setPlaceholderText("leave empty for a run started with --public-status")
        note = QLabel("journey-studio run prints both when the run starts: the tracking endpoint's address (e.g. "
                      "127.0.0.1:8787) and the events secret, shown once.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow("&Address:", self.address)
        form.addRow("&Secret:", self.secret)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(460, self.sizeHint().height())
