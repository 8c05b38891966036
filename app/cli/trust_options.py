"""The signature-check options shared by `verify`, `import-package` and `run`, and the keyrings they name.

`--public-key` (or JOURNEY_STUDIO_PUBLIC_KEY) and `--keyring` (or JOURNEY_STUDIO_KEYRING: files separated by
the path separator) name trusted keys; a keyring may be a keyring file, a public key file or a project file
(its trusted keys). With any trusted key, an unsigned or otherwise signed package is refused unless
`--allow-unsigned`; `--require-signature` without any is an error. Defines no command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

import click

from app.package.keyring import KEYRING_ENV
from app.package.signing import PUBLIC_KEY_ENV

if TYPE_CHECKING:
    from app.package.keyring import Keyring
    from app.package.trust import TrustPolicy

F = TypeVar("F", bound=Callable[..., Any])


def trust_options(f: F) -> F:
    """Add --public-key, --keyring, --require-signature and --allow-unsigned to a command."""
    options = [
        click.option("--public-key", type=click.Path(dir_okay=False), envvar=PUBLIC_KEY_ENV, show_envvar=True,
                     help="A trusted public key (KEYFILE.pub): the package must be signed by a trusted key."),
        click.option("--keyring", "keyrings", multiple=True, type=click.Path(dir_okay=False), envvar=KEYRING_ENV,
                     show_envvar=True, help="Trusted keys: a keyring file (journey-studio keys), a public key or a "
                     "project file (its trusted keys); repeatable."),
        click.option("--require-signature", is_flag=True,
                     help="Refuse a package that is not signed by a trusted key (needs a trusted key)."),
        click.option("--allow-unsigned", is_flag=True, help="Accept a package that no trusted key signed, although "
                     "trusted keys are configured (it is reported)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_ring(path: str) -> Keyring:
    """The trusted keys of a keyring file, a public key file or a project file."""
    from app.errors import ProjectFileError
    from app.package.keyring import read_keyring
    from app.store.opening import check_header
    p = Path(path)
    try:
        check_header(p)
    except ProjectFileError:
        return read_keyring(p)
    from app.package.trust import project_keyring
    from app.store.plain_read import read_project
    return project_keyring(read_project(p))


def trust_policy(public_key: str | None, keyrings: Iterable[str], require_signature: bool, allow_unsigned: bool,
                 *, rings: Iterable[Keyring] = ()) -> TrustPolicy:
    """The policy the options say (with `rings`, e.g. the project's own trusted keys)."""
    from app.package.trust import policy
    return policy(public_keys=[public_key] if public_key else [], rings=[*rings, *(load_ring(k) for k in keyrings)],
                  require_signature=require_signature, allow_unsigned=allow_unsigned)


def trust_line(pkg: Any) -> str:
    """Who signed a package that was accepted, and what that is worth, in one line."""
    from app.package.keyring import fingerprint
    signed = pkg.signed
    if signed is None:
        return "unsigned" + (" (accepted: --allow-unsigned)" if pkg.allowed_unsigned else "")
    when = f", at {signed['at']}" if signed["at"] else ""
    claimed = f" (says '{signed['by']}')" if signed["by"] else ""
    fp = fingerprint(signed["key_id"])
    if pkg.signature_trusted:
        return f"'{pkg.signer_name}' {fp}, a trusted key{when}" + (f"; packaged as '{signed['by']}'"
                                                                  if signed["by"] and signed["by"] != pkg.signer_name
                                                                  else "")
    if pkg.allowed_unsigned:
        return f"{fp}{claimed}{when}: NOT a trusted key (accepted: --allow-unsigned)"
    return (f"{fp}{claimed}{when} (not checked against a trusted key: add the team's key with journey-studio keys "
            "add, or give --public-key / --keyring)")


__all__ = ["load_ring", "trust_line", "trust_options", "trust_policy"]
