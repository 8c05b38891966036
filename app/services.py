"""Project-level operations shared by the command line and the designer (import, summary)."""

from __future__ import annotations

from typing import Any

from app.codec.plain import referenced_segments
from app.errors import JourneyStudioError
from app.model.content import Content
from app.model.journey import Journey
from app.model.project import Project
from app.model.segment import Segment


def import_journey(project: Project, journey: Journey, contents: list[Content], segments: list[Segment], *,
                   replace: bool = False) -> list[str]:
    """Add a decoded journey with its content and segments to the project, in one transaction.

    A journey of the same name is refused unless `replace`; content and segments are added, or updated when
    the file defines them differently. Segments the journey names but nobody defines are created as
    placeholders of the journey's target, so that the journey refers to something real. Returns a report.
    """
    report: list[str] = []
    existing = project.find_journey(journey.name)
    if existing is not None and not replace:
        raise JourneyStudioError(f"the project already has a journey named '{journey.name}' "
                                 "(use --replace to replace it; nothing was changed)")
    with project.batch():
        for c in contents:
            old = project.content.get(c.name)
            if old != c:
                project.put_content(c)
                report.append(f"{'Updated' if old else 'Added'} {c.kind} content '{c.name}'")
        for s in segments:
            old_s = project.segments.get(s.name)
            if old_s != s:
                project.put_segment(s)
                report.append(f"{'Updated' if old_s else 'Added'} segment '{s.name}'")
        for name in referenced_segments(journey):
            if name not in project.segments:
                project.put_segment(Segment(name, entity=journey.target))
                report.append(f"Added segment '{name}' ({journey.target}; define its members later)")
        if existing is not None:
            project.remove_journey(existing.id)
            journey = journey.clone(id=existing.id)
        else:
            journey = journey.clone(id=project.new_journey_id())
        project.add_journey(journey)
    report.append(f"{'Replaced' if existing else 'Imported'} journey '{journey.name}' ({len(journey)} steps)")
    return report


def project_summary(pf: Any) -> dict[str, Any]:
    """What `info` shows: the project's journeys with versions and milestones, segments and content."""
    p: Project = pf.project
    return {
        "name": p.name,
        "path": str(pf.path),
        "schema": pf.schema_revision,
        "readonly": pf.readonly_reason if pf.readonly else None,
        "journeys": [{
            "name": j.name, "steps": len(j), "target": j.target, "frequency": j.frequency.kind,
            "version": j.version,
            "frozen_versions": [v for v, _ in pf.versions(j.id)],
            "milestones": [{"kind": k, "at": at.isoformat(timespec="seconds"), "detail": d}
                           for k, at, d in pf.milestones(j.id)],
        } for j in p.journeys],
        "segments": [{"name": s.name, "entity": s.entity, "kind": s.kind} for s in p.segments.values()],
        "content": [{"name": c.name, "kind": c.kind, "status": c.status} for c in p.content.values()],
    }
