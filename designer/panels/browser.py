"""The project browser: journeys, segments, content and simulation runs of the project, with their actions
(open, new, duplicate, rename, delete...). Every action is a command; the tree follows the model."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QMenu, QMessageBox, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from app.model.commands import (AddJourney, DuplicateJourney, PutContent, RemoveContent, RemoveJourney, RemoveSegment,
                                UpdateJourney)
from app.model.content import CONTENT_KINDS, Content
from app.model.journey import Change, Journey
from designer.icons import app_icon, tile_icon
from designer.panels.common import blocked, bold, dot_icon, muted_color
from designer.panels.content_dialog import KIND_LABELS, ContentDialog, status_text
from app.model.refs import content_users, rename_content_command, rename_segment_command, segment_users
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

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderHidden(True)
        self.tree.setAccessibleName("Project")
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.setExpandsOnDoubleClick(False)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
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
        document.changed.connect(self._on_change)
        document.currentJourneyChanged.connect(self._mark_current)
        self.refresh()
        for item in self.groups.values():
            item.setExpanded(True)

    # --- showing ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the lists from the project (selection kept)."""
        project = self.document.project
        selected = self._key(self.tree.currentItem())
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
            runs = self.groups["runs"]
            if not runs.childCount():
                hint = QTreeWidgetItem(runs, ["No runs yet"])
                hint.setFlags(Qt.ItemFlag.NoItemFlags)
                hint.setToolTip(0, "Simulate a journey to see its runs here")
            for key, group in self.groups.items():
                group.setText(1, str(group.childCount()) if key != "runs" else "")
                group.setForeground(1, muted_color(self.tree))
            self._mark_current()
            for group in self.groups.values():
                for i in range(group.childCount()):
                    if self._key(group.child(i)) == selected:
                        self.tree.setCurrentItem(group.child(i))

    def _child(self, group: str, kind: str, key: str, text: str, detail: str, icon: Any, tip: str,
               editable: bool) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.groups[group], [text, detail])
        item.setData(0, KIND_ROLE, kind)
        item.setData(0, KEY_ROLE, key)
        item.setIcon(0, icon)
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

    def item(self, kind: str, key: str) -> QTreeWidgetItem | None:
        """The tree item of a journey (by id), segment or content (by name)."""
        group = self.groups["journeys" if kind == "journey" else "segments" if kind == "segment" else "content"]
        for i in range(group.childCount()):
            if group.child(i).data(0, KEY_ROLE) == key:
                return group.child(i)
        return None

    def names(self, group: str) -> list[str]:
        """The texts listed under a group (for tests and accessibility checks)."""
        g = self.groups[group]
        return [g.child(i).text(0) for i in range(g.childCount())]

    @staticmethod
    def _key(item: QTreeWidgetItem | None) -> tuple[str, str] | None:
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
        elif kind == "group":
            item.setExpanded(not item.isExpanded())

    def confirm(self, question: str) -> bool:
        """Ask before deleting (tests replace this)."""
        answer = QMessageBox.question(self, "Delete", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def new_journey(self) -> None:
        """Add an empty journey with a free name and open it."""
        project = self.document.project
        journey = Journey(project.new_journey_id(), project.unique_journey_name("New journey"))
        if self.document.run(AddJourney(journey)):
            self.document.set_current_journey(journey.id)

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
        if journey is None or not self.confirm(f"Delete the journey “{journey.name}” ({len(journey)} steps)?\n"
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
        actions: dict[str, Callable[[str], None]] = {"journey": self.delete_journey, "segment": self.delete_segment,
                                                     "content": self.delete_content}
        if kind in actions:
            actions[kind](key)

    def context_menu(self, item: QTreeWidgetItem | None) -> QMenu:
        """The menu for an item (or empty space): what can be done with it."""
        menu = QMenu(self)
        kind = item.data(0, KIND_ROLE) if item is not None else None
        key = item.data(0, KEY_ROLE) if item is not None else None
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

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.tree.itemAt(pos))
        if not menu.isEmpty():
            menu.exec(self.tree.viewport().mapToGlobal(pos))

