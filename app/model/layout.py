"""Layered auto-layout of a journey (Sugiyama-style): layers by longest path, order by barycentres."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from app.model.journey import Journey, Position
from app.model.registry import END

if TYPE_CHECKING:
    import networkx as nx

Direction = Literal["LR", "TB"]
LAYER_GAP = 260.0   # between layers (tile width 200 + room for edge labels)
ROW_GAP = 130.0     # between tiles in a layer (tile height 84 + room)


def _acyclic_graph(journey: Journey) -> nx.DiGraph:
    import networkx as nx  # here, not at the top: only laying out needs it (see app/validation/graph.py)
    g = nx.DiGraph()
    g.add_nodes_from(journey.steps)
    for src, _port, dst in journey.links():
        if dst != END and dst in journey.steps and dst != src:
            g.add_edge(src, dst)
    # Layering needs a DAG; a journey with a cycle is invalid anyway, so drop back edges found by DFS.
    while not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        g.remove_edge(*cycle[-1][:2])
    return g


def layered_layout(journey: Journey, direction: Direction = "LR") -> dict[str, Position]:
    """Positions for every step: each step one layer after its furthest predecessor; crossings reduced."""
    if not journey.steps:
        return {}
    import networkx as nx
    g = _acyclic_graph(journey)
    layer: dict[str, int] = {}
    for node in nx.topological_sort(g):
        preds = list(g.predecessors(node))
        layer[node] = max((layer[p] + 1 for p in preds), default=0)
    # Steps nobody reaches from the entry keep their layer, but the entry's component is laid out first.
    layers: dict[int, list[str]] = {}
    order_hint = {sid: i for i, sid in enumerate(journey.steps)}
    if journey.entry in g:
        reach = nx.descendants(g, journey.entry) | {journey.entry}
    else:
        reach = set(g)
    for node in sorted(g, key=lambda n: (n not in reach, order_hint[n])):
        layers.setdefault(layer[node], []).append(node)
    # Port order matters: a yes branch goes above a no branch. Seed positions from port index.
    port_rank: dict[str, float] = {}
    for sid, step in journey.steps.items():
        for k, (port, target) in enumerate(step.outputs.items()):
            if target in journey.steps:
                port_rank.setdefault(target, k)
    rank = {n: float(i) for nodes in layers.values() for i, n in enumerate(nodes)}
    for _sweep in range(4):
        for depth in sorted(layers)[1:]:
            nodes = layers[depth]
            def bary(n: str) -> float:
                preds = list(g.predecessors(n))
                base = sum(rank[p] for p in preds) / len(preds) if preds else rank[n]
                return base + 0.01 * port_rank.get(n, 0)
            nodes.sort(key=bary)
            for i, n in enumerate(nodes):
                rank[n] = float(i)
        for depth in sorted(layers, reverse=True)[1:]:
            nodes = layers[depth]
            def bary_up(n: str) -> float:
                succ = list(g.successors(n))
                return sum(rank[s] for s in succ) / len(succ) if succ else rank[n]
            nodes.sort(key=bary_up)
            for i, n in enumerate(nodes):
                rank[n] = float(i)
    out: dict[str, Position] = {}
    for depth, nodes in layers.items():
        offset = (len(nodes) - 1) / 2.0
        for i, n in enumerate(nodes):
            a, b = depth * LAYER_GAP, (i - offset) * ROW_GAP
            out[n] = Position(a, b) if direction == "LR" else Position(b * 1.7, a * 0.62)
    return out
