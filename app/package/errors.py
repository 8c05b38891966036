"""What packaging reports to the user: a package that cannot be read, a journey that may not be packaged, a
key file that cannot be used. Each is one clear line (a refusal also carries its findings, one per line)."""

from __future__ import annotations

from typing import Sequence

from app.errors import JourneyStudioError


class PackageError(JourneyStudioError):
    """A package file that is refused: damaged, changed, unsafe, too new, or not signed as required."""


class KeyFileError(JourneyStudioError):
    """A signing or public key file that cannot be read or is not an Ed25519 key."""


class PackageRefused(JourneyStudioError):
    """A journey that may not go live yet; `lines` lists every reason (findings, content not ready)."""

    def __init__(self, message: str, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__(message)
