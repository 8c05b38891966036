"""What every rule looks at: the journey, its project, the check mode and facts computed once (graph, types)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from app.model.content import Content
from app.model.journey import Journey, Step
from app.model.project import Project
from app.model.registry import END, REGISTRY, Port, TileType
from app.model.segment import Segment
from app.validation import graph as walks
from app.validation.props import invalid_props, short_repr


@dataclass(frozen=True)
class FlowGraph:
    """The journey's links as a graph, what the entry reaches, and the dominator tree (for path questions)."""

    successors: walks.Adjacency
    entry: str | None
    reachable: frozenset[str]
    pre: dict[str, int]
    post: dict[str, int]

    def dominates(self, a: str, b: str) -> bool:
        """True when every path from the entry to `b` goes through `a`."""
        if a not in self.pre or b not in self.pre:
            return False
        return self.pre[a] <= self.pre[b] and self.post[b] <= self.post[a]

    def leads_to(self, a: str, b: str) -> bool:
        """True when some path goes from `a` to `b`."""
        return a in self.successors and b in self.successors and walks.has_path(self.successors, a, b)


def _tree_numbers(idom: Mapping[str, str], root: str) -> tuple[dict[str, int], dict[str, int]]:
    """Pre- and post-order numbers of the dominator tree: `a` dominates `b` iff b's interval nests in a's."""
    children: dict[str, list[str]] = {}
    for node, parent in idom.items():
        if node != parent:  # the root, if given, maps to itself
            children.setdefault(parent, []).append(node)
    pre: dict[str, int] = {}
    post: dict[str, int] = {}
    counter = 0
    stack: list[tuple[str, Iterator[str]]] = [(root, iter(children.get(root, ())))]
    pre[root] = counter
    while stack:  # iterative: a 10,000-step chain must not hit the recursion limit
        node, it = stack[-1]
        child = next(it, None)
        if child is None:
            stack.pop()
            counter += 1
            post[node] = counter
        else:
            counter += 1
            pre[child] = counter
            stack.append((child, iter(children.get(child, ()))))
    return pre, post


class Context:
    """One check run over one journey; implements registry.CheckContext for the per-tile checks."""

    def __init__(self, journey: Journey, project: Project | None, for_export: bool,
                 now: datetime | None = None) -> None:
        self.journey = journey
        self.project = project
        self.for_export = for_export
        self.now = now  # the moment go-live checks look from (None: the clock, in export mode; time_rules.py)

    # --- registry.CheckContext ----------------------------------------------------------------------------
    def content(self, name: Any) -> Content | None:
        """The project's content of that name, or None (also for a name that is not text)."""
        if self.project is None or not isinstance(name, str):
            return None
        return self.project.content.get(name)

    def segment(self, name: Any) -> Segment | None:
        """The project's segment of that name, or None (also for a name that is not text)."""
        if self.project is None or not isinstance(name, str):
            return None
        return self.project.segments.get(name)

    def custom_attributes(self) -> dict[str, str]:
        """The project's custom contact attributes (name -> type)."""
        custom = self.project.settings.custom_attributes if self.project is not None else None
        return dict(custom) if isinstance(custom, Mapping) else {}

    # --- helpers for rules --------------------------------------------------------------------------------
    def where(self, step: str | None = None, field: str | None = None) -> dict[str, Any]:
        return {"journey": self.journey.name, "step": step, "field": field}

    @cached_property
    def steps(self) -> dict[str, Step]:
        return dict(self.journey.steps)

    @cached_property
    def order(self) -> dict[str, int]:
        """Step id -> position in the journey's step order."""
        return {sid: i for i, sid in enumerate(self.steps)}

    def label(self, step_id: Any) -> str:
        """How messages name a step: its display name, or the id as given."""
        step = self.steps.get(step_id) if isinstance(step_id, str) else None
        return step.display_name if step is not None else str(step_id)

    def tile(self, step: Step) -> TileType | None:
        return REGISTRY.get(step.type) if isinstance(step.type, str) else None

    @cached_property
    def invalid(self) -> dict[str, dict[str | None, str]]:
        """Step id -> its properties of the wrong type (steps of known tile types only)."""
        out: dict[str, dict[str | None, str]] = {}
        for step in self.steps.values():
            tile = self.tile(step)
            if tile is not None:
                problems = invalid_props(step.props, tile)
                if problems:
                    out[step.id] = problems
        return out

    def sound(self, step: Step) -> bool:
        """A known tile type with well-typed properties: type-specific logic may trust its properties."""
        return self.tile(step) is not None and step.id not in self.invalid

    def ports(self, step: Step) -> tuple[Port, ...] | None:
        """The step's output ports, or None when they cannot be known (unknown type, malformed properties)."""
        tile = self.tile(step)
        return tile.ports_for(step.props) if tile is not None and self.sound(step) else None

    def outputs(self, step: Step) -> Mapping[Any, Any]:
        return step.outputs if isinstance(step.outputs, Mapping) else {}

    def links(self) -> Iterator[tuple[str, Any, Any]]:
        """Every (source, port, target) link, as Journey.links() but tolerant of malformed outputs."""
        for step in self.steps.values():
            for port, target in self.outputs(step).items():
                yield step.id, port, target

    def is_step(self, target: Any) -> bool:
        return isinstance(target, str) and target != END and target in self.steps

    @cached_property
    def entry(self) -> str | None:
        """The entry step id when it names a step of the journey."""
        entry = self.journey.entry
        return entry if self.is_step(entry) else None

    @cached_property
    def graph(self) -> FlowGraph:
        g = walks.adjacency(self.steps, ((src, target) for src, _, target in self.links() if self.is_step(target)))
        if self.entry is None:
            return FlowGraph(g, None, frozenset(), {}, {})
        reachable = frozenset(walks.descendants(g, self.entry) | {self.entry})
        pre, post = _tree_numbers(walks.immediate_dominators(g, self.entry), self.entry)
        return FlowGraph(g, self.entry, reachable, pre, post)


__all__ = ["Context", "FlowGraph", "short_repr"]
