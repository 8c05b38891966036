"""Widgets and helpers the panels share: notes under fields, palette-aware colours, severity icons, and the
standard form and combo set-up."""

from __future__ import annotations

import html
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap, QShowEvent
from PySide6.QtWidgets import (QAbstractButton, QApplication, QComboBox, QDialog, QFormLayout, QFrame, QLabel,
                               QLineEdit, QScrollArea, QStackedWidget, QTabBar, QVBoxLayout, QWidget)

from app.validation.findings import Finding, Severity

ERROR_COLORS = ("#c62828", "#ff8a80")     # (on a light palette, on a dark palette)
WARNING_COLORS = ("#9a5b00", "#ffc46b")
OK_COLORS = ("#2e7d32", "#81c784")
MUTED_COLORS = ("#5f6368", "#9aa0a6")


def is_dark(palette: QPalette) -> bool:
    """True when the palette's window background is dark."""
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def tone(widget: QWidget, colors: tuple[str, str]) -> str:
    """The light- or dark-palette variant of a colour pair, for `widget`'s current palette."""
    return colors[1] if is_dark(widget.palette()) else colors[0]


def severity_colors(severity: Severity) -> tuple[str, str]:
    """The (light, dark) colour pair of a severity."""
    return ERROR_COLORS if severity is Severity.ERROR else WARNING_COLORS


def muted_color(widget: QWidget) -> QColor:
    """Text colour for secondary information: halfway between the text and the background."""
    return _mixed(widget.palette())


