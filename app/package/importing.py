"""Bring a package back into a project, so that a reviewer can see exactly what was shipped.

The journey is added under its own name, or renamed when the name is taken (as importing a journey file with
rename does); content and segments the project lacks are added. Content or segments the project already has
under the same name but defined differently are kept as they are, and reported: a review never overwrites
the team's work.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from app.errors import JourneyStudioError
from app.model.journey import Journey
from app.model.project import Project
from app.package.read import Package, read_package
from app.package.signing import PublicKeyLike
from app.services import ImportPlan, plan_import

if TYPE_CHECKING:
    from app.store.project_file import ProjectFile


def plan_package_import(project: Project, package: Package, *,
                        name: str | None = None) -> tuple[ImportPlan, list[str]]:
    """What importing a checked package would add (its journey renamed if the name is taken; content and
    segments the project already has are kept, and reported when they differ); (plan, report)."""
    journey = package.journey
    if name is not None:
        name = name.strip()
        if not name:
            raise JourneyStudioError("the name to import the journey as is empty")
        if project.find_journey(name) is not None:
            raise JourneyStudioError(f"the project already has a journey named '{name}'; choose another name "
                                     "(nothing was changed)")
        journey = journey.clone(name=name)
    kept: list[str] = []
    for c in package.content.values():
        old = project.content.get(c.name)
        if old is not None and old != c:
            kept.append(f"Kept the project's content '{c.name}': the package's differs (not overwritten)")
    for s in package.segments.values():
        old_s = project.segments.get(s.name)
        if old_s is not None and old_s != s:
            kept.append(f"Kept the project's segment '{s.name}': the package's definition differs "
                        "(not overwritten)")
    plan = plan_import(project, journey,
                       [c for c in package.content.values() if c.name not in project.content],
                       [s for s in package.segments.values() if s.name not in project.segments], rename=True)
    report = plan.report[:-1] + kept
    if plan.journey.name != journey.name:
        report.append(f"The project already has a journey named '{journey.name}'")
    report.append(f"Imported journey '{plan.journey.name}' ({len(plan.journey)} steps), version {package.version} "
                  f"as packaged on {package.created_at}")
    return plan, report


def imported_milestone(package: Package) -> str:
    """The detail of the "imported" milestone: which package, which version, who signed it."""
    signed = f", signed by {package.signed_by}" if package.signed_by else ", unsigned"
    return (f"package {package.path.name}: '{package.name}' version {package.version}, made {package.created_at}"
            f"{signed}, SHA-256 {package.sha256[:16]}")


def import_package(project: Project, package: Package, *, name: str | None = None) -> tuple[Journey, list[str]]:
    """Add a checked package's journey, content and segments in one transaction; (journey added, report)."""
    plan, report = plan_package_import(project, package, name=name)
    with project.batch():
        for c in plan.content:
            project.put_content(c)
        for s in plan.segments:
            project.put_segment(s)
        project.add_journey(plan.journey)
    return plan.journey, report


def import_package_into(pf: ProjectFile, package: Package, *, name: str | None = None) -> list[str]:
    """Import a checked package into an open project and record an "imported" milestone; the report."""
    journey, report = import_package(pf.project, package, name=name)
    pf.add_milestone(journey.id, "imported", imported_milestone(package))
    return report


def import_package_file(pf: ProjectFile, path: str | os.PathLike[str], *, name: str | None = None,
                        public_key: PublicKeyLike | None = None, require_signature: bool = False) -> list[str]:
    """Check a package file and import it into an open project (see `import_package_into`); the report."""
    package = read_package(path, public_key=public_key, require_signature=require_signature)
    return import_package_into(pf, package, name=name)


__all__ = ["import_package", "import_package_file", "import_package_into", "imported_milestone",
           "plan_package_import"]
