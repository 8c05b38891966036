"""The package format: member names, the manifest (what it holds and how it is checked) and the size limits.

A package (`.jpkg`) is a zip. `manifest.json` names the format, the application that made it, the journey
(id, name, version), when it was made, every other member with its SHA-256 and size, a summary of the check
for errors and a pointer to the approved simulation run, if any. `signature.json`, when present, signs the
exact bytes of `manifest.json` (so, through the hashes, every member). Neither of the two lists itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from app import APP_NAME, __version__
from app.package.errors import PackageError

FORMAT = "journey-package/1"
FORMAT_VERSION = 1
_FORMAT = re.compile(r"^journey-package/(\d+)$")

MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
JOURNEY = "journey.yaml"
CONTENT = "content.json"
SEGMENTS = "segments.json"
VALIDATION = "validation.json"
RUN = "run.json"
RUN_RECORD = "run.record"
REQUIRED_MEMBERS: tuple[str, ...] = (JOURNEY, CONTENT, SEGMENTS, VALIDATION)
MEMBERS: tuple[str, ...] = REQUIRED_MEMBERS + (RUN, RUN_RECORD)
"""The members a format-1 manifest may list (run.json only when a run was approved; run.record, the approved run
as the project file keeps it, to replay it after import, when it fits)."""
MAX_WHO = 200                   # the text of "packaged.by" and "signed.by"

MiB = 1 << 20
MAX_PACKAGE_BYTES = 64 * MiB    # the .jpkg file itself
MAX_ENTRIES = 32                # zip entries (a format-1 package has at most 7)
MAX_MEMBER_BYTES = 32 * MiB     # one member, unpacked
MAX_SMALL_BYTES = 1 * MiB       # manifest.json and signature.json, unpacked
MAX_TOTAL_BYTES = 96 * MiB      # every member together, unpacked
MAX_RATIO = 100                 # unpacked / packed, for members larger than RATIO_FROM
RATIO_FROM = 1 * MiB


def member_limit(name: str) -> int:
    """How large a member may be once unpacked."""
    return MAX_SMALL_BYTES if name in (MANIFEST, SIGNATURE) else MAX_MEMBER_BYTES


def size_text(n: float) -> str:
    """A byte count for people: '512 bytes', '3.2 MiB', '2.0 GiB'."""
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """The current time as the manifest writes it: 2026-05-01T09:30:00Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_manifest(*, journey_id: str, journey_name: str, version: int, created_at: str,
                  members: Mapping[str, bytes], project: str, validation: Mapping[str, Any],
                  approved_run: Mapping[str, Any] | None, packaged_by: str = "",
                  signed: Mapping[str, str] | None = None, changes: Mapping[str, Any] | None = None,
                  frequency_caps: list[dict[str, Any]] | None = None,
                  in_flight: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a package holding `members` (name -> exact bytes); `signed` = {key_id, by, at} when the
    package is signed (the manifest is what the signature covers, so who signed and when are signed too);
    `frequency_caps`: the project's caps across journeys when it has any (app.codec.plain.caps_to_plain), which
    the runner honours with the journey's priority and exemption (journey.yaml); `in_flight`: what happens to the
    contacts in flight on the previous version (app.package.in_flight.Plan.to_plain), when chosen."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "app": {"name": APP_NAME, "version": __version__},
        "journey": {"id": journey_id, "name": journey_name, "version": version},
        "project": project,
        "created_at": created_at,
        "members": {name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in members.items()},
        "validation": {"member": VALIDATION, "errors": validation["errors"], "warnings": validation["warnings"]},
        "approved_run": ({"member": RUN, "id": approved_run["id"], "name": approved_run["name"],
                          "approved_by": approved_run["approved_by"], "approved_at": approved_run["approved_at"],
                          "record": RUN_RECORD if RUN_RECORD in members else None}
                         if approved_run is not None else None),
        "packaged": {"by": packaged_by[:MAX_WHO], "at": created_at},
    }
    if signed is not None:
        doc["signed"] = {"key_id": signed["key_id"], "by": signed.get("by", "")[:MAX_WHO], "at": signed["at"]}
    if changes is not None:
        doc["changes"] = dict(changes)
    if frequency_caps:
        doc["frequency_caps"] = [dict(c) for c in frequency_caps]
    if in_flight is not None:
        doc["in_flight"] = dict(in_flight)
    return doc


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The exact bytes written as manifest.json (and signed)."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def format_version(value: Any, where: str) -> int:
    """The number of a `journey-package/N` format; refuses anything else, and a format newer than this one."""
    m = _FORMAT.match(value) if isinstance(value, str) else None
    if m is None:
        raise PackageError(f"{where}: not a journey package: manifest.json has format {value!r}, "
                           f"not {FORMAT!r}")
    number = int(m.group(1))
    if number > FORMAT_VERSION:
        raise PackageError(f"{where}: made by a newer {APP_NAME}: format {value}; this version reads {FORMAT} "
                           "(upgrade to read it)")
    if number < 1:
        raise PackageError(f"{where}: unknown package format {value!r}")
    return number


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise PackageError(f"{where}: manifest.json is not valid: {what}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """The manifest from its bytes, its shape checked; PackageError naming the file on anything wrong."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise PackageError(f"{where}: manifest.json is not valid JSON ({e})") from None
    _need(isinstance(doc, dict), where, "it is not a JSON object")
    format_version(doc.get("format"), where)  # first: a newer format may look different in every other way
    j = doc.get("journey")
    _need(isinstance(j, dict), where, "'journey' must be an object")
    _need(isinstance(j.get("id"), str) and bool(j["id"]), where, "'journey.id' must be text")
    _need(isinstance(j.get("name"), str) and bool(j["name"].strip()), where, "'journey.name' must be text")
    _need(_is_int(j.get("version")) and j["version"] >= 1, where, "'journey.version' must be a whole number from 1")
    _need(isinstance(doc.get("created_at"), str), where, "'created_at' must be text")
    app = doc.get("app")
    _need(isinstance(app, dict) and isinstance(app.get("version"), str), where, "'app.version' must be text")
    members = doc.get("members")
    _need(isinstance(members, dict), where, "'members' must be an object")
    for name, entry in members.items():
        _need(name in MEMBERS, where, f"it lists member '{name}', which format {FORMAT} does not have")
        _need(isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
              and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) is not None,
              where, f"member '{name}' needs a SHA-256 (64 hexadecimal digits)")
        _need(_is_int(entry.get("size")) and entry["size"] >= 0, where, f"member '{name}' needs a size in bytes")
    for name in REQUIRED_MEMBERS:
        _need(name in members, where, f"it does not list {name}")
    run = doc.get("approved_run")
    _need(run is None or isinstance(run, dict), where, "'approved_run' must be an object or null")
    _need((run is not None) == (RUN in members), where, "'approved_run' and member run.json go together")
    _need(RUN_RECORD not in members or RUN in members, where, "member run.record comes with run.json")
    for block, keys in (("packaged", ("by", "at")), ("signed", ("key_id", "by", "at"))):
        value = doc.get(block)
        _need(value is None or (isinstance(value, dict) and all(isinstance(value.get(k, ""), str)
                                                               and len(value.get(k, "")) <= MAX_WHO for k in keys)),
              where, f"'{block}' must be an object of short texts ({', '.join(keys)})")
    _need(doc.get("changes") is None or isinstance(doc.get("changes"), dict), where, "'changes' must be an object")
    if doc.get("frequency_caps") is not None:
        from app.codec.plain import PlainError, caps_from_plain
        try:
            caps_from_plain(doc["frequency_caps"])
        except PlainError as e:
            _need(False, where, f"'{e}'")
    if doc.get("in_flight") is not None:
        from app.package.in_flight import InFlightError, from_plain
        try:
            plan = from_plain(doc["in_flight"], where)
        except InFlightError as e:
            raise PackageError(str(e)) from None
        _need(plan.to_version == j["version"], where, "'in_flight' is for another version than the journey's")
    return doc


def manifest_caps(manifest: Mapping[str, Any]) -> tuple[Any, ...]:
    """The project's frequency caps a (parsed) manifest carries, as ChannelCaps (none: ())."""
    from app.codec.plain import caps_from_plain
    return caps_from_plain(manifest.get("frequency_caps"))


__all__ = ["FORMAT", "MANIFEST", "SIGNATURE", "JOURNEY", "CONTENT", "SEGMENTS", "VALIDATION", "RUN", "RUN_RECORD",
           "MEMBERS",
           "REQUIRED_MEMBERS", "make_manifest", "manifest_bytes", "manifest_caps", "parse_manifest", "format_version",
           "size_text",
           "member_limit", "sha256_hex", "utc_now"]
