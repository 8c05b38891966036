"""Journey packages: build from a project, read back equal, refuse a journey that may not go live, refuse every
kind of bad package (tampered, too new, unsigned or wrongly signed, unsafe names, decompression bombs), keys and
signatures, import back into a project."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import warnings
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import update

from app.codec.plain import journey_to_doc
from app.codec.yamlio import dump_yaml, read_journey_text
from app.errors import ModelError
from app.model.content import Content
from app.model.project import Project
from app.errors import JourneyStudioError
from app.package import manifest as mf
from app.package.build import assess, build_package, package_journey, version_doc
from app.package.changes import release_doc
from app.package.errors import KeyFileError, PackageError, PackageRefused
from app.package.importing import import_package, import_package_into
from app.package.read import CHUNK, read_limited, read_package
from app.package.keyring import fingerprint
from app.package.signing import generate_key_pair, key_id, load_private_key, load_public_key
from app.services import import_journey
from app.store import ProjectFile
from app.store import schema as t
from app.validation.checks import check_journey
from tests.samples import ANNOUNCEMENT

NAME = "Product announcement"
GiB = 1 << 30


# --- helpers (also used by the CLI and dialog tests) --------------------------------------------------------

def make_project(path: Path, text: str = ANNOUNCEMENT) -> Path:
    """A project file holding the sample journey, its content Ready to send."""
    project = Project("Launches")
    import_journey(project, *read_journey_text(text))
    for c in list(project.content.values()):
        project.put_content(Content(**{**c.__dict__, "status": "ready"}))
    ProjectFile.create(path, project=project).close()
    return path


def entries(path: Path) -> dict[str, bytes]:
    """Every entry of a zip, name -> unpacked bytes, in order."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(path: Path, files: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    """Write a zip holding `files` (a list allows duplicate names), deflated, CRCs right."""
    items = list(files.items()) if isinstance(files, dict) else files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: that is the point
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in items:
                zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return path


def remanifest(src: Path, dst: Path, **changes: Any) -> Path:
    """A copy of a package whose manifest is changed (members untouched, so any signature no longer holds)."""
    files = entries(src)
    manifest = json.loads(files["manifest.json"])
    manifest.update(changes)
    files["manifest.json"] = mf.manifest_bytes(manifest)
    return rezip(dst, files)


def raw_zip(items: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand: (name, packed bytes, method, crc, declared size) per entry; sizes may lie."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in items:
        offset, raw_name = len(out), name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size,
                           len(raw_name), 0) + raw_name + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(raw_name), 0, 0, 0, 0, 0o644 << 16, offset) + raw_name
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(items), len(items), len(central), start, 0)
    return bytes(out)


def deflated_zeros(n_mib: int) -> bytes:
    """A raw deflate stream of n MiB of zeros, built from one compressed MiB repeated (never the zeros)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)  # each MiB packs the same
    return block * n_mib + c.flush()


def approve(pf: ProjectFile, run_id: int, by: str) -> None:
    """Mark a saved run approved, straight in the file (as the simulation workspace does)."""
    with pf.connection(write=True) as conn:
        conn.execute(update(t.simulation_runs).where(t.simulation_runs.c.id == run_id)
                     .values(approved_at=datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc), approved_by=by))


def save_run(pf: ProjectFile, seed: int = 4) -> int:
    """Simulate the journey's current draft over 400 synthetic contacts and save the run."""
    from simulator.behaviour import BehaviourModel
    from app.semantics.plan import compile_plan
    from simulator.population import population_for
    from simulator.replicas import simulate
    from simulator.runs import RunRecord
    journey = pf.project.journey(NAME)
    plan = compile_plan(journey)
    pop = population_for(plan, 400, seed)
    b = BehaviourModel()
    result = simulate(plan, pop, b, seed, 2, chunk_size=400)
    record = RunRecord.from_result(result, journey, pop.spec, b, chunk_size=400, content=pf.project.content,
                                   segments=pf.project.segments)
    return pf.save_run(record, name="baseline")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p.jstudio")


@pytest.fixture
def package(project: Path, tmp_path: Path) -> Path:
    with ProjectFile.open(project) as pf:
        package_journey(pf, NAME, tmp_path / "a.jpkg")
    return tmp_path / "a.jpkg"


