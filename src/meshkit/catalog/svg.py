"""Draw a lineage graph as SVG: datasets in layers from sources (left) to sinks (right), laid out by
:mod:`meshkit.catalog.layout`."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from meshkit.catalog.catalog import LineageGraph
from meshkit.catalog.layout import by_barycenter, layers

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 220, 44, 90, 24, 20


def _order(layer: dict[str, int], edges: list[tuple[str, str]]) -> dict[int, list[str]]:
    columns: dict[int, list[str]] = defaultdict(list)
    for node in sorted(layer):
        columns[layer[node]].append(node)
    upstream = defaultdict(list)
    for source, target in edges:
        upstream[target].append(source)
    for index in sorted(columns)[1:]:
        before = {n: i for i, n in enumerate(columns[index - 1])}
        columns[index] = by_barycenter(columns[index], upstream, before)
    return columns


def _label(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render_svg(graph: LineageGraph, link: str | None = None) -> str:
    """The graph as a standalone SVG document; ``link`` (e.g. ``/catalog/datasets/{}``) makes nodes links."""
    edges = [(e.source, e.target) for e in graph.table_edges]
    layer = layers(graph.nodes, edges)
    columns = _order(layer, edges)
    pos = {}
    for index, names in columns.items():
        for row, name in enumerate(names):
            pos[name] = (PAD + index * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(v) for v in columns.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="12" role="img" aria-label="lineage of {escape(graph.focus)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>',
    ]
    for source, target in edges:
        (x1, y1), (x2, y2) = pos[source], pos[target]
        sx, sy, tx, ty = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        if tx <= sx:  # a back edge (cycle): route around below
            mid = max(y1, y2) + NODE_H + GAP_Y / 2
            path = f"M {sx} {sy} C {sx + 40} {mid}, {tx - 40} {mid}, {tx} {ty}"
        else:
            bend = (tx - sx) / 2
            path = f"M {sx} {sy} C {sx + bend} {sy}, {tx - bend} {ty}, {tx} {ty}"
        out.append(f'<path class="edge" d="{path}" fill="none" stroke="#667" stroke-width="1.5" marker-end="url(#arrow)">'
                   f"<title>{escape(source)} → {escape(target)}</title></path>")  # fmt: skip
    for name, (x, y) in sorted(pos.items()):
        focus = name == graph.focus
        fill, stroke = ("#fde68a", "#b45309") if focus else ("#e0e7ff", "#4338ca")
        node = (f'<g class="node{" focus" if focus else ""}"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" '
                f'rx="6" fill="{fill}" stroke="{stroke}"/><text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" '
                f'text-anchor="middle">{escape(_label(name))}</text><title>{escape(name)}</title></g>')  # fmt: skip
        if link:
            node = f'<a href="{escape(link.format(name))}">{node}</a>'
        out.append(node)
    out.append("</svg>")
    return "\n".join(out)
