"""Menus, toolbar (the command bar) and their shortcuts for the main window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QToolButton

from app import APP_NAME
from app.codec.plain import journey_to_doc
from app.errors import JourneyStudioError
from app.model.registry import CATEGORIES, REGISTRY
from app.store import ProjectFile
from app.userdirs import recent_projects
from app.validation.findings import Severity
from app.words import count
from designer.icons import tile_icon


def dump_yaml(doc: dict[str, Any]) -> str:
    """A journey document as YAML (the codec, and YAML, load when a journey is first exported)."""
    from app.codec.yamlio import dump_yaml as dump
    return dump(doc)


def dump_json(doc: dict[str, Any]) -> str:
    """A journey document as JSON."""
    from app.codec.yamlio import dump_json as dump
    return dump(doc)


if TYPE_CHECKING:
    from designer.main_window import MainWindow

PROJECT_FILTER = "Journey Studio projects (*.jstudio);;All files (*)"
JOURNEY_FILTER = "Journey files (*.yaml *.yml *.json *.jpkg);;Journey packages (*.jpkg);;All files (*)"


def redo_keys() -> list[QKeySequence]:
    """The platform's Redo keys, then Ctrl+Shift+Z and Ctrl+Y, each once (a key bound twice to one action is an
    "ambiguous shortcut" and does nothing)."""
    keys: list[QKeySequence] = []
    for k in [*QKeySequence.keyBindings(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Shift+Z"),
              QKeySequence("Ctrl+Y")]:
        if not k.isEmpty() and k not in keys:
            keys.append(k)
    return keys


class Actions:
    """Every action of the window, created once and shared by the menus and the toolbar."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        doc = window.document
        view = window.view
        self.undo = doc.undo_stack.createUndoAction(window, "&Undo")
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo = doc.undo_stack.createRedoAction(window, "&Redo")
        self.redo.setShortcuts(redo_keys())
        a = self._action
        self.new_blank = a("New &Blank Journey", window._new_blank_journey, "Ctrl+Shift+J")
        self.new_journey = a("&New Journey from Template…", self.new_journey_from_template,
                             QKeySequence.StandardKey.New)
        self.new_project = a("New &Project…", self.new_project_file, "Ctrl+Shift+N")
        self.open = a("&Open…", self.open_project, QKeySequence.StandardKey.Open)
        self.save = a("&Save", self.save_checkpoint, QKeySequence.StandardKey.Save)
        self.save_as = a("Save &As…", self.save_project_as, QKeySequence.StandardKey.SaveAs)
        self.import_journey = a("&Import Journey or Package…", self.import_journey_file, "Ctrl+I")
        self.export_journey = a("&Export Journey…", self.export_journey_file, "Ctrl+E")
        self.close = a("&Close", window.close, QKeySequence.StandardKey.Close)
        self.quit = a("&Quit", self.quit_all, QKeySequence.StandardKey.Quit)
        if not self.quit.shortcuts():  # Windows has no standard key for it; Ctrl+Q is what people try
            self.quit.setShortcut(QKeySequence("Ctrl+Q"))
        self.cut = a("Cu&t", view.cut, QKeySequence.StandardKey.Cut)
        self.copy = a("&Copy", view.copy, QKeySequence.StandardKey.Copy)
        self.paste = a("&Paste", view.paste, QKeySequence.StandardKey.Paste)
        self.duplicate = a("&Duplicate", view.duplicate, "Ctrl+D")
        self.delete = a("&Delete", view.delete_selection, QKeySequence.StandardKey.Delete)
        self.rename = a("Re&name", view.rename_selected, "F2")
        self.select_all = a("Select &All", view.select_all, QKeySequence.StandardKey.SelectAll)
        self.zoom_in = a("Zoom &In", view.zoom_in, QKeySequence.StandardKey.ZoomIn)
        self.zoom_out = a("Zoom &Out", view.zoom_out, QKeySequence.StandardKey.ZoomOut)
        self.fit = a("&Fit to Window", view.fit, "Ctrl+0")
        self.layout_lr = a("Auto-layout &Left to Right", lambda: view.auto_layout("LR"), "Ctrl+L")
        self.layout_tb = a("Auto-layout &Top to Bottom", lambda: view.auto_layout("TB"), "Ctrl+Shift+L")
        self.minimap = a("&Minimap", lambda: view.set_minimap_visible(self.minimap.isChecked()), "Ctrl+M")
        self.minimap.setCheckable(True)
        self.minimap.setChecked(True)
        self.add_tile = a("&Add Tile…", lambda: view.start_add_flow(None), "Ctrl+T")
        self.check = a("&Check for Errors", self.check_for_errors, "F7")
        self.settings = a("Journey &Settings", lambda: window.show_settings(None), "Ctrl+,")
        self.about = a("&About Journey Studio", self.show_about)
        sim = window.simulation
        self.run_simulation = a("&Simulate…", lambda: sim.show_docks("simulate"), "F5")
        self.play_replay = a("&Play / Pause Replay", sim.replay_bar.timeline.toggle, "F6")
        self.close_replay = a("&Close Replay", sim.replay.close)
        self.show_plots = a("Show P&lots", lambda: sim.show_docks("plots"))
        self.review_run = a("Re&view Run", lambda: sim.show_docks("review"))
        self.watch_runner = a("&Watch Live Runner…", lambda: sim.watch_runner())
        self.go_live = a("&Go Live / Export Package…", self.export_package, "Ctrl+Shift+E")
        self.trusted_keys = a("&Trusted Keys…", self.show_trusted_keys)
        self.frequency_caps = a("&Frequency Caps…", self.show_frequency_caps)
        self.contacts = a("&Contacts…", self.show_contacts, "Ctrl+Shift+K")
        # Canvas shortcuts (Delete, F2, arrows, copy/paste) act where the focus is; panels keep their own.
        for act in (self.cut, self.copy, self.paste, self.duplicate, self.delete, self.rename, self.select_all):
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            view.addAction(act)
        self._menus()
        self._toolbar()

    def _action(self, text: str, slot: Callable[[], object], shortcut: object = None) -> QAction:
        act = QAction(text, self.w)
        if isinstance(shortcut, QKeySequence.StandardKey):
            act.setShortcuts(shortcut)  # every key of the platform (Close: Ctrl+W and Ctrl+F4), not the first only
        elif shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
        act.triggered.connect(lambda _checked=False: slot())
        return act

    def _raise(self, dock: str) -> None:
        self.w.docks[dock].show()
        self.w.docks[dock].raise_()

    def _menus(self) -> None:
        bar = self.w.menuBar()
        file = bar.addMenu("&File")
        for act in (self.new_blank, self.new_journey, self.new_project, self.open):
            file.addAction(act)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        for act in (self.save, self.save_as):
            file.addAction(act)
        file.addSeparator()
        for act in (self.import_journey, self.export_journey, self.go_live):
            file.addAction(act)
        file.addAction(self.trusted_keys)
        file.addAction(self.frequency_caps)
        file.addSeparator()
        file.addAction(self.close)
        file.addAction(self.quit)
        edit = bar.addMenu("&Edit")
        for act in (self.undo, self.redo, None, self.cut, self.copy, self.paste, self.duplicate, self.delete,
                    None, self.rename, self.select_all):
            edit.addSeparator() if act is None else edit.addAction(act)
        view = bar.addMenu("&View")
        for act in (self.zoom_in, self.zoom_out, self.fit, None, self.layout_lr, self.layout_tb, None, self.minimap):
            view.addSeparator() if act is None else view.addAction(act)
        panels = view.addMenu("&Panels")
        for dock in [*self.w.docks.values(), *self.w.simulation.docks.values()]:
            panels.addAction(dock.toggleViewAction())
        journey = bar.addMenu("&Journey")
        journey.addAction(self.add_tile)
        journey.addMenu(self.add_menu())
        journey.addSeparator()
        journey.addAction(self.check)
        journey.addAction(self.settings)
        journey.addSeparator()
        journey.addAction(self.go_live)
        simulate = bar.addMenu("&Simulate")
        for act in (self.run_simulation, None, self.play_replay, self.close_replay, None, self.show_plots,
                    self.review_run, None, self.watch_runner):
            simulate.addSeparator() if act is None else simulate.addAction(act)
        bar.addMenu("&Customers").addAction(self.contacts)
        bar.addMenu("&Help").addAction(self.about)

    def add_menu(self) -> QMenu:
        """Tile types by category; choosing one starts placing it with the keyboard or the mouse."""
        menu = QMenu("Add &Tile", self.w)
        for category in CATEGORIES:
            menu.addSection(category)
            for tile in REGISTRY.values():
                if tile.category == category:
                    act = menu.addAction(tile_icon(tile.id), tile.label)
                    act.setToolTip(tile.description)
                    act.triggered.connect(lambda _c=False, t=tile.id: self.w.view.start_add_flow(t))
        return menu

    def _toolbar(self) -> None:
        bar = self.w.addToolBar("Command bar")
        bar.setObjectName("command-bar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        add = QToolButton()
        add.setText("Add")
        add.setToolTip("Add a tile (Ctrl+T): choose its type, then where it goes, with the arrow keys and Return")
        add.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        add.setMenu(self.add_menu())
        add.clicked.connect(lambda: self.w.view.start_add_flow(None))
        add.setObjectName("add-button")
        self.add_button = add
        bar.addWidget(add)
        bar.addSeparator()
        for act in (self.undo, self.redo, None, self.delete, self.duplicate, None, self.zoom_in, self.zoom_out,
                    self.fit, self.layout_lr, None, self.check, None, self.run_simulation):
            bar.addSeparator() if act is None else bar.addAction(act)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in recent_projects():
            self.recent_menu.addAction(path.name, lambda p=path: self._open_path(p)).setToolTip(str(path))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    # --- handlers -------------------------------------------------------------------------------------------
    def _open_path(self, path: Path) -> None:
        from designer.main_window import MainWindow, _open_windows
        for window in _open_windows:  # already open (here or in another window): bring it forward and say so
            if Path(path).resolve() == window.document.file.path.resolve():
                window.show()
                window.raise_()
                window.activateWindow()
                window.statusBar().showMessage(f"{Path(path).name} is already open in this window.", 8000)
                return
        window = MainWindow.open(path, self.w)
        if window is not None:
            window.show()

    def open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open Project", str(self.w.document.file.path.parent),
                                              PROJECT_FILTER)
        if path:
            self._open_path(Path(path))

    def new_project_file(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "New Project", str(self.w.document.file.path.parent),
                                              PROJECT_FILTER)
        if not path:
            return
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(".jstudio")
        try:
            if target.exists():
                raise JourneyStudioError(f"{target} already exists; choose another name")
            ProjectFile.create(target, name=target.stem).close()
        except JourneyStudioError as e:
            QMessageBox.warning(self.w, APP_NAME, str(e))
            return
        self._open_path(target)

    def save_checkpoint(self) -> None:
        self.w.document.undo_stack.setClean()
        self.w.statusBar().showMessage("Saved. (Edits are also written to the project file as you make them.)",
                                       5000)

    def save_project_as(self) -> None:
        pf = self.w.document.file
        path, _ = QFileDialog.getSaveFileName(self.w, "Save Project As", str(pf.path.parent), PROJECT_FILTER)
        if not path:
            return
        try:
            pf.save_as(Path(path), overwrite=Path(path).exists())
        except JourneyStudioError as e:
            QMessageBox.warning(self.w, APP_NAME, str(e))
            return
        self.w.document.undo_stack.setClean()
        self.w._update_title()

    def new_journey_from_template(self) -> None:
        from designer.panels.templates import TemplateGallery
        TemplateGallery(self.w.document, self.w).exec()

    def import_journey_file(self, path: str | None = None) -> None:
        """Import a journey file, or a package (.jpkg: checked first; what was shipped, for review)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.w, "Import Journey", "", JOURNEY_FILTER)
            if not path:
                return
        from designer.import_file import import_journey_file
        import_journey_file(self.w, path)

    def export_journey_file(self) -> None:
        doc = self.w.document
        journey = doc.current_journey
        if journey is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.w, "Export Journey", f"{journey.name}.yaml", JOURNEY_FILTER)
        if not path:
            return
        import yaml

        from app.errors import one_line
        from app.files import write_atomically
        try:
            data = journey_to_doc(journey, doc.project.content, doc.project.segments)
            text = dump_json(data) if path.lower().endswith(".json") else dump_yaml(data)
            write_atomically(Path(path), text)
        except (JourneyStudioError, OSError, yaml.YAMLError) as e:  # YAMLError: a value the codec cannot write
            QMessageBox.warning(self.w, APP_NAME, f"The journey could not be exported (nothing was written).\n\n"
                                                  f"{one_line(e)}")
            return
        self.w.statusBar().showMessage(f"Exported {journey.name} to {path}", 5000)

    def show_contacts(self) -> None:
        """The project's contacts: search, add, edit, delete (seed 004 starts by creating two by hand)."""
        from designer.contacts.view import ContactsWindow
        window = ContactsWindow(self.w.document, self.w)
        window.exec()
        window.deleteLater()  # closed: it no longer follows the project's edits

    def show_trusted_keys(self) -> None:
        """The team keys whose signed packages this project accepts (add, list, remove; each an undoable edit)."""
        from designer.panels.trusted_keys import TrustedKeysDialog
        dialog = TrustedKeysDialog(self.w.document, self.w)
        dialog.exec()
        dialog.deleteLater()  # closed: it no longer follows the project's edits

    def show_frequency_caps(self) -> None:
        """The project's frequency caps across journeys, and the journeys' priorities under them."""
        from designer.panels.frequency_caps import FrequencyCapsDialog
        dialog = FrequencyCapsDialog(self.w.document, self.w)
        dialog.exec()
        dialog.deleteLater()  # closed: it no longer follows the project's edits

    def export_package(self) -> None:
        """The current journey as a validated package for the live runner (refused, with reasons, if not ready)."""
        from designer.panels.package_dialog import PackageDialog
        PackageDialog(self.w.document, self.w).exec()

    def check_for_errors(self) -> None:
        doc = self.w.document
        doc.refresh_findings()
        journey = doc.current_journey
        self._raise("problems")
        tree = self.w.problems.tree  # the keyboard goes where the answer is
        tree.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if tree.currentItem() is None and tree.topLevelItemCount():
            tree.setCurrentItem(tree.topLevelItem(0))
        if journey is None:
            return
        findings = doc.findings()
        errors = sum(f.severity is Severity.ERROR for f in findings)
        doc.add_milestone(journey.id, "checked",
                               f"{count(errors, 'error')}, {count(len(findings) - errors, 'warning')}")
        self.w.statusBar().showMessage(
            "No problems found." if not findings
            else f"{count(errors, 'error')}, {count(len(findings) - errors, 'warning')}.", 8000)

    def quit_all(self) -> None:
        from designer.main_window import _open_windows
        for window in list(_open_windows):
            if not window.close():
                return

    def show_about(self) -> None:
        from designer.about import show_about
        show_about(self.w)
