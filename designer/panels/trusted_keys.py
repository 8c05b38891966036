"""Project > Trusted Keys: the team keys whose signatures this project accepts (add, list, remove), with
fingerprints in groups of four hexadecimal digits, as people compare them aloud. Every change is one undoable edit
of the project's settings; `journey-studio keys` does the same from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QDialogButtonBox, QFileDialog, QHeaderView, QInputDialog, QLabel,
                               QMessageBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app import APP_NAME
from app.errors import JourneyStudioError
from designer.panels.common import Dialog, MutedLabel

if TYPE_CHECKING:
    from designer.document import Document


class TrustedKeysDialog(Dialog):
    """The project's keyring: packages signed by one of these keys are accepted by import-package, verify and the
    runner given this project; once any key is here, unsigned packages are refused unless allowed explicitly."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.setWindowTitle("Trusted keys")
        intro = QLabel("Packages signed by one of these keys are trusted. Once any key is here, an unsigned package "
                       "or one signed by another key is refused unless you allow it explicitly.")
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Name", "Fingerprint", "Added"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Trusted keys")
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.note = MutedLabel("Compare a fingerprint with its holder's (journey-studio keygen prints it) before you "
                               "rely on it.")
        self.note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.add_button = self.buttons.addButton("&Add key…", QDialogButtonBox.ButtonRole.ActionRole)
        self.remove_button = self.buttons.addButton("&Remove", QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.add_button.clicked.connect(self.choose_and_add)
        self.remove_button.clicked.connect(self.remove_selected)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.note)
        lay.addWidget(self.buttons)
        document.changed.connect(self._on_change)  # a Qt signal: let go when the dialog goes
        self.refresh()
        self.resize(680, 360)

    def _on_change(self, change: object) -> None:
        if getattr(change, "kind", None) == "settings-changed":
            self.refresh()

    def refresh(self) -> None:
        from app.package.trust import project_keyring
        self.tree.clear()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        try:
            ring = project_keyring(self.document.project)
        except JourneyStudioError as e:
            self.note.setText(f"The project's trusted keys cannot be read: {e}")
            ring = None
        for k in ring or ():
            item = QTreeWidgetItem([k.name, k.fingerprint, k.added_at.replace("T", " ").removesuffix("Z")[:16]])
            item.setFont(1, mono)
            item.setData(0, Qt.ItemDataRole.UserRole, k.key_id)
            item.setToolTip(1, k.key_id)
            self.tree.addTopLevelItem(item)
        if ring is not None and not ring:
            self.note.setText("No trusted keys: packages are checked only against the key they name. Add the "
                              "team's public key (KEYFILE.pub from journey-studio keygen).")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.tree.selectedItems()) and not self.document.file.readonly)
        self.add_button.setEnabled(not self.document.file.readonly)

    def choose_and_add(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self, "Trust a public key", str(self.document.file.path.parent),
                                              "Public keys (*.pub);;All files (*)")
        if not path:
            return False
        name, ok = QInputDialog.getText(self, "Trust a public key", "Who holds this key (a person or a team):",
                                        text=Path(path).name.removesuffix(".pub"))
        if not ok:
            return False
        return self.add_key(path, name)

    def add_key(self, path: str, name: str) -> bool:
        """Trust the public key in `path` under `name` (one undoable edit); a bad key or name is said in one line."""
        from app.model.project_commands import UpdateProjectSettings
        from app.package.keyring import TrustedKey
        from app.package.manifest import utc_now
        from app.package.signing import load_public_key
        from app.package.trust import project_keyring
        try:
            ring = project_keyring(self.document.project)
            added = ring.add(TrustedKey(name, load_public_key(path), utc_now()))
        except (JourneyStudioError, OSError) as e:
            QMessageBox.warning(self, APP_NAME, f"The key was not added.\n\n{e}")
            return False
        if not self.document.run(UpdateProjectSettings(f"Trust key '{added.name}'", trusted_keys=ring.to_plain())):
            return False
        self.note.setText(f"Trusted '{added.name}': {added.fingerprint}. Compare this fingerprint with the key "
                          "holder's before you rely on it.")
        return True

    def remove_selected(self) -> bool:
        items = self.tree.selectedItems()
        if not items:
            return False
        name, fingerprint = items[0].text(0), items[0].text(1)
        answer = QMessageBox.question(self, APP_NAME, f"Stop trusting '{name}' ({fingerprint})?\n\nPackages signed "
                                      "only by this key will be refused.")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.remove_key(str(items[0].data(0, Qt.ItemDataRole.UserRole)))

    def remove_key(self, key_id: str) -> bool:
        from app.model.project_commands import UpdateProjectSettings
        from app.package.trust import project_keyring
        try:
            ring = project_keyring(self.document.project)
            removed = ring.remove(key_id)
        except JourneyStudioError as e:
            QMessageBox.warning(self, APP_NAME, f"The key was not removed.\n\n{e}")
            return False
        return bool(self.document.run(UpdateProjectSettings(f"Stop trusting key '{removed.name}'",
                                                            trusted_keys=ring.to_plain())))
