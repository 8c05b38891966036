"""Trusted team keys: the keyring a project (or a runner) checks package signatures against.

A keyring is a list of named Ed25519 public keys. A project keeps its keyring in its settings (the project
file); a runner reads a keyring file (`journey-keyring/1` JSON, written by `journey-studio keys`), a public key
file (KEYFILE.pub) or both. Keys are shown by fingerprint the way people compare them aloud: the key id's 32
hexadecimal digits in groups of four (`3F2A 9C1B ...`). A key is found by its name, its fingerprint in any
spelling (groups, case, the `ed25519:` prefix) or an unambiguous start of it of at least 8 digits.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.errors import one_line
from app.files import OutputFileError, write_atomically
from app.model.values import printable
from app.package.errors import KeyFileError
from app.package.signing import ALGORITHM, _raw, key_id, load_public_key

KEYRING_FORMAT = "journey-keyring/1"
KEYRING_ENV = "JOURNEY_STUDIO_KEYRING"   # the runner's keyring file, when --keyring is not given
MAX_KEYS = 100
MAX_NAME = 100
MAX_KEYRING_FILE = 256 * 1024
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class TrustedKey:
    """One trusted public key with the name people know it by."""

    name: str
    public: Ed25519PublicKey
    added_at: str = ""

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    @property
    def fingerprint(self) -> str:
        """The key id as people compare it: eight groups of four hexadecimal digits."""
        return fingerprint(self.key_id)

    def to_plain(self) -> dict[str, str]:
        return {"name": self.name, "key_id": self.key_id,
                "public_key": base64.b64encode(_raw(self.public)).decode("ascii"), "added_at": self.added_at}


def fingerprint(kid: str) -> str:
    """'ed25519:3f2a9c1b...' as '3F2A 9C1B ...' (what `keys list` and `verify` show)."""
    digits = kid.split(":", 1)[-1].upper()
    return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))


def _digits(text: str) -> str:
    """A fingerprint as typed ('ed25519:3f2a...', '3F2A 9C1B', '3f2a-9c1b') reduced to its lower-case digits."""
    t = text.strip().lower()
    if t.startswith(f"{ALGORITHM}:"):
        t = t[len(ALGORITHM) + 1:]
    return re.sub(r"[\s:_-]", "", t)


def check_name(name: str) -> str:
    """A key's name, stripped; KeyFileError when empty, too long or holding control characters."""
    name = name.strip()
    if not name:
        raise KeyFileError("a trusted key needs a name (who holds it: a person or a team)")
    if len(name) > MAX_NAME:
        raise KeyFileError(f"the key's name is {len(name)} characters long; at most {MAX_NAME}")
    if printable(name) != name:
        raise KeyFileError(f"the key's name {printable(name)!r} holds control characters")
    return name


