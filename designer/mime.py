"""MIME types the designer puts on drags and the clipboard."""

TILE_MIME = "application/x-journey-studio-tile"    # a tile type id dragged from the palette
STEPS_MIME = "application/x-journey-studio-steps"  # copied steps (JSON text), also pasteable across projects
