"""Journey packages: the validated, frozen journey a team hands to the live runner, and reading one back.

build (may it go live? freeze, write the .jpkg), read (safe, bounded checks of a .jpkg), manifest (the format
and its limits), signing (Ed25519 keys and signatures), importing (a package back into a project for review).
The names below are imported on first use, so that `import app.package.signing` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from app.package.build import PackageResult, Readiness, assess, build_package, package_journey
    from app.package.errors import KeyFileError, PackageError, PackageRefused
    from app.package.importing import import_package, import_package_file, import_package_into
    from app.package.manifest import FORMAT
    from app.package.read import Package, read_package
    from app.package.signing import generate_key_pair, key_id, load_private_key, load_public_key

_WHERE = {
    "PackageResult": "build", "Readiness": "build", "assess": "build", "build_package": "build",
    "package_journey": "build",
    "KeyFileError": "errors", "PackageError": "errors", "PackageRefused": "errors",
    "import_package": "importing", "import_package_file": "importing", "import_package_into": "importing",
    "FORMAT": "manifest",
    "Package": "read", "read_package": "read",
    "generate_key_pair": "signing", "key_id": "signing", "load_private_key": "signing", "load_public_key": "signing",
}

__all__ = ["FORMAT", "KeyFileError", "Package", "PackageError", "PackageRefused", "PackageResult", "Readiness",
           "assess", "build_package", "generate_key_pair", "import_package", "import_package_file",
           "import_package_into", "key_id", "load_private_key", "load_public_key", "package_journey", "read_package"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'app.package' has no attribute {name!r}")
    return getattr(importlib.import_module(f"app.package.{_WHERE[name]}"), name)
