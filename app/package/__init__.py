"""Journey packages: the validated, frozen journey a team hands to the live runner, and reading one back.

build (may it go live? freeze, write the .jpkg), read (safe, bounded checks of a .jpkg), manifest (the format
and its limits), signing (Ed25519 keys and signatures), keyring (the team's trusted keys), trust (which packages
are accepted), changes (what changed between released versions), importing (a package back into a project for
review).
The names below are imported on first use, so that `import app.package.signing` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from app.package.build import PackageResult, Readiness, assess, build_package, package_journey
    from app.package.changes import VersionChanges, diff_versions
    from app.package.errors import KeyFileError, PackageError, PackageRefused
    from app.package.importing import import_package, import_package_file, import_package_into
    from app.package.keyring import Keyring, TrustedKey, read_keyring
    from app.package.manifest import FORMAT
    from app.package.read import Package, read_package
    from app.package.signing import generate_key_pair, key_id, load_private_key, load_public_key
    from app.package.trust import TrustPolicy, policy, project_keyring

_WHERE = {
    "PackageResult": "build", "Readiness": "build", "assess": "build", "build_package": "build",
    "package_journey": "build", "VersionChanges": "changes", "diff_versions": "changes",
    "Keyring": "keyring", "TrustedKey": "keyring", "read_keyring": "keyring",
    "TrustPolicy": "trust", "policy": "trust", "project_keyring": "trust",
    "KeyFileError": "errors", "PackageError": "errors", "PackageRefused": "errors",
    "import_package": "importing", "import_package_file": "importing", "import_package_into": "importing",
    "FORMAT": "manifest",
    "Package": "read", "read_package": "read",
    "generate_key_pair": "signing", "key_id": "signing", "load_private_key": "signing", "load_public_key": "signing",
}

__all__ = ["FORMAT", "KeyFileError", "Keyring", "Package", "PackageError", "PackageRefused", "PackageResult",
           "Readiness", "TrustPolicy", "TrustedKey", "VersionChanges", "assess", "build_package", "diff_versions",
           "generate_key_pair", "import_package", "import_package_file", "import_package_into", "key_id",
           "load_private_key", "load_public_key", "package_journey", "policy", "project_keyring", "read_keyring",
           "read_package"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'app.package' has no attribute {name!r}")
    return getattr(importlib.import_module(f"app.package.{_WHERE[name]}"), name)
