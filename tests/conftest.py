"""Test set-up: Qt runs offscreen (CI has no display); hypothesis profiles."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")

pytest_plugins = ["tests.window_helpers"]  # the leftover_windows_closed fixture of the main-window tests
