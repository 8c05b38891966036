"""A one-line status on standard error while a long command works: what it is doing and the seconds so far,
redrawn a few times a second by a ticker thread (so the clock moves while SQLite builds an index), and nothing
at all when standard error is not a terminal (piped output and logs stay clean)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TextIO

WIDTH = 100
TICK = 0.25  # seconds between redraws


class StatusLine:
    """`with StatusLine(stream) as line: line.show("indexing the contacts")`; the line is taken away at the end
    of the block, before the command prints its result."""

    def __init__(self, stream: TextIO, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.doing = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def show(self, doing: str) -> None:
        """Say what the command is doing now (drawn at once, then kept up to date by the ticker)."""
        with self._lock:
            self.doing = doing
        self._draw()

    def _line(self) -> str:
        return f"{time.monotonic() - self.started:6.1f} s  {self.doing}..."[:WIDTH]

    def _draw(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._stop.is_set():
                return
            self.stream.write(f"\r{self._line():<{WIDTH}}")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            self._draw()

    def __enter__(self) -> StatusLine:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="status-line", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.enabled and self.doing:
            self.stream.write("\r" + " " * WIDTH + "\r")
            self.stream.flush()


__all__ = ["StatusLine"]
