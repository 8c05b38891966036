"""What the panels that run one job off the GUI thread share: the Simulate panel (run_panel.RunPanel) and the
What-if Sweep panel (sweep_panel.SweepPanel).

Each keeps its running job in `_job_holder` (a one-item list, so that a `destroyed` handler can cancel it without
the panel), shows its progress in `progress` and has a `cancel_button`; the job is a QThread with `progressed`,
`succeeded`, `failed` and `cancelled` signals, `cancel()` and `wait()`. A job's signals that arrive after it was
replaced or shut down are ignored (`self.sender() is not self.job`).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from PySide6.QtGui import QCloseEvent

JobT = TypeVar("JobT")


class JobPanel(Generic[JobT]):
    """Mixin (before QWidget in the bases) for a panel that runs one job at a time."""

    _job_holder: list[JobT | None]
    progress: Any  # QProgressBar
    cancel_button: Any  # QPushButton
    cancelled_text = "Cancelled."  # said when the job is cancelled

    def _say(self, text: str, *, error: bool = False) -> None:
        raise NotImplementedError

    def _sync_enabled(self) -> None:
        raise NotImplementedError

    def _ended(self, how: str) -> None:
        """The job ended: "completed", "failed" or "cancelled" (the panel emits its own signal)."""
        raise NotImplementedError

    @property
    def job(self) -> JobT | None:
        """The running job, if any."""
        return self._job_holder[0]

    def is_running(self) -> bool:
        return self.job is not None

    def cancel(self) -> None:
        """Stop the running job: it reports 'cancelled' when it has stopped."""
        job: Any = self.job
        if job is not None:
            job.cancel()
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Cancelling…")

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Cancel a running job and wait for its thread to end (closing the panel or the window)."""
        job: Any = self.job
        if job is not None:
            job.cancel()
            job.wait(wait_ms)
            self._finish()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)  # type: ignore[misc]

    def _ours(self) -> bool:
        """Whether the signal being handled comes from the running job (not one replaced or shut down)."""
        return self.sender() is self.job  # type: ignore[attr-defined]

    def _finish(self) -> None:
        job: Any = self.job
        if job is not None:
            for signal in (job.progressed, job.succeeded, job.failed, job.cancelled):
                signal.disconnect()
        self._job_holder[0] = None
        self._sync_enabled()

    def _failed(self, message: str) -> None:
        if not self._ours():
            return
        self._finish()
        self.progress.setValue(0)
        self.progress.setFormat("Not run")
        self._say(message, error=True)
        self._ended("failed")

    def _cancelled(self) -> None:
        if not self._ours():
            return
        self._finish()
        self.progress.setValue(0)
        self.progress.setFormat("Cancelled")
        self._say(self.cancelled_text)
        self._ended("cancelled")
