"""The JSON Schema of journey files, kept in resources/ and used to check documents before decoding."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from app.resources import resource_path

SCHEMA_FILE = "journey.schema.json"


@functools.lru_cache(maxsize=1)
def journey_schema() -> dict[str, Any]:
    return json.loads(Path(resource_path(SCHEMA_FILE)).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = journey_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def schema_errors(doc: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, message) for each way `doc` breaks the schema, the deepest (most specific) first."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (-len(e.absolute_path), e.message))
    for e in errors:
        best = jsonschema.exceptions.best_match([e])
        yield tuple(best.absolute_path), _describe(best)


def _describe(e: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in e.absolute_path) or "the document"
    if e.validator == "additionalProperties":
        return f"{where}: {e.message}"
    if e.validator == "required":
        return f"{where}: {e.message}"
    if e.validator == "enum":
        return f"{where}: {e.instance!r} is not one of {', '.join(map(str, e.validator_value))}"
    return f"{where}: {e.message}"
