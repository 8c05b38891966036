"""Ed25519 keys for packages: make a key pair, read key files, sign a manifest and check a signature.

The private key is a PKCS#8 PEM file readable by its owner only; the public key sits next to it as KEYFILE.pub
(a SubjectPublicKeyInfo PEM). A key is known by its id: "ed25519:" and the first 32 hexadecimal digits of the
SHA-256 of the raw 32-byte public key. `signature.json` = {algorithm, key_id, public_key, signature}, the
signature being over the exact bytes of manifest.json.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.files import OutputFileError, write_atomically
from app.package.errors import KeyFileError, PackageError

ALGORITHM = "ed25519"
SIGNING_KEY_ENV = "JOURNEY_STUDIO_SIGNING_KEY"   # the signing key file, when --sign-key is not given
PUBLIC_KEY_ENV = "JOURNEY_STUDIO_PUBLIC_KEY"     # the public key packages must be signed with
PublicKeyLike = Union[Ed25519PublicKey, str, "os.PathLike[str]"]
_MAX_KEY_FILE = 64 * 1024


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """The fingerprint a key is known by: ed25519:<32 hex digits>."""
    return f"{ALGORITHM}:{hashlib.sha256(_raw(public)).hexdigest()[:32]}"


def public_key_path(private_path: str | os.PathLike[str]) -> Path:
    """Where keygen writes the public key of KEYFILE: KEYFILE.pub."""
    p = Path(private_path)
    return p.with_name(p.name + ".pub")


def generate_key_pair(path: str | os.PathLike[str]) -> str:
    """Write a new private key to `path` (mode 0600) and its public key to `path`.pub; returns the key id.

    Refuses to replace an existing file: a lost signing key cannot be recovered.
    """
    private_path, public_path = Path(path), public_key_path(path)
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise KeyFileError(f"{p} already exists; choose another name (a key is never overwritten)")
    if not private_path.parent.is_dir():
        raise KeyFileError(f"{private_path}: the folder {private_path.parent} does not exist")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:  # each written whole or not at all; a file that appears meanwhile is never replaced
        write_atomically(private_path, pem, private=True, replace=False)
    except OutputFileError as e:
        raise KeyFileError(f"cannot write the key: {e}") from None
    try:
        write_atomically(public_path, pub, replace=False)
    except OutputFileError as e:
        private_path.unlink(missing_ok=True)  # ours: written just above
        raise KeyFileError(f"cannot write the public key: {e}") from None
    return key_id(key.public_key())


def _read_key_file(path: str | os.PathLike[str], what: str) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_KEY_FILE:
            raise KeyFileError(f"{p}: too large to be a {what}")
        return p.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{p}: no such {what} file (make a key pair with: journey-studio keygen --out KEYFILE)"
                           ) from None
    except OSError as e:
        raise KeyFileError(f"{p}: cannot read the {what}: {e.strerror or e}") from None


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """A signing key from a PEM file written by keygen; KeyFileError naming the file otherwise."""
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{path}: the signing key is protected by a password; Journey Studio reads "
                           "unencrypted Ed25519 keys (make one with: journey-studio keygen --out KEYFILE)") from None
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        hint = " (this is a public key: sign with the private key file)" if b"PUBLIC KEY" in data else ""
        raise KeyFileError(f"{path}: not a PEM private key{hint}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: a {type(key).__name__.replace('PrivateKey', '')} key; packages are signed "
                           "with Ed25519 keys (make one with: journey-studio keygen --out KEYFILE)")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """A public key from a PEM file (KEYFILE.pub); KeyFileError naming the file otherwise."""
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path}: this is a private key; give its public key ({Path(path).name}.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def as_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """A public key given as a key object or a path to a key file."""
    return key if isinstance(key, Ed25519PublicKey) else load_public_key(key)


def sign(private: Ed25519PrivateKey, data: bytes) -> dict[str, Any]:
    """The signature.json document signing `data` (the manifest's bytes)."""
    public = private.public_key()
    return {"algorithm": ALGORITHM, "key_id": key_id(public),
            "public_key": base64.b64encode(_raw(public)).decode("ascii"),
            "signature": base64.b64encode(private.sign(data)).decode("ascii")}


def signature_bytes(doc: Mapping[str, Any]) -> bytes:
    """The exact bytes written as signature.json."""
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def _b64(value: Any, size: int, what: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise PackageError(f"{where}: signature.json is damaged: its {what} is not {size} bytes of base64")
    return raw


def check_signature(data: bytes, signature: bytes, trusted: Ed25519PublicKey | None, where: str) -> str:
    """Check signature.json (its bytes) over `data`; returns the signer's key id.

    With `trusted`, the package must be signed by that key; without, the signature is checked against the key
    it names, which proves the manifest was not changed since signing but not who signed it.
    """
    try:
        doc = json.loads(signature.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PackageError(f"{where}: signature.json is damaged: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("algorithm") != ALGORITHM:
        algorithm = doc.get("algorithm") if isinstance(doc, dict) else None
        raise PackageError(f"{where}: signature.json uses algorithm {algorithm!r}; packages are signed with "
                           f"{ALGORITHM}")
    embedded = Ed25519PublicKey.from_public_bytes(_b64(doc.get("public_key"), 32, "public key", where))
    named = doc.get("key_id")
    if named != key_id(embedded):
        raise PackageError(f"{where}: signature.json is damaged: key id {named!r} is not that of its public key")
    if trusted is not None and key_id(trusted) != named:
        raise PackageError(f"{where}: signed by key {named}, not by the configured key {key_id(trusted)}")
    try:
        (trusted or embedded).verify(_b64(doc.get("signature"), 64, "signature", where), data)
    except InvalidSignature:
        raise PackageError(f"{where}: bad signature: manifest.json was changed after the package was signed by "
                           f"{named}") from None
    return str(named)


__all__ = ["ALGORITHM", "PUBLIC_KEY_ENV", "SIGNING_KEY_ENV", "as_public_key", "check_signature", "generate_key_pair",
           "key_id", "load_private_key", "load_public_key", "public_key_path", "sign", "signature_bytes"]
