"""The write lock of a project file: one Journey Studio window writes a project, others open it read-only.

The lock is an advisory `flock` on a sidecar file `<project>-lock` that holds the writer's process id. A
sidecar rather than the project file itself because SQLite uses POSIX (fcntl) locks on the database, and
POSIX locks are dropped when *any* descriptor of the file is closed by the process; keeping our own
descriptor of the database would make that easy to get wrong. The kernel releases a flock when its holder
dies, so a crash never leaves a project locked (a stale sidecar file is simply taken over).
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - not exercised on the Linux test machines
    import msvcrt

    _LOCK_OFFSET = 1 << 20  # Windows byte-range locks are mandatory: lock a byte past the pid text

    def _try_lock(fd: int, shared: bool = False) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

LOCK_SUFFIX = "-lock"


def lock_path(project_path: Path) -> Path:
    """The sidecar lock file of a project file."""
    return project_path.with_name(project_path.name + LOCK_SUFFIX)


class WriteLock:
    """A held write lock; `release()` removes the sidecar file and drops the lock."""

    def __init__(self, path: Path, fd: int, stale: bool = False) -> None:
        self.path = path
        self._fd: int | None = fd
        self.stale = stale  # a holder's sidecar was left behind: that program stopped without closing the file

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Unlink while still holding the lock; a waiter that opened the old inode notices (see acquire).
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        try:
            _unlock(fd)
        finally:
            os.close(fd)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def try_acquire(project_path: Path, attempts: int = 3) -> WriteLock | int:
    """Take the write lock: a WriteLock, or the holder's process id (0 if unknown) when another has it.

    Raises OSError when the sidecar file cannot be created (a read-only folder).
    """
    path = lock_path(project_path)
    holder: int | None = None
    for attempt in range(attempts):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if _try_lock(fd):
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                left = os.read(fd, 32).strip()  # a process id here: its holder stopped while writing
                stale = left.isdigit()
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                return WriteLock(path, fd, stale)
            _unlock(fd)  # the previous holder removed this inode as we locked it: try the new file
            os.close(fd)
            continue
        os.close(fd)
        holder = _read_pid(path)
        if attempt + 1 < attempts:
            time.sleep(0.02)  # a probe (held_by) holds a shared lock for a moment only
    return holder or 0


def held_by(project_path: Path) -> int | None:
    """The process id holding a project's write lock (0 if unknown), or None when nobody holds it.

    A holder in this very process counts too (flock locks belong to open file descriptions).
    """
    path = lock_path(project_path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as e:  # pragma: no cover - unreadable sidecar
        if e.errno in (errno.EACCES, errno.EPERM):
            return 0
        raise
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return _read_pid(path) or 0
