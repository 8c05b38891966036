"""Writing files the user asked for (exports, reports, packages, keys) so that a crash never leaves half a file.

One way in: `write_atomically` writes a regular file under a temporary name in the same folder, syncs it to
disk and moves it into place, so that a crash, a full disk or a refusal leaves the old file as it was. It keeps
an existing file's permission bits (and owner, where it may), gives a new file 0644 (0600 when private, for
keys), both less the umask, and refuses what is not a regular file: a device (/dev/null, a terminal), a named
pipe, a socket, a folder. Every refusal is an `OutputFileError`, one line naming the file.

CSV exports go through `csv_cell` (or `csv_text` / `write_csv`, which use it), so that a text cell a
spreadsheet would run as a formula is written as text.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Sequence, overload

from app.errors import JourneyStudioError

STDOUT = "-"  # as an output file name: standard output, for commands whose output is text

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DESCRIPTOR_NAMES = ("/dev/fd/", "/proc/")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)")


class OutputFileError(JourneyStudioError, OSError):
    """An output file that is not written: not a regular file, no such folder, no permission, a full disk...

    Also an OSError, so that code written for the errors of `open()` keeps catching it.
    """

    def __init__(self, message: str) -> None:
        JourneyStudioError.__init__(self, message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _kind(mode: int) -> str | None:
    """What a file that is not a regular one is, in a user's words (None for a regular file)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return None if stat.S_ISREG(mode) else "not a regular file"


def os_error_text(path: Path | str, e: OSError) -> str:
    """One line saying why `path` could not be written, for an error from the operating system."""
    if e.errno in _FULL:
        return f"{path}: the disk is full; nothing was written (the file, if any, is as it was)"
    return f"{path}: {os_reason(e)}; nothing was written"


def os_reason(e: OSError) -> str:
    """Why the operating system refused a write, in a few words."""
    if e.errno in _FULL:
        return "the disk is full"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot write the file: {e.strerror or e}"


def check_output_path(path: Path | str, *, dash: bool = False) -> None:
    """Refuse, before any work is done, an output path that is not (and cannot become) a regular file.

    `dash`: the caller takes '-' as standard output, and the refusal of a device or a pipe says so.
    """
    p = Path(path)
    hint = " (give - to write to standard output)" if dash else ""
    try:
        st = os.stat(p)  # follows a symbolic link: what would be written is what it points to
    except FileNotFoundError:
        parent = Path(os.path.realpath(p)).parent
        if not parent.is_dir():
            raise OutputFileError(f"{p}: the folder {parent} does not exist") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputFileError(f"{p}: the folder {parent} cannot be written to") from None
        return
    except NotADirectoryError:
        raise OutputFileError(f"{p}: a part of the path before the file name is not a folder") from None
    except OSError as e:
        raise OutputFileError(os_error_text(p, e)) from None
    kind = _kind(st.st_mode)
    if kind == "a folder":
        raise OutputFileError(f"{p} is a folder; give the name of the file to write in it")
    if kind is not None:
        raise OutputFileError(f"{p} is {kind}; Journey Studio writes regular files only{hint}")
    if _names_a_descriptor(p) or _is_a_standard_stream(st):
        raise OutputFileError(f"{p} names an open stream (such as standard output), not a file to replace: what "
                              f"the stream still receives would be lost{hint}")
    if not st.st_mode & 0o222 or not os.access(p, os.W_OK):  # no write bits: read-only, even for root
        raise OutputFileError(f"{p} is read-only; nothing was written (make it writable, or choose another name)")
    parent = Path(os.path.realpath(p)).parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"{p}: the folder {parent} cannot be written to (a file is replaced by writing a new "
                              "one beside it)")


def _names_a_descriptor(p: Path) -> bool:
    """Whether the path is a name of an open file descriptor (/dev/stdout, /dev/fd/3, /proc/self/fd/1...)."""
    text = os.path.abspath(p)
    return text.startswith(_DESCRIPTOR_NAMES) or text in ("/dev/stdin", "/dev/stdout", "/dev/stderr")


def _is_a_standard_stream(st: os.stat_result) -> bool:
    """Whether the file is where this process's standard output or error goes (e.g. `--out log > log`)."""
    for fd in (1, 2):
        try:
            if os.path.samestat(os.fstat(fd), st):
                return True
        except (OSError, ValueError):
            continue
    return False


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (other threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(*, private: bool = False) -> int:
    """The permission bits of a new output file: 0644, or 0600 when private (keys), less the umask."""
    return (0o600 if private else 0o644) & ~_umask()


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to the file descriptor (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _keep_owner(path: str, old: os.stat_result) -> None:
    """Give the new file the old one's owner and group where we may (root may; a user may keep only their own)."""
    if not hasattr(os, "chown"):
        return
    try:
        os.chown(path, old.st_uid, old.st_gid)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _put_new(tmp: str, target: Path, shown: Path) -> None:
    """Move the written file to `target`, refusing to replace a file that appeared there meanwhile."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputFileError(f"{shown} already exists; choose another name (nothing was written)") from None
    except OSError:  # a file system without hard links: claim the name, then move the file onto it
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise OutputFileError(f"{shown} already exists; choose another name (nothing was written)") from None
        try:
            os.replace(tmp, target)
        except BaseException:
            target.unlink(missing_ok=True)  # our empty claim, not someone's file
            raise
        return
    os.unlink(tmp)


def write_atomically(path: Path | str, data: str | bytes, *, private: bool = False, replace: bool = True,
                     dash: bool = False) -> None:
    """Write a regular file so that a crash leaves either the old file or the new one, never half of one.

    Text is written as UTF-8, as it is (no newline translation). An existing file keeps its permission bits and
    (where allowed) its owner; a new one gets 0644, or 0600 when `private`, less the umask. With
    `replace=False` an existing file is refused, even one that appears while writing. A symbolic link is kept:
    the file it points to is replaced. OutputFileError (one line) for anything that cannot be written.
    """
    shown = Path(path)
    check_output_path(shown, dash=dash)
    target = Path(os.path.realpath(shown))
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise OutputFileError(os_error_text(shown, e)) from None
    if old is not None and not replace:
        raise OutputFileError(f"{shown} already exists; choose another name (nothing was written)")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if old is not None:
        mode = stat.S_IMODE(old.st_mode)
    else:
        mode = new_file_mode(private=private)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as e:
        raise OutputFileError(os_error_text(shown, e)) from None
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if old is not None:
            _keep_owner(tmp, old)
        os.chmod(tmp, mode)  # after chown, which may clear set-id bits
        if replace:
            os.replace(tmp, target)
        else:
            _put_new(tmp, target, shown)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputFileError):
            raise OutputFileError(os_error_text(shown, e)) from None
        raise
    _sync_folder(target.parent)


# --- CSV ---------------------------------------------------------------------------------------------------

@overload
def csv_cell(value: str) -> str: ...
@overload
def csv_cell(value: object) -> object: ...


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run as a formula: text starting with = + - @, a tab or a carriage
    return gets a leading single quote (the OWASP rule). Numbers, and text that is just a number (-0.25), stay
    as they are; so does everything else."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text (every cell through `csv_cell`), lines ending in \\n."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([csv_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def write_csv(path: Path | str, rows: Iterable[Sequence[object]], *, dash: bool = False) -> None:
    """Write rows as a CSV file, atomically (see `write_atomically`), every cell through `csv_cell`."""
    write_atomically(path, csv_text(rows), dash=dash)


__all__ = ["OutputFileError", "STDOUT", "check_output_path", "csv_cell", "csv_text", "new_file_mode", "os_error_text",
           "os_reason", "write_atomically", "write_csv"]
