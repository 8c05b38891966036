"""The few graph questions the check asks of a journey's links, answered over an adjacency map.

A journey has tens to thousands of steps; these linear-time walks answer what the rules ask (reachability,
loops, dominators) without importing a general graph library on every `validate` (networkx costs more to
import than the whole check takes). tests/test_validation_graph.py compares every answer with networkx's.
All walks are iterative: a 10,000-step chain must not hit the recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

Adjacency = Mapping[str, Mapping[str, None]]
"""Node -> its successors (an insertion-ordered set: a dict with None values). Every successor is a node."""


def adjacency(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, dict[str, None]]:
    """The adjacency map of `nodes` and `edges` (each edge once; both ends must be among the nodes)."""
    adj: dict[str, dict[str, None]] = {n: {} for n in nodes}
    for a, b in edges:
        adj[a][b] = None
    return adj


def descendants(adj: Adjacency, start: str) -> set[str]:
    """Every node some path of at least one link leads to from `start` (`start` only if on a loop)."""
    seen: set[str] = set()
    stack = list(adj[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(n for n in adj[node] if n not in seen)
    return seen


def has_path(adj: Adjacency, a: str, b: str) -> bool:
    """Whether some path (possibly empty) goes from `a` to `b`."""
    return a == b or b in descendants(adj, a)


def strongly_connected_components(adj: Adjacency) -> Iterator[set[str]]:
    """The strongly connected components (Tarjan's algorithm, iterative), each once, in no promised order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in adj:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(adj[root]))]
        while work:
            node, successors = work[-1]
            child = next(successors, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adj[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                yield component


def _postorder(adj: Adjacency, root: str) -> list[str]:
    """The nodes reachable from `root` in depth-first postorder."""
    order: list[str] = []
    seen = {root}
    work: list[tuple[str, Iterator[str]]] = [(root, iter(adj[root]))]
    while work:
        node, successors = work[-1]
        child = next(successors, None)
        if child is None:
            work.pop()
            order.append(node)
        elif child not in seen:
            seen.add(child)
            work.append((child, iter(adj[child])))
    return order


def immediate_dominators(adj: Adjacency, root: str) -> dict[str, str]:
    """Node -> its immediate dominator, for every node reachable from `root` but the root itself.

    Cooper, Harvey and Kennedy's iterative algorithm ("A Simple, Fast Dominance Algorithm", 2001)."""
    post = _postorder(adj, root)
    number = {node: i for i, node in enumerate(post)}
    preds: dict[str, list[str]] = {node: [] for node in post}
    for node in post:
        for succ in adj[node]:
            preds[succ].append(node)
    idom: dict[str, str] = {root: root}

    def intersect(a: str, b: str) -> str:
        while a != b:
            while number[a] < number[b]:
                a = idom[a]
            while number[b] < number[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for node in reversed(post):
            if node == root:
                continue
            done = [p for p in preds[node] if p in idom]
            new = done[0]
            for p in done[1:]:
                new = intersect(p, new)
            if idom.get(node) != new:
                idom[node] = new
                changed = True
    del idom[root]
    return idom
