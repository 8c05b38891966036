"""Errors a user can act on: each carries one clear line that says what is wrong and where."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), to show a user."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class JourneyStudioError(Exception):
    """Base of every error that is reported to the user as one line (never as a traceback)."""


class FormatError(JourneyStudioError):
    """Bad input in a journey file, located by file, line and column (1-based)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class ProjectFileError(JourneyStudioError):
    """A project file that cannot be opened or written: not a project, damaged, too new, read-only."""


class ModelError(JourneyStudioError):
    """An edit that the journey model refuses (unknown step, port that the tile does not have...)."""


class AudienceError(JourneyStudioError):
    """Contacts or segments that cannot be used: a bad segment query, a bad contacts file, no population."""