# --- building and reading back ------------------------------------------------------------------------------

def test_package_holds_the_frozen_journey_and_reads_back_equal(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jpkg"
    with ProjectFile.open(project) as pf:
        result = package_journey(pf, NAME, out)
        assert (result.version, result.froze, pf.project.journey(NAME).version) == (1, True, 2)
        assert [v for v, _ in pf.versions(NAME)] == [1]
        frozen, contents, segments = pf.read_version(NAME, 1)
        milestones = [(k, d) for k, _, d in pf.milestones(NAME)]
    assert ("exported", "package a.jpkg: version 1") in milestones
    expected_doc = journey_to_doc(frozen, {c.name: c for c in contents}, {s.name: s for s in segments})

    files = entries(out)
    assert list(files) == ["manifest.json", "journey.yaml", "content.json", "segments.json", "validation.json"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "journey-package/1" and manifest["app"]["version"]
    assert manifest["journey"] == {"id": frozen.id, "name": NAME, "version": 1}
    assert manifest["members"] == {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                                   for n, d in files.items() if n != "manifest.json"}
    assert manifest["approved_run"] is None
    assert files["journey.yaml"].decode() == dump_yaml(expected_doc)  # what `export --version 1` writes
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()

    pkg = read_package(out)
    assert pkg.journey_doc == expected_doc
    assert pkg.journey == frozen and pkg.version == 1 and pkg.name == NAME
    assert pkg.content == {c.name: c for c in contents}
    assert set(pkg.content) == {"Product announcement email", "Product launched text"}
    assert all(c.status == "ready" for c in pkg.content.values())
    assert pkg.segments == {s.name: s for s in segments}
    assert pkg.segment_uses == {"Most valuable customers": ["audience"], "Do not contact": ["exclusion"],
                                "Unsubscribed": ["suppression"]}
    assert pkg.validation["errors"] == 0 and pkg.validation["mode"].startswith("export")
    assert "check_message_content" in " ".join(pkg.validation["checks"])
    assert pkg.approved_run is None and pkg.signed_by is None and not pkg.signature_trusted
    assert pkg.sha256 == result.sha256


def test_the_same_release_packs_to_the_same_bytes(project: Path, tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "k")
    key = load_private_key(tmp_path / "k")
    with ProjectFile.open(project) as pf:
        pf.freeze(NAME)
        j, contents, segments = pf.read_version(NAME, 1)
    made = [build_package(j, contents, segments, [], project="p", signing_key=key, created_at="2026-05-01T09:30:00Z")
            for _ in range(2)]
    assert made[0] == made[1]  # Ed25519 signatures are deterministic too
    (tmp_path / "x.jpkg").write_bytes(made[0])
    assert read_package(tmp_path / "x.jpkg").created_at == "2026-05-01T09:30:00Z"


def test_segments_used_by_goal_exit_and_conditions_are_described(tmp_path: Path) -> None:
    text = ANNOUNCEMENT.replace("exit_when: [{event: purchase}]",
                                "goal: {segment: Buyers}\nexit_when: [{segment: Churned, when: leaves}]")
    text = text.replace("wait_for: {event: link_clicked, step: announce, link: product-details}",
                        "segment: Most valuable customers")
    path = make_project(tmp_path / "p.jstudio", text)
    with ProjectFile.open(path) as pf:
        package_journey(pf, NAME, tmp_path / "a.jpkg")
    uses = read_package(tmp_path / "a.jpkg").segment_uses
    assert uses == {"Most valuable customers": ["audience", "condition of step 'clicked'"],
                    "Do not contact": ["exclusion"], "Unsubscribed": ["suppression"],
                    "Buyers": ["goal (when a contact joins)"], "Churned": ["exit (when a contact leaves)"]}


def test_a_released_version_is_packaged_as_frozen_without_freezing_again(project: Path, tmp_path: Path) -> None:
    with ProjectFile.open(project) as pf:
        assert pf.freeze(NAME) == 1
        email = pf.project.content["Product announcement email"]
        pf.project.put_content(Content(**{**email.__dict__, "status": "draft", "subject": "Changed later"}))
        assert not assess(pf, NAME).ready  # the draft (version 2) now sends draft content
        result = package_journey(pf, NAME, tmp_path / "v1.jpkg", version=1)
        assert (result.version, result.froze, pf.project.journey(NAME).version) == (1, False, 2)
        assert [v for v, _ in pf.versions(NAME)] == [1]
        with pytest.raises(ModelError, match="no frozen version 7"):
            package_journey(pf, NAME, tmp_path / "v7.jpkg", version=7)
    pkg = read_package(tmp_path / "v1.jpkg")
    assert pkg.content["Product announcement email"].status == "ready"
    assert pkg.content["Product announcement email"].subject == "Meet the new X"


# --- refusals -------------------------------------------------------------------------------------------------

def test_refused_while_the_check_finds_errors_or_content_is_draft(tmp_path: Path) -> None:
    text = ANNOUNCEMENT.replace("launched: {type: sms, content: Product launched text}", "launched: {type: sms}")
    path = make_project(tmp_path / "p.jstudio", text)
    out = tmp_path / "a.jpkg"
    with ProjectFile.open(path) as pf:
        email = pf.project.content["Product announcement email"]
        pf.project.put_content(Content(**{**email.__dict__, "status": "draft"}))
        findings = check_journey(pf.project.journey(NAME), pf.project, for_export=True)
        with pytest.raises(PackageRefused) as refused:
            package_journey(pf, NAME, out)
        assert pf.versions(NAME) == [] and pf.project.journey(NAME).version == 1
        assert [k for k, _, _ in pf.milestones(NAME)] == ["created"]
    assert {f.code for f in findings if f.is_error} == {"message-without-content", "content-not-ready"}
    lines = refused.value.lines
    assert len(lines) == len(findings) + 1
    for f in findings:
        where = f"step '{f.step}'" if f.step else ""  # a journey's finding (its segments, settings) names no step
        assert any(f.code in line and where in line and f.message in line for line in lines)
    assert lines[-1] == ("content 'Product announcement email' (email) is Draft: the content must be in the "
                         "Ready to send state")
    assert "2 errors and 1 content item not Ready to send" in str(refused.value)
    assert "nothing was frozen" in str(refused.value)
    assert list(tmp_path.iterdir()) == [path]  # no package, no half-written temporary file


def test_refused_before_freezing_when_the_output_folder_is_missing(project: Path, tmp_path: Path) -> None:
    with ProjectFile.open(project) as pf:
        with pytest.raises(PackageError, match="does not exist"):
            package_journey(pf, NAME, tmp_path / "nowhere" / "a.jpkg")
        assert pf.versions(NAME) == []


# --- approved simulation run -----------------------------------------------------------------------------------

def test_the_approved_run_of_the_packaged_version_goes_in_the_package(project: Path, tmp_path: Path) -> None:
    with ProjectFile.open(project) as pf:
        other = save_run(pf, seed=1)
        run_id = save_run(pf, seed=4)
        approve(pf, run_id, "ana")
        info = next(r for r in pf.runs(NAME) if r.id == run_id)
        readiness = assess(pf, NAME)
        assert readiness.approved_run is not None and readiness.approved_run.id == run_id
        assert readiness.run_matches is True
        package_journey(pf, NAME, tmp_path / "a.jpkg")
        again = assess(pf, NAME)  # the draft is unchanged: packaging it again reuses version 1 and its run
        assert again.reuses and again.version == 1 and not again.freezes
        assert again.approved_run is not None and again.approved_run.id == run_id
        pf.project.journey(NAME).set_props("launch", {"until": datetime(2026, 12, 12, 9, 0)})
        assert assess(pf, NAME).approved_run is None  # a changed draft is version 2, which has no approved run
    assert other != run_id
    pkg = read_package(tmp_path / "a.jpkg")
    run = pkg.approved_run
    assert run is not None
    assert (run["id"], run["name"], run["approved_by"], run["seed"], run["replicas"]) == (run_id, "baseline", "ana",
                                                                                          4, 2)
    assert run["approved_at"].startswith("2026-05-01T09:30")
    assert run["funnel"] == info.summary["funnel"] and run["conversion"] == info.summary["conversion"]
    assert run["population"]["contacts"] == 400 and run["journey_matches"] is True
    assert pkg.manifest["approved_run"] == {"member": "run.json", "id": run_id, "name": "baseline",
                                            "approved_by": "ana", "approved_at": run["approved_at"],
                                            "record": "run.record"}


def test_a_run_of_an_earlier_draft_is_marked_as_not_matching(project: Path, tmp_path: Path) -> None:
    with ProjectFile.open(project) as pf:
        run_id = save_run(pf)
        approve(pf, run_id, "ana")
        journey = pf.project.journey(NAME)
        journey.set_props("launch", {"until": datetime(2026, 12, 12, 9, 0)})  # same version number, another journey
        assert assess(pf, NAME).run_matches is False
        package_journey(pf, NAME, tmp_path / "a.jpkg")
    assert read_package(tmp_path / "a.jpkg").approved_run["journey_matches"] is False  # type: ignore[index]


# --- keys and signatures ----------------------------------------------------------------------------------------

def test_keygen_sign_and_verify_round_trip(project: Path, tmp_path: Path) -> None:
    kid = generate_key_pair(tmp_path / "team.key")
    assert (tmp_path / "team.key").stat().st_mode & 0o777 == 0o600
    public = load_public_key(tmp_path / "team.key.pub")
    assert key_id(public) == kid == key_id(load_private_key(tmp_path / "team.key").public_key())
    with ProjectFile.open(project) as pf:
        result = package_journey(pf, NAME, tmp_path / "a.jpkg", signing_key=load_private_key(tmp_path / "team.key"))
    assert result.signed_by == kid
    files = entries(tmp_path / "a.jpkg")
    sig = json.loads(files["signature.json"])
    assert sig["key_id"] == kid and sig["algorithm"] == "ed25519"
    # the signature is over the exact manifest bytes, checked here with the library directly
    Ed25519PublicKey.from_public_bytes(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                                       ).verify(base64.b64decode(sig["signature"]), files["manifest.json"])
    trusted = read_package(tmp_path / "a.jpkg", public_key=tmp_path / "team.key.pub", require_signature=True)
    assert trusted.signed_by == kid and trusted.signature_trusted
    untrusted = read_package(tmp_path / "a.jpkg")
    assert untrusted.signed_by == kid and not untrusted.signature_trusted
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_pair(tmp_path / "team.key")


def test_signature_refusals(project: Path, tmp_path: Path, package: Path) -> None:
    generate_key_pair(tmp_path / "team.key")
    other = generate_key_pair(tmp_path / "other.key")
    with pytest.raises(PackageError, match=r"a\.jpkg: a signature is required \(--require-signature\) but no "
                                           "trusted key is configured"):
        read_package(package, require_signature=True)  # a stray key's signature would pass: an error that says so
    with pytest.raises(PackageError, match=r"a\.jpkg: refused: the package is not signed, and a signature is "
                                           "required"):
        read_package(package, public_key=tmp_path / "team.key.pub", require_signature=True)
    with pytest.raises(PackageError, match="refused: the package is not signed, and trusted keys are configured"):
        read_package(package, public_key=tmp_path / "team.key.pub")  # trusted by default: no downgrade
    with ProjectFile.open(project) as pf:
        package_journey(pf, NAME, tmp_path / "s.jpkg", signing_key=load_private_key(tmp_path / "team.key"))
    signed = tmp_path / "s.jpkg"
    with pytest.raises(PackageError, match=f"signed by key {fingerprint(read_package(signed).signed_by or '')}, "
                                           "which is not a trusted key"):
        read_package(signed, public_key=tmp_path / "other.key.pub")
    assert other != read_package(signed).signed_by
    changed = remanifest(signed, tmp_path / "changed.jpkg", project="Someone else's")
    with pytest.raises(PackageError, match="bad signature: manifest.json was changed after the package was signed"):
        read_package(changed)
    files = entries(signed)
    sig = json.loads(files["signature.json"])
    sig["key_id"] = other
    files["signature.json"] = json.dumps(sig).encode()
    with pytest.raises(PackageError, match="signature.json is damaged: key id"):
        read_package(rezip(tmp_path / "relabelled.jpkg", files))


def test_key_files_that_cannot_be_used(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "k")
    with pytest.raises(KeyFileError, match="this is a private key; give its public key"):
        load_public_key(tmp_path / "k")
    with pytest.raises(KeyFileError, match="this is a public key"):
        load_private_key(tmp_path / "k.pub")
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(tmp_path / "junk")
    with pytest.raises(KeyFileError, match="no such signing key file"):
        load_private_key(tmp_path / "missing")


# --- bad packages ---------------------------------------------------------------------------------------------

def _data_offset(path: Path, name: str) -> tuple[int, int]:
    """Where a member's packed bytes start in the file, and how many there are."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


@pytest.mark.parametrize("member", ["journey.yaml", "content.json", "manifest.json"])
def test_one_byte_changed_in_a_member_is_refused(package: Path, member: str) -> None:
    start, size = _data_offset(package, member)
    raw = bytearray(package.read_bytes())
    raw[start + size // 2] ^= 0x01
    package.write_bytes(bytes(raw))
    with pytest.raises(PackageError, match=rf"a\.jpkg: {member} is damaged .*changed or corrupted after it was "
                                           "made"):
        read_package(package)


def test_a_member_changed_and_repacked_fails_its_sha256(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    text = files["journey.yaml"]
    files["journey.yaml"] = text.replace(b"within: 1d", b"within: 9d")  # same size, new CRC: only the hash tells
    assert len(files["journey.yaml"]) == len(text)
    with pytest.raises(PackageError, match=r"journey\.yaml was changed after the package was made \(its SHA-256"):
        read_package(rezip(tmp_path / "t.jpkg", files))
    files["journey.yaml"] = text + b"# more\n"
    with pytest.raises(PackageError, match=r"journey\.yaml was changed after the package was made \(it holds"):
        read_package(rezip(tmp_path / "t.jpkg", files))


def test_any_byte_flip_is_refused_or_changes_nothing(package: Path, tmp_path: Path) -> None:
    """Flip bytes across the whole file: the package is refused with a PackageError, or (a flip in a date, say)
    reads back exactly the same; never another exception, never different content."""
    good = read_package(package)
    raw = package.read_bytes()
    bad = tmp_path / "flipped.jpkg"
    refused = 0
    for position in range(0, len(raw), 7):
        flipped = bytearray(raw)
        flipped[position] ^= 0x20
        bad.write_bytes(bytes(flipped))
        try:
            pkg = read_package(bad)
        except PackageError:
            refused += 1
            continue
        assert (pkg.manifest, pkg.journey_doc, pkg.content, pkg.segments, pkg.validation) == \
               (good.manifest, good.journey_doc, good.content, good.segments, good.validation), position
    assert refused > len(raw) // 7 // 2  # most flips hit packed data, names or sizes


def test_a_newer_format_is_refused_by_name(package: Path, tmp_path: Path) -> None:
    newer = remanifest(package, tmp_path / "newer.jpkg", format="journey-package/2", members={"rules.bin": {}})
    with pytest.raises(PackageError) as e:
        read_package(newer)
    assert str(e.value) == (f"{newer}: made by a newer Journey Studio: format journey-package/2; this version reads "
                            "journey-package/1 (upgrade to read it)")
    with pytest.raises(PackageError, match="not a journey package: manifest.json has format 'journey/1'"):
        read_package(remanifest(package, tmp_path / "other.jpkg", format="journey/1"))


@pytest.mark.parametrize(("name", "reason"), [
    ("../evil", "a '..' part that points outside the package"),
    ("content/../../evil", "a '..' part"),
    ("/etc/evil", "an absolute path"),
    ("C:/evil", "an absolute path"),
    ("content\\evil.json", "a backslash"),
])
def test_unsafe_member_names_are_refused(package: Path, tmp_path: Path, name: str, reason: str) -> None:
    files = list(entries(package).items()) + [(name, b"boom")]
    bad = rezip(tmp_path / "bad.jpkg", files)
    with zipfile.ZipFile(bad) as zf:
        assert name in zf.namelist()  # zipfile kept the name as written
    with pytest.raises(PackageError, match=rf"refused: entry {repr(name).replace(chr(92), chr(92) * 2)} has "
                                           f"{reason}"):
        read_package(bad)


def test_duplicate_unlisted_and_missing_members_are_refused(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    dup = rezip(tmp_path / "dup.jpkg", list(files.items()) + [("journey.yaml", b"format: journey/1\n")])
    with pytest.raises(PackageError, match="entry 'journey.yaml' appears twice"):
        read_package(dup)
    extra = rezip(tmp_path / "extra.jpkg", {**files, "notes.txt": b"hi"})
    with pytest.raises(PackageError, match="notes.txt is in the package but not listed in its manifest"):
        read_package(extra)
    missing = rezip(tmp_path / "missing.jpkg", {n: d for n, d in files.items() if n != "segments.json"})
    with pytest.raises(PackageError, match="the manifest lists segments.json, which is missing from the package"):
        read_package(missing)
    bare = rezip(tmp_path / "bare.jpkg", {n: d for n, d in files.items() if n != "manifest.json"})
    with pytest.raises(PackageError, match="not a journey package: it has no manifest.json"):
        read_package(bare)


def test_files_that_are_not_packages(tmp_path: Path) -> None:
    (tmp_path / "text.jpkg").write_text("format: journey/1\n")
    with pytest.raises(PackageError, match=r"text\.jpkg: not a journey package: not a zip file"):
        read_package(tmp_path / "text.jpkg")
    (tmp_path / "empty.jpkg").write_bytes(b"")
    with pytest.raises(PackageError, match="not a zip file"):
        read_package(tmp_path / "empty.jpkg")
    with pytest.raises(PackageError, match="no such package file"):
        read_package(tmp_path / "missing.jpkg")


def test_a_decompression_bomb_is_refused_from_its_declared_size(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    packed = deflated_zeros(2048)  # 2 GiB of zeros, about 2 MB packed
    assert len(packed) < 3 << 20
    items = [(n, d, zipfile.ZIP_STORED, zlib.crc32(d), len(d)) for n, d in files.items() if n != "content.json"]
    bomb = tmp_path / "bomb.jpkg"
    bomb.write_bytes(raw_zip(items + [("content.json", packed, zipfile.ZIP_DEFLATED, 0, 2 * GiB)]))
    with pytest.raises(PackageError, match=r"refused: content\.json would unpack to 2\.0 GiB, more than the 32\.0 "
                                           r"MiB a member may hold \(a decompression bomb\?\)"):
        read_package(bomb)


def test_a_bomb_within_the_size_limit_is_refused_by_its_ratio(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    packed = deflated_zeros(20)  # 20 MiB of zeros packed in about 20 KB: a ratio near 1000
    crc = 0
    for _ in range(20):
        crc = zlib.crc32(bytes(1 << 20), crc)
    items = [(n, d, zipfile.ZIP_STORED, zlib.crc32(d), len(d)) for n, d in files.items() if n != "content.json"]
    bomb = tmp_path / "ratio.jpkg"
    bomb.write_bytes(raw_zip(items + [("content.json", packed, zipfile.ZIP_DEFLATED, crc, 20 << 20)]))
    with pytest.raises(PackageError, match=r"content\.json would unpack \d+ times larger than it is packed "
                                           r"\(at most 100"):
        read_package(bomb)
    many = tmp_path / "many.jpkg"  # four members of 31 MiB, each within the limits: 124 MiB in all
    filler = bytes(range(256)) * 1300  # 332,800 bytes "packed": a ratio under 100
    many.write_bytes(raw_zip(items + [(f"c{i}.json", filler, zipfile.ZIP_DEFLATED, 0, 31 << 20) for i in range(4)]))
    with pytest.raises(PackageError, match=r"refused: the members would unpack to 124\.0 MiB, more than the 96\.0 "
                                           r"MiB a package may hold"):
        read_package(many)


def test_a_bomb_that_lies_about_its_size_stops_at_the_declared_size(package: Path, tmp_path: Path) -> None:
    files = entries(package)
    real = files["content.json"]
    packed = deflated_zeros(2048)  # really 2 GiB of zeros, declared as the real member (size and CRC)
    items = [(n, d, zipfile.ZIP_STORED, zlib.crc32(d), len(d)) for n, d in files.items() if n != "content.json"]
    liar = tmp_path / "liar.jpkg"
    liar.write_bytes(raw_zip(items + [("content.json", packed, zipfile.ZIP_DEFLATED, zlib.crc32(real), len(real))]))
    with pytest.raises(PackageError, match=r"content\.json is damaged \(its checksum does not match\)"):
        read_package(liar)


class _Endless:
    """A stream of zeros that never ends, counting what it gave."""

    def __init__(self) -> None:
        self.given = 0

    def read(self, n: int = -1) -> bytes:
        self.given += n
        return bytes(n)


def test_unpacking_streams_within_the_limits() -> None:
    endless = _Endless()
    with pytest.raises(PackageError, match=r"x\.jpkg: refused: content\.json unpacks to more than the 1\.0 MiB a "
                                           "member may hold"):
        read_limited(endless, 1 << 20, 5 * GiB, "x.jpkg", "content.json")
    assert endless.given <= (1 << 20) + CHUNK
    endless = _Endless()
    with pytest.raises(PackageError, match="more than the 2.0 KiB the zip declares"):
        read_limited(endless, 1 << 20, 2048, "x.jpkg", "content.json")
    assert endless.given <= 2048 + CHUNK
    assert read_limited(io.BytesIO(b"abc"), 10, 3, "x.jpkg", "m") == b"abc"


# --- import back into a project --------------------------------------------------------------------------------

def test_import_into_an_empty_project_shows_what_was_shipped(package: Path, tmp_path: Path) -> None:
    pkg = read_package(package)
    with ProjectFile.create(tmp_path / "review.jstudio") as pf:
        report = import_package_into(pf, pkg)
        journey = pf.project.journey(NAME)
        assert version_doc(pf, journey.id, 1) == pkg.journey_doc  # the released version, as shipped
        assert [n for n, _ in pf.versions(NAME)] == [1] and journey.version == 2  # edits make version 2
        assert release_doc(journey_to_doc(journey, pf.project.content, pf.project.segments)) \
            == release_doc(pkg.journey_doc)
        assert pf.project.content == pkg.content and pf.project.segments == pkg.segments
        kinds = [(k, d) for k, _, d in pf.milestones(NAME)]
    assert report[-1].startswith(f"Imported journey '{NAME}' (4 steps), version 1 as packaged on ")
    assert "Added email content 'Product announcement email'" in report
    assert kinds[-1][0] == "imported" and f"SHA-256 {pkg.sha256[:16]}" in kinds[-1][1]


def test_import_renames_a_taken_name_and_keeps_differing_content(project: Path, package: Path) -> None:
    pkg = read_package(package)
    p = Project("Review")
    import_journey(p, *read_journey_text(ANNOUNCEMENT))
    mine = Content("Product launched text", "sms", "draft", text="Our own text")
    p.put_content(mine)
    with pytest.raises(JourneyStudioError, match=f"already has a journey named '{NAME}': give --rename to import "
                                                 rf"it as '{NAME} \(2\)', or --replace"):
        import_package(p, pkg)
    journey, report = import_package(p, pkg, on_clash="rename")
    assert journey.name == f"{NAME} (2)" and p.journey(f"{NAME} (2)") is journey
    assert p.content["Product launched text"] == mine  # not overwritten
    assert "Kept the project's content 'Product launched text': the package's differs (not overwritten)" in report
    assert f"The project already had a journey named '{NAME}': imported as '{NAME} (2)'" in report
    again, _ = import_package(p, pkg, name="Shipped v1")
    assert again.name == "Shipped v1"
    with pytest.raises(Exception, match="already has a journey named 'Shipped v1'"):
        import_package(p, pkg, name="Shipped v1")


def test_the_package_module_names_what_it_offers() -> None:
    import app.package as package_module
    for name in package_module.__all__:
        assert getattr(package_module, name) is not None
    with pytest.raises(AttributeError):
        package_module.nothing_here  # noqa: B018
