"""Make a package: judge whether a journey may go live, freeze it as a release, and write the `.jpkg` file.

A journey may be packaged while the check for errors (in export mode) finds no error and all the content it
sends is Ready to send. Packaging freezes the current draft as a version (as `export --release` does), or
packages a version frozen earlier; a draft unchanged since the last released version N (the layout aside) is
not frozen again: the package holds version N, with N's approved run. A new version records what changed since
the previous one. The package holds the frozen version, the check's report, and the simulation run approved for
that version, if any (its summary, and its record when it fits, to bring it back on import). The manifest says
who packaged it, and who signed it and when. An "exported" milestone records the package.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from app.codec.plain import (caps_to_plain, content_to_plain, journey_to_doc, referenced_content, referenced_segments,
                             segment_to_plain)
from app.codec.yamlio import dump_yaml
from app.errors import ProjectFileError
from app.files import OutputFileError, check_output_path, write_atomically
from app.model.content import Content
from app.model.journey import Journey
from app.model.project import ChannelCap, Project
from app.model.registry import REGISTRY
from app.model.segment import Segment
from app.package import manifest as m
from app.package.changes import VersionChanges, diff_versions, release_doc
from app.package.errors import PackageError, PackageRefused
from app.package.signing import key_id, sign, signature_bytes
from app.validation.checks import RULES, check_journey
from app.validation.findings import Finding
from app.words import count

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from app.package.in_flight import InFlight, Plan

    from app.store.project_file import ProjectFile
    from app.store.runs import RunInfo

STATUS_WORDS = {"draft": "Draft", "ready": "Ready to send"}
NOT_READY = "the content must be in the Ready to send state"


# --- may it go live? -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Readiness:
    """Whether a journey (its draft, or a frozen version) may be packaged, and what the package would carry."""

    journey_id: str
    journey_name: str
    version: int                        # the version the package holds
    freezes: bool                       # packaging freezes the current draft as `version`
    findings: tuple[Finding, ...]       # the check for errors in export mode
    content: tuple[Content, ...]        # the content the journey sends (that exists)
    not_ready: tuple[Content, ...]      # those of them that are not Ready to send
    approved_run: RunInfo | None        # the run approved for `version`, if any
    run_matches: bool | None            # whether that run simulated this very journey (None: no run)
    runner_refusal: str | None = None   # why Journey Studio's live runner could not run it (None: it can)
    reuses: bool = False                # the draft is unchanged since released `version`: packaged as that
    changes: VersionChanges | None = None  # what changed since the previous released version (None: first)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_error]

    @property
    def ready(self) -> bool:
        """True when nothing stops the journey from going live."""
        return not self.errors and not self.not_ready

    def refusal_lines(self) -> list[str]:
        """Every finding and every content item not Ready to send, one line each, errors first."""
        lines = [finding_line(f) for f in self.findings]
        lines += [content_line(c) for c in self.not_ready]
        return lines

    def refusal(self) -> PackageRefused:
        """The error that refuses to package this journey (only when not `ready`)."""
        parts = [count(len(self.errors), "error")] if self.errors else []
        if self.not_ready:
            parts.append(f"{count(len(self.not_ready), 'content item')} not Ready to send")
        return PackageRefused(f"journey '{self.journey_name}' cannot go live: {' and '.join(parts)} "
                              "(no package was written, nothing was frozen)", self.refusal_lines())


def finding_line(f: Finding) -> str:
    """One finding as a refusal lists it: severity, code, where, message and fix."""
    where = f"step '{f.step}'" if f.step else "journey"
    if f.field:
        where += f" ({f.field})"
    return f"{f.severity.value:<7} {f.code} in {where}: {f.message} Fix: {f.fix}"


def content_line(c: Content) -> str:
    """One content item that stops a journey from going live."""
    return f"content '{c.name}' ({c.kind}) is {STATUS_WORDS.get(c.status, c.status)}: {NOT_READY}"


def frozen_project(project: Project, contents: Sequence[Content], segments: Sequence[Segment]) -> Project:
    """A stand-in project holding a frozen version's content and segments (and the project's settings)."""
    p = Project(project.name)
    p.settings = replace(project.settings, custom_attributes=dict(project.settings.custom_attributes))
    for c in contents:
        p.put_content(c)
    for s in segments:
        p.put_segment(s)
    return p


def find_approved_run(pf: ProjectFile, journey_id: str, version: int) -> RunInfo | None:
    """The run approved last among the journey's runs of `version`, or None."""
    from app.store import runs as _runs
    finder = getattr(_runs, "approved_run", None)
    if finder is not None:
        return finder(pf, journey_id, version)
    approved = [r for r in pf.runs(journey_id) if r.approved and r.journey_version == version]
    return max(approved, key=lambda r: (r.approved_at, r.id), default=None)


