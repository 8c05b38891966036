"""The template gallery: the journeys shipped in resources/templates, with a preview; choosing one adds a copy
to the project (with the content and segments it needs) as one undoable command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (QDialogButtonBox, QFrame, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QSplitter, QVBoxLayout, QWidget)

from app.codec.plain import referenced_segments
from app.errors import JourneyStudioError
from app.model.command_base import Command, MacroCommand
from app.model.commands import AddJourney, PutContent, PutSegment
from app.model.content import Content
from app.model.journey import Journey
from app.model.layout import LAYER_GAP, layered_layout
from app.model.project import Project
from app.model.registry import REGISTRY
from app.model.segment import Segment
from app.words import count
from designer.icons import tile_icon, tile_pixmap
from designer.panels.common import Dialog, FieldNote, MutedLabel, bold

if TYPE_CHECKING:
    from designer.document import Document

PATH_ROLE = Qt.ItemDataRole.UserRole


class TemplateCommand(MacroCommand):
    """Adds a journey made from a template, with the content and segments the project lacks (one gesture)."""

    def __init__(self, text: str, commands: list[Command], journey: Journey) -> None:
        super().__init__(text, commands)
        self.journey = journey

    @property
    def journey_id(self) -> str:
        """The id of the journey the command adds."""
        return self.journey.id


def journey_from_template_command(project: Project, path: str | Path) -> TemplateCommand:
    """The command that adds a copy of the template at `path` to `project`: a unique name, a new id, a layout
    when the file has no positions, and the content and segments it uses that the project does not have yet
    (the project's own versions of existing ones are kept). Raises JourneyStudioError for an unreadable file."""
    from app.codec.yamlio import read_journey_file  # here: YAML loads when a template is read
    journey, contents, segments = read_journey_file(path)
    commands: list[Command] = [PutContent(c) for c in contents if c.name not in project.content]
    defined = {s.name for s in segments}
    commands += [PutSegment(s) for s in segments if s.name not in project.segments]
    commands += [PutSegment(Segment(name, entity=journey.target)) for name in referenced_segments(journey)
                 if name not in project.segments and name not in defined]
    copy = journey.clone(id=project.new_journey_id(), name=project.unique_journey_name(journey.name))
    if all(step.position is None for step in copy):
        for sid, pos in layered_layout(copy).items():
            copy.step(sid).position = pos  # not in the project yet: nobody listens
    commands.append(AddJourney(copy))
    return TemplateCommand(f"New journey from template '{journey.name}'", commands, copy)


class TemplatePreview(QWidget):
    """A small drawing of a journey: its tiles at their layered-layout places, linked."""

    TILE = 30.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.journey: Journey | None = None
        self.setMinimumSize(QSize(240, 120))

    def set_journey(self, journey: Journey | None) -> None:
        """Draw this journey (None: nothing)."""
        self.journey = journey
        if journey is not None:
            self.setToolTip(" → ".join(s.display_name for s in journey))
        self.update()

    def paintEvent(self, _event: Any) -> None:
        j = self.journey
        if j is None or not len(j):
            return
        positions = {sid: (p.x, p.y) for sid, p in layered_layout(j).items()}
        xs = [x for x, _ in positions.values()]
        ys = [y for _, y in positions.values()]
        span_x, span_y = max(xs) - min(xs) or 1.0, max(ys) - min(ys) or 1.0
        margin = self.TILE * 1.6  # room for a tile and the name under it
        scale = min((self.width() - 2 * margin) / span_x, (self.height() - 2 * margin) / span_y, 0.5)
        used_w, used_h = span_x * scale, span_y * scale
        ox = (self.width() - used_w) / 2 - min(xs) * scale
        oy = (self.height() - used_h) / 2 - min(ys) * scale

        def centre(sid: str) -> QPointF:
            x, y = positions[sid]
            return QPointF(ox + x * scale, oy + y * scale)

        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.palette().color(QPalette.ColorRole.Mid), 1.6)
        p.setPen(pen)
        half = self.TILE / 2
        for source, _port, target in j.links():
            if target not in positions:
                continue
            a, b = centre(source) + QPointF(half, 0), centre(target) - QPointF(half, 0)
            path = QPainterPath(a)
            mid = (a.x() + b.x()) / 2
            path.cubicTo(QPointF(mid, a.y()), QPointF(mid, b.y()), b)
            p.drawPath(path)
        ratio = self.devicePixelRatioF()
        font = self.font()
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        p.setFont(font)
        p.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        name_width = max(min(LAYER_GAP * scale - 8, 140.0), self.TILE * 2)
        metrics = p.fontMetrics()
        for step in j:
            if step.type in REGISTRY:
                c = centre(step.id)
                p.drawPixmap(QRectF(c.x() - half, c.y() - half, self.TILE, self.TILE).toRect(),
                             tile_pixmap(step.type, int(self.TILE), ratio))
                name = metrics.elidedText(step.display_name, Qt.TextElideMode.ElideRight, int(name_width))
                p.drawText(QRectF(c.x() - name_width / 2, c.y() + half + 2, name_width, metrics.height()),
                           Qt.AlignmentFlag.AlignHCenter, name)
        p.end()


