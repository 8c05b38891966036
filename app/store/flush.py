"""A thread that has the OS write a file's already-written pages out to disk while a long write goes on.

A large load writes hundreds of MB into the project file, which the OS holds in memory until the commit's sync;
syncing them as they come leaves that sync little to wait for. Only what SQLite has already written is synced,
which its journal rules allow at any time (the journal is synced before any page of the file is overwritten).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def flushing(path: str | os.PathLike[str], every: float = 0.25) -> Iterator[None]:
    """While the block runs, sync the file at `path` every `every` seconds on a thread of its own. POSIX only;
    elsewhere (or for a file it cannot open) a plain block."""
    sync = getattr(os, "fdatasync", None)
    if os.name != "posix" or sync is None or not str(path):
        yield
        return
    try:
        fd = os.open(Path(path), os.O_RDONLY)
    except OSError:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                sync(fd)
            except OSError:  # a file system that cannot: the commit syncs anyway
                return

    thread = threading.Thread(target=run, name="file-flush", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        os.close(fd)


__all__ = ["flushing"]
