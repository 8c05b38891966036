"""The system clipboard, handed back before Python shuts down.

QClipboard owns the QMimeData we give it and is destroyed by Qt's C++ exit handlers, after the interpreter
has finalised; destroying a Python-created QMimeData then crashes the process (a segfault at exit, seen on a
fresh install after the copy/paste tests). Clearing the clipboard from an atexit hook, while Python is still
alive, lets Qt delete our data in time.
"""

from __future__ import annotations

import atexit

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

_hooked = False


def set_mime_data(mime: QMimeData) -> None:
    """Put data on the system clipboard (and make sure it is released before the interpreter exits)."""
    global _hooked
    if not _hooked:
        atexit.register(_release)
        _hooked = True
    QGuiApplication.clipboard().setMimeData(mime)


def _release() -> None:
    if QGuiApplication.instance() is not None:
        QGuiApplication.clipboard().clear()
