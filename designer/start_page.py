"""The start page: what the window shows where the canvas goes while no journey is open.

A newcomer must not be stuck in front of an empty canvas: the page offers a blank journey, one from a template,
another project and the recent ones, each with the keyboard (Tab order top to bottom, Return on a recent project)
as well as the mouse; dropping a tile from the Tiles panel here starts a blank journey with that tile.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                               QWidget)

from designer.canvas.view import tile_type_of
from designer.panels.common import bold

MAX_RECENT = 8


class StartPage(QWidget):
    """New blank journey, New from template, Open, Recent."""

    blankRequested = Signal()
    templateRequested = Signal()
    openRequested = Signal()
    recentRequested = Signal(str)  # a project path
    tileDropped = Signal(str)  # a tile type dropped here: start a blank journey with it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("start-page")
        self.setAcceptDrops(True)
        self.title = QLabel("Start a journey")
        self.title.setFont(bold(self.font(), 1.6))
        self.subtitle = QLabel()
        self.subtitle.setWordWrap(True)
        self.blank = self._button("New blank journey", "Ctrl+Shift+J", "An empty journey: add its first tile "
                                  "from the Tiles panel, by drag and drop, or with Ctrl+T.")
        self.template = self._button("New from template…", "Ctrl+N", "A ready-made journey to adapt: an "
                                     "announcement, a re-engagement, a welcome series, a renewal reminder…")
        self.open = self._button("Open project…", "Ctrl+O", "Another project file (.jstudio).")
        self.blank.clicked.connect(self.blankRequested)
        self.template.clicked.connect(self.templateRequested)
        self.open.clicked.connect(self.openRequested)
        self.recent_title = QLabel("Recent projects")
        self.recent_title.setFont(bold(self.font(), 1.1))
        self.recent = QListWidget()
        self.recent.setAccessibleName("Recent projects")
        self.recent.setMaximumHeight(220)
        self.recent.itemActivated.connect(lambda item: self.recentRequested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.hint = QLabel("Tip: drop a tile from the Tiles panel here to start a blank journey with it.")
        self.hint.setWordWrap(True)
        self.hint.setEnabled(False)

        column = QVBoxLayout()
        column.setSpacing(10)
        column.addWidget(self.title)
        column.addWidget(self.subtitle)
        column.addSpacing(8)
        for b in (self.blank, self.template, self.open):
            column.addWidget(b)
        column.addSpacing(12)
        column.addWidget(self.recent_title)
        column.addWidget(self.recent)
        column.addWidget(self.hint)
        box = QFrame()
        box.setObjectName("start-box")
        box.setLayout(column)
        box.setMaximumWidth(520)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        centre = QVBoxLayout()
        centre.addStretch(1)
        centre.addWidget(box)
        centre.addStretch(2)
        outer.addLayout(centre, 3)
        outer.addStretch(1)
        self.setTabOrder(self.blank, self.template)
        self.setTabOrder(self.template, self.open)
        self.setTabOrder(self.open, self.recent)

    def _button(self, text: str, keys: str, tip: str) -> QPushButton:
        b = QPushButton(f"{text}    {keys}")
        b.setAccessibleName(text)
        b.setToolTip(tip)
        b.setMinimumHeight(34)
        b.setStyleSheet("text-align: left; padding-left: 12px;")
        b.setAutoDefault(True)  # Return on the focused button presses it
        return b

    def show_project(self, name: str, journeys: int, recent: list[Path], current: Path) -> None:
        """Say where we are and list the other recent projects (newest first)."""
        if journeys:
            self.subtitle.setText(f"{name} has {journeys} journey{'s' * (journeys != 1)}: pick one in the "
                                  "Project panel, or start a new one.")
        else:
            self.subtitle.setText(f"{name} has no journeys yet.")
        self.recent.clear()
        for path in [p for p in recent if p.resolve() != current.resolve()][:MAX_RECENT]:
            item = QListWidgetItem(f"{path.stem}    {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.recent.addItem(item)
        empty = self.recent.count() == 0
        self.recent_title.setVisible(not empty)
        self.recent.setVisible(not empty)

    def focus_first(self) -> None:
        self.blank.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- a tile dropped here --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if tile_type_of(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        type_id = tile_type_of(event.mimeData())
        if type_id:
            event.acceptProposedAction()
            self.tileDropped.emit(type_id)
        else:
            event.ignore()
