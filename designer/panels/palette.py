"""The tile palette: every tile type of the registry by category, with a filter; drag a tile onto the canvas,
or double-click / press Return to add it with the keyboard."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QFontMetrics, QGuiApplication, QKeyEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.model.registry import CATEGORIES, REGISTRY, TILE_TYPES
from designer.icons import tile_icon, tile_pixmap
from designer.mime import TILE_MIME
from designer.panels.common import bold

TYPE_ROLE = Qt.ItemDataRole.UserRole


def tile_mime_data(type_id: str) -> QMimeData:
    """What a palette drag carries: the tile type id under TILE_MIME (and as text, for other drop targets)."""
    mime = QMimeData()
    mime.setData(TILE_MIME, type_id.encode("utf-8"))
    mime.setText(REGISTRY[type_id].label)
    return mime


def drag_pixmap(type_id: str, ratio: float = 1.0) -> QPixmap:
    """A small tile to show under the cursor while dragging: the icon and label on the tile's colour edge."""
    tile = REGISTRY[type_id]
    font = QFont(QGuiApplication.font())
    font.setBold(True)
    fm = QFontMetrics(font)
    icon_size, pad = 24, 8
    w = pad * 3 + icon_size + fm.horizontalAdvance(tile.label)
    h = icon_size + pad * 2
    pm = QPixmap(QSize(round(w * ratio), round(h * ratio)))
    pm.setDevicePixelRatio(ratio)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(tile.color)
    p.setPen(QPen(color, 2))
    p.setBrush(QColor(255, 255, 255, 235))  # a drag image floats over the canvas, whatever the palette
    p.drawRoundedRect(QRectF(1, 1, w - 2, h - 2), 8, 8)
    p.drawPixmap(pad, pad, tile_pixmap(type_id, icon_size, ratio))
    p.setPen(QColor("#1f2937"))
    p.setFont(font)
    p.drawText(QRectF(pad * 2 + icon_size, 0, w, h), Qt.AlignmentFlag.AlignVCenter, tile.label)
    p.end()
    return pm


def make_drag(source: QWidget, type_id: str) -> QDrag:
    """The drag a palette tile starts: TILE_MIME data and a tile picture under the cursor."""
    drag = QDrag(source)
    drag.setMimeData(tile_mime_data(type_id))
    pm = drag_pixmap(type_id, source.devicePixelRatioF())
    drag.setPixmap(pm)
    drag.setHotSpot(QPoint(20, round(pm.height() / pm.devicePixelRatio() / 2)))
    return drag


class _TileTree(QTreeWidget):
    """The palette's tree: categories with their tiles; tiles start a TILE_MIME drag."""

    def mimeTypes(self) -> list[str]:
        return [TILE_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        types = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        return tile_mime_data(types[0]) if types else QMimeData()

    def startDrag(self, supported: Qt.DropAction) -> None:
        item = self.currentItem()
        type_id = item.data(0, TYPE_ROLE) if item is not None else None
        if type_id:
            make_drag(self, type_id).exec(Qt.DropAction.CopyAction)


class PalettePanel(QWidget):
    """Tile types grouped by category; a drag source for the canvas, and a keyboard way to add tiles."""

    tileActivated = Signal(str)  # tile type id: start the keyboard add flow with it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter tiles…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Type to filter the tiles; Return adds the first match, Down goes to the list")
        self.tree = _TileTree()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(8)
        self.tree.setIconSize(QSize(24, 24))
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(False)
        self.tree.setAccessibleName("Tiles")
        self._items: dict[str, QTreeWidgetItem] = {}
        self._build()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)
        self.setFocusProxy(self.filter)
        self.filter.textChanged.connect(self.set_filter)
        self.filter.returnPressed.connect(self._activate_first)
        self.filter.installEventFilter(self)
        self.tree.itemActivated.connect(self._activated)

    def _build(self) -> None:
        for category in CATEGORIES:
            group = QTreeWidgetItem(self.tree, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setFont(0, bold(self.font()))
            group.setSizeHint(0, QSize(0, 26))
            for tile in (t for t in TILE_TYPES if t.category == category):
                item = QTreeWidgetItem(group, [tile.label])
                item.setIcon(0, tile_icon(tile.id))
                item.setData(0, TYPE_ROLE, tile.id)
                item.setToolTip(0, f"<b>{tile.label}</b><br>{tile.description}<br><i>Drag onto the canvas, or "
                                   "double-click to add.</i>")
                item.setStatusTip(0, tile.description)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                item.setSizeHint(0, QSize(0, 30))
                self._items[tile.id] = item
        self.tree.expandAll()

    def type_ids(self, visible_only: bool = False) -> list[str]:
        """The tile types listed, in order (only those the filter shows, when asked)."""
        return [t for t, item in self._items.items() if not (visible_only and item.isHidden())]

    def item(self, type_id: str) -> QTreeWidgetItem:
        """A tile type's item in the tree."""
        return self._items[type_id]

    def set_filter(self, text: str) -> None:
        """Show only tiles whose label, description or id contains `text` (case-insensitive)."""
        needle = text.strip().lower()
        for type_id, item in self._items.items():
            tile = REGISTRY[type_id]
            item.setHidden(bool(needle) and needle not in f"{tile.label} {tile.description} {tile.id}".lower())
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            group.setHidden(all(group.child(k).isHidden() for k in range(group.childCount())))
        visible = self.type_ids(visible_only=True)
        if visible and (self.tree.currentItem() is None or self.tree.currentItem().isHidden()):
            self.tree.setCurrentItem(self._items[visible[0]])

    def _activate_first(self) -> None:
        current = self.tree.currentItem()
        type_id = current.data(0, TYPE_ROLE) if current is not None and not current.isHidden() else None
        visible = self.type_ids(visible_only=True)
        if type_id or visible:
            self.tileActivated.emit(type_id or visible[0])

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.tileActivated.emit(type_id)

    def eventFilter(self, obj: object, event: object) -> bool:
        if obj is self.filter and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self.tree.setFocus()
                if self.tree.currentItem() is None and self.type_ids(visible_only=True):
                    self.tree.setCurrentItem(self._items[self.type_ids(visible_only=True)[0]])
                return True
            if event.key() == Qt.Key.Key_Escape and self.filter.text():
                self.filter.clear()
                return True
        return super().eventFilter(obj, event)  # type: ignore[arg-type]
