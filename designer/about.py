"""Help > About: the application's name, version and build (the git commit and date a packaged build was made
from, or "development" when run from source), with a button that copies these details for a bug report."""

from __future__ import annotations

import platform
import sys

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)

from app import APP_NAME
from app.cli.buildinfo import BuildInfo, build_info
from designer.icons import app_icon

TAGLINE = "Design customer journeys offline, simulate them, and hand a validated package to a live runner."


def details_text(info: BuildInfo) -> str:
    """The lines 'Copy details' puts on the clipboard (and the dialog shows)."""
    lines = [f"{APP_NAME} {info.version}",
             f"Build: {info.commit or 'unknown commit'}, {info.date or 'unknown date'}" if info.packaged
             else "Build: development (run from source)"]
    if info.platform:
        lines.append(f"Built for: {info.platform}")
    lines.append(f"Python {platform.python_version()}, Qt {qVersion()}, PySide6 {PYSIDE_VERSION}")
    lines.append(f"System: {platform.system()} {platform.release()} ({platform.machine()})"
                 + (", packaged" if getattr(sys, "frozen", False) else ""))
    return "\n".join(lines)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, info: BuildInfo | None = None) -> None:
        super().__init__(parent)
        self.info = info or build_info()
        self.setWindowTitle(f"About {APP_NAME}")
        self.setObjectName("aboutDialog")

        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        title = QLabel(f"<span style='font-size:16pt; font-weight:600'>{APP_NAME}</span>")
        self.version_label = QLabel(f"Version {self.info.version}")
        self.version_label.setObjectName("version")
        self.build_label = QLabel(self._build_line())
        self.build_label.setObjectName("build")
        tagline = QLabel(TAGLINE)
        tagline.setWordWrap(True)
        self.details = QLabel(details_text(self.info).split("\n", 2)[-1])  # Python, Qt, system
        self.details.setObjectName("details")
        self.details.setStyleSheet("color: palette(placeholder-text);")
        for label in (self.version_label, self.build_label, self.details):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        text = QVBoxLayout()
        text.setSpacing(4)
        text.addWidget(title)
        text.addWidget(self.version_label)
        text.addWidget(self.build_label)
        text.addSpacing(8)
        text.addWidget(tagline)
        text.addSpacing(8)
        text.addWidget(self.details)

        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon)
        top.addLayout(text, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy Details")
        self.copy_button.setToolTip("Copy the version, build and system, for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 12)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)
        buttons.button(QDialogButtonBox.StandardButton.Close).setDefault(True)

    def _build_line(self) -> str:
        if not self.info.packaged:
            return "Build: development (run from source)"
        parts = [f"commit {self.info.commit}" if self.info.commit else None, self.info.date]
        return "Build: " + ", ".join(p for p in parts if p)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(details_text(self.info))
        self.copy_button.setText("Copied")


def show_about(parent: QWidget | None) -> AboutDialog:
    """Open the About dialog (window-modal, returns at once) and return it."""
    dialog = AboutDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
