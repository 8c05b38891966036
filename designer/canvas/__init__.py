"""The journey canvas: a scene mirroring one journey, a view to edit it, and the keyboard add flow."""

from designer.canvas.items import EdgeItem, TileItem
from designer.canvas.keyboard import AddTileFlow
from designer.canvas.scene import DropTarget, JourneyScene
from designer.canvas.view import JourneyView

__all__ = ["AddTileFlow", "DropTarget", "EdgeItem", "JourneyScene", "JourneyView", "TileItem"]
