"""Keep freed memory for reuse during a run, and give it back after.

The engine allocates many short-lived arrays of a chunk's size (8 MB per million int64). glibc hands every
such block back to the kernel on free and takes fresh, zeroed pages on the next allocation; in a VM each page
fault is dear (measured here: about half the run time of a 1M-contact run went to faults). During a run we ask
glibc to keep freed memory, so temporaries reuse the same pages; afterwards `malloc_trim` returns what is free
to the kernel. Setting any threshold turns off glibc's own adjustment of them for good, so afterwards they are
left where that adjustment tends to go on its own (blocks up to 32 MB from the heap) with a moderate trim
threshold, not at the 128 KB start values (which would make every later NumPy temporary a fresh mapping).
Elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_TRIM = 2**31 - 1
_MMAP = 32 << 20  # glibc's largest mmap threshold on 64-bit systems (its dynamic threshold's ceiling)
_AFTER_TRIM = 64 << 20
_lock = threading.Lock()
_depth = 0


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has no mallopt)
        libc.malloc_trim  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


@contextmanager
def keep_freed_memory() -> Iterator[None]:
    """Within this block, freed memory stays in the process for reuse; it is released when the last block ends."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1 and _LIBC is not None:
            _LIBC.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(_KEEP_TRIM))
            _LIBC.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(_MMAP))
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _LIBC is not None:
                _LIBC.malloc_trim(ctypes.c_size_t(0))
                _LIBC.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(_AFTER_TRIM))