class TemplateGallery(Dialog):
    """Pick a template to start a journey from; OK creates it in the document (`command()` gives what it runs)."""

    def __init__(self, document: Document, parent: QWidget | None = None,
                 paths: list[Path] | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.project = document.project
        self.journey_id: str | None = None  # the journey OK created
        self.setWindowTitle("New journey from template")
        self.resize(760, 460)
        self.templates: dict[str, tuple[Journey, list[Content], list[Segment]] | str] = {}
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search templates…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setIconSize(QSize(24, 24))
        self.list.setSpacing(2)
        self.list.setAccessibleName("Templates")
        from app.services import template_paths
        for path in paths if paths is not None else template_paths():
            self._add(path)
        self.title = QLabel()
        self.title.setFont(bold(self.font(), 1.2))
        self.title.setWordWrap(True)
        self.facts = MutedLabel()
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.preview = TemplatePreview()
        self.steps = MutedLabel()
        self.steps.setWordWrap(True)
        self.adds = MutedLabel()
        self.adds.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(12, 0, 0, 0)
        for w in (self.title, self.facts, self.description):
            rl.addWidget(w)
        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        fl = QVBoxLayout(frame)
        fl.addWidget(self.preview)
        rl.addWidget(frame, 1)
        rl.addWidget(self.steps)
        rl.addWidget(self.adds)
        self.error = FieldNote()
        rl.addWidget(self.error)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([260, 500])
        split.setChildrenCollapsible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create journey")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(split, 1)
        lay.addWidget(self.buttons)
        self.search.textChanged.connect(self.set_filter)
        self.list.currentItemChanged.connect(lambda _c, _p: self._show_current())
        self.list.itemActivated.connect(lambda _i: self.accept())
        self.search.returnPressed.connect(self.accept)
        if self.list.count():
            self.list.setCurrentRow(0)
        self._show_current()
        self.search.setFocus()

    def _add(self, path: Path) -> None:
        from app.codec.yamlio import read_journey_file
        try:
            data = read_journey_file(path)
        except JourneyStudioError as e:
            self.templates[str(path)] = str(e)
            item = QListWidgetItem(path.stem, self.list)
            item.setToolTip(f"This template cannot be read: {e}")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
        else:
            self.templates[str(path)] = data
            journey = data[0]
            item = QListWidgetItem(journey.name, self.list)
            first = next(iter(journey), None)
            if first is not None and first.type in REGISTRY:
                item.setIcon(tile_icon(first.type))
            item.setToolTip(journey.description)
        item.setData(PATH_ROLE, str(path))
        item.setSizeHint(QSize(0, 34))

    def set_filter(self, text: str) -> None:
        """Show the templates whose name, description or step types contain `text`."""
        needle = text.strip().lower()
        first_visible = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            data = self.templates[item.data(PATH_ROLE)]
            hay = item.text()
            if not isinstance(data, str):
                hay += " " + data[0].description + " " + " ".join(
                    REGISTRY[s.type].label for s in data[0] if s.type in REGISTRY)
            item.setHidden(bool(needle) and needle not in hay.lower())
            if not item.isHidden() and first_visible is None:
                first_visible = item
        current = self.list.currentItem()
        if current is None or current.isHidden():
            self.list.setCurrentItem(first_visible)
        self._show_current()

    def selected_path(self) -> Path | None:
        """The chosen template file (None when nothing readable is chosen)."""
        item = self.list.currentItem()
        if item is None or item.isHidden() or isinstance(self.templates.get(item.data(PATH_ROLE)), str):
            return None
        return Path(item.data(PATH_ROLE))

    def _show_current(self) -> None:
        path = self.selected_path()
        data = self.templates.get(str(path)) if path else None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(path is not None
                                                                          and not self.document.readonly)
        self.error.set_input_error("The project is open read-only: use File > Save As to edit a copy."
                                   if self.document.readonly else None)
        if data is None or isinstance(data, str):
            self.title.setText("No template matches" if self.search.text() else "")
            for label in (self.facts, self.description, self.steps, self.adds):
                label.setText("")
            self.preview.set_journey(None)
            return
        journey, contents, segments = data
        self.title.setText(journey.name)
        frequency = journey.frequency.kind.replace("-", " ")
        self.facts.setText(f"{journey.target.capitalize()} · {frequency} · {count(len(journey), 'tile')}")
        self.description.setText(journey.description)
        self.preview.set_journey(journey)
        self.steps.setText("Steps: " + " → ".join(s.display_name for s in journey))
        new_content = [c.name for c in contents if c.name not in self.project.content]
        new_segments = [s for s in referenced_segments(journey) if s not in self.project.segments]
        adds = []
        if new_content:
            adds.append(f"{len(new_content)} content item{'s' if len(new_content) != 1 else ''}")
        if new_segments:
            adds.append(f"{len(new_segments)} segment{'s' if len(new_segments) != 1 else ''}")
        self.adds.setText(f"Also adds {' and '.join(adds)} to the project." if adds
                          else "Uses content and segments the project already has.")

    def command(self) -> TemplateCommand | None:
        """The command that creates the chosen journey (None when nothing is chosen)."""
        path = self.selected_path()
        return journey_from_template_command(self.project, path) if path is not None else None

    def accept(self) -> None:
        """OK: add the chosen journey as one undoable command and make it current; a failure stays here."""
        try:
            command = self.command()
        except JourneyStudioError as e:
            self.error.set_input_error(f"This template cannot be used: {e}")
            return
        if command is None:
            return
        if not self.document.run(command):
            self.error.set_input_error("The journey could not be added (see the status bar).")
            return
        self.journey_id = command.journey_id
        self.document.set_current_journey(command.journey_id)
        super().accept()


def new_journey_from_template(document: Document, parent: QWidget | None = None) -> str | None:
    """Open the gallery; on OK the journey is added and made current. Returns its id (None: cancelled)."""
    gallery = TemplateGallery(document, parent)
    gallery.exec()
    return gallery.journey_id
