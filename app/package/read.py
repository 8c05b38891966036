"""Read and check a package: a safe, bounded walk through the zip, then the manifest, signature and members.

Nothing is extracted to disk. Before a byte is unpacked, every entry name is checked (no absolute paths, no
'..', no backslashes, no duplicates) and the sizes the zip declares are held to limits (per member, in total,
and the packing ratio of large members); each member is then unpacked in chunks with the same limits, its
CRC checked by zipfile and its SHA-256 and size compared with the manifest. A signature, when present or
required, is checked over the exact manifest bytes. Every refusal is one PackageError naming file and member.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.codec.plain import PlainError, content_from_plain, segment_from_plain
from app.codec.yamlio import parse_text, read_journey_text
from app.errors import FormatError, one_line
from app.model.content import Content
from app.model.journey import Journey
from app.model.segment import Segment
from app.package import manifest as m
from app.package.errors import PackageError
from app.package.keyring import Keyring, TrustedKey
from app.package.signing import PublicKeyLike, as_public_key
from app.package.trust import SignatureCheck, TrustPolicy, check_package_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHUNK = 64 * 1024
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Package:
    """A package that passed every check: its manifest and what it carries, decoded."""

    path: Path
    sha256: str                          # of the whole .jpkg file
    manifest: dict[str, Any]
    journey: Journey
    journey_doc: dict[str, Any]          # journey.yaml as plain values
    journey_text: str                    # journey.yaml as written (the journey-as-code text)
    content: dict[str, Content]
    segments: dict[str, Segment]
    segment_uses: dict[str, list[str]]   # segment name -> audience, exclusion, suppression, goal, exit, condition
    validation: dict[str, Any]
    approved_run: dict[str, Any] | None
    signed_by: str | None                # the signer's key id; None when unsigned
    signature_trusted: bool              # signed by a trusted key (not only valid for the key it names)
    signer_name: str | None = None       # the trusted key's name in the keyring
    allowed_unsigned: bool = False       # accepted only because unsigned (or untrusted) packages were allowed
    run_record: bytes | None = None      # the approved run as the project file kept it (run.record), if carried

    @property
    def name(self) -> str:
        return str(self.manifest["journey"]["name"])

    @property
    def version(self) -> int:
        return int(self.manifest["journey"]["version"])

    @property
    def created_at(self) -> str:
        return str(self.manifest["created_at"])

    @property
    def packaged(self) -> dict[str, str]:
        """Who made the package and when ({"by", "at"}; "by" is empty for a package that does not say)."""
        p = self.manifest.get("packaged") or {}
        return {"by": str(p.get("by") or ""), "at": str(p.get("at") or self.created_at)}

    @property
    def signed(self) -> dict[str, str] | None:
        """Who signed it and when, as the (signed) manifest records it: {"key_id", "by", "at"}; None if unsigned."""
        if self.signed_by is None:
            return None
        s = self.manifest.get("signed") or {}
        return {"key_id": self.signed_by, "by": str(s.get("by") or ""), "at": str(s.get("at") or "")}


# --- entries -----------------------------------------------------------------------------------------------

def unsafe_name_reason(name: str) -> str | None:
    """Why a zip entry name is refused (None when it is a plain relative name)."""
    if not name:
        return "an empty name"
    if "\\" in name:
        return "a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' part that points outside the package"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "control characters"
    return None


def check_entries(where: str, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse unsafe names, duplicates, encryption, unknown packing and sizes beyond the limits, as declared."""
    if len(infos) > m.MAX_ENTRIES:
        raise PackageError(f"{where}: not a journey package: it has {len(infos)} entries (at most "
                           f"{m.MAX_ENTRIES})")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.orig_filename
        reason = unsafe_name_reason(name)
        if reason is not None:
            raise PackageError(f"{where}: refused: entry {name!r} has {reason}")
        if name in seen:
            raise PackageError(f"{where}: refused: entry '{name}' appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise PackageError(f"{where}: {name} is encrypted; packages are not")
        if info.compress_type not in _METHODS:
            raise PackageError(f"{where}: {name} is packed with method {info.compress_type}; packages use "
                               "stored or deflated members")
        limit = m.member_limit(name)
        if info.file_size > limit:
            raise PackageError(f"{where}: refused: {name} would unpack to {m.size_text(info.file_size)}, more "
                               f"than the {m.size_text(limit)} a member may hold (a decompression bomb?)")
        if info.file_size > m.RATIO_FROM and info.file_size > m.MAX_RATIO * max(info.compress_size, 1):
            raise PackageError(f"{where}: refused: {name} would unpack {info.file_size // max(info.compress_size, 1)}"
                               f" times larger than it is packed (at most {m.MAX_RATIO}; a decompression bomb?)")
        total += info.file_size
    if total > m.MAX_TOTAL_BYTES:
        raise PackageError(f"{where}: refused: the members would unpack to {m.size_text(total)}, more than the "
                           f"{m.size_text(m.MAX_TOTAL_BYTES)} a package may hold (a decompression bomb?)")


def read_limited(stream: _Readable, limit: int, declared: int, where: str, name: str) -> bytes:
    """Read a stream to its end in chunks, refusing it once it gives more than `declared` or `limit` bytes."""
    cap = min(limit, declared)
    out = bytearray()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return bytes(out)
        out += chunk
        if len(out) > cap:
            what = (f"more than the {m.size_text(limit)} a member may hold (a decompression bomb?)" if cap == limit
                    else f"more than the {m.size_text(declared)} the zip declares (a decompression bomb?)")
            raise PackageError(f"{where}: refused: {name} unpacks to {what}")


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """A member's bytes, unpacked within the limits; damage (a bad CRC, broken packing) is a PackageError."""
    name = info.orig_filename
    try:
        with zf.open(info) as f:
            return read_limited(f, m.member_limit(name), info.file_size, where, name)
    except PackageError:
        raise
    except zipfile.BadZipFile as e:
        detail = "its checksum does not match" if "CRC" in str(e) else str(e)
        raise PackageError(f"{where}: {name} is damaged ({detail}): the package was changed or corrupted after "
                           "it was made") from None
    except zlib.error as e:
        raise PackageError(f"{where}: {name} is damaged (its packed data is broken: {e}): the package was changed "
                           "or corrupted after it was made") from None
    except (EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as e:
        raise PackageError(f"{where}: {name} is damaged ({e or type(e).__name__}): the package was changed or "
                           "corrupted after it was made") from None


# --- members -----------------------------------------------------------------------------------------------

def _json_member(data: bytes, where: str, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise PackageError(f"{where}: {name} is not valid JSON ({e})") from None


def _mapping_member(data: bytes, where: str, name: str) -> dict[str, Any]:
    doc = _json_member(data, where, name)
    if not isinstance(doc, dict):
        raise PackageError(f"{where}: {name} must hold a JSON object")
    return doc


def _plain(v: Any) -> Any:
    """Plain dicts and lists (the YAML reader's values carry source positions)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _decode(where: str, manifest: dict[str, Any], files: dict[str, bytes], check: SignatureCheck,
            path: Path, sha: str) -> Package:
    try:
        text = files[m.JOURNEY].decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"{where}: journey.yaml is not UTF-8 text") from None
    jid = manifest["journey"]["id"]
    try:
        journey, _, _ = read_journey_text(text, file=f"{where}!journey.yaml", journey_id=jid)
    except FormatError as e:
        raise PackageError(str(e)) from None
    doc = _plain(parse_text(text, file=f"{where}!journey.yaml"))
    if journey.name != manifest["journey"]["name"] or journey.version != manifest["journey"]["version"]:
        raise PackageError(f"{where}: journey.yaml holds '{journey.name}' version {journey.version}; the manifest "
                           f"says '{manifest['journey']['name']}' version {manifest['journey']['version']}")
    if manifest.get("in_flight") is not None:  # its targets are steps of this journey contacts can be put on
        from app.package.in_flight import InFlightError, check_against, from_plain
        try:
            check_against(from_plain(manifest["in_flight"], where), journey, where)
        except InFlightError as e:
            raise PackageError(str(e)) from None
    raw_content = _mapping_member(files[m.CONTENT], where, m.CONTENT)
    raw_segments = _mapping_member(files[m.SEGMENTS], where, m.SEGMENTS)
    try:
        content = {n: content_from_plain(n, v, (n,)) for n, v in raw_content.items()}
        uses = {n: list(v.get("used_as", [])) if isinstance(v, dict) else [] for n, v in raw_segments.items()}
        segments = {n: segment_from_plain(n, {k: x for k, x in v.items() if k != "used_as"}
                                          if isinstance(v, dict) else v, (n,)) for n, v in raw_segments.items()}
    except PlainError as e:
        raise PackageError(f"{where}: content.json or segments.json: {e}") from None
    if raw_content != doc.get("content", {}):
        raise PackageError(f"{where}: content.json does not match the content in journey.yaml")
    if {n: {k: x for k, x in v.items() if k != "used_as"} for n, v in raw_segments.items()} != doc.get("segments", {}):
        raise PackageError(f"{where}: segments.json does not match the segments in journey.yaml")
    validation = _mapping_member(files[m.VALIDATION], where, m.VALIDATION)
    run = _mapping_member(files[m.RUN], where, m.RUN) if m.RUN in files else None
    return Package(path, sha, manifest, journey, doc, text, content, segments, uses, validation, run,
                   check.signed_by, check.trusted, check.signer_name, check.allowed_unsigned, files.get(m.RUN_RECORD))


# --- the whole package -------------------------------------------------------------------------------------

def trust_of(public_key: PublicKeyLike | None, require_signature: bool) -> TrustPolicy:
    """The policy of one trusted public key (a key or a key file), or of none."""
    ring = Keyring([TrustedKey("the configured key", as_public_key(public_key))]) if public_key is not None \
        else Keyring()
    return TrustPolicy(ring, require_signature)


def read_package(path: str | os.PathLike[str], *, public_key: PublicKeyLike | None = None,
                 require_signature: bool = False, trust: TrustPolicy | None = None) -> Package:
    """Read and check a package; PackageError (one line naming the file and member) when it is refused.

    `trust` says which keys it must be signed by (app.package.trust); without it, `public_key` (a key or a key
    file) is the one trusted key. With no trusted key, a signature is checked against the key it names.
    """
    p = Path(path)
    where = str(p)
    trust = trust if trust is not None else trust_of(public_key, require_signature)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise PackageError(f"{where} is a folder, not a package file")
        if size > m.MAX_PACKAGE_BYTES:
            raise PackageError(f"{where}: refused: {m.size_text(size)} is larger than a package may be "
                               f"({m.size_text(m.MAX_PACKAGE_BYTES)})")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PackageError(f"{where}: no such package file") from None
    except OSError as e:
        raise PackageError(f"{where}: cannot read the package: {e.strerror or e}") from None
    return read_package_bytes(raw, where, trust=trust, path=p)


def read_package_bytes(raw: bytes, where: str, *, trusted: Ed25519PublicKey | None = None,
                       require_signature: bool = False, path: Path | None = None,
                       trust: TrustPolicy | None = None) -> Package:
    """Read and check a package held in memory (see `read_package`); `where` names it in messages."""
    trust = trust if trust is not None else trust_of(trusted, require_signature)
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except NotImplementedError as e:  # e.g. "zip file version 9.9": an entry needs a newer unzip than Python's
        raise PackageError(f"{where}: not a journey package: it uses a zip feature packages do not use "
                           f"({one_line(e) or 'not supported'})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise PackageError(f"{where}: not a journey package: not a zip file, or a damaged one ({e})") from None
    with zf:
        infos = zf.infolist()
        check_entries(where, infos)
        by_name = {i.orig_filename: i for i in infos}
        if m.MANIFEST not in by_name:
            raise PackageError(f"{where}: not a journey package: it has no manifest.json")
        head = read_member(zf, by_name[m.MANIFEST], where)
        manifest = m.parse_manifest(head, where)
        signature = read_member(zf, by_name[m.SIGNATURE], where) if m.SIGNATURE in by_name else None
        check = check_package_signature(head, signature, manifest, where, trust)
        listed = manifest["members"]
        for name in by_name:
            if name not in listed and name not in (m.MANIFEST, m.SIGNATURE):
                raise PackageError(f"{where}: refused: {name} is in the package but not listed in its manifest")
        files: dict[str, bytes] = {}
        for name, entry in listed.items():
            info = by_name.get(name)
            if info is None:
                raise PackageError(f"{where}: the manifest lists {name}, which is missing from the package")
            if info.file_size != entry["size"]:
                raise PackageError(f"{where}: {name} was changed after the package was made (it holds "
                                   f"{info.file_size} bytes; the manifest says {entry['size']})")
            data = read_member(zf, info, where)
            if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise PackageError(f"{where}: {name} was changed after the package was made (its SHA-256 does not "
                                   "match the manifest)")
            files[name] = data
    return _decode(where, manifest, files, check, path or Path(where), hashlib.sha256(raw).hexdigest())


def sha256_of_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


__all__ = ["Package", "check_entries", "read_limited", "read_member", "read_package", "read_package_bytes",
           "sha256_of_file", "unsafe_name_reason"]
