"""The designer's main window: canvas in the centre, palette and project on the left, properties and journey
settings on the right, problems and history below.

Edits are written to the project file as they happen. "Save" (Ctrl+S) marks a checkpoint: the title shows
`*` while there are edits since the last checkpoint, and closing then offers to keep them or go back to it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QScrollArea,
                               QStackedWidget, QTabBar, QToolBar, QUndoView, QWidget)

from app import APP_NAME
from app.errors import JourneyStudioError
from app.store import ProjectFile, integrity
from app.userdirs import add_recent_project, recent_projects
from designer.actions import Actions
from designer.canvas.scene import JourneyScene
from designer.canvas.view import JourneyView
from designer.document import Document
from designer.panels.browser import ProjectBrowser
from designer.panels.common import name_unnamed_controls
from designer.panels.journey_settings import JourneySettingsPanel
from designer.panels.palette import PalettePanel
from designer.panels.problems import ProblemsPanel
from designer.panels.properties import PropertiesPanel
from designer.start_page import StartPage

_open_windows: list[MainWindow] = []  # top-level windows are kept alive by Python references


def first_size(widget: QWidget) -> QSize:
    """The window's size on a first start: 1440 x 900 where the screen has room, else what the screen has
    (a 1366 x 768 laptop gets the whole of its available area, not a window taller than the screen)."""
    screen = widget.screen() or QApplication.primaryScreen()
    if screen is None:
        return QSize(1440, 900)
    room = screen.availableGeometry().size()
    return QSize(min(1440, room.width()), min(900, room.height()))


def _sits_under(bar: QWidget, dock: QWidget) -> bool:
    """Whether a tab bar is right under a dock (where Qt puts a group's live bar)."""
    g, d = bar.geometry(), dock.geometry()
    return abs(g.top() - d.bottom() - 1) <= 4 and g.left() < d.right() and d.left() < g.right()


class MainWindow(QMainWindow):
    """One window per open project."""

    @classmethod
    def open(cls, path: str | Path, parent: QWidget | None = None) -> MainWindow | None:
        """Open a project in a new window; a project that cannot be opened gets one clear message."""
        try:
            pf = ProjectFile.open(Path(path), check="defer")  # a file in doubt is checked in the background
        except (JourneyStudioError, OSError) as e:
            QMessageBox.warning(parent, APP_NAME, f"The project could not be opened.\n\n{e}")
            return None
        window = cls(Document(pf))
        add_recent_project(pf.path)
        if pf.readonly:
            QMessageBox.information(window, APP_NAME, f"{pf.path.name} is open read-only: {pf.readonly_reason}.\n\n"
                                    "You can look at it and use File > Save As to edit a copy.")
        if pf.pending_check is not None:
            window.check_file_in_background()
        return window

    def check_file_in_background(self) -> None:
        """Read every page of the project file on the workspace's background pool (its pages are in doubt: see
        app/store/integrity.py); a damaged file then stops being written to, and the user is told."""
        pf = self.document.file
        self.statusBar().showMessage(f"Checking {pf.path.name} ({pf.pending_check})…")

        def done(problems: list[str]) -> None:
            if pf.closed:
                return
            pf.apply_check(problems)
            self._update_title()
            if problems:
                QMessageBox.warning(self, APP_NAME, f"{pf.path.name} is damaged, so it is now read-only: "
                                    f"{pf.readonly_reason}.\n\nYour edits so far are kept in this window; use "
                                    "File > Save As to keep them in a new file.")
            else:
                self.statusBar().showMessage(f"{pf.path.name} checked: every page is sound.", 5000)

        path = pf.path
        self.simulation.background.submit("file-check", lambda: integrity.full_check(path), done,
                                          lambda message: done([message]))

    def __init__(self, document: Document) -> None:
        super().__init__()
        _open_windows.append(self)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.document = document
        self.setDockNestingEnabled(True)
        # A scene owned only by its view can be collected: keep our own reference.
        self.scene = JourneyScene(document)
        self.view = JourneyView(self.scene, document)
        self.start_page = StartPage()  # where the canvas goes while no journey is open
        self.centre = QStackedWidget()
        self.centre.addWidget(self.start_page)
        self.centre.addWidget(self.view)
        self.setCentralWidget(self.centre)

        self.palette_panel = PalettePanel()
        self.browser = ProjectBrowser(document)
        self.properties = PropertiesPanel(document)
        self.settings_panel = JourneySettingsPanel(document)
        self.problems = ProblemsPanel(document)
        self.history = QUndoView(document.undo_stack)
        self.history.setEmptyLabel("Opened project")
        self.docks = {
            "palette": self._dock("Tiles", self.palette_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "browser": self._dock("Project", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea),
            "properties": self._dock("Properties", self.properties, Qt.DockWidgetArea.RightDockWidgetArea),
            "settings": self._dock("Settings", self.settings_panel, Qt.DockWidgetArea.RightDockWidgetArea,
                                   name="Journey settings"),  # a tab title that fits; the name a saved layout knows
            "problems": self._dock("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea),
            "history": self._dock("History", self.history, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        from designer.simulation.workspace import SimulationWorkspace
        self.simulation = SimulationWorkspace(self)
        # Each group is tabified in one go, once every dock exists: tabifying a group again later leaves Qt's
        # earlier tab bar on screen with stale geometry (a "Problems | History" bar drawn over the Tiles panel).
        sim = self.simulation.docks
        for group in ((self.docks["palette"], self.docks["browser"]),
                      (self.docks["properties"], self.docks["settings"], sim["simulate"], sim["review"]),
                      (self.docks["problems"], self.docks["history"], sim["plots"])):
            for a, b in zip(group, group[1:]):
                self.tabifyDockWidget(a, b)
            group[0].raise_()
        self.resizeDocks([self.docks["problems"]], [150], Qt.Orientation.Vertical)
        self.actions = Actions(self)
        from designer.simulation.sweep_panel import install as install_sweep
        self.sweep = install_sweep(self)  # Simulate > What-if Sweep…: its dock, built when first shown
        from designer.calibrate_entry import install as install_calibrate
        self.calibrate = install_calibrate(self)  # Simulate > Calibrate from a Past Campaign…
        self._status = QLabel()
        self.statusBar().addPermanentWidget(self._status)

        document.currentJourneyChanged.connect(self._journey_switched)
        document.selectRequested.connect(self._select_requested)
        document.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        document.failed.connect(self._save_failed)
        document.undo_stack.cleanChanged.connect(self._clean_changed)
        document.changed.connect(self._model_changed)
        document.findingsChanged.connect(self._update_status)
        self.scene.stepsSelected.connect(self._steps_selected)
        self.palette_panel.tileActivated.connect(self.view.start_add_flow)
        self.problems.fieldRequested.connect(self._field_requested)
        self.problems.settingsRequested.connect(self.show_settings)
        self.view.journeyNeeded.connect(self.document.new_blank_journey)
        self.view.tileAdded.connect(self._tile_added)
        # a package made or imported elsewhere adds a milestone: the timeline is read again when it comes forward
        self.docks["settings"].visibilityChanged.connect(lambda shown: shown and self.settings_panel.show_timeline())
        for panel in (self.properties, self.settings_panel, self.problems, self.palette_panel, self.browser):
            back = QShortcut(QKeySequence(Qt.Key.Key_Escape), panel,
                             context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            back.activated.connect(self.focus_canvas)
        self.start_page.blankRequested.connect(self._new_blank_journey)
        self.start_page.templateRequested.connect(self.actions.new_journey_from_template)
        self.start_page.openRequested.connect(self.actions.open_project)
        self.start_page.recentRequested.connect(lambda path: self.actions._open_path(Path(path)))
        self.start_page.tileDropped.connect(self._start_with_tile)

        self._shown = False
        self.resize(first_size(self))
        self._restore_state()
        self._journey_switched(document.current_journey.id if document.current_journey else None)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, *, name: str = "") -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name or title}")
        dock.toggleViewAction().setText(name or title)  # the View menu says what it is in full
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        dock.dockLocationChanged.connect(lambda _area: QTimer.singleShot(0, self.hide_stale_tab_bars))
        dock.topLevelChanged.connect(lambda _floating: QTimer.singleShot(0, self.hide_stale_tab_bars))
        return dock

    def hide_stale_tab_bars(self) -> None:
        """Hide the dock tab bars Qt left behind. Tabifying a group can leave an earlier tab bar of the group on
        screen at a stale place (a "Properties | Journey settings" bar drawn over the canvas); the live bar of a
        group sits right under one of its docks. Qt shows a bar again itself when it reuses it."""
        docks = {d.windowTitle(): d for d in self.findChildren(QDockWidget) if d.isVisible() and not d.isFloating()}
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and bar.isVisible() and not any(
                    _sits_under(bar, docks[bar.tabText(i)]) for i in range(bar.count()) if bar.tabText(i) in docks):
                bar.hide()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.hide_stale_tab_bars)
        if not event.spontaneous() and not self._shown:
            self._shown = True
            if not self._layout_restored:
                self.fit_docks()
            self.focus_canvas()  # the first keystroke goes to the canvas (or New blank journey), not a filter box

    # --- following the document -------------------------------------------------------------------------------
    def _journey_switched(self, journey_id: str | None) -> None:
        self.scene.set_journey(journey_id)
        self._show_centre()
        self.properties.show_step(journey_id, None)
        self.view.fit()
        if self.view.zoom < 0.6:  # a big journey: start readable at its first tile rather than as specks
            self.view.show_start()
        self._update_title()
        self._update_status()

    def _show_centre(self) -> None:
        """The canvas when a journey is open, else the start page."""
        if self.document.current_journey is not None:
            had_focus = self.start_page.isAncestorOf(self.focusWidget()) if self.focusWidget() else False
            self.centre.setCurrentWidget(self.view)
            if had_focus:
                self.view.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        pf = self.document.file
        self.start_page.show_project(self.document.project.name or pf.path.stem, len(self.document.project.journeys),
                                     recent_projects(), pf.path)
        self.centre.setCurrentWidget(self.start_page)

    def _new_blank_journey(self) -> None:
        if self.document.new_blank_journey() is not None:
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _start_with_tile(self, type_id: str) -> None:
        """A tile dropped on the start page: a blank journey that starts with it."""
        if self.document.new_blank_journey() is not None:
            added = self.view.edits.add_tile(type_id)
            if added is not None:
                self._tile_added(added)

    def _tile_added(self, step_id: str) -> None:
        """A new tile: its properties come forward with the focus in its Name field (Escape goes back to the
        canvas, where Ctrl+T adds the next one)."""
        self.docks["properties"].show()
        self.docks["properties"].raise_()
        if self.properties.name_edit is not None:
            self.properties.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.properties.name_edit.selectAll()

    def focus_canvas(self) -> None:
        """Back to the canvas (Escape in a panel)."""
        target = self.view if self.centre.currentWidget() is self.view else self.start_page.blank
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # --- keyboard focus order ---------------------------------------------------------------------------------
    def focus_regions(self) -> list[QWidget]:
        """Where Tab goes, in order: what is in the centre (the canvas or the start page), the panels on the
        right (the selected tile's properties), those below (the problems), the command bar, then the panels on
        the left. A dock whose tab is not the current one is not on screen and is skipped."""
        by_area: dict[Qt.DockWidgetArea, list[QWidget]] = {}
        for dock in self.findChildren(QDockWidget):
            if dock.isVisible() and not dock.visibleRegion().isEmpty() and dock.widget() is not None:
                by_area.setdefault(self.dockWidgetArea(dock), []).append(dock)
        for docks in by_area.values():
            docks.sort(key=lambda d: (d.geometry().top(), d.geometry().left()))
        area = Qt.DockWidgetArea
        toolbars = [t for t in self.findChildren(QToolBar) if t.isVisible()]
        return [self.centre, *by_area.get(area.RightDockWidgetArea, []), *by_area.get(area.BottomDockWidgetArea, []),
                *by_area.get(area.TopDockWidgetArea, []), *toolbars, *by_area.get(area.LeftDockWidgetArea, [])]

    def focus_chain(self) -> list[QWidget]:
        """The widgets Tab stops at, in order: Qt's focus chain, region by region, only what is on screen."""
        regions = self.focus_regions()
        buckets: list[list[QWidget]] = [[] for _ in regions]
        seen: set[int] = set()
        w: QWidget | None = self.nextInFocusChain()
        while w is not None and w is not self and id(w) not in seen:
            seen.add(id(w))
            if (w.focusPolicy() & Qt.FocusPolicy.TabFocus) == Qt.FocusPolicy.TabFocus and w.isVisible() \
                    and w.isEnabled() and w.window() is self and w.focusProxy() is None \
                    and not isinstance(w, QScrollArea):  # a panel's scroll area: its fields are the stops
                for i, region in enumerate(regions):
                    if region is w or region.isAncestorOf(w):
                        buckets[i].append(w)
                        break
            w = w.nextInFocusChain()
        return [w for bucket in buckets for w in bucket]

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: A002 - Qt's name
        name_unnamed_controls(self)  # panels rebuild their fields: name the new ones before the focus arrives
        chain = self.focus_chain()
        if not chain:
            return super().focusNextPrevChild(next)
        current = self.focusWidget()
        while current is not None and current not in chain and current is not self:
            current = current.parentWidget()  # a field's inner editor: step from the field
        i = chain.index(current) if current in chain else (-1 if next else 0)
        target = chain[(i + (1 if next else -1)) % len(chain)]
        target.setFocus(Qt.FocusReason.TabFocusReason if next else Qt.FocusReason.BacktabFocusReason)
        return True

    def _model_changed(self, change: object) -> None:
        kind = getattr(change, "kind", "")
        journey = self.document.current_journey
        if kind == "journey-removed" and journey is None:
            remaining = self.document.project.journeys
            self.document.set_current_journey(remaining[0].id if remaining else None)
        elif kind == "journey-added" and journey is None:
            self.document.set_current_journey(getattr(change, "journey", None))
        if kind.startswith("journey-") or kind == "settings-changed":
            self._update_title()

    def _steps_selected(self, step_ids: list[str]) -> None:
        journey = self.document.current_journey
        self.properties.show_step(journey.id if journey else None, step_ids[0] if len(step_ids) == 1 else None)
        if len(step_ids) == 1:
            self.docks["properties"].raise_()

    def _select_requested(self, journey_id: str, step_id: str | None) -> None:
        if self.document.current_journey is None or self.document.current_journey.id != journey_id:
            self.document.set_current_journey(journey_id)
        if step_id:
            self.scene.select_steps([step_id], center=True)
        else:
            self.docks["settings"].raise_()

    def _field_requested(self, step_id: str | None, field: str | None) -> None:
        if step_id and hasattr(self.properties, "focus_field"):
            self.properties.focus_field(field)

    def show_settings(self, field: str | None) -> None:
        """The journey settings come forward with the focus in a field (the name when none is given)."""
        self.docks["settings"].show()
        self.docks["settings"].raise_()
        self.settings_panel.focus_field(field)

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)  # the stack may be going away (a window closing): use what it said

    def _update_title(self) -> None:
        pf = self.document.file
        journey = self.document.current_journey
        parts = [f"{pf.path.name}[*]"]
        if journey is not None:
            parts.insert(0, journey.name)
        title = " — ".join(parts)
        if pf.readonly:
            title += " (read-only)"
        self.setWindowTitle(title)
        self.setWindowModified(not self.document.undo_stack.isClean())

    def _update_status(self) -> None:
        journey = self.document.current_journey
        if journey is None:
            self._status.setText("No journey")
            return
        findings = self.document.findings()
        errors = sum(f.is_error for f in findings)
        warnings = len(findings) - errors
        self._status.setText(f"{len(journey)} tiles · {errors} error{'s' * (errors != 1)}, "
                             f"{warnings} warning{'s' * (warnings != 1)} · version {journey.version} draft")

    def _save_failed(self, message: str) -> None:
        QMessageBox.critical(self, APP_NAME, f"The last edit could not be saved to the project file.\n\n{message}\n\n"
                             "Use File > Save As to keep your work in another file.")

    # --- closing --------------------------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """Offer to keep or drop the edits made since the last checkpoint; False when the user cancels."""
        stack = self.document.undo_stack
        if stack.isClean() or self.document.readonly:
            return True
        box = QMessageBox(QMessageBox.Icon.Question, APP_NAME,
                          "Save changes to this project?", parent=self)
        box.setInformativeText("Your edits are already written to the project file as you make them. Keep them, "
                               "or go back to how the project was when you last saved?")
        keep = box.addButton("Save", QMessageBox.ButtonRole.AcceptRole)
        drop = box.addButton("Don't Save", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        drop.setEnabled(stack.cleanIndex() >= 0)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        if clicked is keep:
            stack.setClean()
            return True
        if clicked is drop:
            stack.setIndex(stack.cleanIndex())
            return True
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        focused = QApplication.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            focused.clearFocus()  # a field being typed in commits now, while the project is open (not mid-teardown)
        if not self.confirm_close():
            event.ignore()
            return
        self._save_state()
        self.simulation.close()
        self.sweep.shutdown()
        self.document.close()
        if self in _open_windows:
            _open_windows.remove(self)
        event.accept()

    def fit_docks(self) -> None:
        """Panel widths for the window's width on a first start: the canvas gets most of it (about 60% of a
        1366-px screen, two thirds of a 1920-px one); the user's own layout is restored on later starts."""
        width = self.width()
        left, right = max(190, min(250, round(width * 0.15))), max(340, min(420, round(width * 0.22)))
        self.resizeDocks([self.docks["palette"], self.docks["properties"]], [left, right], Qt.Orientation.Horizontal)

    def _restore_state(self) -> None:
        """The size and dock layout the user left (per user, in QSettings)."""
        s = QSettings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._layout_restored = state is not None and bool(self.restoreState(state))

    def _save_state(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
