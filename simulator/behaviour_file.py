"""Behaviour files: the assumptions of a run as YAML (or JSON) a user edits, shared by `journey-studio
behaviour` / `simulate --behaviour` and the designer's behaviour table (pure: no Qt).

A file written here starts with the defaults' sources as comments. Reading one merges it over the defaults
(`BehaviourModel.from_file`) and checks every figure, saying which one is wrong and where.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

from app.errors import FormatError
from simulator import behaviour as behaviour_module
from simulator.behaviour import BehaviourModel, ChannelBehaviour

PROBABILITIES = ("delivery", "open", "click", "unsubscribe", "conversion")  # the figures that are probabilities


def behaviour_file_text(model: BehaviourModel) -> str:
    """A behaviour file: the defaults' sources as comments, then the model (as `journey-studio behaviour`)."""
    from app.codec.yamlio import dump_yaml
    doc = (behaviour_module.__doc__ or "").strip()
    sources = doc[doc.find("Default figures"):] if "Default figures" in doc else doc
    header = "".join(f"# {line}".rstrip() + "\n" for line in sources.splitlines())
    if model.sources:  # fitted figures first: where they came from (also kept in the file's `sources`)
        fitted = ["Fitted figures (see `sources` below for each one's file, rows, date and method):"]
        fitted += [f"  {name}: {src.get('file', '?')}, {src.get('rows', '?')} rows, {src.get('fitted', '?')}"
                   for name, src in model.sources.items()]
        header = "".join(f"# {line}".rstrip() + "\n" for line in fitted) + "#\n" + header
    return header + "\n" + dump_yaml(model.to_plain())


def read_behaviour_file(path: str | Path) -> BehaviourModel:
    """A behaviour model from a YAML or JSON file; ValueError with one line (file:line for syntax) if wrong."""
    from app.codec.yamlio import parse_text
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read the behaviour file: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = parse_text(text, file=str(path))
    except FormatError as e:
        raise ValueError(str(e)) from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a behaviour file is a mapping (write one with Save… or "
                         "journey-studio behaviour --out FILE)")
    try:
        model = BehaviourModel.from_file(doc)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None
    names = {f.name for f in fields(ChannelBehaviour)}
    for step, over in model.messages.items():
        for name, value in over.items():
            if name not in names:
                known = ", ".join(sorted(names))
                raise ValueError(f"{path}: messages.{step}: unknown field '{name}' (fields: {known})")
            number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            if not number or value < 0 or (name in PROBABILITIES and value > 1):
                what = "a probability from 0 to 1" if name in PROBABILITIES else "a number from 0 up"
                raise ValueError(f"{path}: messages.{step}.{name} is {what}, not {value!r}")
    for event, rate in model.event_rates.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
            raise ValueError(f"{path}: event_rates.{event}: a rate per day is a number from 0 up, not {rate!r}")
    return model
