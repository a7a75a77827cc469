"""Layered layout of lineage graphs: columns by longest path, rows by barycenter, edges that never
pass through a node.

Data flows left to right: a dataset's column is its longest path from a source (Sugiyama's
layering, ``layers``). Within a column, items are ordered by the mean position of their upstream
neighbours (one barycenter sweep, ``by_barycenter``), which keeps most edges short. ``layout`` draws
a graph in swimlanes: an edge spanning several columns gets a reserved slot in each column it passes
(a "dummy node" of the layered method), in its source's lane, so it runs through that empty slot;
between two columns an edge is a cubic curve whose control points stay in the gap between them, and
no node is in a gap, so no edge can cross a node. The catalog's pages and the demo report use it.

>>> layers(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
{'a': 0, 'b': 1, 'c': 2}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NODE_W, NODE_H, SLOT_H, GAP_X, GAP_Y, LANE_W, PAD = 190, 40, 10, 70, 12, 120, 14


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


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def middle(self) -> float:
        return self.y + self.h / 2


@dataclass
class Layout:
    """Where everything goes: node boxes, lanes ``(name, y, height)``, edge paths, the drawing's size."""

    nodes: dict[str, Box] = field(default_factory=dict)
    lanes: list[tuple[str, float, float]] = field(default_factory=list)
    #: ``(source, target, points)``: the edge leaves ``points[0]``, crosses each gap between consecutive
    #: points whose x differ by a gap, and runs straight through reserved slots.
    edges: list[tuple[str, str, list[tuple[float, float]]]] = field(default_factory=list)
    width: float = 0
    height: float = 0

    def path(self, points: list[tuple[float, float]]) -> str:
        """SVG path data: straight through slots, a curve that stays inside each gap between columns."""
        (x, y), parts = points[0], [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
        for nx, ny in points[1:]:
            if ny == y:
                parts.append(f"L{nx:.1f},{ny:.1f}")
            else:
                bend = (nx - x) / 2
                parts.append(f"C{x + bend:.1f},{y:.1f} {nx - bend:.1f},{ny:.1f} {nx:.1f},{ny:.1f}")
            x, y = nx, ny
        return " ".join(parts)


def layout(
    nodes: list[str], edges: list[tuple[str, str]], lane_of: dict[str, str], lanes: list[str]
) -> Layout:
    """Lay out ``nodes`` (ids) and ``edges`` (pairs of ids) in ``lanes`` (top to bottom), each node in ``lane_of[id]``."""
    edges = list(dict.fromkeys((s, t) for s, t in edges if s != t and s in lane_of and t in lane_of))
    column = layers(nodes, edges)
    cells: dict[tuple[str, int], list[str]] = defaultdict(
        list
    )  # items: node ids and ("slot", edge, col) keys
    slots: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        cells[(lane_of[node], column[node])].append(node)
    for source, target in edges:
        passing = []
        for col in range(column[source] + 1, column[target]):
            key = f"\0slot:{source}\0{target}\0{col}"
            cells[(lane_of[source], col)].append(key)
            passing.append(key)
        slots[(source, target)] = passing
    upstream: dict[str, list[str]] = defaultdict(list)
    for (source, target), passing in slots.items():
        chain = [source, *passing, target]
        for a, b in zip(chain, chain[1:], strict=False):
            upstream[b].append(a)

    def height(item: str) -> float:
        return SLOT_H if item.startswith("\0slot:") else NODE_H

    def x_of(col: int) -> float:
        return LANE_W + PAD + col * (NODE_W + GAP_X)

    result, boxes, y = Layout(), {}, 0.0
    last_column = max(column.values(), default=0)
    for lane in lanes:
        lane_cells = {col: cells[(lane, col)] for col in range(last_column + 1) if cells.get((lane, col))}
        if not lane_cells:
            continue
        tallest = 0.0
        for col in sorted(lane_cells):
            items = lane_cells[col]
            items.sort(key=lambda i: (_mean_y(i, upstream, boxes), i))
            cursor = y + PAD
            for item in items:
                boxes[item] = Box(x_of(col), cursor, NODE_W, height(item))
                cursor += height(item) + GAP_Y
            tallest = max(tallest, cursor - GAP_Y - y - PAD)
        lane_height = tallest + 2 * PAD
        result.lanes.append((lane, y, lane_height))
        y += lane_height + 6
    result.nodes = {n: boxes[n] for n in nodes}
    for (source, target), passing in slots.items():
        start, end = boxes[source], boxes[target]
        points = [(start.x + start.w, start.middle)]
        for key in passing:
            slot = boxes[key]
            points += [(slot.x, slot.middle), (slot.x + slot.w, slot.middle)]
        points.append((end.x, end.middle))
        result.edges.append((source, target, points))
    result.width = x_of(last_column) + NODE_W + PAD
    result.height = max(y - 6, 0)
    return result


def _mean_y(item: str, upstream: dict[str, list[str]], boxes: dict[str, Box]) -> float:
    ys = [boxes[u].middle for u in upstream.get(item, []) if u in boxes]
    return sum(ys) / len(ys) if ys else float("inf")
