"""The behaviour assumptions of a run as an editable table: per channel, per message step, and contact events.

Rows: one per channel (email, sms, push) with delivered, opened, clicked (of opened), unsubscribed and converted
(of clicks) percentages, the median open and click delays and where the defaults come from
(simulator.behaviour.SOURCES; the full text in the tooltip); one per message step of the current journey, whose
empty cells inherit the channel's figure (shown greyed) until a value is typed; one per contact event with its
rate per contact per day. A figure that differs from the default is bold. Anything typed that is not a valid
figure (120 %, a negative delay, text) is refused with one line naming the cell and why.

The table edits the channel figures, the message overrides and the event rates of a `BehaviourModel`; the rest
of the model (sigmas, delivery delays, engagement effects, multipliers) is kept as it was set or loaded. Files
are the YAML of `journey-studio behaviour --out` (read by `journey-studio simulate --behaviour`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QKeyEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from app.model.journey import Journey
from app.model.registry import REGISTRY
from designer.panels.common import ERROR_COLORS, MutedLabel, tone
from simulator.behaviour import (DEFAULT_CHANNELS, DEFAULT_EVENT_RATES, SOURCES, BehaviourModel, ChannelBehaviour)
from simulator.behaviour_file import behaviour_file_text, read_behaviour_file

Index = QModelIndex | QPersistentModelIndex
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "push": "Push"}
PERCENT, DELAY = "percent", "delay"
_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
          "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86_400,
          "day": 86_400, "days": 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:[.,]\d+)?|[.,]\d+)\s*([a-z]+)?\s*$")


@dataclass(frozen=True)
class Column:
    """A column of the table: the ChannelBehaviour field it shows (None: the row's name or its source)."""

    field: str | None
    title: str  # the header (may have two lines)
    kind: str = ""
    tip: str = ""
    words: str = ""  # how messages name the figure, e.g. "open delay"


COLUMNS: tuple[Column, ...] = (
    Column(None, "Channel / message"),
    Column("delivery", "Delivered", PERCENT, "Share of sent messages that are delivered (not bounced)",
           "delivered"),
    Column("open", "Opened", PERCENT, "Share of delivered messages that are opened (read)", "opened"),
    Column("click", "Clicked\nof opened", PERCENT, "Share of openers who click a link", "clicked"),
    Column("unsubscribe", "Unsubscribed", PERCENT, "Share of delivered messages that lead to an unsubscribe",
           "unsubscribed"),
    Column("conversion", "Converted\nof clicks", PERCENT, "Share of clicks followed by the conversion event",
           "converted"),
    Column("open_median", "Open delay\n(median)", DELAY, "Median time from delivery to opening", "open delay"),
    Column("click_median", "Click delay\n(median)", DELAY, "Median time from opening to clicking", "click delay"),
    Column(None, "Source"),
)
NAME_COLUMN, RATE_COLUMN, SOURCE_COLUMN = 0, 1, len(COLUMNS) - 1
EDITED_FIELDS = tuple(c.field for c in COLUMNS if c.field)


@dataclass(frozen=True)
class Row:
    """A row: a section title, a channel, a message step (`key` its step id) or a contact event."""

    kind: str  # "section" | "channel" | "message" | "event"
    key: str
    label: str
    channel: str = ""


class InvalidFigure(ValueError):
    """Text that is not a valid figure for its cell; the message says why."""


# --- figures as text ---------------------------------------------------------------------------------------------

def percent_text(p: float) -> str:
    """0.2133 -> '21.33' (up to four decimals, trailing zeros dropped)."""
    text = f"{p * 100:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def delay_text(seconds: float) -> str:
    """10800 -> '3 h', 2700 -> '45 min', 1 -> '1 s', 129600 -> '1.5 d'."""
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = f"{seconds / size:.2f}".rstrip("0").rstrip(".")
            return f"{value} {unit}"
    return f"{seconds:.2f}".rstrip("0").rstrip(".") + " s" if seconds else "0 s"


def parse_percent(text: str) -> float:
    """'21.33', '21,33 %' -> 0.2133; InvalidFigure for text, negatives and more than 100 %."""
    raw = text.strip().removesuffix("%").strip().replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidFigure(f"'{text.strip()}' is not a number; type a percentage from 0 to 100") from None
    if not math.isfinite(value):
        raise InvalidFigure(f"'{text.strip()}' is not a number; type a percentage from 0 to 100")
    if value < 0:
        raise InvalidFigure(f"a share cannot be negative ({text.strip()}); type a percentage from 0 to 100")
    if value > 100:
        raise InvalidFigure(f"{text.strip().removesuffix('%').strip()} % is more than 100 %; "
                            "type a percentage from 0 to 100")
    return value / 100.0


def parse_delay(text: str) -> float:
    """'3 h', '45 min', '90s', '1.5 d' -> seconds; InvalidFigure for negatives, text and missing units."""
    raw = text.strip().lower()
    if raw.startswith("-"):
        raise InvalidFigure(f"a delay cannot be negative ({text.strip()})")
    m = _DURATION.match(raw)
    if m is None or (m.group(2) is not None and m.group(2) not in _UNITS):
        raise InvalidFigure(f"'{text.strip()}' is not a duration; type e.g. 3 h, 45 min or 30 s")
    if m.group(2) is None:
        raise InvalidFigure(f"'{text.strip()}' has no unit; type e.g. {text.strip()} min or {text.strip()} h")
    return float(m.group(1).replace(",", ".")) * _UNITS[m.group(2)]


def _mixed(a: QColor, b: QColor) -> QColor:
    return QColor((a.red() + b.red()) // 2, (a.green() + b.green()) // 2, (a.blue() + b.blue()) // 2)


def message_steps(journey: Journey | None) -> list[tuple[str, str, str]]:
    """(step id, name, channel) of each message step of a journey, in the journey's order."""
    if journey is None:
        return []
    out = []
    for step in journey.steps.values():
        tile = REGISTRY.get(step.type)
        if tile is not None and tile.channel is not None:
            out.append((step.id, step.display_name, tile.channel))
    return out


# --- the model ---------------------------------------------------------------------------------------------------

class BehaviourTableModel(QAbstractTableModel):
    """The table's rows over a BehaviourModel (see the module docstring)."""

    refused = Signal(str)   # one line: which cell and why its text was not taken
    edited = Signal()       # a figure changed (typed, reset or loaded)

    def __init__(self, model: BehaviourModel | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._steps: list[tuple[str, str, str]] = []
        self._journey_name = ""
        self._rows: list[Row] = []
        self._load(model or BehaviourModel())
        self._layout()

    # --- state ----------------------------------------------------------------------------------------------
    def _load(self, model: BehaviourModel) -> None:
        self._base = model
        self._channels: dict[str, ChannelBehaviour] = dict(model.channels)
        self._messages: dict[str, dict[str, float]] = {k: dict(v) for k, v in model.messages.items()}
        self._rates: dict[str, float] = dict(model.event_rates)

    def behaviour(self) -> BehaviourModel:
        """The model as edited."""
        return replace(self._base, channels=dict(self._channels),
                       messages={k: dict(v) for k, v in self._messages.items() if v},
                       event_rates=dict(self._rates))

    def set_behaviour(self, model: BehaviourModel) -> None:
        """Show (and edit) another model."""
        self.beginResetModel()
        self._load(model)
        self._layout()
        self.endResetModel()
        self.edited.emit()

    def set_steps(self, steps: list[tuple[str, str, str]], journey_name: str = "") -> None:
        """The message steps (id, name, channel) whose overrides are shown; overrides of other steps are kept."""
        self.beginResetModel()
        self._steps, self._journey_name = list(steps), journey_name
        self._layout()
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def row_of(self, kind: str, key: str) -> int:
        """The row number of a channel, message step or event (-1 if not shown)."""
        return next((i for i, r in enumerate(self._rows) if r.kind == kind and r.key == key), -1)

    def _layout(self) -> None:
        channels = [c for c in DEFAULT_CHANNELS if c in self._channels]
        channels += [c for c in self._channels if c not in DEFAULT_CHANNELS]
        rows = [Row("section", "channels", "Channels: every message of the channel")]
        rows += [Row("channel", c, CHANNEL_LABELS.get(c, c), c) for c in channels]
        steps = [s for s in self._steps if s[2] in self._channels]
        if steps:
            where = f" of '{self._journey_name}'" if self._journey_name else ""
            rows.append(Row("section", "messages", f"Messages{where}: an empty cell uses the channel's figure"))
            rows += [Row("message", sid, f"{name} ({CHANNEL_LABELS.get(ch, ch)})", ch) for sid, name, ch in steps]
        rows.append(Row("section", "events", "Contact events: rate per contact per day (Poisson), in %"))
        names = [e for e in DEFAULT_EVENT_RATES if e in self._rates] + \
            [e for e in self._rates if e not in DEFAULT_EVENT_RATES]
        rows += [Row("event", e, e.replace("_", " ").capitalize()) for e in names]
        self._rows = rows

    # --- figures ----------------------------------------------------------------------------------------------
    def _value(self, row: Row, column: Column) -> float | None:
        """The figure a cell holds (for a message: its override, or None when it inherits)."""
        if row.kind == "channel" and column.field:
            return float(getattr(self._channels[row.key], column.field))
        if row.kind == "message" and column.field:
            return self._messages.get(row.key, {}).get(column.field)
        if row.kind == "event" and column.field == COLUMNS[RATE_COLUMN].field:
            return self._rates[row.key]
        return None

    def _inherited(self, row: Row, column: Column) -> float | None:
        if row.kind == "message" and column.field and row.channel in self._channels:
            return float(getattr(self._channels[row.channel], column.field))
        return None

    def _default(self, row: Row, column: Column) -> float | None:
        if row.kind == "channel" and column.field and row.key in DEFAULT_CHANNELS:
            return float(getattr(DEFAULT_CHANNELS[row.key], column.field))
        if row.kind == "event" and column.field == COLUMNS[RATE_COLUMN].field:
            return DEFAULT_EVENT_RATES.get(row.key)
        return None

    def is_edited(self, row: int, column: int) -> bool:
        """Whether a cell holds a figure of the user's (an override, or a value other than the default)."""
        r, c = self._rows[row], COLUMNS[column]
        value = self._value(r, c)
        if r.kind == "message":
            return value is not None
        default = self._default(r, c)
        return value is not None and (default is None or not math.isclose(value, default, rel_tol=1e-12))

    def edited_count(self) -> int:
        """How many cells differ from the defaults (overrides included)."""
        return sum(self.is_edited(r, c) for r in range(len(self._rows)) for c in range(len(COLUMNS)))

    def _text(self, column: Column, value: float, *, event: bool = False) -> str:
        if event:
            return f"{percent_text(value)} % a day"
        return f"{percent_text(value)} %" if column.kind == PERCENT else delay_text(value)

    def _edit_text(self, column: Column, value: float) -> str:
        return percent_text(value) if column.kind == PERCENT else delay_text(value)

    def _source(self, row: Row) -> tuple[str, str]:
        if row.kind == "channel":
            short, full = SOURCES.get(row.key, ("Your figures", "A channel without published defaults."))
            return short, f"{full}\n\n{SOURCES['conversion'][1]}"
        if row.kind == "message":
            channel = CHANNEL_LABELS.get(row.channel, row.channel)
            if self._messages.get(row.key):
                return "Overridden here", f"Empty cells use the {channel} channel's figures."
            return f"As the {channel} channel", f"Every figure is the {channel} channel's; type one to override it."
        if row.kind == "event":
            return SOURCES["event_rates"]
        return "", ""

    # --- QAbstractTableModel ----------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tip or None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        row, column = self._rows[index.row()], COLUMNS[index.column()]
        if row.kind == "section":
            return Qt.ItemFlag.ItemIsEnabled
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        editable = column.field is not None and (row.kind != "event" or index.column() == RATE_COLUMN)
        return base | Qt.ItemFlag.ItemIsEditable if editable else base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], COLUMNS[index.column()]
        if row.kind == "section":
            return self._section_data(row, index.column(), role)
        value = self._value(row, column)
        shown = value if value is not None else self._inherited(row, column)
        event = row.kind == "event"
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == NAME_COLUMN:
                return row.label
            if index.column() == SOURCE_COLUMN:
                return self._source(row)[0]
            return self._text(column, shown, event=event) if shown is not None else None
        if role == Qt.ItemDataRole.EditRole:
            return self._edit_text(column, shown) if shown is not None else ""
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            if column.field and self.is_edited(index.row(), index.column()):
                font.setBold(True)
            elif row.kind == "message" and column.field:
                font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            inherited = row.kind == "message" and column.field and value is None
            if inherited or index.column() == SOURCE_COLUMN:
                pal = QGuiApplication.palette()
                return _mixed(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base))
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.field:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column, index.column(), value, shown)
        return None

    def _section_data(self, row: Row, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and column == NAME_COLUMN:
            return row.label
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole:
            return QGuiApplication.palette().color(QPalette.ColorRole.AlternateBase)
        return None

    def _tooltip(self, row: Row, column: Column, col: int, value: float | None, shown: float | None) -> str | None:
        if col == SOURCE_COLUMN:
            return self._source(row)[1] or None
        if col == NAME_COLUMN or not column.field or shown is None:
            return None
        what = f"{row.label}, {column.words}"
        if row.kind == "message":
            channel = CHANNEL_LABELS.get(row.channel, row.channel)
            if value is None:
                return (f"{what}: {self._text(column, shown)}, as the {channel} channel. Type a figure to "
                        "override it for this message.")
            return f"{what}: overridden for this message (the {channel} channel has " \
                   f"{self._text(column, self._inherited(row, column) or 0.0)}). Clear the cell to inherit again."
        default = self._default(row, column)
        if default is None:
            return None
        text = self._text(column, default, event=row.kind == "event")
        return f"{what}. Default: {text} ({self._source(row)[0]})"

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        if not self.flags(index) & Qt.ItemFlag.ItemIsEditable:
            return False
        row, column = self._rows[index.row()], COLUMNS[index.column()]
        assert column.field is not None
        text = "" if value is None else str(value)
        where = f"{row.label}, {column.words}" if row.kind != "event" else f"{row.label} rate"
        if not text.strip():  # an empty cell: the message inherits again, a channel or event its default
            self.clear_cell(index.row(), index.column())
            return True
        try:
            figure = parse_delay(text) if column.kind == DELAY else parse_percent(text)
        except InvalidFigure as e:
            self.refused.emit(f"{where}: {e}")
            return False
        if row.kind == "channel":
            self._channels[row.key] = replace(self._channels[row.key], **{column.field: figure})
        elif row.kind == "message":
            inherited = self._inherited(row, column)
            current = self._value(row, column)
            if current is None and inherited is not None and \
                    self._edit_text(column, figure) == self._edit_text(column, inherited):
                return True  # the inherited figure, confirmed: nothing to override
            self._messages.setdefault(row.key, {})[column.field] = figure
        else:
            self._rates[row.key] = figure
        self._changed()
        return True

    def clear_cell(self, row: int, column: int) -> None:
        """A message cell inherits again; a channel or event cell takes its default."""
        r, c = self._rows[row], COLUMNS[column]
        if not c.field or r.kind == "section":
            return
        if r.kind == "message":
            over = self._messages.get(r.key, {})
            over.pop(c.field, None)
            if not over:
                self._messages.pop(r.key, None)
        elif r.kind == "channel" and r.key in DEFAULT_CHANNELS:
            default = getattr(DEFAULT_CHANNELS[r.key], c.field)
            self._channels[r.key] = replace(self._channels[r.key], **{c.field: default})
        elif r.kind == "event" and column == RATE_COLUMN and r.key in DEFAULT_EVENT_RATES:
            self._rates[r.key] = DEFAULT_EVENT_RATES[r.key]
        self._changed()

    def reset_row(self, row: int) -> None:
        """A message loses its overrides; a channel or event takes back every default figure."""
        r = self._rows[row]
        if r.kind == "message":
            self._messages.pop(r.key, None)
        elif r.kind == "channel" and r.key in DEFAULT_CHANNELS:
            self._channels[r.key] = DEFAULT_CHANNELS[r.key]
        elif r.kind == "event" and r.key in DEFAULT_EVENT_RATES:
            self._rates[r.key] = DEFAULT_EVENT_RATES[r.key]
        self._changed()

    def _changed(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))
        self.edited.emit()


