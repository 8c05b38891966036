"""Words for numbers: one helper for "1 tile", "2 tiles", "12,345 contacts" everywhere (CLI, designer, files)."""

from __future__ import annotations


def count(n: int, word: str, plural: str | None = None) -> str:
    """`n` and the word in the right number: count(1, "tile") == "1 tile", count(1200, "entry", "entries") ==
    "1,200 entries"."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"
