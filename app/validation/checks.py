"""Check for errors: run every journey rule and every tile's own checks, and sort what they find.

Rules live in settings_rules (audience, schedule, triggers...), flow_rules (links, reachability, loops,
if/then ordering), step_rules (tile types, property types, tokens), segment_rules (segment queries) and
time_rules (go-live time: start passed, end before the last wait, quiet hours without a slot);
per-tile checks live in the registry.
The validator never raises: a rule that fails unexpectedly becomes one `check-failed` finding.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Callable, Iterable

from app.model.journey import Journey
from app.model.project import Project
from app.validation import flow_rules, segment_rules, settings_rules, step_rules, time_rules
from app.validation.context import Context
from app.validation.findings import Finding, error

Rule = Callable[[Context], Iterable[Finding]]

RULES: tuple[Rule, ...] = (step_rules.RULES + flow_rules.RULES + settings_rules.RULES + segment_rules.RULES
                          + time_rules.RULES)

# Findings that need the project's content and segments to be decided; without a project they are unknown.
_NEEDS_PROJECT = frozenset({"unknown-content", "unknown-segment"})


def check_journey(journey: Journey, project: Project | None = None, *, for_export: bool = False,
                  now: datetime | None = None) -> list[Finding]:
    """Every problem in `journey` (errors first, then in step order); export mode makes drafts errors and looks
    at the start and end from `now` (default: the clock, time_rules.clock)."""
    ctx = Context(journey, project, for_export, now)
    findings: list[Finding] = []
    for rule in RULES:
        findings += _guarded(rule.__name__, rule, ctx)
    findings += _tile_checks(ctx)
    return _sorted(findings, ctx)


def check_project(project: Project, *, for_export: bool = False) -> dict[str, list[Finding]]:
    """The findings of every journey in the project, by journey name."""
    return {j.name: check_journey(j, project, for_export=for_export) for j in project.journeys}


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (which blocks export)."""
    return any(f.is_error for f in findings)


def _guarded(name: str, rule: Rule, ctx: Context, step: str | None = None) -> list[Finding]:
    try:
        return list(rule(ctx))
    except Exception as e:  # noqa: BLE001 - a bug in one rule must not hide every other finding
        return [error("check-failed", f"The check '{name}' failed ({type(e).__name__}: {e}); its findings are "
                      "missing.", "This is a bug in Journey Studio: please report it with the journey file.",
                      **ctx.where(step))]


def _tile_checks(ctx: Context) -> list[Finding]:
    """Each step's own checks from the registry, for steps of known types with well-typed properties."""
    findings: list[Finding] = []
    for step in ctx.steps.values():
        tile = ctx.tile(step)
        if tile is None or not ctx.sound(step):
            continue
        for check in tile.checks:
            findings += _guarded(f"{tile.id}: {check.__name__}", partial(check, step), ctx, step.id)
    if ctx.project is None:
        findings = [f for f in findings if f.code not in _NEEDS_PROJECT]
    return findings


def _sorted(findings: list[Finding], ctx: Context) -> list[Finding]:
    """Errors first; then journey-wide findings, then by step order (stable within a step)."""
    def key(f: Finding) -> tuple[int, int]:
        index = ctx.order.get(f.step, len(ctx.order)) if isinstance(f.step, str) else -1
        return (0 if f.is_error else 1, index)
    return sorted(findings, key=key)


__all__ = ["check_journey", "check_project", "has_errors", "RULES"]
