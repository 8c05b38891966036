"""Go live / Export package: whether the current journey may go live, and the package for the live runner.

The dialog shows what decides it (the check for errors, the content's Ready to send state, the approved
simulation run and what each means) and what the version is: the released version again when the draft is
unchanged, or the next one with what changed since the last (steps added, removed, changed; settings). It lets
the user pick the version (the draft, or a released one), the output file and an optional signing key (said
when the project's trusted keys would refuse the package), and makes the package with app.package. A refusal
is listed in the dialog; a package made shows its path and SHA-256.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialogButtonBox, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QStyledItemDelegate,
                               QStyleOptionViewItem, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.package.build import (NOT_READY, PackageResult, Readiness, assess, package_journey, run_line,
                               run_summary)
from app.package.errors import PackageRefused
from app.package.signing import SIGNING_KEY_ENV, load_private_key
from app.words import count
from designer.panels.common import (Dialog, FieldNote, MutedLabel, bold, field_with_note, form_layout, severity_icon,
                                    status_icon)
from designer.panels.content_dialog import status_text
from designer.panels.in_flight_box import InFlightBox

if TYPE_CHECKING:
    from designer.document import Document

PACKAGE_FILTER = "Journey packages (*.jpkg);;All files (*)"
KEY_FILTER = "Signing keys (*.pem *.key);;All files (*)"
DRAFT = -1  # the version combo's data for "freeze the current draft"


def default_package_name(journey_name: str, version: int) -> str:
    """A file name for a package: 'product-announcement-v3.jpkg'."""
    slug = re.sub(r"[^a-z0-9]+", "-", journey_name.lower()).strip("-") or "journey"
    return f"{slug}-v{version}.jpkg"


class _WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their text wrapped to the column's width (a tree view sizes rows for one line)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self._tree = tree

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        width = max(self._tree.header().sectionSize(index.column()) - 10, 60)
        text = str(index.data() or "")
        bounds = option.fontMetrics.boundingRect(QRect(0, 0, width, 1 << 16), Qt.TextFlag.TextWordWrap, text)
        return QSize(size.width(), max(size.height(), bounds.height() + 6))


class PackageDialog(Dialog):
    """Readiness of the current journey, and "Create package" for the live runner."""

    packaged = Signal(object)  # app.package.build.PackageResult

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.readiness: Readiness | None = None
        self.package_result: PackageResult | None = None  # the last package written
        self._default_out: str | None = None  # the output path proposed (replaced while the user keeps it)
        self.setWindowTitle("Go live / Export package")
        self.setMinimumWidth(640)
        self.icon = QLabel()
        self.verdict = QLabel()
        self.verdict.setFont(bold(self.font(), 1.15))
        self.verdict.setWordWrap(True)
        self.journey_label = MutedLabel()
        self.journey_label.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        head_text = QVBoxLayout()
        head_text.addWidget(self.verdict)
        head_text.addWidget(self.journey_label)
        head.addLayout(head_text, 1)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["What decides it", "What it means"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.tree.setWordWrap(True)  # long meanings wrap; rows grow to fit
        self.tree.setUniformRowHeights(False)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setItemDelegateForColumn(1, _WrappingDelegate(self.tree))
        self.tree.setIconSize(QSize(16, 16))
        self.tree.setAccessibleName("Readiness")
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().resizeSection(0, 320)
        self.tree.header().sectionResized.connect(lambda *_: self.tree.doItemsLayout())
        self.tree.header().setStretchLastSection(True)

        self.version = QComboBox()
        self.version.setToolTip("Packaging the draft freezes it as a release version; a released version is "
                                "packaged as it was frozen.")
        self.out_path = QLineEdit()
        self.out_path.setPlaceholderText("Where to write the package (.jpkg)")
        self.out_button = QPushButton("Browse…")
        self.key_path = QLineEdit(os.environ.get(SIGNING_KEY_ENV, ""))
        self.key_path.setPlaceholderText("Optional: an Ed25519 key from journey-studio keygen (else unsigned)")
        self.key_button = QPushButton("Browse…")
        self.key_note = FieldNote()
        form = form_layout()
        form.addRow("&Version:", self.version)
        form.addRow("&Package file:", self._with_button(self.out_path, self.out_button))
        form.addRow("&Signing key:", field_with_note(self._with_button(self.key_path, self.key_button),
                                                    self.key_note))

        self.outcome = QPlainTextEdit()
        self.outcome.setReadOnly(True)
        self.outcome.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.outcome.setAccessibleName("Outcome")
        self.outcome.setFixedHeight(self.outcome.fontMetrics().lineSpacing() * 8 + 14)
        self.outcome.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.create_button = self.buttons.addButton("&Create package", QDialogButtonBox.ButtonRole.ActionRole)
        self.create_button.setDefault(True)
        self.start_now_button = self.buttons.addButton("Start &now", QDialogButtonBox.ButtonRole.ActionRole)
        self.start_now_button.setToolTip("Set the journey's start to the next whole minute in its time zone "
                                         "(an edit of the draft, undoable)")
        self.start_now_button.clicked.connect(self.start_now)
        self.start_now_button.hide()
        self.buttons.rejected.connect(self.reject)
        self.create_button.clicked.connect(self.create_package)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.tree, 1)
        self.in_flight = InFlightBox()  # what this version does to the contacts in flight on the last one
        self.in_flight.changed.connect(self._update_button)
        lay.addWidget(self.in_flight)
        lay.addLayout(form)
        lay.addWidget(self.outcome)
        lay.addWidget(self.buttons)

        self.out_button.clicked.connect(self.choose_output)
        self.key_button.clicked.connect(self.choose_key)
        self.version.currentIndexChanged.connect(self.refresh)
        self.out_path.textChanged.connect(self._update_button)
        self.key_path.textChanged.connect(self._update_key_note)
        document.findingsChanged.connect(self._on_findings)
        document.currentJourneyChanged.connect(self._on_journey_changed)
        self._fill_versions()
        self.refresh()
        self._update_key_note()
        self.resize(760, 620)
        self._room_for_in_flight()

    @staticmethod
    def _with_button(edit: QLineEdit, button: QPushButton) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(button)
        return box

    # --- state ----------------------------------------------------------------------------------------------
    def selected_version(self) -> int | None:
        """The released version chosen, or None for "freeze the current draft"."""
        data = self.version.currentData()
        return None if data in (None, DRAFT) else int(data)

    def _fill_versions(self) -> None:
        journey = self.document.current_journey
        self.version.blockSignals(True)
        self.version.clear()
        if journey is not None:
            self.version.addItem(f"Freeze the current draft as version {journey.version}", DRAFT)
            for number, at in reversed(self.document.file.versions(journey.id)):
                self.version.addItem(f"Version {number}, released {at:%Y-%m-%d %H:%M} UTC", number)
            if self.document.readonly and self.version.count() > 1:
                self.version.setCurrentIndex(1)  # a read-only project cannot freeze the draft
        self.version.blockSignals(False)

    def refresh(self, _index: int = 0) -> None:
        """Judge the chosen version again and show what decides whether it may go live."""
        journey = self.document.current_journey
        self.tree.clear()
        if journey is None:
            self.readiness = None
            self._set_verdict("error", "No journey is open", "Open a journey to package it.")
            self._update_button()
            return
        try:
            self.readiness = r = assess(self.document.file, journey.id, self.selected_version())
        except JourneyStudioError as e:
            self.readiness = None
            self._set_verdict("error", "The journey cannot be judged", str(e))
            self._update_button()
            return
        what = f"version {r.version}" + (" (the current draft, frozen when packaged)" if r.freezes else "")
        if r.reuses:
            what += " (the current draft: unchanged since released)"
        if r.ready:
            self._set_verdict("ok", f"Ready to go live: {r.journey_name}, {what}",
                              "The package holds this version, its content and segments, the check's report"
                              + (" and the approved simulation run." if r.approved_run else "."))
        else:
            self._set_verdict("error", f"Not ready to go live: {r.journey_name}, {what}",
                              "Fix what is marked below; the package is refused until then.")
        self._add_version_row(r)
        self._add_check_rows(r)
        # a passed start of the draft: offer to start now (a released version is packaged as it was frozen)
        self.start_now_button.setVisible(self.selected_version() is None
                                         and any(f.code == "start-passed" for f in r.findings))
        self._add_content_rows(r)
        self._add_run_row(r)
        self._add_runner_row(r)
        if r.freezes or r.reuses:
            self._label_draft(r)
        self._set_in_flight(r)
        self.tree.expandAll()
        if not self.out_path.text().strip() or self._default_out in (None, self.out_path.text()):
            self._default_out = str(self.document.file.path.parent / default_package_name(r.journey_name,
                                                                                         r.version))
            self.out_path.setText(self._default_out)
        self._update_button()

    def _set_in_flight(self, r: Readiness) -> None:
        """The contacts in flight part: shown when the package makes a new version of a released journey."""
        if r.changes is None or r.reuses:
            self.in_flight.set_versions(None, None)
            return
        file = self.document.file
        old = file.read_version(r.journey_id, r.changes.old)[0]
        new = self.document.project.journey(r.journey_id) if r.freezes else file.read_version(r.journey_id,
                                                                                                 r.version)[0]
        showing = self.in_flight.isVisibleTo(self)
        self.in_flight.set_versions(old, new)
        if not showing:
            self._room_for_in_flight()

    def _room_for_in_flight(self) -> None:
        """Taller when the contacts in flight part shows, so that the readiness list keeps its room."""
        if self.in_flight.isVisibleTo(self) and self.height() < 800:
            screen = self.screen()
            room = screen.availableGeometry().height() - 60 if screen is not None else 820
            self.resize(self.width(), max(self.height(), min(820, room)))

    def _label_draft(self, r: Readiness) -> None:
        index = self.version.findData(DRAFT)
        journey = self.document.current_journey
        if index < 0 or journey is None:
            return
        text = (f"The current draft: unchanged, version {r.version} again" if r.reuses
                else f"Freeze the current draft as version {journey.version}")
        self.version.setItemText(index, text)

    def start_now(self) -> bool:
        """Move the draft's start to the next whole minute of its time zone (one undoable edit); judge again."""
        from dataclasses import replace

        from app.model.project_commands import UpdateJourney
        from app.validation.time_rules import start_now
        journey = self.document.current_journey
        if journey is None:
            return False
        schedule = journey.schedule
        start = start_now(schedule.timezone)
        end = schedule.end
        if end is not None and schedule.start is not None and end <= start:
            end = start + (end - schedule.start)  # keep the journey's length rather than end before it starts
        ok = bool(self.document.run(UpdateJourney(journey.id, schedule=replace(schedule, start=start, end=end))))
        self.refresh()
        return ok

    def _on_journey_changed(self, _journey_id: object = None) -> None:
        self._fill_versions()
        self.refresh()

    def _on_findings(self) -> None:
        if self.isVisible():  # an edit while the dialog is open: judge again
            self.refresh()

    def _set_verdict(self, kind: str, text: str, detail: str) -> None:
        self.icon.setPixmap(status_icon(kind).pixmap(QSize(24, 24), self.devicePixelRatioF()))
        self.verdict.setText(text)
        self.journey_label.setText(detail)

    def _row(self, parent: QTreeWidget | QTreeWidgetItem, kind: str | None, text: str, meaning: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text, meaning])
        if kind is not None:
            item.setIcon(0, status_icon(kind))
        item.setToolTip(0, text)
        item.setToolTip(1, meaning)
        if isinstance(parent, QTreeWidget):
            parent.addTopLevelItem(item)
            font = QFont(item.font(0))
            font.setBold(True)
            item.setFont(0, font)
        else:
            parent.addChild(item)
        return item

    def _add_version_row(self, r: Readiness) -> None:
        if r.reuses:
            self._row(self.tree, "ok", f"Version {r.version}: unchanged since it was released",
                      f"The draft is version {r.version} as released (the layout aside): packaging it again makes no "
                      "new version and keeps that version's approved simulation.")
            return
        if r.changes is None:
            return  # a first release: nothing to compare with
        changes = r.changes
        lines = changes.lines()
        counts = changes.headline().partition(": ")[2]
        top = self._row(self.tree, "ok", f"Version {r.version}: changed since version {changes.old}",
                        f"{counts[:1].upper()}{counts[1:]}. " + ("The package records what differs:" if lines
                                                                 else "Nothing that changes how it runs."))
        for line in lines[:200]:  # bounded: a journey of thousands of steps lists the first 200
            what, _, detail = line.partition(": ")
            self._row(top, None, what, detail or what)
        if len(lines) > 200:
            self._row(top, None, f"… and {len(lines) - 200} more", "")

    def _add_check_rows(self, r: Readiness) -> None:
        errors, warnings = r.errors, r.warnings
        if errors:
            top = self._row(self.tree, "error", f"Check for errors: {len(errors)} error{'s' * (len(errors) != 1)}",
                            "Errors stop the journey from going live: fix them (each is listed below with its fix).")
        else:
            top = self._row(self.tree, "ok", "Check for errors: no errors",
                            "Nothing in the journey stops it from going live.")
        for f in errors + warnings:
            where = f"step '{f.step}'" if f.step else "journey settings"
            if f.field:
                where += f" ({f.field.replace('_', ' ')})"
            child = self._row(top, None, where, f"{f.message} Fix: {f.fix}")
            child.setIcon(0, severity_icon(f.severity))
        if warnings:
            self._row(top, "warning", f"{len(warnings)} warning{'s' * (len(warnings) != 1)}",
                      "Warnings do not stop going live; they are kept in the package's report.")

    def _add_content_rows(self, r: Readiness) -> None:
        if not r.content:
            self._row(self.tree, "ok", "Content: the journey sends none", "There is no content to be ready.")
            return
        if r.not_ready:
            top = self._row(self.tree, "error", f"Content: {len(r.not_ready)} of {len(r.content)} not Ready to send",
                            f"To go live, {NOT_READY}: finish it and mark it Ready to send.")
        else:
            top = self._row(self.tree, "ok", f"Content: all {len(r.content)} Ready to send",
                            "Every email, text message and push notification may be sent.")
        for c in r.content:
            ready = c.status == "ready"
            self._row(top, "ok" if ready else "error", f"{c.name} ({c.kind})",
                      f"{status_text(c.status)}: " + ("may be sent." if ready else f"{NOT_READY}."))

    def _add_run_row(self, r: Readiness) -> None:
        if r.approved_run is None:
            self._row(self.tree, "warning", "Approved simulation: none",
                      f"Optional. No saved run of version {r.version} is approved, so the package carries no "
                      "simulated funnel to compare the live journey with.")
            return
        summary = run_summary(r.approved_run, r.run_matches)
        if r.run_matches is False:
            self._row(self.tree, "warning", f"Approved simulation: run {r.approved_run.id}",
                      run_line(summary) + ". The package carries it, marked as not matching this journey.")
        else:
            self._row(self.tree, "ok", f"Approved simulation: run {r.approved_run.id}",
                      run_line(summary) + ". Its funnel goes in the package, to compare with the live journey.")

    def _add_runner_row(self, r: Readiness) -> None:
        if r.errors:
            return  # the errors come first; the runner is asked once the journey is sound
        if r.runner_refusal is None:
            self._row(self.tree, "ok", "Live runner: can run it",
                      "journey-studio run executes this package on Temporal (see Simulate > Watch Live Runner).")
        else:
            self._row(self.tree, "warning", "Live runner: cannot run it yet",
                      f"Journey Studio's runner would refuse it: {r.runner_refusal}. The package can still be made "
                      "for another runner.")

    def _update_button(self, _text: str = "") -> None:
        r = self.readiness
        self.create_button.setEnabled(r is not None and r.ready and bool(self.out_path.text().strip())
                                      and not (r.freezes and self.document.readonly) and self.in_flight.ready())
        if r is not None and not r.ready:  # the list above says why; the button does not invite a refusal
            self.create_button.setToolTip("Not ready to go live: " + "; ".join(
                ([count(len(r.errors), "error") + " to fix"] if r.errors else [])
                + ([count(len(r.not_ready), "content item") + " to mark Ready to send"] if r.not_ready else [])))
        elif not self.in_flight.ready():
            self.create_button.setToolTip("Choose what happens to the contacts in flight on the released version "
                                          "(Contacts in flight, above).")
        elif r is not None and r.freezes and self.document.readonly:
            self.create_button.setToolTip(f"Read-only: {self.document.file.readonly_reason}; choose a released "
                                          "version to package it.")
        else:
            self.create_button.setToolTip("")

    def _trusted_signer(self, path: str) -> tuple[int, str | None]:
        """(how many keys the project trusts, the name of the key at `path` among them or None)."""
        from app.package.signing import key_id
        from app.package.trust import project_keyring
        try:
            ring = project_keyring(self.document.project)
            key = ring.by_id(key_id(load_private_key(path).public_key())) if path else None
        except JourneyStudioError:
            return 0, None
        return len(ring), key.name if key is not None else None

    def _update_key_note(self, _text: str = "") -> None:
        """Say what the project's trusted keys make of the package this key (or none) signs."""
        path = self.key_path.text().strip()
        trusted, name = self._trusted_signer(path)
        if not trusted:
            self.key_note.set_hint(None)
        elif name is not None:
            self.key_note.set_hint(f"Signed by '{name}', a key the project trusts.")
        else:
            self.key_note.set_hint(f"The project trusts {count(trusted, 'key')}; a package "
                                   + ("signed by this key" if path else "without a signature")
                                   + " is refused by verify, import-package and run unless --allow-unsigned.")

    # --- choosing files -------------------------------------------------------------------------------------
    def choose_output(self) -> None:
        """Ask where to write the package."""
        path, _ = QFileDialog.getSaveFileName(self, "Export package", self.out_path.text(), PACKAGE_FILTER)
        if path:
            if not Path(path).suffix:
                path += ".jpkg"
            self.out_path.setText(path)

    def choose_key(self) -> None:
        """Ask for the signing key file."""
        start = self.key_path.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Signing key", start, KEY_FILTER)
        if path:
            self.key_path.setText(path)

    # --- making the package ---------------------------------------------------------------------------------
    def outcome_text(self) -> str:
        """What the last attempt said (the refusal's reasons, or the package written)."""
        return self.outcome.toPlainText()

    def _show_outcome(self, kind: str, lines: list[str]) -> None:
        self.outcome.setPlainText("\n".join(dict.fromkeys(lines)))  # each reason once
        self.outcome.setProperty("kind", kind)
        self.outcome.show()

    def create_package(self) -> bool:
        """Make the package; show the refusal or the path and SHA-256 written. True when it was written."""
        journey = self.document.current_journey
        if journey is None or not self.out_path.text().strip():
            return False
        self.key_note.set_input_error(None)
        key = None
        if self.key_path.text().strip():
            try:
                key = load_private_key(self.key_path.text().strip())
            except JourneyStudioError as e:
                self.key_note.set_input_error(str(e))
                self._show_outcome("error", [f"Not written: {e}"])
                return False
        import getpass
        _, signer = self._trusted_signer(self.key_path.text().strip())
        try:
            result = package_journey(self.document.file, journey.id, self.out_path.text().strip(),
                                     version=self.selected_version(), signing_key=key, packaged_by=getpass.getuser(),
                                     signer_name=signer or "", in_flight=self.in_flight.choice())
        except PackageRefused as e:
            self._show_outcome("error", [f"Refused: {e}", *e.lines])
            self.refresh()
            return False
        except JourneyStudioError as e:
            self._show_outcome("error", [f"Not written: {e}"])
            return False
        self.package_result = result
        signed = f"Signed by {result.signed_by}" if result.signed_by else "Not signed"
        changes = result.changes.headline() if result.changes is not None and result.froze else None
        self._show_outcome("ok", [f"Wrote {result.path}",
                                  f"'{result.journey_name}' version {result.version}"
                                  + (" (frozen now; edits make the next version)" if result.froze else "")
                                  + (" (unchanged: the released version again, nothing frozen)" if result.reused
                                     else ""),
                                  *([changes] if changes else []),
                                  signed,
                                  f"SHA-256 {result.sha256}"])
        self.document.message.emit(f"Wrote package {result.path.name} (version {result.version})")
        chosen = result.version
        self._fill_versions()
        index = self.version.findData(chosen)
        self.version.setCurrentIndex(max(0, index))
        self.refresh()
        self.packaged.emit(result)
        return True


__all__ = ["PackageDialog", "default_package_name"]
