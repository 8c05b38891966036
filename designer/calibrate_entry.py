"""Simulate > Calibrate from a Past Campaign…: the menu entry of a main window. The dialog (designer/
calibrate_dialog.py, which needs NumPy and pyqtgraph) is imported when the entry is first used, so the first
window opens without them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QMenu


class CalibrateEntry(QObject):
    """The menu entry of a main window (Simulate > Calibrate from a Past Campaign…) and its dialog."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: Any = None  # a CalibrateDialog, built on first use (it imports NumPy and pyqtgraph)
        actions: Any = getattr(window, "actions")
        self.action = actions._action("&Calibrate from a Past Campaign…", self.show)
        self.action.setToolTip("Fit the behaviour assumptions to a past campaign's results, and check the fit")
        for menu_action in window.menuBar().actions():
            menu = menu_action.menu()
            if isinstance(menu, QMenu) and menu_action.text().replace("&", "") == "Simulate":
                menu.addSeparator()
                menu.addAction(self.action)
        window.installEventFilter(self)  # the window closing cancels a running calibration

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close and self.dialog is not None:
            if self.dialog.job is not None:
                self.dialog.job.cancel()
                self.dialog.job.wait(30_000)
        return False

    def _use(self, model: Any) -> None:
        sim = self.window.simulation
        panel = getattr(sim, "run_panel", None)  # built on first use
        if panel is not None:
            panel.behaviour_table.set_behaviour(model)
            dock = sim.docks.get("simulate")
            if dock is not None:
                dock.show()
                dock.raise_()

    def show(self) -> Any:
        if self.dialog is None:
            from designer.calibrate_dialog import CalibrateDialog
            self.dialog = CalibrateDialog(self.window, use_behaviour=self._use)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog


def install(window: Any) -> CalibrateEntry:
    """Add Simulate > Calibrate from a Past Campaign… to a main window."""
    return CalibrateEntry(window)