def _comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A journey document without what a simulation does not depend on: layout, version number, content status."""
    out = release_doc(doc)
    if isinstance(out.get("content"), dict):
        out["content"] = {n: {k: v for k, v in c.items() if k != "status"} for n, c in out["content"].items()}
    return out


def run_matches(pf: ProjectFile, run: RunInfo, doc: Mapping[str, Any]) -> bool:
    """Whether a saved run simulated the journey of `doc` (a draft may change after a run, keeping its version)."""
    try:
        saved = pf.saved_journey_doc(run.id)
    except ProjectFileError:  # a damaged run blob: it cannot be shown to match
        return False
    return _comparable(saved) == _comparable(doc)


def version_doc(pf: ProjectFile, journey_id: str, version: int) -> dict[str, Any]:
    """The journey document of a released version, with the content and segments it used then."""
    j, contents, segments = pf.read_version(journey_id, version)
    return journey_to_doc(j, {c.name: c for c in contents}, {s.name: s for s in segments})


def assess(pf: ProjectFile, journey_key: str, version: int | None = None) -> Readiness:
    """Whether a journey's current draft (or its frozen `version`) may go live, and why not.

    The draft, when unchanged since the last released version (the layout aside), is judged as that version:
    packaging it reuses it (`reuses`) instead of freezing the same journey again."""
    journey = pf.project.journey(journey_key)
    released = [n for n, _ in pf.versions(journey.id)]
    reuses, changes, draft_run = False, None, None
    if version is None:
        draft_doc = journey_to_doc(journey, pf.project.content, pf.project.segments)
        if released:
            last_doc = version_doc(pf, journey.id, released[-1])
            if release_doc(last_doc) == release_doc(draft_doc):
                version, reuses = released[-1], True
                draft_run = find_approved_run(pf, journey.id, journey.version)  # approved on the same journey
            else:
                changes = diff_versions(last_doc, draft_doc, released[-1], journey.version)
    if version is None:
        j, project, number, doc = journey, pf.project, journey.version, draft_doc
    else:
        j, contents, segments = pf.read_version(journey.id, version)
        project, number = frozen_project(pf.project, contents, segments), version
        doc = journey_to_doc(j, {c.name: c for c in contents}, {s.name: s for s in segments})
        earlier = [n for n in released if n < version]
        if earlier and not reuses:
            changes = diff_versions(version_doc(pf, journey.id, earlier[-1]), doc, earlier[-1], version)
    findings = check_journey(j, project, for_export=True)
    used = tuple(project.content[n] for n in referenced_content(j) if n in project.content)
    run = find_approved_run(pf, journey.id, number)
    if run is None and draft_run is not None and run_matches(pf, draft_run, doc):
        run = draft_run
    return Readiness(journey.id, journey.name, number, version is None, tuple(findings), used,
                     tuple(c for c in used if c.status != "ready"), run,
                     run_matches(pf, run, doc) if run is not None else None,
                     runner_refusal(j, project) if not any(f.is_error for f in findings) else None,
                     reuses, changes)


def runner_refusal(journey: Journey, project: Project) -> str | None:
    """Why the live runner (app/runner) could not run the journey, or None. Not a refusal to package it: the
    package is the hand-over to any runner; the designer says so before the team ships it."""
    from app.runner.runnable import RunnerError, runnable
    try:
        runnable(journey, project.content, project.segments)
    except RunnerError as e:
        message, prefix = str(e), f"journey '{journey.name}': "
        return message[len(prefix):] if message.startswith(prefix) else message
    return None


# --- members ---------------------------------------------------------------------------------------------

def segment_uses(j: Journey) -> dict[str, list[str]]:
    """What the journey uses each segment for: audience, exclusion, suppression, goal, exit, step conditions."""
    uses: dict[str, list[str]] = {}

    def use(name: str | None, what: str) -> None:
        if name:
            uses.setdefault(name, [])
            if what not in uses[name]:
                uses[name].append(what)

    for name in j.audience.segments:
        use(name, "audience")
    for name in j.audience.exclude:
        use(name, "exclusion")
    use(j.audience.suppress, "suppression")
    if j.goal is not None:
        use(j.goal.segment, f"goal (when a contact {j.goal.when or 'joins'})")
    for t in j.exit_when:
        use(t.segment, f"exit (when a contact {t.when or 'joins'})")
    for s in j.steps.values():
        if isinstance(s.props.get("segment"), str):
            use(s.props["segment"], f"condition of step '{s.id}'")
    return {n: uses[n] for n in referenced_segments(j) if n in uses}


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def run_summary(run: RunInfo, matches: bool | None) -> dict[str, Any]:
    """What run.json says about the approved run: who approved it, what was simulated, the funnel (and the
    summary the project file lists, to bring the run back on import)."""
    s = run.summary
    changes = getattr(run, "behaviour_changes", ())
    return {
        "id": run.id, "name": run.name, "journey_version": run.journey_version,
        "created_at": _iso(run.created_at), "approved_by": run.approved_by, "approved_at": _iso(run.approved_at),
        "notes": run.notes, "population": run.population, "seed": run.seed, "replicas": run.replicas,
        "contacts": s.get("contacts"), "start": s.get("start"), "horizon": s.get("horizon"),
        "interval": s.get("interval"), "funnel": s.get("funnel"), "conversion": s.get("conversion"),
        "behaviour_changes": [{"figure": n, "value": v, "default": d} for n, v, d in changes],
        "journey_matches": matches,
        "summary": s,
    }


def run_line(run: Mapping[str, Any]) -> str:
    """An approved run in one line: which run, who approved it, what it simulated, the conversion found."""
    who = f"approved by {run.get('approved_by')} at {run.get('approved_at')}"
    replicas = run.get("replicas")
    sim = f"seed {run.get('seed')}, {replicas} replica{'' if replicas == 1 else 's'}"
    contacts = run.get("contacts") or run.get("population", {}).get("contacts")
    if contacts:
        sim = f"{contacts:,} contacts, {sim}" if isinstance(contacts, int) else f"{contacts} contacts, {sim}"
    conv = run.get("conversion") or {}
    goal = ""
    if isinstance(conv.get("mean"), (int, float)):
        goal = f"; goal reached by {conv['mean']:.2%}"
        if isinstance(conv.get("low"), (int, float)) and isinstance(conv.get("high"), (int, float)) \
                and replicas and replicas > 1:
            goal += f" (95% interval {conv['low']:.2%} to {conv['high']:.2%})"
    stale = "; it simulated an earlier draft of this version" if run.get("journey_matches") is False else ""
    return f"run {run.get('id')} '{run.get('name')}', {who} ({sim}{goal}){stale}"


def validation_report(j: Journey, findings: Sequence[Finding], checked_at: str) -> dict[str, Any]:
    """validation.json: the checks run, in which mode, and the findings kept (warnings: errors refuse)."""
    tile_checks = {f"{s.type}: {c.__name__}" for s in j.steps.values() if s.type in REGISTRY
                   for c in REGISTRY[s.type].checks}
    return {"checked_at": checked_at, "mode": "export (draft content is an error)",
            "checks": [r.__name__ for r in RULES] + sorted(tile_checks),
            "errors": sum(f.is_error for f in findings), "warnings": sum(not f.is_error for f in findings),
            "findings": [f.to_dict() for f in findings]}


def package_members(j: Journey, contents: Sequence[Content], segments: Sequence[Segment],
                    findings: Sequence[Finding], run: Mapping[str, Any] | None, checked_at: str,
                    run_record: bytes | None = None) -> dict[str, bytes]:
    """The members of a package of the frozen journey `j`, name -> exact bytes, in the order they are written."""
    content_map = {c.name: c for c in contents}
    segment_map = {s.name: s for s in segments}
    uses = segment_uses(j)
    members = {
        m.JOURNEY: dump_yaml(journey_to_doc(j, content_map, segment_map)).encode("utf-8"),
        m.CONTENT: _json({n: content_to_plain(content_map[n]) for n in referenced_content(j) if n in content_map}),
        m.SEGMENTS: _json({n: {**segment_to_plain(segment_map[n]), "used_as": uses.get(n, [])}
                           for n in referenced_segments(j) if n in segment_map}),
        m.VALIDATION: _json(validation_report(j, findings, checked_at)),
    }
    if run is not None:
        members[m.RUN] = _json(run)
        if run_record is not None:
            members[m.RUN_RECORD] = run_record
    return members


def zip_bytes(files: Mapping[str, bytes], created_at: str) -> bytes:
    """A zip of `files` (name -> bytes), deflated, in the given order, every entry dated `created_at`."""
    stamp = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def build_package(j: Journey, contents: Sequence[Content], segments: Sequence[Segment], findings: Sequence[Finding],
                  *, project: str, run: Mapping[str, Any] | None = None,
                  signing_key: Ed25519PrivateKey | None = None, created_at: str | None = None,
                  run_record: bytes | None = None, packaged_by: str = "", signer_name: str = "",
                  changes: VersionChanges | None = None, frequency_caps: Sequence[ChannelCap] = (),
                  in_flight: Plan | None = None) -> bytes:
    """The bytes of a package of the frozen journey `j` (its version is `j.version`)."""
    created_at = created_at or m.utc_now()
    members = package_members(j, contents, segments, findings, run, created_at, run_record)
    validation = json.loads(members[m.VALIDATION])
    signed = ({"key_id": key_id(signing_key.public_key()), "by": signer_name or packaged_by, "at": created_at}
              if signing_key is not None else None)
    manifest = m.make_manifest(journey_id=j.id, journey_name=j.name, version=j.version, created_at=created_at,
                               members=members, project=project, validation=validation, approved_run=run,
                               packaged_by=packaged_by, signed=signed,
                               changes=changes.to_plain() if changes is not None else None,
                               frequency_caps=caps_to_plain(tuple(frequency_caps)) or None,
                               in_flight=in_flight.to_plain() if in_flight is not None else None)
    head = m.manifest_bytes(manifest)
    files = {m.MANIFEST: head}
    if signing_key is not None:
        files[m.SIGNATURE] = signature_bytes(sign(signing_key, head))
    files.update(members)
    return zip_bytes(files, created_at)


# --- writing a package from a project ----------------------------------------------------------------------

@dataclass(frozen=True)
class PackageResult:
    """A package written: where, of what, its SHA-256, who signed it."""

    path: Path
    journey_name: str
    version: int
    froze: bool
    sha256: str
    size: int
    signed_by: str | None
    approved_run: int | None
    reused: bool = False                   # an unchanged draft: the released version was packaged again
    changes: VersionChanges | None = None  # what changed since the previous released version
    run_record: bool = False               # the approved run's record travels in the package


def check_output(out: Path) -> None:
    """Refuse an output path that cannot be written (a folder, a device, no such folder...), before anything is
    frozen; PackageError, one line."""
    try:
        check_output_path(out)
    except OutputFileError as e:
        raise PackageError(str(e)) from None


def _run_record(pf: ProjectFile, run: RunInfo) -> bytes | None:
    """The approved run as the project file keeps it, when it fits in a package (else None: the summary goes)."""
    try:
        data = pf.load_run_bytes(run.id)
    except ProjectFileError:
        return None
    return data if len(data) <= m.MAX_MEMBER_BYTES and len(data) <= m.MAX_TOTAL_BYTES // 2 else None


def in_flight_plan(pf: ProjectFile, readiness: Readiness, choice: InFlight) -> Plan:
    """What happens to contacts in flight on the previous released version (app/package/in_flight.py), resolved
    against it and the version `readiness` packages; PackageRefused with every problem when it cannot be done."""
    from app.package.in_flight import InFlightError, resolve
    if readiness.reuses or readiness.changes is None:
        why = (f"version {readiness.version} is the released version again (unchanged): there is no new version "
               "for its contacts to move to" if readiness.reuses else
               f"version {readiness.version} is the journey's first: no contacts are in flight on an earlier one")
        raise PackageRefused(f"--in-flight: {why}; leave the in-flight options out", [])
    old = choice.from_version or readiness.changes.old
    j_old = pf.read_version(readiness.journey_id, old)[0]
    j_new = (pf.project.journey(readiness.journey_id) if readiness.freezes
             else pf.read_version(readiness.journey_id, readiness.version)[0])
    try:
        return resolve(replace(choice, from_version=old), j_old, j_new)
    except InFlightError as e:
        raise PackageRefused(f"{e} (no package was written, nothing was frozen)", e.lines) from None


def package_journey(pf: ProjectFile, journey_key: str, out: str | os.PathLike[str], *, version: int | None = None,
                    signing_key: Ed25519PrivateKey | None = None, created_at: str | None = None,
                    packaged_by: str = "", signer_name: str = "", in_flight: InFlight | None = None) -> PackageResult:
    """Package a journey that may go live: freeze its draft (or take frozen `version`) and write `out`. A draft
    unchanged since the last released version is packaged as that version (nothing is frozen).

    `in_flight`: what happens to the contacts in flight on the previous released version (carried in the manifest,
    recorded as an "in-flight" milestone).

    Raises PackageRefused (with every reason) when it may not go live; then nothing is frozen or written.
    """
    readiness = assess(pf, journey_key, version)
    if not readiness.ready:
        raise readiness.refusal()
    plan = in_flight_plan(pf, readiness, in_flight) if in_flight is not None else None
    out_path = Path(out)
    check_output(out_path)
    number = pf.freeze(readiness.journey_id) if readiness.freezes else readiness.version
    j, contents, segments = pf.read_version(readiness.journey_id, number)
    approved = readiness.approved_run
    run = run_summary(approved, readiness.run_matches) if approved else None
    record = _run_record(pf, approved) if approved else None
    data = build_package(j, contents, segments, readiness.findings, project=pf.project.name, run=run,
                         signing_key=signing_key, created_at=created_at, run_record=record,
                         packaged_by=packaged_by, signer_name=signer_name, changes=readiness.changes,
                         frequency_caps=pf.project.settings.frequency_caps, in_flight=plan)
    try:
        write_atomically(out_path, data)
    except OutputFileError as e:  # the version stays frozen: a release is not undone by a full disk
        froze = f"; version {number} was frozen (package it with --version {number})" if readiness.freezes else ""
        raise PackageError(f"{e}{froze}") from None
    signer = key_id(signing_key.public_key()) if signing_key is not None else None
    detail = f"package {out_path.name}: version {number}"
    detail += " (unchanged: the released version again)" if readiness.reuses else ""
    detail += f", packaged by {packaged_by}" if packaged_by else ""
    detail += f", signed by {signer_name + ' ' if signer_name else ''}{signer}" if signer else ""
    pf.add_milestone(readiness.journey_id, "exported", detail)
    if plan is not None:
        pf.add_milestone(readiness.journey_id, "in-flight", f"version {number}: {plan.summary()}")
    return PackageResult(out_path, readiness.journey_name, number, readiness.freezes, m.sha256_hex(data), len(data),
                         signer, approved.id if approved else None, readiness.reuses, readiness.changes,
                         record is not None)


__all__ = ["NOT_READY", "PackageResult", "Readiness", "assess", "build_package", "check_output", "content_line",
           "finding_line", "find_approved_run", "in_flight_plan", "package_journey", "package_members", "run_line",
           "run_summary", "segment_uses", "version_doc", "zip_bytes"]
