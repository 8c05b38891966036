"""File > Frequency Caps: the project's caps across journeys (at most N messages per channel to one contact in
any trailing period, counting every live journey), and the journeys' priorities and exemptions under them.

Every change of a cap is one undoable edit of the project's settings (UpdateProjectSettings); a journey's priority
and exemption are edited in its settings panel (the table here shows them, and double-clicking a journey opens
its settings). `journey-studio portfolio` simulates what the caps hold back."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialogButtonBox, QGridLayout, QGroupBox, QHeaderView, QLabel, QSpinBox,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.model.project import CAP_CHANNELS, MAX_CAP_MESSAGES, MAX_CAP_PERIOD, MIN_CAP_PERIOD, ChannelCap
from app.model.values import format_duration
from designer.panels.common import Dialog, FieldNote, MutedLabel, blocked, field_with_note, no_wheel
from designer.panels.inputs import DurationEdit

if TYPE_CHECKING:
    from designer.document import Document

CHANNEL_WORDS = {"email": "Email", "sms": "Text messages", "push": "Push notifications"}
DEFAULT_CAP = {"email": (3, timedelta(days=7)), "sms": (1, timedelta(days=1)), "push": (2, timedelta(days=1))}


class ChannelCapRow(QWidget):
    """One channel's cap: a check box switches it on; N messages per period."""

    edited = Signal(object)  # ChannelCap or None

    def __init__(self, channel: str, grid: QGridLayout, row: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.channel = channel
        self._value: ChannelCap | None = None
        self.check = QCheckBox(CHANNEL_WORDS[channel])
        self.check.setAccessibleName(f"Cap {CHANNEL_WORDS[channel].lower()}")
        self.messages = QSpinBox()
        self.messages.setRange(1, MAX_CAP_MESSAGES)
        self.messages.setKeyboardTracking(False)
        self.messages.setAccessibleName(f"{CHANNEL_WORDS[channel]}: messages per period")
        no_wheel(self.messages)
        self.note = FieldNote()
        self.per = DurationEdit(self.note, allow_zero=False)
        self.per.setPlaceholderText("e.g. 7d")
        self.per.setClearButtonEnabled(False)
        self.per.setAccessibleName(f"{CHANNEL_WORDS[channel]}: period")
        self.per.setMaximumWidth(160)
        per = QLabel("messages per")
        per.setBuddy(self.per)
        grid.addWidget(self.check, row, 0)
        grid.addWidget(self.messages, row, 1)
        grid.addWidget(per, row, 2)
        grid.addWidget(field_with_note(self.per, self.note), row, 3)
        self.check.toggled.connect(lambda _on: self._emit())
        self.messages.valueChanged.connect(lambda _v: self._emit())
        self.per.durationEdited.connect(lambda _v: self._emit())
        self.set_value(None)

    def set_value(self, value: ChannelCap | None) -> None:
        """Show a model value without emitting."""
        self._value = value
        messages, per = (value.messages, value.per) if value is not None else DEFAULT_CAP[self.channel]
        with blocked(self.check, self.messages):
            self.check.setChecked(value is not None)
            self.messages.setValue(int(messages))
        self.per.set_duration(per)
        self._enable(value is not None)

    def _enable(self, on: bool) -> None:
        self.messages.setEnabled(on)
        self.per.setEnabled(on)

    def _emit(self) -> None:
        on = self.check.isChecked()
        self._enable(on)
        value = None
        if on:
            per = self.per.duration() or DEFAULT_CAP[self.channel][1]
            if not MIN_CAP_PERIOD <= per <= MAX_CAP_PERIOD:
                self.note.set_input_error(f"The period goes from {format_duration(MIN_CAP_PERIOD)} to "
                                          f"{format_duration(MAX_CAP_PERIOD)}.")
                return
            self.note.set_input_error(None)
            value = ChannelCap(self.channel, int(self.messages.value()), per)
        if value != self._value:
            self._value = value
            self.edited.emit(value)


class FrequencyCapsDialog(Dialog):
    """The project's frequency caps, and each journey's priority and exemption under them."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.setWindowTitle("Frequency caps")
        intro = QLabel("Limit how many messages one contact gets on each channel from all the project's live "
                       "journeys together. A message due when the contact already had that many in the period "
                       "is not sent (capped); an if/then after it sees no open.")
        intro.setWordWrap(True)
        box = QGroupBox("Caps across journeys")
        grid = QGridLayout(box)
        grid.setColumnStretch(4, 1)
        self.rows = {c: ChannelCapRow(c, grid, i, self) for i, c in enumerate(CAP_CHANNELS)}
        for c, row in self.rows.items():
            row.edited.connect(lambda value, c=c: self.set_cap(c, value))
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Journey", "Priority", "Under the caps"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAccessibleName("Journeys and their priorities")
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setStretchLastSection(False)
        self.tree.itemDoubleClicked.connect(self._open_settings)
        self.note = MutedLabel("At the same moment, priority 1 goes first and 10 last. Set a journey's priority, "
                               "or mark it exempt (transactional), in its settings (double-click it). "
                               "journey-studio portfolio simulates what the caps hold back in each journey.")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(box)
        lay.addWidget(QLabel("Journeys:"))
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.note)
        lay.addWidget(buttons)
        document.changed.connect(self._on_change)  # a Qt signal: let go when the dialog goes
        self.refresh()
        self.resize(620, 460)

    def _on_change(self, change: object) -> None:
        if getattr(change, "kind", None) in ("settings-changed", "journey-changed", "journey-added",
                                            "journey-removed"):
            self.refresh()

    def refresh(self) -> None:
        settings = self.document.project.settings
        for channel, row in self.rows.items():
            row.set_value(settings.cap_for(channel))
            row.setEnabled(not self.document.readonly)
            for w in (row.check, row.messages, row.per):
                w.setEnabled(not self.document.readonly and (w is row.check or row.check.isChecked()))
        self.tree.clear()
        journeys = sorted(self.document.project.journeys, key=lambda j: (j.priority, j.name.lower()))
        for j in journeys:
            under = "exempt: never held back" if j.cap_exempt else "held by the caps"
            item = QTreeWidgetItem([j.name, str(j.priority), under])
            item.setData(0, Qt.ItemDataRole.UserRole, j.id)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
            self.tree.addTopLevelItem(item)
        self.tree.resizeColumnToContents(1)
        self.tree.resizeColumnToContents(2)

    def caps(self) -> tuple[ChannelCap, ...]:
        return self.document.project.settings.frequency_caps

    def set_cap(self, channel: str, value: ChannelCap | None) -> bool:
        """Set (or, with None, remove) the cap on `channel` as one undoable edit."""
        from app.model.project_commands import UpdateProjectSettings
        current = {c.channel: c for c in self.caps()}
        if value is None:
            current.pop(channel, None)
            text = f"Remove the {CHANNEL_WORDS[channel].lower()} frequency cap"
        else:
            current[channel] = value
            text = f"Cap {CHANNEL_WORDS[channel].lower()} at {value.messages} per {format_duration(value.per)}"
        caps = tuple(current[c] for c in CAP_CHANNELS if c in current)
        if caps == self.caps():
            return True
        return bool(self.document.run(UpdateProjectSettings(text, frequency_caps=caps)))

    def _open_settings(self, item: QTreeWidgetItem) -> None:
        """The journey's settings, the focus on its priority."""
        self.document.set_current_journey(str(item.data(0, Qt.ItemDataRole.UserRole)))
        show = getattr(self.parent(), "show_settings", None)
        if show is not None:
            show("priority")
