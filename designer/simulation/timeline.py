"""The time-warp timeline of a replay: play / pause, speed (an hour per second up to a week per second), step
to the previous or next moment something happens, and a scrubber over simulated time.

The timeline only keeps the simulated moment and says when it changes (`timeChanged`); the replay controller
draws that moment on the canvas and the plots move their cursor. Playing advances simulated time by the speed
times the real time elapsed, so a slow frame skips ahead instead of slowing the replay down.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

DAY = 86_400
SPEEDS: tuple[tuple[str, int], ...] = (("1 hour / s", 3_600), ("6 hours / s", 6 * 3_600), ("1 day / s", DAY),
                                       ("3 days / s", 3 * DAY), ("1 week / s", 7 * DAY))
SLIDER_UNIT = 60          # the scrubber moves in minutes (an int slider over up to ten years of seconds overflows)
FRAME_MS = 30             # about 33 frames a second while playing
STEP_FALLBACK = 3_600     # 'step' without a replay that knows its events: one hour

Stepper = Callable[[int], "int | None"]


def moment_text(t: int, t0: int) -> str:
    """'Day 3 · Tue 8 Dec 2026, 14:00 UTC' for UTC seconds `t` of a run starting at `t0`."""
    day = (t - t0) // DAY + 1
    at = datetime.fromtimestamp(t, tz=timezone.utc)
    return f"Day {day} · {at:%a} {at.day} {at:%b %Y, %H:%M} UTC"


class Timeline(QWidget):
    """Play / pause, speed, step and scrubber over [t0, horizon] in UTC seconds."""

    timeChanged = Signal(int)
    playingChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._t0, self._horizon, self._t = 0, 0, 0
        self._next: Stepper | None = None
        self._prev: Stepper | None = None
        style = self.style()
        self.play_button = QToolButton()
        self.play_button.setToolTip("Play / pause the replay (F6)")
        self.play_button.clicked.connect(self.toggle)
        self.back_button = QToolButton()
        self.back_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.back_button.setToolTip("Back to the previous moment something happened")
        self.back_button.clicked.connect(self.step_back)
        self.forward_button = QToolButton()
        self.forward_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.forward_button.setToolTip("On to the next moment something happens")
        self.forward_button.clicked.connect(self.step_forward)
        self.start_button = QToolButton()
        self.start_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward))
        self.start_button.setToolTip("Back to the start")
        self.start_button.clicked.connect(lambda: self.set_time(self._t0))
        self.speed = QComboBox()
        for label, seconds in SPEEDS:
            self.speed.addItem(label, seconds)
        self.speed.setCurrentIndex(2)
        self.speed.setToolTip("Simulated time per second of replay")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Drag to move through simulated time")
        self.slider.valueChanged.connect(self._slider_moved)
        self.label = QLabel()
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("Day 365 · Wed 30 Sep 2026, 23:59 UTC"))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.start_button, self.back_button, self.play_button, self.forward_button):
            row.addWidget(w)
        row.addWidget(self.speed)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._update_play_icon()
        self.set_range(0, 0)

    # --- state ----------------------------------------------------------------------------------------------
    @property
    def t0(self) -> int:
        return self._t0

    @property
    def horizon(self) -> int:
        return self._horizon

    def time(self) -> int:
        """The simulated moment shown (UTC seconds)."""
        return self._t

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def speed_seconds(self) -> int:
        """Simulated seconds per real second."""
        return int(self.speed.currentData())

    def set_range(self, t0: int, horizon: int, *, next_event: Stepper | None = None,
                  prev_event: Stepper | None = None) -> None:
        """Replay [t0, horizon]; `next_event` / `prev_event` give the moments the step buttons go to."""
        self.pause()
        self._t0, self._horizon = t0, max(t0, horizon)
        self._next, self._prev = next_event, prev_event
        self.slider.blockSignals(True)
        self.slider.setRange(0, (self._horizon - t0) // SLIDER_UNIT)
        self.slider.setPageStep(max(1, DAY // SLIDER_UNIT))
        self.slider.blockSignals(False)
        enabled = self._horizon > t0
        for w in (self.play_button, self.back_button, self.forward_button, self.start_button, self.slider):
            w.setEnabled(enabled)
        self._t = t0 - 1  # so that set_time always reports the first moment
        self.set_time(t0)

    def set_time(self, t: int) -> None:
        """Show simulated moment `t` (clamped to the range)."""
        t = min(max(int(t), self._t0), self._horizon)
        if t == self._t:
            return
        self._t = t
        self.slider.blockSignals(True)
        self.slider.setValue((t - self._t0) // SLIDER_UNIT)
        self.slider.blockSignals(False)
        self.label.setText(moment_text(t, self._t0) if self._horizon > self._t0 else "")
        self.timeChanged.emit(t)

    # --- playing --------------------------------------------------------------------------------------------
    def play(self) -> None:
        if self._horizon <= self._t0 or self.is_playing():
            return
        if self._t >= self._horizon:
            self.set_time(self._t0)
        self._clock.start()
        self._timer.start()
        self._update_play_icon()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if not self.is_playing():
            return
        self._timer.stop()
        self._update_play_icon()
        self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.is_playing() else self.play()

    def advance(self, real_ms: float) -> None:
        """Move on by `real_ms` milliseconds of replay at the chosen speed (what a timer tick does)."""
        self.set_time(self._t + round(self.speed_seconds() * real_ms / 1000.0))
        if self._t >= self._horizon:
            self.pause()

    def step_forward(self) -> None:
        nxt = self._next(self._t) if self._next is not None else self._t + STEP_FALLBACK
        self.pause()
        self.set_time(self._horizon if nxt is None else nxt)

    def step_back(self) -> None:
        prev = self._prev(self._t) if self._prev is not None else self._t - STEP_FALLBACK
        self.pause()
        self.set_time(self._t0 if prev is None else prev)

    def _tick(self) -> None:
        self.advance(self._clock.restart())

    def _slider_moved(self, value: int) -> None:
        self.set_time(self._t0 + value * SLIDER_UNIT)

    def _update_play_icon(self) -> None:
        pixmap = QStyle.StandardPixmap.SP_MediaPause if self.is_playing() else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(pixmap))
