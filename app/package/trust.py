"""Which packages are trusted: the keys a package must be signed with, and what is refused.

Trust by default: once any trusted key is configured (the project's keyring, a keyring file, a public key),
a package must carry a valid signature by one of those keys. An unsigned package, or one signed by another key,
is refused unless the user says `allow_unsigned` explicitly; a package whose manifest says it was signed but
whose signature was removed is refused always. `require_signature` without any trusted key is an error that
says so: a signature by a stray key proves nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from app.package.errors import KeyFileError, PackageError
from app.package.keyring import Keyring, fingerprint, merged, read_keyring, trusted_public_key
from app.package.signing import check_signature

if TYPE_CHECKING:
    from app.model.project import Project

KEYS_HINT = ("add the team's key (journey-studio keys add PROJECT KEYFILE.pub --name NAME) or give --public-key "
             "or --keyring")


@dataclass(frozen=True)
class TrustPolicy:
    """The trusted keys a package is checked against, and whether unsigned packages are refused."""

    keyring: Keyring = field(default_factory=Keyring)
    require_signature: bool = False
    allow_unsigned: bool = False

    def __post_init__(self) -> None:
        if self.require_signature and self.allow_unsigned:
            raise KeyFileError("--require-signature and --allow-unsigned contradict each other: give one")

    @property
    def enforced(self) -> bool:
        """Whether a package must be signed by a trusted key (any trusted key is configured)."""
        return bool(self.keyring)

    def trusted_text(self) -> str:
        return ", ".join(f"'{k.name}' {k.fingerprint}" for k in self.keyring) or "none"


@dataclass(frozen=True)
class SignatureCheck:
    """What the signature check found: who signed, whether that key is trusted, and what let it through."""

    signed_by: str | None          # the signer's key id; None when unsigned
    trusted: bool                  # signed by a key of the policy's keyring
    signer_name: str | None        # that key's name in the keyring
    allowed_unsigned: bool         # accepted only because the user allowed unsigned packages


def project_keyring(project: Project) -> Keyring:
    """The trusted keys kept in a project's settings."""
    return Keyring.from_plain(list(project.settings.trusted_keys), f"project '{project.name}': trusted keys")


def set_project_keyring(project: Project, ring: Keyring) -> None:
    """Keep `ring` as the project's trusted keys (written to the project file with its settings)."""
    with project.batch():
        project.update_settings(trusted_keys=ring.to_plain())


def policy(*, public_keys: Iterable[str | os.PathLike[str]] = (), keyrings: Iterable[str | os.PathLike[str]] = (),
           rings: Iterable[Keyring] = (), require_signature: bool = False, allow_unsigned: bool = False) -> TrustPolicy:
    """A policy trusting every key of the public key files, keyring files and keyrings given."""
    all_rings = list(rings) + [read_keyring(p) for p in keyrings] + [trusted_public_key(p) for p in public_keys]
    return TrustPolicy(merged(all_rings), require_signature, allow_unsigned)


def check_package_signature(head: bytes, signature: bytes | None, manifest: dict[str, Any], where: str,
                            trust: TrustPolicy) -> SignatureCheck:
    """Check a package's signature (`signature` = signature.json's bytes, None when absent) against `trust`;
    PackageError, one line naming the file, when it is refused."""
    if trust.require_signature and not trust.enforced:
        raise PackageError(f"{where}: a signature is required (--require-signature) but no trusted key is "
                           f"configured, so any key's signature would pass: {KEYS_HINT}")
    declared = manifest.get("signed") if isinstance(manifest.get("signed"), dict) else None
    if signature is None:
        if declared is not None:
            raise PackageError(f"{where}: refused: the manifest says it was signed by key "
                               f"{fingerprint(str(declared.get('key_id')))}, but signature.json is missing "
                               "(removed after signing?)")
        if trust.require_signature:
            raise PackageError(f"{where}: refused: the package is not signed, and a signature is required")
        if trust.enforced and not trust.allow_unsigned:
            raise PackageError(f"{where}: refused: the package is not signed, and trusted keys are configured "
                               f"({trust.trusted_text()}); sign it (journey-studio package --sign-key) or give "
                               "--allow-unsigned to accept it anyway")
        return SignatureCheck(None, False, None, trust.enforced)
    named = check_signature(head, signature, None, where)  # valid over the manifest, by the key it names
    if declared is not None and declared.get("key_id") != named:
        raise PackageError(f"{where}: refused: the manifest says it was signed by key "
                           f"{fingerprint(str(declared.get('key_id')))}, but signature.json is by {fingerprint(named)}")
    key = trust.keyring.by_id(named)
    if key is not None:
        check_signature(head, signature, key.public, where)  # and by the trusted key itself
        return SignatureCheck(named, True, key.name, False)
    if trust.enforced and not trust.allow_unsigned:
        raise PackageError(f"{where}: refused: signed by key {fingerprint(named)}, which is not a trusted key "
                           f"(trusted: {trust.trusted_text()}); trust it (journey-studio keys add) or give "
                           "--allow-unsigned to accept a package no trusted key signed")
    return SignatureCheck(named, False, None, trust.enforced)


__all__ = ["KEYS_HINT", "SignatureCheck", "TrustPolicy", "check_package_signature", "policy", "project_keyring",
           "set_project_keyring"]
