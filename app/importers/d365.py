"""Dynamics 365 outbound-marketing customer journeys (msdyncrm_workflowdefinition) onto our tiles."""

from __future__ import annotations

from typing import Any


def looks_like(doc: Any) -> bool:
    return False


def import_doc(doc: Any, *, detected: bool) -> Any:
    raise NotImplementedError
