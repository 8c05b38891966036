"""The names and times every part of a run agrees on, without NumPy: a stable key for a name and the time that
never comes. The draws (draws.py, NumPy) build on these; the live runner's status, which only names steps, imports
this module alone so that it does not pay for NumPy at start-up."""

from __future__ import annotations

import hashlib
from typing import Final

NEVER: Final = 1 << 62
"""A time that never comes (seconds); far enough from int64 overflow that adding a delay stays safe."""


def name_key(text: str) -> int:
    """A stable 64-bit key for a name (a step id, an event name); Python's hash() is salted per process."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
