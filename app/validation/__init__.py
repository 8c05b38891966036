"""Check for errors: findings about journeys, shared by the command line, the designer and export."""

from app.validation.findings import Finding, Severity

__all__ = ["Finding", "Severity"]
