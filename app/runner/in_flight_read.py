"""Where the contacts of a live run of version N are now, for the preview of publishing version N+1
(app/package/in_flight.py): the run's counts (`status`), from a run's state folder (NAME.jpkg.run beside
NAME.jpkg), its package, or a file written by `journey-studio status RUN --json`.

A run folder is read as `status` reads it (status.read_counts: the run's own process while it runs, the counts it
kept when it ended, else Temporal); a JSON file is read bounded. Only the figures are used: `key` (journey id and
version) and per step `waiting`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.errors import JourneyStudioError
from app.runner.runnable import RunnerError

MAX_STATUS_BYTES = 16 * 1024 * 1024  # a status --json file read at most


def _from_json(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_STATUS_BYTES + 1)
    except OSError as e:
        raise RunnerError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_STATUS_BYTES:
        raise RunnerError(f"{path}: larger than {MAX_STATUS_BYTES >> 20} MiB; a status file is much smaller")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RunnerError(f"{path}: not the JSON of journey-studio status --json ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or not isinstance(doc.get("steps"), list):
        raise RunnerError(f"{path}: not the JSON of journey-studio status --json (no 'key' and 'steps')")
    return doc


def run_counts(source: str | Path) -> dict[str, Any]:
    """The counts of a run: a `status --json` file, a run's state folder (beside its package) or its package;
    RunnerError (one line) when it cannot be read."""
    import asyncio

    from app.runner.runnable import from_package
    from app.runner.status import read_counts
    p = Path(source)
    if len(str(source)) > 4096 or "\x00" in str(source):
        raise RunnerError("the path given is not a path (longer than 4096 characters, or a NUL in it)")
    if p.is_file() and p.suffix.lower() == ".json":
        return _from_json(p)
    if p.is_dir():
        package = p.resolve().with_name(p.resolve().name[:-len(".run")]) if p.name.endswith(".run") else None
        if package is None or not package.is_file():
            raise RunnerError(f"{p}: not a run's state folder next to its package (NAME.jpkg.run beside NAME.jpkg)")
        state = p
    elif p.is_file():
        package, state = p, p.resolve().with_name(p.resolve().name + ".run")
    else:
        raise RunnerError(f"{p}: no such file or folder")
    r = from_package(package)  # a package the trusted keys refuse: RunnerError, one line
    counts: dict[str, Any] = asyncio.run(read_counts(r, state))
    return counts


def plan_note(package: str | Path) -> str | None:
    """What this runner makes of the plan for contacts in flight a package carries (app.package.in_flight
    RUNNER_NOTE), or None when it carries none that moves or removes anyone. For a package read already (its
    manifest was checked): the manifest alone is read again, bounded."""
    import zipfile

    from app.package.in_flight import from_plain
    from app.package.manifest import MANIFEST, MAX_SMALL_BYTES, parse_manifest
    try:
        with zipfile.ZipFile(package) as zf:
            if zf.getinfo(MANIFEST).file_size > MAX_SMALL_BYTES:
                return None
            manifest = parse_manifest(zf.read(MANIFEST), str(package))
    except (OSError, KeyError, zipfile.BadZipFile, JourneyStudioError):
        return None  # read_package has said what is wrong with it
    doc = manifest.get("in_flight")
    return from_plain(doc, str(package)).runner_note() if doc is not None else None


def run_version(counts: dict[str, Any]) -> tuple[str, int] | None:
    """(journey id, version) of the run the counts are of, from their key ('ID:vN'), or None."""
    key = counts.get("key")
    head, sep, number = key.rpartition(":v") if isinstance(key, str) else ("", "", "")
    return (head, int(number)) if sep and number.isdigit() else None


__all__ = ["plan_note", "run_counts", "run_version"]
