"""Rules about the segments a journey uses: their definitions (queries, lists) can be evaluated."""

from __future__ import annotations

from typing import Iterable, Iterator

from app.audience.query import validate_segment
from app.validation.context import Context
from app.validation.findings import Finding, error, warning
from app.validation.settings_rules import _audience_refs, _triggers


def _used_segments(ctx: Context) -> Iterator[tuple[str | None, str, str]]:
    """(step, field, segment name) for every segment the journey names, each once."""
    seen: set[str] = set()
    refs: list[tuple[str | None, str, str]] = [(None, "audience", name) for _, _, name in _audience_refs(ctx)]
    refs += [(None, fld, trigger.segment) for fld, trigger in _triggers(ctx)
             if isinstance(getattr(trigger, "segment", None), str)]
    refs += [(step.id, "segment", step.props["segment"]) for step in ctx.steps.values()
             if isinstance(step.props, dict) and isinstance(step.props.get("segment"), str)]
    for step, fld, name in refs:
        if name not in seen:
            seen.add(name)
            yield step, fld, name


def segment_queries(ctx: Context) -> Iterable[Finding]:
    """The segments a journey uses have queries (or lists) that can be evaluated."""
    custom = ctx.custom_attributes()
    for step, fld, name in _used_segments(ctx):
        segment = ctx.segment(name)
        if segment is None:
            continue  # unknown_segments reports it
        if segment.kind == "dynamic" and segment.query is None:
            # a simulation assumes its share of contacts and the package may go to a runner that defines it, but
            # counting its members and this project's live runner need the query: said before either refuses
            yield warning("segment-no-query", f"Segment '{name}' is dynamic but has no query yet: its members "
                          "cannot be counted, and the live runner cannot run the journey until it has one.",
                          "Add its query blocks in the segment editor, or make it a static list.",
                          **ctx.where(step, fld))
            continue
        for problem in validate_segment(segment, custom):
            yield error("segment-query", f"Segment '{name}': {problem.format()}.", problem.fix,
                        **ctx.where(step, fld))


RULES = (segment_queries,)
