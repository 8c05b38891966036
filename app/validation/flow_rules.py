"""Rules about the shape of a journey: entry, links, reachability, loops, open branches, if/then ordering."""

from __future__ import annotations

from typing import Iterable

from app.model.registry import END
from app.validation.context import Context
from app.validation.findings import Finding, error, warning
from app.validation.graph import strongly_connected_components
from app.validation.props import short_repr

_MAX_NAMED = 8


def _name_list(ctx: Context, ids: list[str]) -> str:
    """'a', 'b' and 'c' (at most a few names, then a count)."""
    names = [f"'{ctx.label(i)}'" for i in ids[:_MAX_NAMED]]
    if len(ids) > _MAX_NAMED:
        names.append(f"{len(ids) - _MAX_NAMED} more")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def no_steps(ctx: Context) -> Iterable[Finding]:
    """A journey needs at least one step."""
    if not ctx.steps:
        yield error("no-steps", "The journey has no steps.", "Add the first step, e.g. a Send email step.",
                    **ctx.where())


def entry_step(ctx: Context) -> Iterable[Finding]:
    """A journey with steps needs an entry step that is one of them."""
    if not ctx.steps or ctx.entry is not None:
        return
    entry = ctx.journey.entry
    message = ("The journey has no entry step, so contacts have nowhere to start." if entry is None else
               f"The entry step {short_repr(entry)} is not a step of the journey.")
    yield error("no-entry", message, "Choose the step contacts start at as the entry step.",
                **ctx.where(field="entry"))


def dangling_links(ctx: Context) -> Iterable[Finding]:
    """Every link leads to a step of the journey or to end."""
    for src, port, target in ctx.links():
        if target != END and not ctx.is_step(target):
            yield error("dangling-link", f"Output '{port}' of step '{ctx.label(src)}' leads to "
                        f"{short_repr(target)}, which is not a step of the journey.",
                        "Connect the output to an existing step (or to end), or remove the link.",
                        **ctx.where(src, str(port)))


def unknown_outputs(ctx: Context) -> Iterable[Finding]:
    """Links leave only from outputs the tile has (a split's paths, an if/then's yes and no...)."""
    for step in ctx.steps.values():
        ports = ctx.ports(step)
        if ports is None:
            continue
        ids = {p.id for p in ports}
        for port, target in ctx.outputs(step).items():
            if port not in ids:
                tile = ctx.tile(step)
                yield error("unknown-output", f"Step '{step.display_name}' has a link on output "
                            f"{short_repr(port)}, which a {tile.label if tile else 'step'} step does not have.",
                            f"Remove that link; its outputs are: {', '.join(sorted(ids)) or 'none'}.",
                            **ctx.where(step.id, str(port)))


def unreachable_steps(ctx: Context) -> Iterable[Finding]:
    """Every step can be reached from the entry step."""
    graph = ctx.graph
    if graph.entry is None:
        return
    for sid in ctx.steps:
        if sid not in graph.reachable:
            yield error("unreachable-step", f"Step '{ctx.label(sid)}' cannot be reached from the entry step "
                        f"'{ctx.label(graph.entry)}': no contact ever gets there.",
                        "Link an earlier step's output to it, or delete it.", **ctx.where(sid))


def cycles(ctx: Context) -> Iterable[Finding]:
    """Contacts move forward only: no step leads back to itself, directly or through others."""
    g = ctx.graph.successors
    loops = []
    for component in strongly_connected_components(g):  # linear time, unlike enumerating simple cycles
        if len(component) > 1 or any(n in g[n] for n in component):
            loops.append(sorted(component, key=ctx.order.__getitem__))
    for ids in sorted(loops, key=lambda ids: ctx.order[ids[0]]):
        what = (f"Step '{ctx.label(ids[0])}' links to itself" if len(ids) == 1 else
                f"Steps {_name_list(ctx, ids)} form a loop")
        yield error("cycle", f"{what}: contacts would go round for ever.",
                    "Break the loop: link one of these steps onward (or to end) instead of back.",
                    **ctx.where(ids[0]))


def unconnected_outputs(ctx: Context) -> Iterable[Finding]:
    """A branching step's outputs are all connected (an open one silently drops contacts)."""
    for step in ctx.steps.values():
        ports = ctx.ports(step)
        if ports is None or len(ports) < 2:  # a single output left open simply ends the journey
            continue
        outputs = ctx.outputs(step)
        for port in ports:
            if port.id not in outputs:
                yield warning("unconnected-output", f"Output '{port.label}' of step '{step.display_name}' is "
                              "not connected: contacts exit there.",
                              f"Connect '{port.id}' to the next step, or to end to make the exit explicit.",
                              **ctx.where(step.id, port.id))


def if_then_message_order(ctx: Context) -> Iterable[Finding]:
    """An if/then that waits for an event on a message comes after that message on every path to it."""
    graph = ctx.graph
    for step in ctx.steps.values():
        if step.type != "if-then" or not ctx.sound(step) or step.id not in graph.reachable:
            continue
        wait_for = step.props.get("wait_for")
        source = wait_for.get("step") if wait_for else None
        if not isinstance(source, str) or not ctx.is_step(source) or source == step.id:
            continue  # a missing or self reference is reported by the if/then's own check
        tile = ctx.tile(ctx.steps[source])
        if tile is None or not tile.is_message or graph.dominates(source, step.id):
            continue
        src, here = ctx.label(source), step.display_name
        if graph.leads_to(step.id, source):
            yield error("if-then-message-after", f"The if/then '{here}' waits for an event on '{src}', which "
                        "comes after it: the message has not been sent when the if/then waits.",
                        "Wait on a message sent before the if/then, or move the if/then after the message.",
                        **ctx.where(step.id, "wait_for"))
        else:
            yield error("if-then-message-not-on-every-path", f"The if/then '{here}' waits for an event on "
                        f"'{src}', but not every path to it goes through '{src}': contacts who did not get the "
                        "message would wait for an event that cannot happen.",
                        f"Place the if/then where every contact has been sent '{src}', or wait on a message "
                        "every contact reaching it gets.", **ctx.where(step.id, "wait_for"))


RULES = (no_steps, entry_step, dangling_links, unknown_outputs, unreachable_steps, cycles, unconnected_outputs,
         if_then_message_order)
