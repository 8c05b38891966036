"""`journey-studio` commands of this module (being written)."""
