"""Journey Studio core: journey model, validation, project file and command line (no Qt here)."""

__version__ = "0.1.0"
APP_NAME = "Journey Studio"
