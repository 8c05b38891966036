"""The item model behind the behaviour table: its columns and rows, figures shown and typed as text, and
`BehaviourTableModel`, which edits a `simulator.behaviour.BehaviourModel` cell by cell (see behaviour_table.py
for what the table shows)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from app.model.journey import Journey
from app.model.registry import REGISTRY
from simulator.behaviour import (DEFAULT_CHANNELS, DEFAULT_EVENT_RATES, SOURCES, BehaviourModel, ChannelBehaviour)

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
