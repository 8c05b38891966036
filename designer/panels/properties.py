"""The properties panel: the selected step's type, name and one editor per property of its tile type, with the
check's findings under each field. Edits become commands; the panel follows the model to stay current."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.model.command_base import MacroCommand
from app.model.commands import RenameStep, SetProps
from app.model.journey import Change, Step
from app.model.registry import REGISTRY
from app.validation.findings import Finding
from designer.icons import tile_icon
from designer.panels.common import (FieldNote, MutedLabel, blocked, bold, field_with_note, form_layout,
                                    hint_or_form)
from designer.panels.inputs import finish_edit
from designer.panels.fields import FieldContext, PropEditor
from designer.panels.ref_fields import make_editor

if TYPE_CHECKING:
    from designer.document import Document

NAME_FIELD = "name"
HINT = "Select a tile to edit its properties"


class PropertiesPanel(QWidget):
    """Edits one step of a journey: call `show_step(journey_id, step_id)` when the canvas selection changes."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.journey_id: str | None = None
        self.step_id: str | None = None
        self.editors: dict[str, PropEditor] = {}
        self._pending_focus: tuple[str, str | None] | None = None
        self.hint, self.scroll, self.stack = hint_or_form(self, HINT)
        self.name_edit: QLineEdit | None = None
        self.name_note = FieldNote()
        self.general_note = FieldNote()
        document.changed.connect(self._on_change)
        document.findingsChanged.connect(self.refresh_findings)

    # --- public ---------------------------------------------------------------------------------------------
    @property
    def step(self) -> Step | None:
        """The step shown, if it still exists."""
        journey = self.document.project.find_journey(self.journey_id) if self.journey_id else None
        return journey.steps.get(self.step_id) if journey is not None and self.step_id else None

    def show_step(self, journey_id: str | None, step_id: str | None) -> None:
        """Show a step (None: nothing selected, the panel shows a hint)."""
        if (journey_id, step_id) == (self.journey_id, self.step_id) and self.stack.currentIndex() == 1:
            self._populate()
            return
        finish_edit(self)
        self.journey_id, self.step_id = journey_id, step_id
        step = self.step
        if step is None or step.type not in REGISTRY:
            self.journey_id = self.step_id = None
            self.editors = {}
            self.hint.setText(HINT if step is None else f"Tile type '{step.type}' is unknown: it cannot be edited "
                              "here.")
            self.stack.setCurrentIndex(0)
            return
        self._build(step.type)
        self._populate()
        self.refresh_findings()
        self.stack.setCurrentIndex(1)
        if self._pending_focus and self._pending_focus[0] == step_id:
            self.focus_field(self._pending_focus[1], step_id)

    def focus_field(self, field: str | None, step_id: str | None = None) -> None:
        """Put the keyboard focus on a field (a property name, or 'name') of the step shown, or of `step_id`
        (e.g. from the problems panel); when that step is shown later, the focus follows then."""
        if step_id is not None and step_id != self.step_id:
            self._pending_focus = (step_id, field)
            return
        self._pending_focus = None
        if self.stack.currentIndex() != 1:
            return  # nothing shown
        if field == NAME_FIELD or field is None or field not in self.editors:
            if self.name_edit is not None:
                self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        editor = self.editors[field]
        self.scroll.ensureWidgetVisible(editor)
        editor.focus_input()

    def editor(self, prop: str) -> PropEditor:
        """The editor of a property (for the main window and tests)."""
        return self.editors[prop]

    # --- building -------------------------------------------------------------------------------------------
    def _build(self, type_id: str) -> None:
        tile = REGISTRY[type_id]
        assert self.journey_id is not None and self.step_id is not None
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.setSpacing(8)
        outer.addLayout(self._header(type_id))
        self.general_note = FieldNote()
        outer.addWidget(self.general_note)
        form = form_layout()
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("The name the tile shows on the canvas (its id when it has none)")
        self.name_edit.setAccessibleName("Name")
        self.name_note = FieldNote()
        self.name_edit.editingFinished.connect(self._commit_name)
        self.name_edit.textEdited.connect(lambda _t: self.name_note.set_hint(None))
        form.addRow("&Name:", field_with_note(self.name_edit, self.name_note))
        ctx = FieldContext(self.document, self.journey_id, self.step_id)
        self.editors = {}
        self.form = form
        self.mode_combo: QComboBox | None = None
        if tile.modes:  # mutually exclusive settings as one choice: only the chosen one's fields are shown
            self.mode_combo = QComboBox()
            for mode in tile.modes:
                self.mode_combo.addItem(mode.label, mode.props)
            self.mode_combo.setAccessibleName(tile.mode_label)
            self.mode_combo.activated.connect(self._switch_mode)
            mode_label = QLabel(f"{tile.mode_label}:")
            mode_label.setBuddy(self.mode_combo)
            form.addRow(mode_label, self.mode_combo)
        for spec in tile.props:
            editor = make_editor(spec, ctx)
            editor.committed.connect(lambda value, before, name=spec.name: self._commit_prop(name, value, before))
            label = QLabel(f"{spec.label}:")
            label.setToolTip(spec.help or spec.label)
            label.setBuddy(editor.focus_widget())
            if spec.required:
                label.setFont(bold(label.font()))
                label.setToolTip((spec.help + "\n" if spec.help else "") + "Required")
            form.addRow(label, editor)
            self.editors[spec.name] = editor
        fields = QWidget()
        fields.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        if self.document.readonly:
            fields.setEnabled(False)
            self.general_note.set_hint("The project is open read-only: use File > Save As to edit a copy.")
        outer.addWidget(fields)
        outer.addStretch(1)
        old = self.scroll.takeWidget()
        if old is not None:
            old.setParent(self)  # deleted once the event loop is back: an editor of it may be mid-signal
            old.hide()
            old.deleteLater()
        self.scroll.setWidget(page)

    def _header(self, type_id: str) -> QVBoxLayout:
        tile = REGISTRY[type_id]
        icon = QLabel()
        icon.setPixmap(tile_icon(type_id).pixmap(QSize(32, 32), self.devicePixelRatioF()))
        icon.setFixedSize(36, 36)
        title = QLabel(tile.label)
        title.setFont(bold(self.font(), 1.15))
        self.id_label = MutedLabel(f"{self.step_id} · {tile.category}")
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.id_label.setToolTip("The step's id: links and journey files refer to it")
        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(title)
        names.addWidget(self.id_label)
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(names, 1)
        description = MutedLabel(tile.description)
        description.setWordWrap(True)
        box = QVBoxLayout()
        box.setSpacing(4)
        box.addLayout(top)
        box.addWidget(description)
        return box

    def _populate(self) -> None:
        step = self.step
        if step is None or self.name_edit is None:
            return
        if not (self.name_edit.hasFocus() and self.name_edit.text().strip() == step.name):
            self.name_edit.setText(step.name)
        self.name_edit.setPlaceholderText(step.id)
        for name, editor in self.editors.items():
            editor.set_value(step.props.get(name))
        self._show_mode()

    def _show_mode(self) -> None:
        """Show the fields of the step's mode only (a wait for a duration has no date field)."""
        step = self.step
        tile = REGISTRY.get(step.type) if step is not None else None
        if step is None or tile is None or not tile.modes or self.mode_combo is None:
            return
        index = tile.mode_of(step.props)
        moded = {p for mode in tile.modes for p in mode.props}
        chosen = getattr(self, "_chosen_mode", None)
        if chosen is not None and chosen[0] == step.id and not any(step.props.get(p) is not None for p in moded):
            index = chosen[1]  # chosen, nothing set yet: keep showing the chosen mode's fields
        with blocked(self.mode_combo):
            self.mode_combo.setCurrentIndex(index)
        self._show_mode_rows(tile, index)

    def _show_mode_rows(self, tile: Any, index: int) -> None:
        """Show the rows of mode `index`, hide the other modes' rows."""
        shown = set(tile.modes[index].props)
        moded = {p for mode in tile.modes for p in mode.props}
        for name, editor in self.editors.items():
            if name in moded:
                self.form.setRowVisible(editor, name in shown)

    def _switch_mode(self, index: int) -> None:
        """Another mode chosen: the other modes' settings are cleared (one undoable edit); its fields show."""
        step = self.step
        tile = REGISTRY.get(step.type) if step is not None else None
        if step is None or tile is None or self.journey_id is None:
            return
        keep = set(tile.modes[index].props)
        cleared = {p: None for mode in tile.modes for p in mode.props if p not in keep and step.props.get(p) is not None}
        if cleared:
            self.document.run(SetProps(self.journey_id, step.id, cleared))
        self._chosen_mode = (step.id, index)
        # with nothing to clear (a new tile), the model has no mode yet: show the chosen one's fields all the same
        self._show_mode_rows(tile, index)
        first = next((self.editors[p] for p in tile.modes[index].props if p in self.editors), None)
        if first is not None:
            first.focus_widget().setFocus(Qt.FocusReason.OtherFocusReason)

    # --- following the model --------------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        if self.journey_id is None:
            return
        detail = change.detail if isinstance(change.detail, tuple) else ()
        if change.kind == "journey-removed" and change.journey == self.journey_id:
            self.show_step(None, None)
        elif change.kind == "step-removed" and change.journey == self.journey_id and change.step == self.step_id:
            self.show_step(None, None)
        elif change.kind == "step-changed" and detail == ("position",):
            return  # canvas moves: nothing here shows positions
        elif change.journey == self.journey_id and change.step == self.step_id and change.kind == "step-changed":
            self._populate()
        elif change.journey in (None, self.journey_id):
            for editor in self.editors.values():  # other steps, content or segments: the lists may differ
                editor.refresh_choices()

    def refresh_findings(self) -> None:
        """Show the current findings about this step under their fields."""
        if self.journey_id is None or self.step_id is None:
            return
        by_field: dict[str | None, list[Finding]] = {}
        for f in self.document.findings(self.journey_id):
            if f.step == self.step_id:
                by_field.setdefault(f.field if f.field in self.editors or f.field == NAME_FIELD else None,
                                    []).append(f)
        for name, editor in self.editors.items():
            editor.set_findings(by_field.get(name, []))
        self.name_note.set_findings(by_field.get(NAME_FIELD, []))
        self.general_note.set_findings(by_field.get(None, []))

    # --- committing -----------------------------------------------------------------------------------------
    def _commit_prop(self, name: str, value: Any, before: list[Any]) -> None:
        editor = self.editors.get(name)
        step = editor.ctx.step if editor is not None else None
        if editor is None or step is None:
            return
        if step.props.get(name) == value and not before:
            return
        command: Any = SetProps(editor.ctx.journey_id, editor.ctx.step_id, {name: value})
        if before:
            command = MacroCommand(command.text, [*before, command])
        if not self.document.run(command):
            editor.set_value(step.props.get(name))  # refused (read-only file...): show the model again

    def _commit_name(self) -> None:
        step = self.step
        if step is None or self.name_edit is None:
            return
        text = self.name_edit.text().strip()
        if not text:
            self.name_edit.setText(step.name)
            if step.name:
                self.name_note.set_hint(f"A tile needs a name: kept “{step.name}”. Without one it would show "
                                        f"its id, “{step.id}”.")
            return
        self.name_note.set_hint(None)
        if text != step.name and not self.document.run(RenameStep(self.journey_id, step.id, text)):
            self.name_edit.setText(step.name)
