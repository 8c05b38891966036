"""Bring a package back into a project, so that a reviewer can see exactly what was shipped.

The journey arrives as the released version it was packaged as (frozen; later edits make the next version),
with the simulation run the package carries saved and approved for that version, and the package's provenance
recorded as milestones: who packaged it and when, who signed it (and whether that key is trusted) and when, and
which package it came from. A journey of the same name is refused, or the package's is imported under a free
name ('rename') or replaces it ('replace'), as importing a journey file does. Content and segments the project
lacks are added; those it already has under the same name but defined differently are kept, and reported: a
review never overwrites the team's work.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from app.errors import JourneyStudioError, one_line
from app.model.journey import Journey
from app.model.project import Project
from app.package import manifest as m
from app.package.keyring import fingerprint
from app.package.read import Package, read_package
from app.package.signing import PublicKeyLike
from app.services import ImportPlan, clash_message, plan_import

if TYPE_CHECKING:
    from app.store.project_file import ProjectFile

Clash = Literal["refuse", "rename", "replace"]
CLASHES: tuple[str, ...] = ("refuse", "rename", "replace")
_MAX_RECORD_ENTRIES = 16
_MAX_RECORD_JSON = 16 * m.MiB


def plan_package_import(project: Project, package: Package, *, name: str | None = None,
                        on_clash: Clash = "refuse") -> tuple[ImportPlan, list[str]]:
    """What importing a checked package would add; (plan, report). A journey of the same name is refused,
    renamed or replaced (`on_clash`); content and segments the project already has are kept, and reported
    when they differ."""
    if on_clash not in CLASHES:
        raise ValueError(f"on_clash must be one of {', '.join(CLASHES)}")
    journey = package.journey
    if name is not None:
        name = name.strip()
        if not name:
            raise JourneyStudioError("the name to import the journey as is empty")
        if project.find_journey(name) is not None and on_clash == "refuse":
            raise JourneyStudioError(f"the project already has a journey named '{name}'; choose another name "
                                     "(nothing was changed)")
        journey = journey.clone(name=name)
    existing = project.find_journey(journey.name)
    if existing is not None and on_clash == "refuse":
        raise JourneyStudioError(clash_message(project, journey.name))
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
                       [s for s in package.segments.values() if s.name not in project.segments],
                       rename=on_clash == "rename", replace=on_clash == "replace")
    if plan.replaces is not None:  # a new id: the replaced journey's released versions stay its history
        plan.journey = plan.journey.clone(id=project.new_journey_id())
        plan.journey.version = journey.version  # its own history: the package's version, not the replaced one's
    report = plan.report[:-1] + kept
    if existing is not None:
        report.append(f"The project already had a journey named '{journey.name}': "
                      + ("replaced it" if plan.replaces is not None else f"imported as '{plan.journey.name}'"))
    report.append(f"Imported journey '{plan.journey.name}' ({len(plan.journey)} steps), version {package.version} "
                  f"as packaged on {package.created_at}")
    return plan, report


def imported_milestone(package: Package) -> str:
    """The detail of the "imported" milestone: which package, which version, who signed it."""
    signed = f", signed by {package.signed_by}" if package.signed_by else ", unsigned"
    return (f"package {package.path.name}: '{package.name}' version {package.version}, made {package.created_at}"
            f"{signed}, SHA-256 {package.sha256[:16]}")


def provenance_milestones(package: Package) -> list[tuple[str, str]]:
    """(kind, detail) of the milestones that say where an imported package came from: packaged, signed; and what
    it says of the contacts in flight on the previous version, when it says it."""
    made = package.packaged
    out = [("packaged", f"version {package.version} packaged by {made['by'] or 'someone (not recorded)'} at "
                        f"{made['at']}, project '{package.manifest.get('project', '')}'")]
    signed = package.signed
    if signed is not None:
        if package.signature_trusted:
            whose = f"the trusted key '{package.signer_name}' {fingerprint(signed['key_id'])}"
        else:
            whose = f"key {fingerprint(signed['key_id'])}, not a trusted key of this project"
        claimed = f" ('{signed['by']}')" if signed["by"] and signed["by"] != package.signer_name else ""
        out.append(("signed", f"signed by {whose}{claimed}" + (f" at {signed['at']}" if signed["at"] else "")))
    else:
        out.append(("signed", "not signed" + (" (accepted explicitly although trusted keys are configured)"
                                              if package.allowed_unsigned else "")))
    if package.manifest.get("in_flight") is not None:  # what it said of the contacts on the previous version
        from app.package.in_flight import from_plain
        plan = from_plain(package.manifest["in_flight"], str(package.path))
        out.append(("in-flight", f"version {package.version}: {plan.summary()}"))
    return out


# --- the approved run -------------------------------------------------------------------------------------------

@dataclass
class _PackagedRun:
    """The approved run a package carries, as `ProjectFile.save_run` takes it (app.store.runs.SavedRun)."""

    journey_id: str
    journey_version: int
    population: dict[str, Any]
    behaviour: dict[str, Any]
    seed: int
    replicas: int
    results: dict[str, Any]
    created_at: str
    blob: bytes
    changes: tuple[tuple[str, Any, Any], ...]

    def to_bytes(self) -> bytes:
        return self.blob

    def behaviour_changes(self) -> tuple[tuple[str, Any, Any], ...]:
        return self.changes


def _rekeyed(blob: bytes, journey_id: str, version: int) -> tuple[bytes, dict[str, Any]]:
    """The run's record with its journey id and version set to the imported journey's; (bytes, record.json).

    The record is a zip of record.json and the run's packed columns (simulator.runs.RunRecord.to_bytes); the
    columns are copied as they are."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        infos = src.infolist()
        if len(infos) > _MAX_RECORD_ENTRIES:
            raise ValueError(f"{len(infos)} entries")
        meta: dict[str, Any] | None = None
        for info in infos:
            if info.file_size > m.MAX_MEMBER_BYTES or (info.filename == "record.json"
                                                       and info.file_size > _MAX_RECORD_JSON):
                raise ValueError(f"{info.filename} is too large")
            data = src.read(info)
            if info.filename == "record.json":
                meta = json.loads(data.decode("utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError("record.json is not an object")
                meta["journey_id"], meta["journey_version"] = journey_id, version
                data = json.dumps(meta).encode("utf-8")
            dst.writestr(zipfile.ZipInfo(info.filename), data, compress_type=info.compress_type)
    if meta is None:
        raise ValueError("it has no record.json")
    return out.getvalue(), meta


def _run_from_package(package: Package, journey_id: str) -> tuple[_PackagedRun | None, str]:
    """The package's approved run, to save under `journey_id`; (run, why not) with run None when it cannot be."""
    summary = package.approved_run or {}
    record = package.run_record
    if record is None:
        return None, "the package carries its summary only (made by an earlier version, or too large to carry)"
    try:
        blob, meta = _rekeyed(record, journey_id, package.version)
        changes = tuple((str(c["figure"]), c.get("value"), c.get("default"))
                        for c in summary.get("behaviour_changes") or [] if isinstance(c, dict) and "figure" in c)
        run = _PackagedRun(journey_id, package.version, dict(meta["population"]), dict(meta["behaviour"]),
                           int(meta["seed"]), int(meta["replicas"]), dict(meta["results"]),
                           str(meta.get("created_at") or summary.get("created_at") or package.created_at), blob,
                           changes)
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, OSError,
            EOFError, NotImplementedError) as e:
        return None, f"its record cannot be read ({one_line(e) or type(e).__name__})"
    return run, ""


def import_package(project: Project, package: Package, *, name: str | None = None,
                   on_clash: Clash = "refuse") -> tuple[Journey, list[str]]:
    """Add a checked package's journey, content and segments in one transaction; (journey added, report)."""
    plan, report = plan_package_import(project, package, name=name, on_clash=on_clash)
    with project.batch():
        for c in plan.content:
            project.put_content(c)
        for s in plan.segments:
            project.put_segment(s)
        if plan.replaces is not None:
            project.remove_journey(plan.replaces.id)
        project.add_journey(plan.journey)
    return plan.journey, report


def record_package_import(pf: ProjectFile, journey_id: str, package: Package) -> list[str]:
    """What makes an imported journey the release it was: its version frozen, the approved run the package
    carries saved and approved for that version, and milestones of where it came from; more report lines."""
    report: list[str] = []
    journey = pf.project.journey(journey_id)
    if journey.version == package.version and package.version not in {n for n, _ in pf.versions(journey_id)}:
        pf.freeze(journey_id)
        report.append(f"Version {package.version} is the released version; edits make version "
                      f"{package.version + 1}")
    for kind, detail in provenance_milestones(package):
        pf.add_milestone(journey_id, kind, detail)
    if package.approved_run is not None:
        shown = package.approved_run
        run, why = _run_from_package(package, journey_id)
        if run is None:
            report.append(f"The approved run {shown.get('id')} '{shown.get('name')}' was not added to the saved runs: "
                          f"{why}")
        else:
            run_id = pf.save_run(run, name=str(shown.get("name") or ""))
            pf.approve_run(run_id, str(shown.get("approved_by") or "someone"))
            report.append(f"Added the approved run as run {run_id} '{shown.get('name')}', approved for version "
                          f"{package.version} (by {shown.get('approved_by')} on {shown.get('approved_at')}, "
                          "as packaged)" + ("; it simulated an earlier draft of this version"
                                            if shown.get("journey_matches") is False else ""))
    pf.add_milestone(journey_id, "imported", imported_milestone(package))
    return report


def import_package_into(pf: ProjectFile, package: Package, *, name: str | None = None,
                        on_clash: Clash = "refuse") -> list[str]:
    """Import a checked package into an open project, as its released version with its approved run and its
    provenance recorded; the report."""
    journey, report = import_package(pf.project, package, name=name, on_clash=on_clash)
    return report[:-1] + record_package_import(pf, journey.id, package) + report[-1:]  # "Imported journey..." last


def import_package_file(pf: ProjectFile, path: str | os.PathLike[str], *, name: str | None = None,
                        public_key: PublicKeyLike | None = None, require_signature: bool = False,
                        on_clash: Clash = "refuse") -> list[str]:
    """Check a package file and import it into an open project (see `import_package_into`); the report."""
    package = read_package(path, public_key=public_key, require_signature=require_signature)
    return import_package_into(pf, package, name=name, on_clash=on_clash)


__all__ = ["CLASHES", "Clash", "clash_message", "import_package", "import_package_file", "import_package_into",
           "imported_milestone", "plan_package_import", "provenance_milestones", "record_package_import"]
