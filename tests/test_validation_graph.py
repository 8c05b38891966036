"""The check's own graph walks give networkx's answers: reachability, paths, loops and dominators."""

from __future__ import annotations

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from app.validation import graph as walks

NODES = [f"n{i}" for i in range(9)]


@st.composite
def digraphs(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = NODES[:draw(st.integers(1, len(NODES)))]
    edges = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=20))
    return nodes, edges


def _both(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[nx.DiGraph, dict[str, dict[str, None]]]:
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g, walks.adjacency(nodes, edges)


@given(digraphs())
def test_descendants_and_paths_are_networkx_s(graph: tuple[list[str], list[tuple[str, str]]]) -> None:
    g, adj = _both(*graph)
    for a in g:
        assert walks.descendants(adj, a) - {a} == nx.descendants(g, a)
        for b in g:
            assert walks.has_path(adj, a, b) == nx.has_path(g, a, b)


@given(digraphs())
def test_strongly_connected_components_are_networkx_s(graph: tuple[list[str], list[tuple[str, str]]]) -> None:
    g, adj = _both(*graph)
    ours = sorted(sorted(c) for c in walks.strongly_connected_components(adj))
    assert ours == sorted(sorted(c) for c in nx.strongly_connected_components(g))


@given(digraphs())
def test_immediate_dominators_are_networkx_s(graph: tuple[list[str], list[tuple[str, str]]]) -> None:
    g, adj = _both(*graph)
    root = graph[0][0]
    theirs = {n: d for n, d in nx.immediate_dominators(g, root).items() if n != root}  # < 3.5 maps root to root
    assert walks.immediate_dominators(adj, root) == theirs


def test_a_long_chain_does_not_recurse() -> None:
    nodes = [f"s{i}" for i in range(20_000)]
    adj = walks.adjacency(nodes, zip(nodes, nodes[1:]))
    assert len(walks.descendants(adj, "s0")) == 19_999
    assert walks.immediate_dominators(adj, "s0")["s19999"] == "s19998"
    assert sum(1 for _ in walks.strongly_connected_components(adj)) == 20_000
