"""Words for numbers: one helper for "1 tile", "2 tiles", "12,345 contacts" everywhere (CLI, designer, files)."""

from __future__ import annotations


STATUS_SEP = " · "  # between the figures of a tile's status line ('120 waiting · 1,000 sent'); the canvas wraps there


def count(n: int, word: str, plural: str | None = None) -> str:
    """`n` and the word in the right number: count(1, "tile") == "1 tile", count(1200, "entry", "entries") ==
    "1,200 entries"."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def compact_count(n: int, scale: int | None = None) -> str:
    """A count in few characters: 950, 9,500, 95.0k, 950k, 9.50M. `scale` (the largest count shown with it)
    picks the form, so that counts read alike side by side; a few among many read '<0.1k', not '0.0k'."""
    top = n if scale is None else max(scale, n)
    if top < 10_000 or n == 0:
        return f"{n:,}"
    unit, size, digits = ("k", 1000, 1) if top < 100_000 else ("k", 1000, 0) if top < 1_000_000 else \
        ("M", 1_000_000, 2) if top < 10_000_000 else ("M", 1_000_000, 1)
    if 0 < n < size * 0.5 * 10 ** -digits:
        return f"<{10 ** -digits:.{digits}f}{unit}"
    return f"{n / size:.{digits}f}{unit}"