class Keyring:
    """An ordered set of trusted keys, at most one per key id and per name."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self.keys: list[TrustedKey] = []
        for k in keys:
            self.add(k)

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __iter__(self) -> Any:
        return iter(self.keys)

    def by_id(self, kid: str) -> TrustedKey | None:
        """The trusted key with this key id, or None."""
        return next((k for k in self.keys if k.key_id == kid), None)

    def add(self, key: TrustedKey) -> TrustedKey:
        """Add a key; KeyFileError when the key or its name is already there, or the keyring is full."""
        name = check_name(key.name)
        same = self.by_id(key.key_id)
        if same is not None:
            raise KeyFileError(f"key {key.fingerprint} is already trusted, as '{same.name}' (nothing was changed)")
        named = next((k for k in self.keys if k.name.casefold() == name.casefold()), None)
        if named is not None:
            raise KeyFileError(f"a trusted key is already named '{named.name}' ({named.fingerprint}); choose another "
                               "name (nothing was changed)")
        if len(self.keys) >= MAX_KEYS:
            raise KeyFileError(f"a keyring holds at most {MAX_KEYS} keys; remove one first")
        key = TrustedKey(name, key.public, key.added_at)
        self.keys.append(key)
        return key

    def find(self, text: str) -> TrustedKey:
        """The key named `text`, or whose fingerprint is (or starts with, 8 digits or more) `text`."""
        wanted = text.strip()
        for k in self.keys:
            if k.name.casefold() == wanted.casefold():
                return k
        digits = _digits(wanted)
        if _HEX.fullmatch(digits or "-"):
            full = [k for k in self.keys if k.key_id.split(":", 1)[1] == digits]
            if full:
                return full[0]
            if len(digits) >= 8:
                starts = [k for k in self.keys if k.key_id.split(":", 1)[1].startswith(digits)]
                if len(starts) == 1:
                    return starts[0]
                if len(starts) > 1:
                    raise KeyFileError(f"'{printable(wanted)}' starts {len(starts)} trusted keys' fingerprints; give "
                                       "more of it")
        known = ", ".join(f"'{k.name}'" for k in self.keys) or "none"
        raise KeyFileError(f"no trusted key is named or has the fingerprint '{printable(wanted)}' (trusted: {known})")

    def remove(self, text: str) -> TrustedKey:
        """Remove the key `find(text)` finds; returns it."""
        key = self.find(text)
        self.keys.remove(key)
        return key

    def describe(self, kid: str) -> str:
        """A signer for people: "'Ana' (3F2A 9C1B ...)" when trusted, else the fingerprint alone."""
        k = self.by_id(kid)
        return f"'{k.name}' ({k.fingerprint})" if k is not None else fingerprint(kid)

    def to_plain(self) -> list[dict[str, str]]:
        return [k.to_plain() for k in self.keys]

    @classmethod
    def from_plain(cls, items: Any, where: str) -> Keyring:
        """A keyring from its plain list; KeyFileError naming `where` and the entry on anything wrong."""
        if not isinstance(items, list):
            raise KeyFileError(f"{where}: the trusted keys must be a list")
        if len(items) > MAX_KEYS:
            raise KeyFileError(f"{where}: {len(items)} trusted keys; a keyring holds at most {MAX_KEYS}")
        ring = cls()
        for n, item in enumerate(items, 1):
            at = f"{where}: trusted key {n}"
            if not isinstance(item, Mapping):
                raise KeyFileError(f"{at} is not an object")
            raw = item.get("public_key")
            try:
                data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
            except (binascii.Error, ValueError):
                data = b""
            if len(data) != 32:
                raise KeyFileError(f"{at}: 'public_key' must be the 32 bytes of an Ed25519 key in base64")
            public = Ed25519PublicKey.from_public_bytes(data)
            if item.get("key_id") not in (None, key_id(public)):
                raise KeyFileError(f"{at}: its key_id is not that of its public key (the entry was changed)")
            name, added = item.get("name"), item.get("added_at", "")
            if not isinstance(name, str) or not isinstance(added, str):
                raise KeyFileError(f"{at}: 'name' and 'added_at' must be text")
            try:
                ring.add(TrustedKey(name, public, added[:40]))
            except KeyFileError as e:
                raise KeyFileError(f"{at}: {e}") from None
        return ring

    # --- files --------------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The keyring file's bytes."""
        doc = {"format": KEYRING_FORMAT, "keys": self.to_plain()}
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the keyring file atomically; KeyFileError on failure."""
        try:
            write_atomically(Path(path), self.to_bytes())
        except OutputFileError as e:
            raise KeyFileError(f"cannot write the keyring: {e}") from None


def read_keyring(path: str | os.PathLike[str]) -> Keyring:
    """A keyring file (journey-keyring/1), or a public key file as a keyring of one key named after the file."""
    p = Path(path)
    where = str(p)
    try:
        if p.is_dir():
            raise KeyFileError(f"{where} is a folder, not a keyring file")
        if p.stat().st_size > MAX_KEYRING_FILE:
            raise KeyFileError(f"{where}: too large to be a keyring (at most {MAX_KEYRING_FILE // 1024} KiB)")
        data = p.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{where}: no such keyring file (make one with: journey-studio keys add {where} "
                           "KEYFILE.pub --name NAME)") from None
    except OSError as e:
        raise KeyFileError(f"{where}: cannot read the keyring: {e.strerror or e}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        return Keyring([TrustedKey(p.name.removesuffix(".pub")[:MAX_NAME] or "key", load_public_key(p))])
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise KeyFileError(f"{where}: not a keyring: not valid JSON ({one_line(e)})") from None
    if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
        shown = doc.get("format") if isinstance(doc, dict) else None
        raise KeyFileError(f"{where}: not a keyring: its format is {shown!r}, not {KEYRING_FORMAT!r}")
    return Keyring.from_plain(doc.get("keys"), where)


def merged(rings: Sequence[Keyring]) -> Keyring:
    """One keyring holding every key of `rings` once (the first name a key is given wins)."""
    out = Keyring()
    for ring in rings:
        for k in ring:
            if out.by_id(k.key_id) is None:
                name = k.name
                while any(x.name.casefold() == name.casefold() for x in out):
                    name = f"{name} ({k.fingerprint[:9]})"[:MAX_NAME]
                out.keys.append(TrustedKey(name, k.public, k.added_at))
    return out


def trusted_public_key(path: str | os.PathLike[str]) -> Keyring:
    """The keyring of one public key file (`--public-key`), its key named after the file."""
    return Keyring([TrustedKey(Path(path).name.removesuffix(".pub")[:MAX_NAME] or "key", load_public_key(path))])


__all__ = ["KEYRING_ENV", "KEYRING_FORMAT", "Keyring", "TrustedKey", "check_name", "fingerprint", "merged",
           "read_keyring", "trusted_public_key"]
