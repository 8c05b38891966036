"""The project browser: journeys, segments, content and simulation runs of the project, with their actions
(open, new, duplicate, rename, delete...). Every action is a command; the tree follows the model.

Saved simulation runs are listed with the current journey's first, newest first, each as "name — journey" and
its version ("v3", or "v3 (now v5)" once the journey has moved on), with a check when approved. Opening,
comparing and reporting are signals for the window; renaming and deleting go through the document (runs are
history: no undo).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QInputDialog, QLineEdit, QMenu, QMessageBox,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.model.commands import (DuplicateJourney, PutContent, RemoveContent, RemoveJourney, RemoveSegment,
                                UpdateJourney)
from app.model.content import CONTENT_KINDS, Content
from app.model.journey import Change, Journey
from app.store.runs import RunInfo
from designer.icons import app_icon, tile_icon
from designer.panels.common import WARNING_COLORS, blocked, bold, dot_icon, muted_color, status_icon, tone
from designer.panels.content_dialog import KIND_LABELS, ContentDialog, status_text
from app.model.refs import content_users, rename_content_command, rename_segment_command, segment_users
from app.words import count
from designer.panels.templates import new_journey_from_template

if TYPE_CHECKING:
    from designer.document import Document

KIND_ROLE = Qt.ItemDataRole.UserRole
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
GROUPS = (("journeys", "Journeys"), ("segments", "Segments"), ("content", "Content"), ("runs", "Simulation runs"))
_REFRESH_ON = {"journey-added", "journey-removed", "journey-changed", "step-added", "step-removed",
               "content-changed", "segment-changed"}


class ProjectBrowser(QWidget):
    """A tree of the project's journeys, segments, content and simulation runs."""

    journeyActivated = Signal(str)  # a journey was opened (it is already the document's current journey)
    runActivated = Signal(int)  # a saved run was opened: replay it
    compareRequested = Signal(int, int)  # two runs side by side: the one right-clicked first, or the older one
    reportRequested = Signal(int)  # a saved run whose report to export

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderHidden(True)
        self.tree.setAccessibleName("Project")
        # Several items can be selected only among runs (to compare two); see _limit_selection.
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.setExpandsOnDoubleClick(False)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setIndentation(14)
        self.tree.viewport().installEventFilter(self)  # a narrow panel gives the names the width (see fit_columns)
        self.groups: dict[str, QTreeWidgetItem] = {}
        for key, label in GROUPS:
            item = QTreeWidgetItem(self.tree, [label])
            item.setData(0, KIND_ROLE, "group")
            item.setData(0, KEY_ROLE, key)
            item.setFont(0, bold(self.font()))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.groups[key] = item
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tree)
        self.setFocusProxy(self.tree)
        delete = QAction("Delete", self)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        delete.triggered.connect(self._delete_current)
        self.addAction(delete)
        self.tree.itemActivated.connect(lambda item, _c: self.activate(item))
        self.tree.itemChanged.connect(self._renamed)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemSelectionChanged.connect(self._limit_selection)
        document.changed.connect(self._on_change)
        document.currentJourneyChanged.connect(self._mark_current)
        document.currentJourneyChanged.connect(self.refresh_runs)
        document.runsChanged.connect(self.refresh_runs)
        self.refresh()
        for item in self.groups.values():
            item.setExpanded(True)

    # --- showing ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the lists from the project (selection kept)."""
        project = self.document.project
        selected = self._key(self.tree.currentItem())
        runs = set(self.selected_runs())
        with blocked(self.tree):
            for group in self.groups.values():
                group.takeChildren()
            for j in project.journeys:
                self._child("journeys", "journey", j.id, j.name, self._journey_detail(j), app_icon(),
                            j.description or j.name, editable=True)
            for s in sorted(project.segments.values(), key=lambda s: s.name.lower()):
                self._child("segments", "segment", s.name, s.name, s.entity, dot_icon("#64748b", 16),
                            f"{s.kind.capitalize()} segment of {s.entity}" + (f"\n{s.description}"
                                                                               if s.description else ""),
                            editable=True)
            for c in sorted(project.content.values(), key=lambda c: c.name.lower()):
                self._child("content", "content", c.name, c.name, "Ready" if c.status == "ready" else "Draft",
                            tile_icon(c.kind), self._content_tip(c), editable=True)
            self._fill_runs()
            for key, group in self.groups.items():
                if key != "runs":
                    group.setText(1, str(group.childCount()))
                group.setForeground(1, muted_color(self.tree))
            self._mark_current()
            for group in self.groups.values():
                for i in range(group.childCount()):
                    if self._key(group.child(i)) == selected:
                        self.tree.setCurrentItem(group.child(i))
            self._select_runs(runs)
        self.fit_columns()

    def refresh_runs(self, _journey_id: object = None) -> None:
        """Rebuild the list of saved runs (selected runs stay selected; the current journey's come first)."""
        keep = set(self.selected_runs())
        current = self._key(self.tree.currentItem())
        with blocked(self.tree):
            self._fill_runs()
            group = self.groups["runs"]
            for i in range(group.childCount()):
                if self._key(group.child(i)) == current:
                    self.tree.setCurrentItem(group.child(i), 0, QItemSelectionModel.SelectionFlag.NoUpdate)
            self._select_runs(keep)
        self.fit_columns()

    def _select_runs(self, run_ids: set[int]) -> None:
        """Select these runs again after a rebuild (two selected runs are what "Compare selected" compares)."""
        group = self.groups["runs"]
        for i in range(group.childCount()):
            item = group.child(i)
            item.setSelected(item.data(0, KIND_ROLE) == "run" and item.data(0, KEY_ROLE) in run_ids)

    def _fill_runs(self) -> None:
        """The saved runs: the current journey's first, then by journey (project order), newest first."""
        group = self.groups["runs"]
        group.takeChildren()
        infos = self.document.runs()
        current = self.document.current_journey
        order = {j.id: n for n, j in enumerate(self.document.project.journeys)}
        infos.sort(key=lambda i: (current is None or i.journey_id != current.id, order.get(i.journey_id, len(order)),
                                  i.journey_name.lower(), -i.id))
        for info in infos:
            self._run_item(info)
        if not infos:
            hint = QTreeWidgetItem(group, ["No runs yet"])
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            hint.setToolTip(0, "Simulate a journey to see its runs here")
            hint.setForeground(0, muted_color(self.tree))
        group.setText(1, str(len(infos)))

    def _run_item(self, info: RunInfo) -> QTreeWidgetItem:
        """A run: "name — journey", its version (and the journey's now, if it moved on); a check when approved."""
        icon = status_icon("ok" if info.approved else "warning") if info.approved or info.outdated \
            else dot_icon("#64748b", 16)
        item = self._child("runs", "run", info.id, f"{info.name} — {info.journey_name}", info.version_tag, icon,
                           info.description(), editable=False)
        if info.outdated:
            item.setForeground(1, QColor(tone(self.tree, WARNING_COLORS)))
        marks = (["approved"] if info.approved else []) + ([info.outdated_text] if info.outdated else [])
        item.setData(0, Qt.ItemDataRole.AccessibleTextRole,
                     f"{info.name} — {info.journey_name} v{info.journey_version}" + "".join(f", {m}" for m in marks))
        item.setData(0, Qt.ItemDataRole.AccessibleDescriptionRole, info.description())
        return item

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(obj, event)

    def fit_columns(self) -> None:
        """Show the details column ('4 steps · v1') only when the names keep 160 px beside it."""
        fm = self.tree.fontMetrics()
        details = [group.child(i).text(1) for group in self.groups.values() for i in range(group.childCount())]
        needed = max((fm.horizontalAdvance(d) for d in details), default=0) + 16
        self.tree.setColumnHidden(1, self.tree.viewport().width() - needed < 160)

    def _child(self, group: str, kind: str, key: str | int, text: str, detail: str, icon: Any, tip: str,
               editable: bool) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.groups[group], [text, detail])
        item.setData(0, KIND_ROLE, kind)
        item.setData(0, KEY_ROLE, key)
        item.setIcon(0, icon)
        tip = tip if not detail or detail in tip else f"{tip}\n{detail}"  # the details column may be hidden
        item.setToolTip(0, tip)
        item.setToolTip(1, tip)
        item.setForeground(1, muted_color(self.tree))
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags)
        return item

    @staticmethod
    def _journey_detail(j: Journey) -> str:
        return f"{len(j)} step{'s' if len(j) != 1 else ''} · v{j.version}"

    @staticmethod
    def _content_tip(c: Content) -> str:
        text = c.subject if c.kind == "email" else c.text
        return f"{KIND_LABELS.get(c.kind, c.kind)}, {status_text(c.status)}" + (f"\n{text}" if text else "")

    def _mark_current(self, _journey_id: object = None) -> None:
        current = self.document.current_journey
        group = self.groups["journeys"]
        with blocked(self.tree):
            for i in range(group.childCount()):
                item = group.child(i)
                is_current = current is not None and item.data(0, KEY_ROLE) == current.id
                font = item.font(0)
                font.setBold(is_current)
                item.setFont(0, font)

    def item(self, kind: str, key: str | int) -> QTreeWidgetItem | None:
        """The tree item of a journey (by id), segment or content (by name), or saved run (by id)."""
        group = self.groups[{"journey": "journeys", "segment": "segments", "run": "runs"}.get(kind, "content")]
        for i in range(group.childCount()):
            if group.child(i).data(0, KEY_ROLE) == key:
                return group.child(i)
        return None

    def names(self, group: str) -> list[str]:
        """The texts listed under a group (for tests and accessibility checks)."""
        g = self.groups[group]
        return [g.child(i).text(0) for i in range(g.childCount())]

    def selected_runs(self) -> list[int]:
        """The ids of the selected runs, oldest first."""
        return sorted(i.data(0, KEY_ROLE) for i in self.tree.selectedItems() if i.data(0, KIND_ROLE) == "run")

    def _limit_selection(self) -> None:
        """Keep a selection of several items to runs only: anything else is acted on one at a time."""
        items = self.tree.selectedItems()
        if len(items) > 1 and any(i.data(0, KIND_ROLE) != "run" for i in items):
            current = self.tree.currentItem()
            for i in items:
                if i is not current:
                    i.setSelected(False)

    @staticmethod
    def _key(item: QTreeWidgetItem | None) -> tuple[str, Any] | None:
        if item is None or item.data(0, KIND_ROLE) is None:
            return None
        return item.data(0, KIND_ROLE), item.data(0, KEY_ROLE)

    def _on_change(self, change: Change) -> None:
        if change.kind in ("step-added", "step-removed"):
            item = self.item("journey", change.journey or "")
            journey = self.document.project.find_journey(change.journey or "")
            if item is not None and journey is not None:
                with blocked(self.tree):
                    item.setText(1, self._journey_detail(journey))
        elif change.kind in _REFRESH_ON:
            self.refresh()

    # --- actions ------------------------------------------------------------------------------------------
    def activate(self, item: QTreeWidgetItem) -> None:
        """Open what an item stands for: a journey becomes current; content and segments open their dialog."""
        kind, key = item.data(0, KIND_ROLE), item.data(0, KEY_ROLE)
        if kind == "journey":
            self.document.set_current_journey(key)
            self.journeyActivated.emit(key)
        elif kind == "content":
            self.edit_content(key)
        elif kind == "segment":
            self.edit_segment(key)
        elif kind == "run":
            self.runActivated.emit(int(key))
        elif kind == "group":
            item.setExpanded(not item.isExpanded())

    def ask_text(self, title: str, label: str, text: str) -> str | None:
        """Ask for a line of text (tests replace this); None when cancelled."""
        answer, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Normal, text)
        return answer if ok else None

    def confirm(self, question: str) -> bool:
        """Ask before deleting (tests replace this)."""
        answer = QMessageBox.question(self, "Delete", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def new_journey(self) -> None:
        """Add an empty journey with a free name and open it."""
        self.document.new_blank_journey()

    def new_from_template(self) -> None:
        """Open the template gallery; the journey made from the chosen template becomes current."""
        new_journey_from_template(self.document, self)

    def duplicate_journey(self, journey_id: str) -> None:
        """Add a copy of a journey right after it and open the copy."""
        command = DuplicateJourney(journey_id)
        if self.document.run(command) and command.copy is not None:
            self.document.set_current_journey(command.copy.id)

    def delete_journey(self, journey_id: str) -> None:
        """Delete a journey after asking; another journey becomes current if it was."""
        journey = self.document.project.find_journey(journey_id)
        if journey is None or not self.confirm(f"Delete the journey “{journey.name}” ({count(len(journey), 'tile')})?\n"
                                               "You can undo this."):
            return
        if self.document.run(RemoveJourney(journey_id)) and self.document.current_journey is None:
            remaining = self.document.project.journeys
            self.document.set_current_journey(remaining[0].id if remaining else None)

    def new_content(self, kind: str = "email") -> None:
        """Create content of a kind in the content dialog."""
        dialog = ContentDialog(self.document.project, kind=kind, parent=self)
        if dialog.exec():
            self.document.run(PutContent(dialog.content()))

    def edit_content(self, name: str) -> None:
        """Edit content in the content dialog (a new name is followed by the steps that send it)."""
        old = self.document.project.content.get(name)
        if old is None:
            return
        dialog = ContentDialog(self.document.project, old, parent=self)
        if dialog.exec() and dialog.content() != old:
            self.document.run(rename_content_command(self.document.project, name, dialog.content()))

    def set_content_status(self, name: str, status: str) -> None:
        """Mark content 'ready' (Ready to send) or 'draft'."""
        old = self.document.project.content.get(name)
        if old is not None and old.status != status:
            self.document.run(PutContent(replace(old, status=status)))

    def delete_content(self, name: str) -> None:
        """Delete content after asking (saying how many steps send it)."""
        users = content_users(self.document.project, name)
        used = (f"\n{len(users)} step{'s' if len(users) != 1 else ''} send{'s' if len(users) == 1 else ''} it "
                "and will need other content.") if users else ""
        if self.confirm(f"Delete the content “{name}”?{used}\nYou can undo this."):
            self.document.run(RemoveContent(name))

    def new_segment(self) -> Any:
        """Create a segment in the segment editor (of the current journey's target by default)."""
        from designer.segments import open_segment_editor  # here: designer.segments uses these panels
        journey = self.document.current_journey
        return open_segment_editor(self.document, entity=journey.target if journey else "contacts", parent=self)

    def edit_segment(self, name: str) -> Any:
        """Edit a segment in the segment editor: its definition, with a live member count and its members."""
        from designer.segments import open_segment_editor
        return open_segment_editor(self.document, name, parent=self)

    def delete_segment(self, name: str) -> None:
        """Delete a segment after asking (saying which journeys use it)."""
        users = segment_users(self.document.project, name)
        used = f"\nUsed by: {', '.join(users)}." if users else ""
        if self.confirm(f"Delete the segment “{name}”?{used}\nYou can undo this."):
            self.document.run(RemoveSegment(name))

    def rename_run(self, run_id: int) -> bool:
        """Ask for a run's new name and rename it; False when cancelled or refused."""
        info = self.document.run_info(run_id)
        if info is None:
            return False
        name = self.ask_text("Rename run", f"New name of run {run_id} ({info.journey_name} v{info.journey_version}):",
                             info.name)
        if name is None or name.strip() == info.name:
            return False
        return self.document.rename_run(run_id, name) is not None

    def delete_run(self, run_id: int) -> bool:
        """Delete a saved run after asking (it cannot be undone); False when cancelled or refused."""
        info = self.document.run_info(run_id)
        if info is None:
            return False
        approved = ("\nIt is approved: the journey's package will no longer show it." if info.approved else "")
        if not self.confirm(f"Delete the simulation run “{info.name}” of {info.journey_name} "
                            f"(version {info.journey_version})?{approved}\nThis cannot be undone."):
            return False
        return self.document.delete_run(run_id)

    def rename(self, kind: str, key: str, new_name: str) -> bool:
        """Rename a journey, segment or content (references follow); False when refused."""
        project = self.document.project
        new_name = new_name.strip()
        if kind == "journey":
            journey = project.find_journey(key)
            if journey is None or new_name == journey.name:
                return journey is not None
            if not new_name or any(j.name == new_name for j in project.journeys):
                self.document.message.emit("A journey needs a name that no other journey has.")
                return False
            return self.document.run(UpdateJourney(key, name=new_name))
        taken = project.segments if kind == "segment" else project.content
        if new_name == key:
            return True
        if not new_name or new_name in taken:
            self.document.message.emit(f"A {kind} needs a name that no other {kind} has.")
            return False
        if kind == "segment":  # a static segment's stored members follow its name
            from designer.segments.member_commands import with_members_moved
            return self.document.run(with_members_moved(self.document.file,
                                                        rename_segment_command(project, key, new_name),
                                                        key, new_name))
        return self.document.run(rename_content_command(project, key, replace(project.content[key],
                                                                              name=new_name)))

    def _renamed(self, item: QTreeWidgetItem, column: int) -> None:
        kind, key = item.data(0, KIND_ROLE), item.data(0, KEY_ROLE)
        if column != 0 or kind not in ("journey", "segment", "content"):
            return
        text = item.text(0)
        # After the editor has finished with the item: the rename rebuilds the tree, which deletes the item.
        QTimer.singleShot(0, self, lambda: self.rename(kind, key, text) or self.refresh())

    def _delete_current(self) -> None:
        item = self.tree.currentItem()
        kind, key = (item.data(0, KIND_ROLE), item.data(0, KEY_ROLE)) if item is not None else (None, None)
        actions: dict[str, Callable[[Any], Any]] = {"journey": self.delete_journey, "segment": self.delete_segment,
                                                    "content": self.delete_content, "run": self.delete_run}
        if kind in actions and not (kind == "run" and self.document.readonly):
            actions[kind](key)

    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu:
        """The menu for an item (or empty space): what can be done with it."""
        menu = QMenu(self)
        kind = item.data(0, KIND_ROLE) if item is not None else None
        key = item.data(0, KEY_ROLE) if item is not None else None
        if kind == "run" or (kind == "group" and key == "runs"):
            self._run_menu(menu, key if kind == "run" else None)
            return menu
        if kind == "journey":
            menu.addAction("Open", lambda: self.activate(item))
            menu.addSeparator()
            menu.addAction("New from template…", self.new_from_template)
            menu.addAction("Duplicate", lambda: self.duplicate_journey(key))
            menu.addAction("Rename", lambda: self.tree.editItem(item, 0))
            menu.addAction("Delete…", lambda: self.delete_journey(key))
        elif kind == "content":
            content = self.document.project.content.get(key)
            menu.addAction("Edit…", lambda: self.edit_content(key))
            menu.addAction("Rename", lambda: self.tree.editItem(item, 0))
            ready = content is not None and content.status == "ready"
            menu.addAction("Mark as Draft" if ready else "Mark as Ready to send",
                           lambda: self.set_content_status(key, "draft" if ready else "ready"))
            menu.addAction("Delete…", lambda: self.delete_content(key))
        elif kind == "segment":
            menu.addAction("Edit…", lambda: self.edit_segment(key))
            menu.addAction("New segment…", self.new_segment)
            menu.addAction("Rename", lambda: self.tree.editItem(item, 0))
            menu.addAction("Delete…", lambda: self.delete_segment(key))
        elif kind == "group" and key == "segments":
            menu.addAction("New segment…", self.new_segment)
        elif kind == "group" and key == "content":
            for k in CONTENT_KINDS:
                menu.addAction(tile_icon(k), f"New {KIND_LABELS[k].lower()}…",
                               lambda k=k: self.new_content(k))
        elif kind in ("group", None) and key in ("journeys", None):
            menu.addAction("New journey", self.new_journey)
            menu.addAction("New from template…", self.new_from_template)
        for action in menu.actions():
            action.setEnabled(action.isEnabled() and not self.document.readonly)
        return menu

    def _run_menu(self, menu: QMenu, run_id: int | None) -> None:
        """Open, compare, report on a run (also read-only); rename and delete it (not when read-only)."""
        selected = self.selected_runs()
        if run_id is not None:
            menu.addAction("Open (replay)", lambda: self.runActivated.emit(run_id))
            infos = self.document.runs()
            mine = next((i for i in infos if i.id == run_id), None)
            others = [i for i in infos if i.id != run_id]
            if mine is not None:  # the same journey's runs first
                others.sort(key=lambda i: (i.journey_id != mine.journey_id, -i.id))
            compare = menu.addMenu("Compare with")
            for other in others:
                compare.addAction(f"{other.name} — {other.journey_name} v{other.journey_version}",
                                  lambda other=other.id: self.compareRequested.emit(run_id, other))
            compare.menuAction().setEnabled(bool(others))
        if len(selected) == 2:
            menu.addAction("Compare selected", lambda: self.compareRequested.emit(selected[0], selected[1]))
        if run_id is None:
            return
        menu.addAction("Export report…", lambda: self.reportRequested.emit(run_id))
        menu.addSeparator()
        rename = menu.addAction("Rename…", lambda: self.rename_run(run_id))
        delete = menu.addAction("Delete…", lambda: self.delete_run(run_id))
        for action in (rename, delete):
            action.setEnabled(not self.document.readonly)

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.tree.itemAt(pos))
        if not menu.isEmpty():
            menu.exec(self.tree.viewport().mapToGlobal(pos))

