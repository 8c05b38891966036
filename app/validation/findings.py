"""What the check for errors returns: a severity, where the problem is, what is wrong and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from app.model.values import printable


class Severity(str, Enum):
    """How bad a finding is: errors block export, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem found by the check for errors."""

    severity: Severity
    code: str
    message: str
    fix: str
    journey: str | None = None
    step: str | None = None
    field: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d

    def format(self) -> str:
        where = self.journey or ""
        if self.step:
            where += f" / {self.step}"
        if self.field:
            where += f" ({self.field})"
        return f"{self.severity.value}: {where}: {self.message} Fix: {self.fix}"


def error(code: str, message: str, fix: str, **where: Any) -> Finding:
    """An error finding; its message and fix are one line (names quoted in them may hold line breaks)."""
    return Finding(Severity.ERROR, code, printable(message), printable(fix), **where)


def warning(code: str, message: str, fix: str, **where: Any) -> Finding:
    """A warning finding; its message and fix are one line."""
    return Finding(Severity.WARNING, code, printable(message), printable(fix), **where)
