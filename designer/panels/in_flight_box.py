"""The Go live dialog's "Contacts in flight" part: what publishing this version does to the contacts still on the
last released one (app/package/in_flight.py), chosen per step and previewed with a live run's counts.

It shows when the package makes a new version of a journey released before. A default for all (move to the same
steps of the new version, or finish on theirs), one row per step of the released version that needs or may take a
choice (a step the new version removes, where contacts wait; any step contacts wait at now, once counts are
read), and the preview in words, with the counts per step from the run of that version (its state folder, or a
file of `journey-studio status --json`): "412 contacts wait at 'Wait 5 days', which version 4 removes: they will
move to 'SMS reminder'".
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.errors import JourneyStudioError
from app.model.journey import Journey
from app.package.in_flight import (FINISH, LEAVE, MOVE, InFlight, InFlightError, Plan, can_move, preview, resolve,
                                   totals, waiting_from_counts, waits_at, waits_for_message)
from app.words import count
from designer.panels.common import FieldNote, MutedLabel, muted_color, no_wheel

CHOOSE = ""        # a row's combo: nothing chosen yet
SAME = "\x00same"  # a row's combo: the default (the same step, or finish)
RUN_FILTER = "Status files (*.json);;All files (*)"


class InFlightBox(QGroupBox):
    """The choice for contacts in flight on the last released version, and its preview with live counts."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.old: Journey | None = None
        self.new: Journey | None = None
        self.waiting: dict[str, int] | None = None  # step of the old version -> contacts waiting (counts read)
        self.counts_from = ""
        self.problems: list[str] = []
        self.plan: Plan | None = None
        self.default = QComboBox()
        self.default.setAccessibleName("Contacts in flight")
        self.run_path = QLineEdit()
        self.run_path.setPlaceholderText("The live run of that version: its folder (NAME.jpkg.run) or a status "
                                         "--json file")
        self.browse = QPushButton("Browse…")
        self.read_button = QPushButton("&Read counts")
        self.run_note = FieldNote()
        self.steps = QTreeWidget()
        self.steps.setColumnCount(3)
        self.steps.setHeaderLabels(["Step of the released version", "Waiting now", "What happens to them"])
        self.steps.setRootIsDecorated(False)
        self.steps.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.steps.setAccessibleName("Contacts in flight per step")
        header = self.steps.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(True)
        self.summary = MutedLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.combos: dict[str, QComboBox] = {}
        self.runner_note = QLabel()  # how the live runner carries the plan out
        self.runner_note.setWordWrap(True)
        self.runner_note.hide()

        top = QHBoxLayout()
        label = QLabel("&What happens to them:")
        label.setBuddy(self.default)
        top.addWidget(label)
        top.addWidget(self.default, 1)
        run_row = QHBoxLayout()
        run_label = QLabel("&Live run:")
        run_label.setBuddy(self.run_path)
        run_label.setToolTip("The counts per step of the run of the released version, to preview whom each choice "
                             "concerns")
        run_row.addWidget(run_label)
        run_row.addWidget(self.run_path, 1)
        run_row.addWidget(self.browse)
        run_row.addWidget(self.read_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(run_row)
        lay.addWidget(self.run_note)
        lay.addWidget(self.steps)
        lay.addWidget(self.summary)
        lay.addWidget(self.runner_note)
        no_wheel(self.default)
        self.default.currentIndexChanged.connect(self._rebuild)
        self.browse.clicked.connect(self.choose_run)
        self.read_button.clicked.connect(self.read_counts)
        self.run_path.returnPressed.connect(self.read_counts)
        self.hide()

    # --- what it is about ---------------------------------------------------------------------------------
    def set_versions(self, old: Journey | None, new: Journey | None) -> None:
        """The released version whose contacts are in flight and the version being packaged (None: no box)."""
        same = (old is not None and new is not None and self.old is not None and self.new is not None
                and (old.id, old.version, new.version) == (self.old.id, self.old.version, self.new.version))
        self.old, self.new = old, new
        self.setVisible(old is not None and new is not None)
        if old is None or new is None:
            self.plan, self.problems = None, []
            return
        if not same:
            self.waiting, self.counts_from = None, ""
            self.run_note.set_hint(None)
            self.default.blockSignals(True)
            self.default.clear()
            self.default.addItem(f"Move them to the same steps of version {new.version}", MOVE)
            self.default.addItem(f"Let them finish on version {old.version}", FINISH)
            self.default.blockSignals(False)
            self.combos.clear()
        self.setTitle(f"Contacts in flight on version {old.version}")
        self._rebuild()

    def set_counts(self, counts: Mapping[str, Any], source: str) -> None:
        """The live counts of the run of the released version (status's figures)."""
        self.waiting = waiting_from_counts(counts)
        self.counts_from = source
        n = sum(self.waiting.values())
        self.run_note.set_hint(f"{count(n, 'contact')} in flight now, read from {source}.")
        self._rebuild()

    # --- the choice -----------------------------------------------------------------------------------------
    def choice(self) -> InFlight | None:
        """What the user chose (None when the box does not apply)."""
        if self.old is None or self.new is None:
            return None
        moves: dict[str, str] = {}
        leave: set[str] = set()
        finish: set[str] = set()
        default = str(self.default.currentData() or MOVE)
        for sid, combo in self.combos.items():
            data = combo.currentData()
            if data == LEAVE:
                leave.add(sid)
            elif data == FINISH:
                finish.add(sid)
            elif isinstance(data, str) and data not in (CHOOSE, SAME):
                moves[sid] = data
        return InFlight(self.old.version, default, moves, frozenset(leave), frozenset(finish))

    def ready(self) -> bool:
        """Whether the choice can be carried out (the package may be made)."""
        return self.old is None or self.new is None or not self.problems

    def _options(self, sid: str) -> list[tuple[str, str]]:
        """(label, data) of a row's combo."""
        assert self.old is not None and self.new is not None
        default = str(self.default.currentData() or MOVE)
        kept = sid in self.new.steps
        out: list[tuple[str, str]] = []
        events = waits_for_message(self.old.steps[sid])  # its events come to the old run: it finishes there
        if kept:
            out.append((f"Move to the same step of version {self.new.version}" if default == MOVE and not events
                        else f"Finish on version {self.old.version}", SAME))
        elif default == MOVE:
            out.append(("Choose…", CHOOSE))
        else:
            out.append((f"Finish on version {self.old.version}", SAME))
        if default == MOVE and not (kept and events):
            out.append((f"Finish on version {self.old.version}", FINISH))
        out.append(("Leave the journey", LEAVE))
        for tid, step in self.new.steps.items():
            if can_move(self.old, self.new, sid, tid) and not (kept and tid == sid and default == MOVE):
                out.append((f"Move to '{step.display_name}'", tid))
        return out

    def _rows(self) -> list[str]:
        """The steps of the released version shown: removed ones contacts wait at, and those with contacts now."""
        assert self.old is not None and self.new is not None
        waiting = self.waiting or {}
        return [sid for sid, step in self.old.steps.items()
                if waiting.get(sid, 0) > 0 or (sid not in self.new.steps and waits_at(step))]

    def _rebuild(self, _index: int = 0) -> None:
        if self.old is None or self.new is None:
            return
        old, new = self.old, self.new
        kept = {sid: c.currentData() for sid, c in self.combos.items()}
        self.steps.clear()
        self.combos = {}
        waiting = self.waiting or {}
        for sid in self._rows():
            step = old.steps[sid]
            removed = sid not in new.steps
            item = QTreeWidgetItem([f"{step.display_name}" + (f" (removed in version {new.version})" if removed
                                                                else ""),
                                    f"{waiting[sid]:,}" if self.waiting is not None else "–", ""])
            item.setToolTip(0, f"step '{sid}' of version {old.version}")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.steps.addTopLevelItem(item)
            combo = QComboBox()
            combo.setAccessibleName(f"What happens to contacts at {step.display_name}")
            for label, data in self._options(sid):
                combo.addItem(label, data)
            previous = kept.get(sid)
            if previous is not None and combo.findData(previous) >= 0:
                combo.setCurrentIndex(combo.findData(previous))
            no_wheel(combo)
            combo.currentIndexChanged.connect(self._update)
            self.steps.setItemWidget(item, 2, combo)
            self.combos[sid] = combo
        rows = max(1, self.steps.topLevelItemCount())
        row_h = max(self.steps.sizeHintForRow(0), self.fontMetrics().height() + 12)
        self.steps.setFixedHeight(self.steps.header().sizeHint().height() + row_h * min(rows, 4) + 6)
        self.steps.setVisible(bool(self.combos))
        self._update()

    def _update(self, _index: int = 0) -> None:
        """Resolve the choice; say what happens to whom, or what must still be chosen."""
        if self.old is None or self.new is None:
            return
        choice = self.choice()
        assert choice is not None
        try:
            self.plan = resolve(choice, self.old, self.new)
            self.problems = []
        except InFlightError as e:
            self.plan, self.problems = None, e.lines
        if self.problems:
            said = [p.split(": --move")[0] for p in self.problems[:6]]  # the options are the command line's
            self.summary.setText("Not ready: " + "; ".join(said) + " (in the table above).")
            self.summary.setToolTip("\n".join(self.problems))
        elif self.plan is not None and self.waiting is not None:
            lines = preview(self.plan, self.old, self.new, self.waiting)
            t = totals(lines)
            head = (f"Of {count(sum(t.values()), 'contact')} in flight: {t[MOVE]:,} move to version "
                    f"{self.new.version}, {t[FINISH]:,} finish on version {self.old.version}, {t[LEAVE]:,} leave.")
            self.summary.setText("\n".join([head, *(ln.text for ln in lines[:8])]
                                           + ([f"… and {len(lines) - 8} more steps"] if len(lines) > 8 else [])))
            self.summary.setToolTip("\n".join(ln.text for ln in lines))
        elif self.plan is not None:
            self.summary.setText(self.plan.summary()[:1].upper() + self.plan.summary()[1:] + ". Read the live "
                                 "run's counts to see how many contacts each step concerns.")
            self.summary.setToolTip("")
        note = self.plan.runner_note() if self.plan is not None else None
        color = muted_color(self).name()
        self.runner_note.setText(f"<span style='color:{color}'>{html.escape(note)}.</span>" if note else "")
        self.runner_note.setVisible(bool(note))
        self.changed.emit()

    # --- the live run ---------------------------------------------------------------------------------------
    def choose_run(self) -> None:
        """Ask for the run's status file (a run's folder can be typed or pasted)."""
        path, _ = QFileDialog.getOpenFileName(self, "Live run counts", self.run_path.text(), RUN_FILTER)
        if path:
            self.run_path.setText(path)
            self.read_counts()

    def read_counts(self) -> bool:
        """Read the counts of the run named in the field (RunnerError: said under it)."""
        from app.runner.in_flight_read import run_counts, run_version
        source = self.run_path.text().strip()
        if not source or self.old is None:
            return False
        try:
            counts = run_counts(source)
        except JourneyStudioError as e:
            self.run_note.set_input_error(str(e))
            return False
        found = run_version(counts)
        if found is None or found != (self.old.id, self.old.version):
            what = f"version {found[1]}" if found is not None and found[0] == self.old.id else "another journey"
            self.run_note.set_input_error(f"{source}: a run of {what}, not of version {self.old.version} of this "
                                          "journey")
            return False
        self.run_note.set_input_error(None)
        self.set_counts(counts, source)
        return True


__all__ = ["InFlightBox"]
