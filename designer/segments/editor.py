"""The segment editor: a segment's name, entity, kind and definition (query blocks, static members or a list),
with a live member count and a members table that pages through any number of contacts.

Counting and paging run in worker threads on their own read-only connections (designer.segments.jobs), after
a pause in typing; an answer about an older edit is dropped. Save is one command on the undo stack (a rename
and member changes included); Cancel discards. A read-only project is shown, never changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QComboBox, QDialogButtonBox, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QScrollArea, QSplitter,
                               QStackedWidget, QTableView, QVBoxLayout, QWidget)

from app.audience.members import list_name
from app.audience.query import Problem, validate_query, validate_segment
from app.model.command_base import Command, MacroCommand
from app.model.project_commands import PutSegment
from app.model.refs import rename_segment_command
from app.model.segment import SEGMENT_ENTITIES, SEGMENT_KINDS, Segment
from app.words import count
from designer.document import Document
from designer.panels.common import Dialog, ERROR_COLORS, FieldNote, MutedLabel, blocked, bold, combo_box, tone
from designer.segments.builder import QueryBuilder
from designer.segments.jobs import JobRunner
from designer.segments.member_commands import ChangeStaticMembers, MoveStaticMembers
from designer.segments.members_model import MembersModel
from designer.segments.rows import ProblemNote, QueryContext, mark, restyle, sentence
from designer.segments.sources import MemberSource, contact_total, count_members, list_names
from designer.segments.static_panel import StaticMembersPanel

COUNT_DELAY_MS = 300
KIND_TIPS = {"dynamic": "Members are the contacts a query finds, kept up to date",
             "static": "Members are the contacts you add, one by one",
             "subscription": "Members are the contacts on a subscription list"}
PAGES = {"dynamic": 0, "static": 1, "subscription": 2}
_COLUMN_WIDTHS = (160, 220, 140, 105, 85, 100)  # the last column (last purchase) takes the rest


class SegmentEditor(Dialog):
    """Create or edit one segment of the project, seeing who is in it while editing."""

    countShown = Signal(str)  # the count line, each time it changes (for tests and screen readers)

    def __init__(self, document: Document, segment: Segment | None = None, *, entity: str = "contacts",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document, self.original = document, segment
        self.project = document.project
        self.setWindowTitle(f"Segment — {segment.name}" if segment else "New segment")
        self.context = QueryContext(dict(self.project.settings.custom_attributes or {}), [])
        self.runner = JobRunner(document.file.path, self)
        self._count_ticket: int | None = None
        self._total: int | None = None
        self._last_count: int | None = None
        self._problems: list[Problem] = []
        self._closed = False
        self._build_form(segment, entity)
        self._build_pages(segment)
        self._build_members()
        self._build_buttons()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.pages)
        splitter.addWidget(self.members_box)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([430, 280])
        self.splitter = splitter
        lay = QVBoxLayout(self)
        lay.addWidget(self.readonly_banner)
        lay.addLayout(self.form)
        lay.addWidget(splitter, 1)
        lay.addLayout(self.bottom)
        self.resize(980, 780)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COUNT_DELAY_MS)
        self._timer.timeout.connect(self.refresh_members)
        self.builder.edited.connect(self._edited)
        self.static_panel.changed.connect(self._edited)
        self.list_combo.editTextChanged.connect(lambda _t: self._edited())
        self.kind.currentIndexChanged.connect(lambda _i: self._edited())
        self.entity.currentIndexChanged.connect(lambda _i: self._edited())
        self.name.textChanged.connect(lambda _t: self._check_name())
        self.runner.finished.connect(self._job_finished)
        self.runner.failed.connect(self._job_failed)
        self.members.pageLoaded.connect(lambda _n: self._show_table_status())
        self.members.failed.connect(lambda m: self.table_status.setText(f"Could not list the members: {m}"))
        document.message.connect(self._message)
        self.runner.submit("lists", list_names)
        self.runner.submit("total", contact_total)
        self._set_read_only(document.readonly)
        self._check_name()
        self._edited()
        self._timer.stop()
        self.refresh_members()  # the first count starts at once

    # --- building -----------------------------------------------------------------------------------------
    def _build_form(self, segment: Segment | None, entity: str) -> None:
        self.readonly_banner = QLabel()
        self.readonly_banner.setWordWrap(True)
        self.readonly_banner.hide()
        self.name = QLineEdit(segment.name if segment else "")
        self.name.setPlaceholderText("e.g. Contacts from Atlantis")
        self.name_note = FieldNote()
        self.kind = combo_box(10)
        for k in SEGMENT_KINDS:
            self.kind.addItem(k.capitalize(), k)
            self.kind.setItemData(self.kind.count() - 1, KIND_TIPS[k], Qt.ItemDataRole.ToolTipRole)
        self.kind.setCurrentIndex(max(0, self.kind.findData(segment.kind if segment else "dynamic")))
        self.entity = combo_box(8)
        for e in SEGMENT_ENTITIES:
            self.entity.addItem(e.capitalize(), e)
        self.entity.setCurrentIndex(max(0, self.entity.findData(segment.entity if segment else entity)))
        self.description = QLineEdit(segment.description if segment else "")
        self.description.setPlaceholderText("What the segment is for (optional)")
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        form.addWidget(QLabel("&Name:", buddy=self.name), 0, 0, right)
        form.addWidget(self.name, 0, 1)
        form.addWidget(QLabel("&Kind:", buddy=self.kind), 0, 2, right)
        form.addWidget(self.kind, 0, 3)
        form.addWidget(self.name_note, 1, 1, 1, 3)
        form.addWidget(QLabel("&Description:", buddy=self.description), 2, 0, right)
        form.addWidget(self.description, 2, 1)
        form.addWidget(QLabel("&Holds:", buddy=self.entity), 2, 2, right)
        form.addWidget(self.entity, 2, 3)
        form.setColumnStretch(1, 1)
        self.form = form

    def _build_pages(self, segment: Segment | None) -> None:
        self.pages = QStackedWidget()
        self.builder = QueryBuilder(self.context)
        if segment is None:
            self.builder.add_block(announce=False)
        elif segment.kind == "dynamic":
            self.builder.set_query(segment.query)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the blocks' fields, not their frame
        inner = QWidget()
        inner_lay = QVBoxLayout(inner)
        inner_lay.setContentsMargins(0, 0, 8, 0)
        inner_lay.addWidget(self.builder)
        scroll.setWidget(inner)
        self.scroll = scroll
        self.pages.addWidget(scroll)
        self.static_panel = StaticMembersPanel(self.runner)
        self.pages.addWidget(self.static_panel)
        sub = QWidget()
        self.list_combo = combo_box(16)
        self.list_combo.setEditable(True)
        self.list_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.list_combo.setAccessibleName("Subscription list")
        self.list_combo.setEditText(list_name(segment) if segment and segment.kind == "subscription"
                                    else (segment.name if segment else ""))
        self.list_note = ProblemNote()
        sub_lay = QVBoxLayout(sub)
        sub_lay.setContentsMargins(0, 0, 0, 0)
        intro = MutedLabel("Members are the contacts on a subscription list. Choose the list (or type its name).")
        intro.setWordWrap(True)
        sub_lay.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("&List:", buddy=self.list_combo))
        row.addWidget(self.list_combo, 1)
        sub_lay.addLayout(row)
        sub_lay.addWidget(self.list_note)
        sub_lay.addStretch(1)
        self.pages.addWidget(sub)

    def _build_members(self) -> None:
        self.members = MembersModel(self.runner, self)
        self.count_label = QLabel()
        self.count_label.setFont(bold(self.font(), 1.15))
        self.count_label.setAccessibleName("Member count")
        self.table_status = MutedLabel()
        self.table = QTableView()
        self.table.setModel(self.members)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setAccessibleName("Members")
        for column, width in enumerate(_COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.remove_members_button = QPushButton("Remove selected")
        self.remove_members_button.setToolTip("Take the selected contacts out of this static segment (when saved)")
        head = QHBoxLayout()
        head.addWidget(self.count_label)
        head.addStretch(1)
        head.addWidget(self.table_status)
        head.addWidget(self.remove_members_button)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.table, 1)
        self.members_box = box
        self.remove_members_button.clicked.connect(self.remove_selected_members)

    def _build_buttons(self) -> None:
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save_button.setToolTip("Save the segment (Ctrl+S)")
        save_button.setDefault(False)
        save_button.setAutoDefault(False)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self.buttons.rejected.connect(self.reject)
        self.bottom = QHBoxLayout()
        self.bottom.addWidget(self.status, 1)
        self.bottom.addWidget(self.buttons)

    def _set_read_only(self, readonly: bool) -> None:
        for w in (self.name, self.description, self.kind, self.entity, self.builder, self.static_panel,
                  self.list_combo, self.remove_members_button):
            w.setEnabled(not readonly)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setVisible(not readonly)
        if readonly:
            self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
            self.readonly_banner.setText(f"Read-only: {self.document.file.readonly_reason}. You can look at this "
                                         "segment and its members; use File > Save As to edit a copy.")
            self.readonly_banner.setStyleSheet(f"color: {tone(self, ERROR_COLORS)}")
        self.readonly_banner.setVisible(readonly)

    # --- the segment as edited ----------------------------------------------------------------------------
    def kind_value(self) -> str:
        """The kind chosen: dynamic, static or subscription."""
        return str(self.kind.currentData())

    def segment(self) -> Segment:
        """The segment as entered."""
        name = self.name.text().strip()
        entity, kind = self.entity.currentData(), self.kind_value()
        query: dict[str, Any] | None = None
        if kind == "dynamic":
            query = self.builder.build()[0]
        elif kind == "subscription":
            listed = self.list_combo.currentText().strip()
            query = {"list": listed} if listed and listed != name else None
        return Segment(name, entity, kind, self.description.text().strip(), query)  # type: ignore[arg-type]

    def problems(self) -> list[Problem]:
        """The problems of the definition as edited (the query's, or the list's)."""
        return list(self._problems)

    def name_problem(self) -> str | None:
        """Why the name cannot be saved (None when it can)."""
        name = self.name.text().strip()
        if not name:
            return "Give the segment a name."
        if name in self.project.segments and (self.original is None or name != self.original.name):
            return f"There is already a segment named '{name}'."
        return None

    def source(self) -> MemberSource | None:
        """Who to count and list now (None: nothing can be counted as it stands)."""
        segment = self.segment()
        if self._problems or (segment.kind == "dynamic" and segment.query is None):
            return None
        stored = self.original.name if self.original is not None else None
        return MemberSource.of(segment, self.context.custom, stored, frozenset(self.static_panel.added),
                               frozenset(self.static_panel.removed))

    # --- following edits ----------------------------------------------------------------------------------
    def _edited(self) -> None:
        """After any change to the definition: show its problems now, count again after a pause."""
        kind = self.kind_value()
        self.pages.setCurrentIndex(PAGES[kind])
        self.remove_members_button.setVisible(kind == "static")
        self._validate()
        self._timer.start()
        if self.source() is not None:
            self._show_count("Counting…")

    def _validate(self) -> None:
        segment = self.segment()
        self._problems = []
        if segment.kind == "dynamic":
            query, paths = self.builder.build()
            self._problems = validate_query(query, self.context.custom) if query is not None else []
            self.builder.show_problems(self._problems, paths)
        elif segment.kind == "subscription":
            self._problems = validate_segment(segment, self.context.custom)
            if not self.list_combo.currentText().strip():
                self._problems = [Problem(("list",), "no-list", "choose the subscription list",
                                          "Choose or type the list's name.")]
        self.list_note.show_messages([(sentence(p.message), p.fix) for p in self._problems
                                      if segment.kind == "subscription"])

    def refresh_members(self) -> None:
        """Count the members again and list them from the top (in workers); stale answers are dropped."""
        self._timer.stop()
        source = self.source()
        self.runner.cancel("count")
        self._count_ticket = None
        self._last_count = None  # until the new count arrives, a late total must not bring back the old one
        self.members.set_source(source)
        self._show_table_status()
        if source is not None:
            self._show_count("Counting…")
            self._count_ticket = self.runner.submit("count", count_members(source))
        elif self._problems:
            n = len(self._problems)
            what = "the problem" if n == 1 else f"the {n:,} problems"
            self._show_count(f"Fix {what} to count the members", error=True)
        else:
            self._show_count("No query yet")

    def _show_count(self, text: str, *, error: bool = False) -> None:
        restyle(self.count_label, f"color: {tone(self, ERROR_COLORS)}" if error else "")
        if self.count_label.text() != text:
            self.count_label.setText(text)
            self.countShown.emit(text)

    def _show_table_status(self) -> None:
        loaded = self.members.rowCount()
        if self.members.source is None:
            self.table_status.setText("")
        elif self.members.loading and not loaded:
            self.table_status.setText("Loading members…")
        elif self.members.complete:
            self.table_status.setText(f"Showing all {loaded:,}" if loaded else "")
        else:
            self.table_status.setText(f"Showing the first {loaded:,} — scroll for more")

    def _job_finished(self, channel: str, ticket: int, result: Any) -> None:
        if channel == "count" and ticket == self._count_ticket:
            self._count_ticket = None
            self._last_count = int(result)
            self._show_counted()
        elif channel == "lists":
            self.context.lists[:] = list(result)
            self.builder.refresh_lists()
            known = {self.list_combo.itemText(i) for i in range(self.list_combo.count())}
            with blocked(self.list_combo):  # offering more lists is no edit: no recount
                text = self.list_combo.currentText()
                self.list_combo.addItems([n for n in result if n not in known])
                self.list_combo.setEditText(text)
        elif channel == "total":
            self._total = int(result)
            if self._last_count is not None and self._count_ticket is None:
                self._show_counted()  # the total can arrive after the count: complete the line

    def _show_counted(self) -> None:
        n = self._last_count or 0
        total = f" of {self._total:,} contacts" if self._total else ""
        if self.entity.currentData() == "accounts":  # the accounts of the contacts found, with all their contacts
            self._show_count((f"{count(n, 'contact')} in the accounts found" if n else "No accounts found") + total)
        else:
            self._show_count((count(n, "member") if n else "No members") + total)

    def _job_failed(self, channel: str, ticket: int, message: str) -> None:
        if channel == "count" and ticket == self._count_ticket:
            self._count_ticket = None
            self._show_count(f"Could not count: {message}", error=True)

    def _message(self, text: str) -> None:
        self.status.setText(text)

    def _check_name(self) -> None:
        problem = self.name_problem()
        typed = bool(self.name.text().strip())
        self.name_note.set_input_error(problem if typed or self.original is not None else None)
        mark(self.name, problem is not None and (typed or self.original is not None))

    # --- static members -----------------------------------------------------------------------------------
    def remove_selected_members(self) -> None:
        """Stage the contacts selected in the members table for removal from this static segment."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        self.static_panel.remove(self.members.contact_id(r) for r in rows)

    # --- saving -------------------------------------------------------------------------------------------
    def confirm_save_with_problems(self, problems: list[Problem]) -> bool:
        """Ask whether to save a definition that has problems (tests replace this)."""
        first = problems[0].format()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        box = QMessageBox(QMessageBox.Icon.Warning, "Save segment",
                          f"The segment's definition has {count(len(problems), 'problem')}.", parent=self)
        box.setInformativeText(f"{sentence(first)}{more}\n\nThe check for errors reports it until it is fixed, and "
                               "its members cannot be counted or simulated.")
        save = box.addButton("Save Anyway", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep Editing", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is save

    def save_command(self) -> Command | None:
        """The one command that saves the edits (None when nothing changed)."""
        segment, pf, old = self.segment(), self.document.file, self.original
        added, removed = sorted(self.static_panel.added), sorted(self.static_panel.removed)
        static = segment.kind == "static"
        commands: list[Command] = []
        if old is None:
            commands.append(PutSegment(segment))
            if static:  # also sets aside rows a deleted segment of the same name left
                commands.append(ChangeStaticMembers(pf, segment.name, added, fresh=True))
        else:
            if segment.name != old.name:
                commands += [rename_segment_command(self.project, old.name, segment.name),
                             MoveStaticMembers(pf, old.name, segment.name)]
            if segment != replace(old, name=segment.name):
                commands.append(PutSegment(segment))
            if static and (added or removed):
                commands.append(ChangeStaticMembers(pf, segment.name, added, removed))
        if not commands:
            return None
        if len(commands) == 1:
            return commands[0]
        verb = f"Rename segment '{old.name}' to '{segment.name}'" if old and segment.name != old.name else \
            f"Save segment '{segment.name}'"
        return MacroCommand(verb, commands)

    def save(self) -> bool:
        """Save as one undoable command and close; False when the name is refused, the user keeps editing
        rather than save problems, or the project refuses the edit (the reason is shown)."""
        if self.document.readonly:
            return False
        self._check_name()
        problem = self.name_problem()
        if problem is not None:
            self.name_note.set_input_error(problem)
            mark(self.name, True)
            self.name.setFocus()
            return False
        self._validate()
        if self._problems and not self.confirm_save_with_problems(self._problems):
            return False
        command = self.save_command()
        if command is not None and not self.document.run(command):
            return False
        self.accept()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Return finishes what is typed (an attribute, a value, a search) and must not save the whole segment,
        # as a dialog's default button would; Ctrl+S or Ctrl+Return save.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not isinstance(self.focusWidget(),
                                                                                  QAbstractButton):
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.save()
            event.accept()
            return
        super().keyPressEvent(event)

    def done(self, result: int) -> None:
        """Close: stop the workers first (their connections go with them)."""
        self._finish()
        super().done(result)

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        try:
            self.document.message.disconnect(self._message)
        except (RuntimeError, TypeError):
            pass
        self.runner.shutdown()

    def closeEvent(self, event: Any) -> None:
        self._finish()
        super().closeEvent(event)


def open_segment_editor(document: Document, name: str | None = None, *, entity: str = "contacts",
                        parent: QWidget | None = None) -> SegmentEditor | None:
    """Open the editor (window-modal, without blocking) on a segment by name, or on a new segment."""
    segment = document.project.segments.get(name) if name is not None else None
    if name is not None and segment is None:
        return None
    editor = SegmentEditor(document, segment, entity=entity, parent=parent)
    editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    editor.open()
    return editor


__all__ = ["SegmentEditor", "open_segment_editor"]