# --- files --------------------------------------------------------------------------------------------------------

# --- the widget ---------------------------------------------------------------------------------------------------

class _Table(QTableView):
    """The table view: Delete clears the selected cells (a message inherits again, others take the default)."""

    cleared = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Delete) or event.key() == Qt.Key.Key_Backspace:
            if self.state() != QAbstractItemView.State.EditingState and self.selectionModel().hasSelection():
                self.cleared.emit()
                return
        super().keyPressEvent(event)


class BehaviourTable(QWidget):
    """The behaviour assumptions of a run: the table, Load… / Save… / Reset buttons and a one-line note."""

    changed = Signal()  # a figure changed

    def __init__(self, model: BehaviourModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = BehaviourTableModel(model, self)
        self.view = _Table(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        self.view.setAccessibleName("Behaviour assumptions")

        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Read behaviour figures from a YAML file (as written by Save… or by "
                                    "journey-studio behaviour --out)")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write these figures to a YAML file, to share or to use with journey-studio "
                                    "simulate --behaviour")
        self.reset_cells_button = QPushButton("Reset selected")
        self.reset_cells_button.setToolTip("Selected cells go back to the default (a message's cell to its "
                                           "channel's figure). Delete does the same.")
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Every figure back to the published defaults, no message overrides")
        self.summary = MutedLabel()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.hide()

        self.summary.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.load_button, self.save_button, self.reset_cells_button, self.reset_button):
            b.setAutoDefault(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)

        self.model.refused.connect(self._refused)
        self.model.edited.connect(self._edited)
        self.model.modelReset.connect(self._spans)
        self.model.modelReset.connect(self._size_name_column)
        self.view.cleared.connect(self.reset_selected)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)
        self.reset_cells_button.clicked.connect(self.reset_selected)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        self._spans()
        self._edited()
        self._size_columns()

    # --- API ------------------------------------------------------------------------------------------------
    def behaviour(self) -> BehaviourModel:
        """The behaviour model as edited."""
        return self.model.behaviour()

    def set_behaviour(self, model: BehaviourModel) -> None:
        """Show another behaviour model."""
        self.model.set_behaviour(model)

    def set_journey(self, journey: Journey | None) -> None:
        """Show override rows for this journey's message steps."""
        self.model.set_steps(message_steps(journey), journey.name if journey is not None else "")

    def refusal(self) -> str:
        """The line shown under the table about the last refused input or file ('' if none)."""
        return "" if self.note.isHidden() else self.note.text()

    def reset_to_defaults(self) -> None:
        """Every figure back to the defaults."""
        self.model.set_behaviour(BehaviourModel())

    def reset_selected(self) -> None:
        """The selected cells (or rows, when their name is selected) back to their default."""
        for index in self.view.selectionModel().selectedIndexes():
            if index.column() == NAME_COLUMN:
                self.model.reset_row(index.row())
            else:
                self.model.clear_cell(index.row(), index.column())

    def load_file(self, path: str | Path) -> bool:
        """Read a behaviour file; a file that cannot be used leaves the table as it was and says why."""
        try:
            model = read_behaviour_file(path)
        except ValueError as e:
            self._refused(str(e))
            return False
        self.model.set_behaviour(model)
        return True

    def save_file(self, path: str | Path) -> bool:
        """Write the figures to a behaviour file; says why when it cannot."""
        try:
            Path(path).write_text(behaviour_file_text(self.behaviour()), encoding="utf-8")
        except OSError as e:
            self._refused(f"{path}: cannot write the behaviour file: {e.strerror or e}")
            return False
        return True

    # --- reactions ------------------------------------------------------------------------------------------
    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load behaviour figures", "", "Behaviour files (*.yaml *.yml "
                                              "*.json);;All files (*)")
        if path:
            self.load_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save behaviour figures", "behaviour.yaml",
                                              "Behaviour files (*.yaml *.yml)")
        if path:
            self.save_file(path)

    def _refused(self, text: str) -> None:
        self._show_note(text)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setStyleSheet(f"color: {tone(self, ERROR_COLORS)}")
        self.note.setVisible(bool(text))

    def _edited(self) -> None:
        n = self.model.edited_count()
        self.summary.setText("Published defaults (sources in the last column)" if n == 0 else
                             f"{n} figure{'s' if n != 1 else ''} differ{'s' if n == 1 else ''} from the defaults "
                             "(bold)")
        self._show_note("")  # an edit went through: the last refusal no longer applies
        self.changed.emit()

    def _spans(self) -> None:
        self.view.clearSpans()
        for i, row in enumerate(self.model.rows()):
            if row.kind == "section":
                self.view.setSpan(i, 0, 1, len(COLUMNS))

    def _size_name_column(self) -> None:
        """Wide enough for the names of channels, messages and events (section titles span the row)."""
        metrics = self.view.fontMetrics()
        names = [r.label for r in self.model.rows() if r.kind != "section"]
        widest = max((metrics.horizontalAdvance(n) for n in names), default=100)
        self.view.setColumnWidth(NAME_COLUMN, min(max(widest + 24, 140), 320))

    def _size_columns(self) -> None:
        metrics = self.view.fontMetrics()
        self._size_name_column()
        for c, column in enumerate(COLUMNS):
            if column.field:
                title = max(metrics.horizontalAdvance(line) for line in column.title.splitlines())
                widest = "0.0005 % a day" if c == RATE_COLUMN else "99.02 %"
                self.view.setColumnWidth(c, max(title, metrics.horizontalAdvance(widest)) + 20)

__all__ = ["BehaviourTable", "BehaviourTableModel", "behaviour_file_text", "read_behaviour_file"]
