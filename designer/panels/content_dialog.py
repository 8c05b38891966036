"""A dialog to create or edit one piece of content (email, text message, push notification)."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialogButtonBox, QLineEdit, QPlainTextEdit, QVBoxLayout,
                               QWidget)

from app.model.content import CONTENT_KINDS, Content
from app.model.project import Project
from designer.icons import tile_icon
from designer.panels.common import Dialog, FieldNote, MutedLabel, field_with_note, form_layout, no_wheel, set_invalid

KIND_LABELS = {"email": "Email", "sms": "Text message", "push": "Push notification"}
STATUS_LABELS = {"draft": "Draft", "ready": "Ready to send"}
SMS_SEGMENT = 160
_LINK_MARK = re.compile(r"\[([A-Za-z0-9_.-]+)\]")


def status_text(status: str) -> str:
    """How a content status reads: 'Ready to send' or 'Draft'."""
    return STATUS_LABELS.get(status, status)


def _text_box(lines: int) -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(edit.fontMetrics().lineSpacing() * lines + 12)
    return edit


class ContentDialog(Dialog):
    """Name, kind, status and the fields of that kind; OK only while the name is set and free."""

    def __init__(self, project: Project, content: Content | None = None, *, kind: str = "email",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.original = content
        self.setWindowTitle("Edit content" if content else "New content")
        self.setMinimumWidth(460)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Spring sale email")
        self.name_note = FieldNote()
        self.kind = QComboBox()
        for k in CONTENT_KINDS:
            self.kind.addItem(tile_icon(k), KIND_LABELS[k], k)
        self.status = QComboBox()
        for s, label in STATUS_LABELS.items():
            self.status.addItem(label, s)
        self.status.setToolTip("Only content that is Ready to send can go live; drafts are flagged on export.")
        no_wheel(self.kind, self.status)
        # email
        self.subject = QLineEdit()
        self.subject.setPlaceholderText("e.g. {{first_name}}, meet the new X")
        self.sender = QLineEdit()
        self.sender.setPlaceholderText("news@example.com")
        self.sender_note = FieldNote()
        self.body = _text_box(6)
        self.links = QLineEdit()
        self.links.setPlaceholderText("product-details, shop")
        self.links.setToolTip("The names of the links in the email, separated by commas; write [name] in the "
                              "body where a link goes. An if/then can wait for a click on one of them.")
        self.links_note = FieldNote()
        # text message and push
        self.title = QLineEdit()
        self.text = _text_box(4)
        self.text_note = FieldNote()
        self.form = form = form_layout()
        form.addRow("&Name:", field_with_note(self.name, self.name_note))
        form.addRow("&Kind:", self.kind)
        form.addRow("&Status:", self.status)
        self.email_rows = [
            self._add_row("S&ubject:", self.subject),
            self._add_row("Se&nder:", field_with_note(self.sender, self.sender_note)),
            self._add_row("&Body:", self.body),
            self._add_row("&Links:", field_with_note(self.links, self.links_note)),
        ]
        self.title_row = self._add_row("&Title:", self.title)
        self.text_row = self._add_row("&Text:", field_with_note(self.text, self.text_note))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(MutedLabel("Personalize with tokens such as {{first_name}}."))
        lay.addWidget(self.buttons)
        self._load(content or Content("", kind if kind in CONTENT_KINDS else "email"))  # type: ignore[arg-type]
        if content is not None:
            self.kind.setEnabled(False)
            self.kind.setToolTip("The kind of existing content cannot change: steps of its channel send it.")
        self.name.textChanged.connect(self._check)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.sender.textChanged.connect(self._check)
        self.body.textChanged.connect(self._check)
        self.links.textChanged.connect(self._check)
        self.text.textChanged.connect(self._check)
        self._kind_changed()
        self.name.setFocus()

    def _add_row(self, label: str, field: QWidget) -> QWidget:
        self.form.addRow(label, field)
        return field

    def _load(self, c: Content) -> None:
        self.name.setText(c.name)
        self.kind.setCurrentIndex(max(0, self.kind.findData(c.kind)))
        self.status.setCurrentIndex(max(0, self.status.findData(c.status)))
        self.subject.setText(c.subject)
        self.sender.setText(c.sender)
        self.body.setPlainText(c.body)
        self.links.setText(", ".join(c.links))
        self.title.setText(c.title)
        self.text.setPlainText(c.text)

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        for row in self.email_rows:
            self.form.setRowVisible(row, kind == "email")
        self.form.setRowVisible(self.title_row, kind == "push")
        self.form.setRowVisible(self.text_row, kind != "email")
        self.adjustSize()
        self._check()

    def link_names(self) -> tuple[str, ...]:
        """The link names typed, each once."""
        return tuple(dict.fromkeys(n.strip() for n in self.links.text().split(",") if n.strip()))

    def content(self) -> Content:
        """The content as entered (only fields of its kind are kept)."""
        kind = self.kind.currentData()
        status = self.status.currentData()
        name = self.name.text().strip()
        if kind == "email":
            return Content(name, kind, status, subject=self.subject.text(), sender=self.sender.text().strip(),
                           body=self.body.toPlainText(), links=self.link_names())
        return Content(name, kind, status, text=self.text.toPlainText(),
                       title=self.title.text() if kind == "push" else "")

    def problem(self) -> str | None:
        """Why OK is not possible now (None when it is)."""
        name = self.name.text().strip()
        if not name:
            return "Give the content a name."
        if name in self.project.content and (self.original is None or name != self.original.name):
            return f"There is already content named '{name}'."
        return None

    def _check(self) -> None:
        problem = self.problem()
        self.name_note.set_input_error(problem if self.name.text().strip() or self.name.isModified() else None)
        set_invalid(self.name, problem is not None and bool(self.name.text().strip()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
        sender = self.sender.text().strip()
        self.sender_note.set_hint("This does not look like an email address." if sender and "@" not in sender
                                  else None)
        used = set(_LINK_MARK.findall(self.body.toPlainText()))
        missing = sorted(used - set(self.link_names()))
        self.links_note.set_hint(f"The body marks link(s) not listed here: {', '.join(missing)}." if missing
                                 else None)
        n = len(self.text.toPlainText())
        kind = self.kind.currentData()
        self.text_note.set_hint(f"{n} characters" + (f" ({-(-n // SMS_SEGMENT)} SMS)" if kind == "sms" and n
                                                      else ""))

    def accept(self) -> None:
        """Close with OK only when the name is valid."""
        if self.problem() is None:
            super().accept()
        else:
            self.name_note.set_input_error(self.problem())
            self.name.setFocus(Qt.FocusReason.OtherFocusReason)
