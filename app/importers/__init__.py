"""Journeys from other tools (Mautic campaign exports, Dynamics 365 customer journeys, Dittofeed journeys) mapped
onto our tiles, with a report of what became of every source step. Pure: no Qt. README.md says what maps.

`read_import(path)` reads a file of any of these formats (or our own journey files), detecting the format unless
one is given; `fit_to_project` makes the result's content and segments sit beside the project's own.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any, Callable

from app.codec.plain import PlainError
from app.errors import FormatError, JourneyStudioError
from app.importers.common import FORMAT_LABELS, ImportResult, StepReport, fast_json, no_nul
from app.model.values import printable

FORMATS: tuple[str, ...] = ("mautic", "d365", "dittofeed")
MAX_BYTES = 16 * 1024 * 1024  # an export with every email's HTML can be a few MB
LOCATE_BELOW = 2_000_000  # characters: a larger JSON file's errors name the step but not the line


def detect(doc: Any) -> str | None:
    """The format of a parsed document: 'journey' (ours), 'mautic', 'd365', 'dittofeed', or None."""
    from app.importers import d365, dittofeed, mautic
    if isinstance(doc, dict) and isinstance(doc.get("format"), str) and doc["format"].startswith("journey/"):
        return "journey"
    for name, mod in (("mautic", mautic), ("d365", d365), ("dittofeed", dittofeed)):
        if mod.looks_like(doc):
            return name
    return None


def _importer(fmt: str) -> Callable[..., ImportResult]:
    from app.importers import d365, dittofeed, mautic
    return {"mautic": mautic.import_doc, "d365": d365.import_doc, "dittofeed": dittofeed.import_doc}[fmt]


def read_text(path: str | FsPath) -> str:
    """The file's text, bounded in size; FormatError (one line) when it cannot be read or is not UTF-8."""
    p = FsPath(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise FormatError(f"the file is too large to import ({size:,} bytes; at most {MAX_BYTES:,})", file=str(p))
        if not p.is_file():
            raise FormatError("not a regular file", file=str(p))
        raw = p.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read the file: {e.strerror or e}", file=str(p)) from None
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise FormatError(f"the file holds a NUL byte (at byte {at:,}): not a JSON or YAML text", file=str(p))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"not UTF-8 text (byte {e.start:,})", file=str(p)) from None


def read_import_text(text: str, *, file: str = "<input>", fmt: str | None = None) -> ImportResult:
    """A journey from the text of a file in any known format; FormatError naming the file and the place."""
    from app.codec.yamlio import format_error, parse_text, read_journey_text
    if fmt is not None and fmt not in FORMATS:
        raise JourneyStudioError(f"unknown format {fmt!r}: give one of {', '.join(FORMATS)}")
    doc = fast_json(text)
    marked = doc is None
    if doc is None:
        doc = parse_text(text, file=file)  # bounded: no aliases or tags, limited size and nesting
    found = detect(doc)
    given = fmt is not None
    if fmt is None:
        if found is None and (doc is None or (isinstance(doc, dict) and {"format", "name", "steps"} & set(doc))):
            found = "journey"  # meant as one of ours: its decoder says what is wrong, where
        if found is None:
            raise FormatError("not a journey file nor a Mautic, Dynamics 365 or Dittofeed journey: cannot tell "
                              "the format (give --from mautic|d365|dittofeed)", file=file, line=1)
        fmt = found
    if fmt == "journey":
        journey, contents, segments = read_journey_text(text, file=file)
        return ImportResult("journey", True, journey, contents, segments)
    try:
        no_nul(doc)
        return _importer(fmt)(doc, detected=not given)
    except PlainError as e:  # located in the text: JSON read fast is read again with positions (when small
        if not marked and len(text) > LOCATE_BELOW:  # enough to do so quickly; the message names the step)
            raise FormatError(printable(e.message), file=file) from None
        raise format_error(doc if marked else parse_text(text, file=file), e, file) from None
    except RecursionError:
        raise FormatError("the document is nested too deeply", file=file) from None


def read_import(path: str | FsPath, fmt: str | None = None) -> ImportResult:
    """A journey from a file in any known format (ours too), the format detected unless `fmt` is given."""
    return read_import_text(read_text(path), file=str(path), fmt=fmt)


def fit_to_project(result: ImportResult, project: Any) -> None:
    """Content and segments the import would add beside the project's own: a segment or content of the same name
    (and kind) already in the project is used as it is, never overwritten by a placeholder; content of the same
    name but another kind is imported under a free name. Says so in the result's notes."""
    if not result.foreign:
        return
    kept = []
    for seg in result.segments:
        if seg.name in project.segments:
            result.notes.append(f"segment '{seg.name}' is already in the project: used as it is")
        else:
            kept.append(seg)
    result.segments = kept
    contents = []
    for c in result.contents:
        old = project.content.get(c.name)
        if old is None:
            contents.append(c)
        elif old.kind == c.kind:
            result.notes.append(f"content '{c.name}' is already in the project: used as it is")
        else:
            taken = set(project.content) | {x.name for x in result.contents}
            n, new_name = 2, f"{c.name} (2)"
            while new_name in taken:
                n += 1
                new_name = f"{c.name} ({n})"
            from dataclasses import replace
            contents.append(replace(c, name=new_name))
            for step in result.journey:
                if step.props.get("content") == c.name:
                    step.props["content"] = new_name
            result.notes.append(f"content '{c.name}' is {old.kind} content in the project: imported as '{new_name}'")
    result.contents = contents


__all__ = ["FORMATS", "FORMAT_LABELS", "ImportResult", "StepReport", "detect", "fit_to_project", "read_import",
           "read_import_text", "read_text"]