def _mixed(pal: QPalette) -> QColor:
    text, base = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
    return QColor((text.red() + base.red()) // 2, (text.green() + base.green()) // 2,
                  (text.blue() + base.blue()) // 2)


class MutedLabel(QLabel):
    """A label for secondary text, readable on light and dark palettes (follows palette changes)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._muting = False
        self._mute()

    def _mute(self) -> None:
        parent = self.parentWidget()
        source = parent.palette() if parent is not None else QApplication.palette(self)
        self._muting = True
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.WindowText, _mixed(source))
        self.setPalette(pal)
        self._muting = False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self._muting:
            self._mute()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ParentChange and not self._muting:
            self._mute()
        return super().event(event)


def bold(font: QFont, scale: float = 1.0) -> QFont:
    """A bold copy of a font, optionally scaled."""
    f = QFont(font)
    f.setBold(True)
    if scale != 1.0 and f.pointSizeF() > 0:
        f.setPointSizeF(f.pointSizeF() * scale)
    return f


@contextmanager
def blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of `objects` (programmatic updates must not look like user edits)."""
    old = [o.blockSignals(True) for o in objects]
    try:
        yield
    finally:
        for o, was in zip(objects, old):
            o.blockSignals(was)


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Give an input a red border (or take it away) to say its text was not accepted."""
    if invalid:
        cls = next(c.__name__ for c in type(widget).__mro__ if c.__module__.startswith("PySide6"))
        widget.setStyleSheet(f"{cls} {{ border: 1px solid {tone(widget, ERROR_COLORS)}; border-radius: 3px; "
                             "padding: 2px; }")
    else:
        widget.setStyleSheet("")
    widget.setProperty("invalid", invalid)


class _NoWheel(QObject):
    """Lets the scroll area have the wheel unless the input has focus (no accidental edits while scrolling)."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


_NO_WHEEL = _NoWheel()


def no_wheel(*widgets: QWidget) -> None:
    """Make spin boxes and combos ignore the mouse wheel until clicked or tabbed into."""
    for w in widgets:
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(_NO_WHEEL)


def combo_box(min_chars: int = 8) -> QComboBox:
    """A combo that fits narrow docks (long items are elided, not widening the panel) and ignores the wheel
    until focused."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min_chars)
    no_wheel(combo)
    return combo


def form_layout() -> QFormLayout:
    """A form with right-aligned labels and fields that take the width (the panels' standard look)."""
    form = QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    form.setVerticalSpacing(6)
    return form


# --- notes under fields ---------------------------------------------------------------------------------------

class FieldNote(QLabel):
    """The line under a field: an input that was refused, then the check's findings about that field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self._input_error: str | None = None
        self._hint: str | None = None
        self._findings: list[Finding] = []
        self.hide()

    @property
    def input_error(self) -> str | None:
        """Why the last input was refused, if it was."""
        return self._input_error

    def findings(self) -> list[Finding]:
        """The findings shown."""
        return list(self._findings)

    def set_input_error(self, text: str | None) -> None:
        """Say why the text typed was not accepted (None: it is fine now)."""
        self._input_error = text
        self._render()

    def set_hint(self, text: str | None) -> None:
        """A neutral remark (e.g. why an input was put back), shown until the next edit."""
        self._hint = text
        self._render()

    def set_findings(self, findings: Iterable[Finding]) -> None:
        """Show the check's findings about this field."""
        self._findings = list(findings)
        self._render()

    def plain_text(self) -> str:
        """The note as plain text (for tests and accessibility)."""
        parts = [self._input_error] if self._input_error else []
        parts += [self._hint] if self._hint else []
        parts += [f.message for f in self._findings]
        return "\n".join(parts)

    def _render(self) -> None:
        lines: list[str] = []
        if self._input_error:
            lines.append(self._line(tone(self, ERROR_COLORS), "\u2716", self._input_error))
        if self._hint:
            lines.append(f"<span style='color:{muted_color(self).name()}'>{html.escape(self._hint)}</span>")
        for f in self._findings:
            lines.append(self._line(tone(self, severity_colors(f.severity)),
                                    "\u2716" if f.is_error else "\u26a0", f.message))
        self.setText("<br>".join(lines))
        tips = [f"{f.message}\nFix: {f.fix}" for f in self._findings]
        self.setToolTip("\n\n".join(tips))
        self.setAccessibleDescription(self.plain_text())
        self.setVisible(bool(lines))

    @staticmethod
    def _line(color: str, mark: str, text: str) -> str:
        return f"<span style='color:{color}'>{mark} {html.escape(text)}</span>"

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._render()


# --- severity icons -------------------------------------------------------------------------------------------

def _badge(kind: str, size: int, ratio: float) -> QPixmap:
    pm = QPixmap(QSize(round(size * ratio), round(size * ratio)))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    pen = QPen(QColor("white"), s * 0.13, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    if kind == "warning":
        path = QPainterPath()
        path.moveTo(s / 2, s * 0.06)
        path.lineTo(s * 0.97, s * 0.92)
        path.lineTo(s * 0.03, s * 0.92)
        path.closeSubpath()
        p.fillPath(path, QColor("#f59e0b"))
        pen.setColor(QColor("#3b2600"))
        p.setPen(pen)
        p.drawLine(QPointF(s / 2, s * 0.38), QPointF(s / 2, s * 0.6))
        p.drawPoint(QPointF(s / 2, s * 0.77))
    else:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#d32f2f" if kind == "error" else "#2e7d32"))
        p.drawEllipse(QRectF(s * 0.04, s * 0.04, s * 0.92, s * 0.92))
        p.setPen(pen)
        if kind == "error":
            a, b = s * 0.33, s * 0.67
            p.drawLine(QPointF(a, a), QPointF(b, b))
            p.drawLine(QPointF(a, b), QPointF(b, a))
        else:
            path = QPainterPath()
            path.moveTo(s * 0.28, s * 0.52)
            path.lineTo(s * 0.44, s * 0.68)
            path.lineTo(s * 0.72, s * 0.36)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
    p.end()
    return pm


_ICONS: dict[str, QIcon] = {}


def status_icon(kind: str) -> QIcon:
    """A crisp icon for 'error', 'warning' or 'ok', at 1x to 3x."""
    if kind not in _ICONS:
        icon = QIcon()
        for size in (12, 16, 24):
            for ratio in (1.0, 2.0, 3.0):
                icon.addPixmap(_badge(kind, size, ratio))
        _ICONS[kind] = icon
    return _ICONS[kind]


def severity_icon(severity: Severity) -> QIcon:
    """The icon of a finding's severity."""
    return status_icon("error" if severity is Severity.ERROR else "warning")


def dot_icon(color: str, size: int = 12) -> QIcon:
    """A small filled circle, e.g. for a Ready / Draft status."""
    icon = QIcon()
    for ratio in (1.0, 2.0, 3.0):
        pm = QPixmap(QSize(round(size * ratio), round(size * ratio)))
        pm.setDevicePixelRatio(ratio)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(color))
        p.drawEllipse(QRectF(size * 0.2, size * 0.2, size * 0.6, size * 0.6))
        p.end()
        icon.addPixmap(pm)
    return icon


def counts_text(findings: Iterable[Finding]) -> str:
    """'2 errors, 1 warning', or 'No problems'."""
    found = list(findings)
    errors = sum(1 for f in found if f.is_error)
    warnings = len(found) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) or "No problems"


def combo_select_data(combo: QComboBox, data: Any) -> bool:
    """Select the item whose data is `data`; False when there is none."""
    for index in range(combo.count()):
        if combo.itemData(index) == data:
            combo.setCurrentIndex(index)
            return True
    return False


def field_with_note(editor: QWidget, note: FieldNote) -> QWidget:
    """A form field: the input and, under it, its note."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    lay.addWidget(editor)
    lay.addWidget(note)
    return box


def hint_or_form(owner: QWidget, hint: str) -> tuple[QLabel, QScrollArea, QStackedWidget]:
    """Lay `owner` out as a stack: a centred hint (page 0) or a form in a vertical scroll area (page 1)."""
    label = MutedLabel(hint)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    stack = QStackedWidget()
    stack.addWidget(label)
    stack.addWidget(scroll)
    lay = QVBoxLayout(owner)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(stack)
    return label, scroll, stack


def _label_text(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").strip().rstrip(":").strip()


def name_unnamed_controls(root: QWidget) -> None:
    """Give every control under `root` that takes the keyboard focus an accessible name, when it has none: its
    label's (a QLabel whose buddy it is), else its field's (the property editor or field it belongs to, with a
    button's own text after it), else its own text, placeholder or the first sentence of its tooltip. Screen
    readers say the name when the focus arrives, and the keyboard tests read it."""
    buddies = {id(label.buddy()): _label_text(label.text()) for label in root.findChildren(QLabel)
               if label.buddy() is not None and label.text()}
    for w in [root, *root.findChildren(QWidget)]:
        if w.accessibleName() or not (w.focusPolicy() & Qt.FocusPolicy.TabFocus) or w.focusProxy() is not None:
            continue
        name = buddies.get(id(w), "")
        owner = w.parentWidget()
        while not name and owner is not None and owner is not root.parentWidget():
            if owner.accessibleName():
                name = owner.accessibleName()
                if isinstance(w, QAbstractButton) and w.text():
                    name = f"{name}: {_label_text(w.text())}"
                break
            name = buddies.get(id(owner), "")
            owner = owner.parentWidget()
        if not name and isinstance(w, QAbstractButton):
            name = _label_text(w.text())
        if not name and isinstance(w, QTabBar):
            name = "Tabs: " + ", ".join(w.tabText(i) for i in range(w.count()))
        if not name and isinstance(w, QLineEdit):
            name = w.placeholderText().rstrip("…. ")
        if not name and w.toolTip():
            name = w.toolTip().split("\n")[0].split(". ")[0].split(" (")[0].split(":")[0].strip()
        if name:
            w.setAccessibleName(name)


class Dialog(QDialog):
    """Our dialogs: every control that takes the focus has an accessible name when it is shown and whenever Tab
    moves (rows a dialog adds later are named before the focus reaches them)."""

    def showEvent(self, event: QShowEvent) -> None:
        name_unnamed_controls(self)
        super().showEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: A002 - Qt's name
        name_unnamed_controls(self)
        return super().focusNextPrevChild(next)
