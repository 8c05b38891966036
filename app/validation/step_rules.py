"""Rules about single steps: known tile types, well-typed properties, personalization tokens."""

from __future__ import annotations

from typing import Iterable

from app.model.attributes import attribute_names
from app.model.registry import REGISTRY
from app.validation.context import Context
from app.validation.findings import Finding, error, warning
from app.validation.props import short_repr, unknown_props


def unknown_tile_types(ctx: Context) -> Iterable[Finding]:
    """Every step is of a tile type the application knows."""
    for step in ctx.steps.values():
        if ctx.tile(step) is None:
            yield error("unknown-tile-type", f"Step '{step.display_name}' has the type {short_repr(step.type)}, "
                        "which is not a tile type; it is not checked further.",
                        f"Change its type to one of: {', '.join(REGISTRY)}.", **ctx.where(step.id, "type"))


def property_types(ctx: Context) -> Iterable[Finding]:
    """Property values have the type their tile expects (type-specific checks skip a step until they do)."""
    for sid, problems in ctx.invalid.items():
        for name, problem in problems.items():
            yield error("invalid-property", f"Step '{ctx.label(sid)}': {problem}.",
                        "Correct the value; the step's other checks run once it is valid.",
                        **ctx.where(sid, name))


def unknown_properties(ctx: Context) -> Iterable[Finding]:
    """Properties a tile does not have are ignored (and lost on export)."""
    for step in ctx.steps.values():
        tile = ctx.tile(step)
        if tile is None:
            continue
        for name in unknown_props(step.props, tile):
            yield warning("unknown-property", f"A {tile.label} step has no property {short_repr(name)}; "
                          "it is ignored.", "Remove it.", **ctx.where(step.id, str(name)))


def unknown_tokens(ctx: Context) -> Iterable[Finding]:
    """Personalization tokens in the content a journey sends name contact (or account) attributes."""
    if ctx.project is None:
        return
    known = attribute_names(ctx.custom_attributes())
    seen: set[str] = set()
    for step in ctx.steps.values():
        tile = ctx.tile(step)
        if tile is None or not tile.is_message or not ctx.sound(step):
            continue
        name = step.props.get("content")
        content = ctx.content(name)
        if content is None or not isinstance(name, str) or name in seen:  # a found content has a text name
            continue
        seen.add(name)
        for token in dict.fromkeys(content.tokens()):
            if token not in known:
                yield error("unknown-token", f"Content '{name}' uses the personalization token "
                            f"{{{{{token}}}}}, which names no contact or account attribute.",
                            "Correct the token, or add a custom attribute of that name in the project settings.",
                            **ctx.where(step.id, "content"))


RULES = (unknown_tile_types, property_types, unknown_properties, unknown_tokens)
