"""The review of a saved simulation run: what it is and what it assumed, whether it is outdated, the reviewer's
notes and approval, and a way to its report.

`RunReview` shows one run of the document's project file (`set_run`) and follows `Document.runsChanged` and the
journey changes that make a run outdated. The words about a run come from `app.store.runs.RunInfo`, as in the
project browser and the command line.
"""

from __future__ import annotations

import getpass
import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from app.model.journey import Change
from app.store.runs import RunInfo, describe_change
from designer.panels.common import (MUTED_COLORS, OK_COLORS, WARNING_COLORS, MutedLabel, bold, form_layout,
                                    hint_or_form, is_dark, tone)
from simulator.effect_text import FIGURE_LABELS, effect_rows, figure_rows, headline_parts, share

if TYPE_CHECKING:
    from designer.document import Document
    from simulator.runs import RunRecord

_FOLLOWED = {"journey-added", "journey-removed", "journey-changed"}
_BANNER_BACKGROUNDS = ("#fff4e0", "#3d2a00")  # (light, dark), under WARNING_COLORS text


class RunReview(QWidget):
    """A saved run for review: assumptions, an outdated warning, notes, approval and a report."""

    reportRequested = Signal(int)  # the run whose report to export
    NOTES_PLACEHOLDER = "What you checked, what to watch for, why it is (not) ready…"

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.run_id: int | None = None
        self.info: RunInfo | None = None
        self.engine_version = ""
        self.hint, scroll, self.stack = hint_or_form(
            self, "Choose a saved simulation run in the project browser to review it.")
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setAccessibleName("Outdated run")
        self.banner.hide()
        lay.addWidget(self.banner)
        self.readonly_note = MutedLabel()
        self.readonly_note.setWordWrap(True)
        self.readonly_note.hide()
        lay.addWidget(self.readonly_note)
        self.title = QLabel()
        self.title.setFont(bold(self.font(), 1.25))
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.title)
        self.subtitle = MutedLabel()
        self.subtitle.setWordWrap(True)
        lay.addWidget(self.subtitle)
        self.approval = QLabel()
        self.approval.setWordWrap(True)
        lay.addWidget(self.approval)

        # what the journey causes: the headline, then every event with and without the journey
        self.effect_heading = self._heading("Caused by the journey")
        lay.addWidget(self.effect_heading)
        self.effect = QLabel()
        self.effect.setWordWrap(True)
        self.effect.setAccessibleName("What the journey causes")
        self.effect.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.effect)
        self.effect_table = QLabel()
        self.effect_table.setTextFormat(Qt.TextFormat.RichText)
        self.effect_table.setWordWrap(True)
        self.effect_table.setAccessibleName("Effect per event")
        self.effect_table.setToolTip("Shares of the contacts who entered, from their entry until the run's cutoff; "
                                     "'without' is the same contacts in a paired run without the journey")
        lay.addWidget(self.effect_table)
        self.notes_line = QLabel()
        self.notes_line.setWordWrap(True)
        self.notes_line.setAccessibleName("How the run read the journey")
        self.notes_line.hide()
        lay.addWidget(self.notes_line)

        self.form = form_layout()
        self.values: dict[str, QLabel] = {}
        self.changes = QLabel()  # the behaviour figures that differ from the defaults, under "Behaviour"
        self.changes.setWordWrap(True)
        self.changes.setTextFormat(Qt.TextFormat.RichText)
        self.changes.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        for label in ("Population", "Seed", "Replicas", "Period", "Behaviour", "Goal reached", "Made", "Engine"):
            value = QLabel()
            value.setWordWrap(True)
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[label] = value
            if label == "Behaviour":
                field = QWidget()
                column = QVBoxLayout(field)
                column.setContentsMargins(0, 0, 0, 0)
                column.setSpacing(2)
                column.addWidget(value)
                column.addWidget(self.changes)
                self.form.addRow(f"{label}:", field)
            else:
                self.form.addRow(f"{label}:", value)
            caption = self.form.labelForField(field if label == "Behaviour" else value)
            if isinstance(caption, QLabel):  # level with the first line of a value that wraps
                caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        lay.addLayout(self.form)

        self.figures_heading = self._heading("Stated and realised figures")
        lay.addWidget(self.figures_heading)
        self.figures = QLabel()
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setWordWrap(True)
        self.figures.setAccessibleName("Stated and realised behaviour figures")
        self.figures.setToolTip("Stated: what the behaviour assumptions say, the population's average (each "
                                "contact's base is calibrated so). Realised: what this journey's recipients did "
                                "in the run; they differ when the audience is not an average slice.")
        lay.addWidget(self.figures)

        lay.addWidget(self._heading("Notes"))
        self.notes = QPlainTextEdit()
        self.notes.setAccessibleName("Review notes")
        self.notes.setPlaceholderText(self.NOTES_PLACEHOLDER)
        self.notes.setTabChangesFocus(True)
        self.notes.setMinimumHeight(90)
        self.notes.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.notes.textChanged.connect(self._update_buttons)
        lay.addWidget(self.notes)
        self.save_notes = QPushButton("Save notes")
        self.save_notes.clicked.connect(self.save)
        lay.addLayout(self._row(self.save_notes))

        lay.addWidget(self._heading("Approval"))
        approve_form = form_layout()
        self.reviewer = QLineEdit(self._user_name())
        self.reviewer.setAccessibleName("Reviewer")
        self.reviewer.setPlaceholderText("Your name")
        self.reviewer.textChanged.connect(self._update_buttons)
        approve_form.addRow("Reviewer:", self.reviewer)
        lay.addLayout(approve_form)
        self.approve_button = QPushButton("Approve")
        self.approve_button.setToolTip("Mark this run approved: the journey's package will show it")
        self.approve_button.clicked.connect(self.approve)
        self.withdraw_button = QPushButton("Withdraw approval")
        self.withdraw_button.clicked.connect(self.withdraw)
        lay.addLayout(self._row(self.approve_button, self.withdraw_button))

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        lay.addWidget(line)
        self.report_button = QPushButton("Export report…")
        self.report_button.clicked.connect(lambda: self.run_id is not None and self.reportRequested.emit(self.run_id))
        lay.addLayout(self._row(self.report_button))
        lay.addStretch(1)

        document.runsChanged.connect(self.refresh)
        document.changed.connect(self._on_change)
        self.set_run(None)

    # --- building -----------------------------------------------------------------------------------------
    def _heading(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setContentsMargins(0, 6, 0, 0)
        label.setFont(bold(self.font()))
        return label

    @staticmethod
    def _row(*buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        return row

    @staticmethod
    def _user_name() -> str:
        try:
            return getpass.getuser()
        except (OSError, KeyError, ImportError):  # no login name (some containers): the reviewer types it
            return ""

    # --- showing ------------------------------------------------------------------------------------------
    def set_run(self, run_id: int | None, record: RunRecord | None = None) -> None:
        """Show a saved run (None: the hint to choose one); pass its record if it is loaded already."""
        changed = run_id != self.run_id
        self.run_id = run_id
        if changed or record is not None:
            if run_id is not None and record is None:
                record = self.document.load_run(run_id)
            self.engine_version = record.engine_version if record is not None else ""
        self.refresh(reset_notes=changed)

    def refresh(self, reset_notes: bool = False) -> None:
        """Show the run's current state (notes being edited are kept unless `reset_notes`)."""
        info = self.document.run_info(self.run_id) if self.run_id is not None else None
        self.info = info
        if info is None:
            self.hint.setText("Choose a saved simulation run in the project browser to review it." if self.run_id
                              is None else f"Simulation run {self.run_id} is no longer in the project.")
            self.stack.setCurrentIndex(0)
            return
        self.stack.setCurrentIndex(1)
        self.banner.setText(f"\u26a0 {info.outdated_text}" if info.outdated else "")
        self.banner.setVisible(info.outdated)
        self._style_banner()
        self.title.setText(info.name)
        self.subtitle.setText(f"Run {info.id} of {info.journey_name}, version {info.journey_version}")
        self.approval.setText(("\u2714 " if info.approved else "") + info.approval_text)
        self.approval.setStyleSheet(f"color: {tone(self, OK_COLORS)}" if info.approved else "")
        self.approval.setFont(bold(self.font()) if info.approved else self.font())
        for label, value in info.assumptions():
            self.values[label].setText(value)
        self._show_effect(info.summary)
        self.values["Made"].setText(f"{info.created_at:%Y-%m-%d %H:%M} UTC")
        self.values["Engine"].setText(f"version {self.engine_version}" if self.engine_version else "unknown")
        self.changes.setText("<br>".join(f"\u2022 {html.escape(describe_change(*c))}" for c in info.behaviour_changes))
        self.changes.setVisible(bool(info.behaviour_changes))
        if reset_notes or not self.notes_edited():
            self.notes.setPlainText(info.notes)
        readonly = self.document.readonly
        self.notes.setReadOnly(readonly)
        self.notes.setPlaceholderText("No notes." if readonly else self.NOTES_PLACEHOLDER)
        self.reviewer.setReadOnly(readonly)
        self.readonly_note.setText(f"Read-only: {self.document.file.readonly_reason}. Notes and approval cannot be "
                                   "changed; use File > Save As to work on a copy." if readonly else "")
        self.readonly_note.setVisible(readonly)
        self._update_buttons()

    def _show_effect(self, summary: dict) -> None:  # type: ignore[type-arg]
        """The headline (what the journey causes), the effect per event, and stated against realised figures."""
        lead, detail = headline_parts(summary, prefix=False)
        self.effect.setTextFormat(Qt.TextFormat.RichText)
        self.effect.setText(f"<b>{html.escape(lead)}</b> {html.escape(detail)}" if summary.get("effect")
                            else html.escape(f"{lead} {detail}"))
        rows = effect_rows(summary)
        muted = tone(self, MUTED_COLORS)
        if rows:
            cells = "".join(
                f"<tr><td>{html.escape(label)}</td><td align='right'><b>{html.escape(inc.split(' (')[0])}</b>"
                f"</td><td align='right'>{html.escape(w)}</td><td align='right'>{html.escape(wo)}</td></tr>"
                for label, inc, w, wo, changed in rows if changed)
            same = [label for label, *_, changed in rows if not changed]
            table = ("<table cellspacing='0' cellpadding='3'><tr><th align='left'>event</th><th>caused</th>"
                     "<th>with</th><th>without</th></tr>" + cells + "</table>")
            if same:
                table += f"<span style='color:{muted}'>Not changed by the journey: {html.escape(', '.join(same))}"
                table += "</span>"
            self.effect_table.setText(table)
        self.effect_table.setVisible(bool(rows))
        notes = list(summary.get("notes") or [])
        errors = summary.get("allowed_errors") or []
        if errors:
            notes.insert(0, f"Simulated despite {len(errors)} error{'s' if len(errors) != 1 else ''} the check "
                            "for errors found.")
        self.notes_line.setText("\n".join(f"\u26a0 {n}" for n in notes))
        self.notes_line.setStyleSheet(f"color: {tone(self, WARNING_COLORS)}")
        self.notes_line.setVisible(bool(notes))
        lines = [f"<tr><td>{html.escape(channel)} {html.escape(FIGURE_LABELS.get(name, name))}</td>"
                 f"<td align='right'>{f['stated']:.2%}</td><td align='right'>{share(f['realised'])}</td>"
                 f"<td align='right' style='color:{muted}'>{f['average_contact']:.2%}</td></tr>"
                 for channel, name, f in figure_rows(summary)]
        self.figures.setText("<table cellspacing='0' cellpadding='3'><tr><th align='left'>figure</th><th>stated"
                             "</th><th>realised</th><th>base</th></tr>" + "".join(lines) + "</table>"
                             if lines else "")
        self.figures.setVisible(bool(lines))
        self.figures_heading.setVisible(bool(lines))

    def _style_banner(self) -> None:
        dark = is_dark(self.palette())
        back = _BANNER_BACKGROUNDS[1 if dark else 0]
        self.banner.setStyleSheet(f"QLabel {{ background: {back}; color: {tone(self, WARNING_COLORS)}; "
                                  f"border: 1px solid {tone(self, WARNING_COLORS)}; border-radius: 4px; "
                                  "padding: 6px; }")

    def notes_edited(self) -> bool:
        """Whether the notes editor holds text that is not saved."""
        return self.info is not None and self.notes.toPlainText().strip() != self.info.notes

    def _update_buttons(self) -> None:
        info, writable = self.info, not self.document.readonly
        self.save_notes.setEnabled(writable and self.notes_edited())
        self.approve_button.setEnabled(writable and info is not None and not info.approved
                                       and bool(self.reviewer.text().strip()))
        self.withdraw_button.setEnabled(writable and info is not None and info.approved)
        self.report_button.setEnabled(info is not None)

    def _on_change(self, change: Change) -> None:
        if self.info is not None and change.kind in _FOLLOWED and change.journey == self.info.journey_id:
            self.refresh()

    # --- actions ------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Save the notes being edited."""
        if self.run_id is not None and self.notes_edited() \
                and self.document.set_run_notes(self.run_id, self.notes.toPlainText()) is not None:
            self.refresh(reset_notes=True)  # as saved (blank space around the text dropped)

    def approve(self) -> None:
        """Approve the run in the reviewer's name (unsaved notes are saved with it)."""
        if self.run_id is None:
            return
        if self.notes_edited():
            self.save()
        self.document.approve_run(self.run_id, self.reviewer.text())

    def withdraw(self) -> None:
        """Take back the run's approval."""
        if self.run_id is not None:
            self.document.withdraw_approval(self.run_id)


__all__ = ["RunReview"]
