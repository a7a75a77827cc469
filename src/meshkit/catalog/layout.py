"""Layered graph layout for lineage drawings: columns by longest path, rows by barycenter.

A node's column is the length of the longest path reaching it from a source (sources left, sinks
right); within a column, nodes are ordered by the mean rank of their upstream neighbours (one
barycenter sweep), which keeps most edges short and straight. Both the catalog's SVG and the demo
report lay their graphs out with it.

>>> layers(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
{'a': 0, 'b': 1, 'c': 2}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def layers(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """The column of every node: its longest path from a source (a cycle cannot loop forever)."""
    layer = dict.fromkeys(nodes, 0)
    edges = list(edges)
    # NOTE: at most len(nodes) relaxations, so a cycle cannot loop forever.
    for _ in range(len(layer)):
        changed = False
        for source, target in edges:
            if layer[target] < layer[source] + 1 <= len(layer):
                layer[target] = layer[source] + 1
                changed = True
        if not changed:
            break
    return layer


def by_barycenter(
    names: list[str], upstream: Mapping[str, list[str]], rank: Mapping[str, float]
) -> list[str]:
    """``names`` ordered by the mean ``rank`` of their upstream neighbours (unranked ones last, by name)."""

    def center(name: str) -> float:
        ranks = [rank[s] for s in upstream.get(name, []) if s in rank]
        return sum(ranks) / len(ranks) if ranks else float("inf")

    return sorted(names, key=lambda name: (center(name), name))
