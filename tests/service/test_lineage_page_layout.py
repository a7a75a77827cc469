"""The lineage layout: columns by longest path, lanes by domain, and no edge through a node."""

from __future__ import annotations

import random

import pytest

from meshkit.catalog.layout import layout


def _bezier(p0, p1, p2, p3, steps=40):
    for i in range(steps + 1):
        t = i / steps
        yield tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d
                    for a, b, c, d in zip(p0, p1, p2, p3, strict=True))  # fmt: skip


def _points(points):
    """Points along the drawn edge: straight through slots, a curve across each gap."""
    for (x, y), (nx, ny) in zip(points, points[1:], strict=False):
        if ny == y:
            yield from ((x + (nx - x) * i / 20, y) for i in range(21))
        else:
            bend = (nx - x) / 2
            yield from _bezier((x, y), (x + bend, y), (nx - bend, ny), (nx, ny))


def _crossings(placed):
    for source, target, points in placed.edges:
        for px, py in _points(points):
            for name, box in placed.nodes.items():
                inside = box.x + 1 < px < box.x + box.w - 1 and box.y + 1 < py < box.y + box.h - 1
                if inside:
                    yield (source, target, name)


def test_a_long_edge_goes_around_the_nodes_in_between():
    nodes = ["a", "b", "c", "d"]
    placed = layout(nodes, [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")], dict.fromkeys(nodes, "x"), ["x"])
    xs = [placed.nodes[n].x for n in nodes]
    assert xs == sorted(xs) and len(set(xs)) == 4  # one column each, left to right
    assert not list(_crossings(placed))


def test_lanes_stack_domains_and_keep_their_nodes():
    lanes = {"s": "sources", "a": "orders", "b": "orders", "c": "supply"}
    placed = layout(
        list(lanes), [("s", "a"), ("a", "b"), ("s", "c"), ("c", "b")], lanes, ["orders", "supply", "sources"]
    )
    assert [name for name, _, _ in placed.lanes] == ["orders", "supply", "sources"]
    for name, y, height in placed.lanes:
        for node, lane in lanes.items():
            if lane == name:
                box = placed.nodes[node]
                assert y <= box.y and box.y + box.h <= y + height


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_have_no_edge_through_a_node(seed):
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(rng.randint(4, 18))]
    edges = {(a, b) for a in nodes for b in nodes if nodes.index(a) < nodes.index(b) and rng.random() < 0.18}
    lane_names = ["one", "two", "three"]
    lanes = {n: rng.choice(lane_names) for n in nodes}
    placed = layout(nodes, sorted(edges), lanes, lane_names)
    assert len(placed.edges) == len(edges)
    assert not list(_crossings(placed))
    boxes = list(placed.nodes.values())
    for i, a in enumerate(boxes):  # and no two nodes overlap
        for b in boxes[i + 1 :]:
            assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
