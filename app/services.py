"""Project-level operations shared by the command line and the designer (import, summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from app.codec.plain import referenced_segments
from app.codec.yamlio import read_journey_file
from app.errors import JourneyStudioError
from app.model.content import Content
from app.model.journey import Journey
from app.model.layout import layered_layout
from app.model.project import Project
from app.model.segment import Segment
from app.resources import resource_path


@dataclass
class ImportPlan:
    """What importing a journey file will change: content and segments to add or update, the journey."""

    journey: Journey
    content: list[Content] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    replaces: Journey | None = None
    report: list[str] = field(default_factory=list)


def clash_message(project: Project, name: str) -> str:
    """What a refused name clash says, for `import` and `import-package` alike."""
    return (f"the project already has a journey named '{name}': give --rename to import it as "
            f"'{project.unique_journey_name(name)}', or --replace to replace it (nothing was changed)")


def plan_import(project: Project, journey: Journey, contents: list[Content], segments: list[Segment], *,
                replace: bool = False, rename: bool = False) -> ImportPlan:
    """Work out an import without changing the project.

    A journey of the same name is refused unless `replace` (or renamed with `rename`); content and segments
    are added, or updated when the file defines them differently. Segments the journey names but nobody
    defines become placeholders of the journey's target, so the journey refers to something real. A journey
    without positions is laid out.
    """
    existing = project.find_journey(journey.name)
    if existing is not None and not (replace or rename):
        raise JourneyStudioError(clash_message(project, journey.name))
    name = project.unique_journey_name(journey.name) if existing is not None and rename else journey.name
    new = journey.clone(id=existing.id if existing is not None and replace else project.new_journey_id(), name=name)
    if existing is not None and replace:  # the same journey goes on: its draft keeps its place in the versions
        new.version = max(new.version, existing.version)
    if all(step.position is None for step in new):
        for sid, pos in layered_layout(new).items():
            new.step(sid).position = pos
    plan = ImportPlan(new, replaces=existing if replace else None)
    for c in contents:
        old = project.content.get(c.name)
        if old != c:
            plan.content.append(c)
            plan.report.append(f"{'Updated' if old else 'Added'} {c.kind} content '{c.name}'")
    defined = {s.name for s in segments}
    for sg in segments:
        old_s = project.segments.get(sg.name)
        if old_s != sg:
            plan.segments.append(sg)
            plan.report.append(f"{'Updated' if old_s else 'Added'} segment '{sg.name}'")
    for seg_name in referenced_segments(new):
        if seg_name not in project.segments and seg_name not in defined:
            plan.segments.append(Segment(seg_name, entity=new.target))
            plan.report.append(f"Added segment '{seg_name}' ({new.target}; define its members later)")
    plan.report.append(f"{'Replaced' if plan.replaces else 'Imported'} journey '{new.name}' ({len(new)} steps)")
    return plan


def import_journey(project: Project, journey: Journey, contents: list[Content], segments: list[Segment], *,
                   replace: bool = False, rename: bool = False) -> list[str]:
    """Import a decoded journey with its content and segments, in one transaction; returns a report."""
    plan = plan_import(project, journey, contents, segments, replace=replace, rename=rename)
    with project.batch():
        for c in plan.content:
            project.put_content(c)
        for sg in plan.segments:
            project.put_segment(sg)
        if plan.replaces is not None:
            project.remove_journey(plan.replaces.id)
        project.add_journey(plan.journey)
    return plan.report


def project_summary(pf: Any) -> dict[str, Any]:
    """What `info` shows: the project's journeys with versions and milestones, segments and content."""
    p: Project = pf.project
    return {
        "name": p.name,
        "path": str(pf.path),
        "schema": pf.schema_version(),
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


def template_paths() -> list[Path]:
    """The journey templates shipped in resources/templates, in gallery order."""
    order = ["announcement", "re-engagement", "welcome-series", "renewal-reminder", "abandoned-cart"]
    found = sorted(resource_path("templates").glob("*.yaml"),
                   key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    return found


DEMO_TEMPLATES = ("announcement", "re-engagement", "welcome-series")
DEMO_CONTACTS = 5_000
DEMO_SEED = 2026
DEMO_AS_OF = date(2026, 11, 1)  # fixed, so that every demo project holds the same contacts


def create_demo_project(path: Path, *, contacts: int = DEMO_CONTACTS, seed: int = DEMO_SEED,
                        as_of: date = DEMO_AS_OF) -> None:
    """A project holding journeys built from the seed documents and a synthetic population (the same rows on
    every machine), so that a first start shows segments with members at once."""
    from app.audience.population import generate  # NumPy and Faker: only when a demo is made
    from app.store import ProjectFile
    with ProjectFile.create(path, name="Demo project") as pf:
        for stem in DEMO_TEMPLATES:
            journey, contents, segments = read_journey_file(resource_path("templates", f"{stem}.yaml"))
            import_journey(pf.project, journey, contents, segments)
        if contacts:
            generate(pf, contacts, seed, as_of=as_of)
