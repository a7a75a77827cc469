"""Draw the cross-domain lineage graph as inline SVG: one swimlane per domain, data flowing left to right.

Columns and the order within them come from :mod:`meshkit.catalog.layout` (longest path, barycenter),
within one lane per domain. No script: the SVG is plain markup, with a ``<title>`` per node for a
tooltip.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from meshkit.catalog.layout import by_barycenter, layers
from meshkit.demo.lineage import SOURCES, LineageGraph

NODE_W, NODE_H, GAP_X, GAP_Y, LANE_W, PAD = 178, 40, 52, 14, 118, 16
#: (stroke, fill) per domain; other domains cycle through the extra colours.
DOMAIN_COLORS = {SOURCES: ("#64748b", "#f1f5f9"), "orders": ("#ea580c", "#fff7ed"), "supply": ("#16a34a", "#f0fdf4"),
                 "customer": ("#7c3aed", "#f5f3ff")}  # fmt: skip
EXTRA_COLORS = [("#0284c7", "#f0f9ff"), ("#db2777", "#fdf2f8"), ("#ca8a04", "#fefce8")]
EDGE_COLORS = {"transfer": "#0284c7", "job": "#ea580c", "model": "#7c3aed", "product": "#94a3b8"}


def domain_color(domain: str, index: int = 0) -> tuple[str, str]:
    return DOMAIN_COLORS.get(domain, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def lanes_of(graph: LineageGraph) -> dict[str, str]:
    """The lane of each node: its domain; a source sits in the lane of the domain it feeds most."""
    feeds: dict[str, list[str]] = defaultdict(list)
    for source, target, _via in graph.edges:
        feeds[source].append(graph.nodes[target].domain)
    lane = {}
    for node_id, node in graph.nodes.items():
        targets = [d for d in feeds[node_id] if d != SOURCES]
        lane[node_id] = (
            max(sorted(set(targets)), key=targets.count)
            if node.domain == SOURCES and targets
            else node.domain
        )
    return lane


def layout(
    graph: LineageGraph,
) -> tuple[dict[str, tuple[float, float]], list[tuple[str, float, float]], float, float]:
    """Node positions ``{id: (x, y)}``, lanes ``(domain, y, height)``, and the drawing's width and height."""
    column = layers(graph.nodes, [(source, target) for source, target, _via in graph.edges])
    lane_of = lanes_of(graph)
    upstream = defaultdict(list)
    for source, target, _via in graph.edges:
        upstream[target].append(source)
    positions: dict[str, tuple[float, float]] = {}
    lanes = []
    y = 0.0
    for domain in [d for d in graph.domains if d != SOURCES] + [SOURCES]:
        cells: dict[int, list[str]] = defaultdict(list)
        for node_id in sorted(i for i in graph.nodes if lane_of[i] == domain):
            cells[column[node_id]].append(node_id)
        rows = max((len(v) for v in cells.values()), default=0)
        if not rows:
            continue
        height = rows * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD
        for col in sorted(cells):
            cells[col] = by_barycenter(cells[col], upstream, {n: p[1] for n, p in positions.items()})
            for i, node_id in enumerate(cells[col]):
                positions[node_id] = (LANE_W + PAD + col * (NODE_W + GAP_X), y + PAD + i * (NODE_H + GAP_Y))
        lanes.append((domain, y, height))
        y += height + 6
    width = LANE_W + PAD + (max(column.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X + PAD
    return positions, lanes, width, y - 6


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def render(graph: LineageGraph) -> str:
    """The graph as an ``<svg>`` element (scales to its container's width)."""
    positions, lanes, width, height = layout(graph)
    out = [f'<svg class="lineage" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
           f'aria-label="Lineage across domains" xmlns="http://www.w3.org/2000/svg">',
           "<defs>" + "".join(
               f'<marker id="arrow-{via}" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
               f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="{color}"/></marker>' for via, color in EDGE_COLORS.items())
           + "</defs>"]  # fmt: skip
    for i, (domain, y, h) in enumerate(lanes):
        stroke, fill = domain_color(domain, i)
        out.append(f'<g class="lane" data-domain="{escape(domain)}"><rect x="0" y="{y:.0f}" width="{width:.0f}" '
                   f'height="{h:.0f}" rx="10" fill="{fill}" opacity="0.7"/>'
                   f'<rect x="0" y="{y:.0f}" width="6" height="{h:.0f}" rx="3" fill="{stroke}"/>'
                   f'<text x="20" y="{y + h / 2 + 5:.0f}" class="lane-label" fill="{stroke}">{escape(domain)}</text></g>')  # fmt: skip
    for source, target, via in graph.edges:
        (x1, y1), (x2, y2) = positions[source], positions[target]
        x1, y1, x2, y2 = x1 + NODE_W, y1 + NODE_H / 2, x2 - 2, y2 + NODE_H / 2
        bend = max((x2 - x1) / 2, 30)
        dash = ' stroke-dasharray="5 4"' if via == "product" else ""
        out.append(f'<path class="edge" data-via="{via}" d="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} '
                   f'{x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" fill="none" stroke="{EDGE_COLORS.get(via, "#999")}" '
                   f'stroke-width="1.6" opacity="0.75"{dash} marker-end="url(#arrow-{via})"/>')  # fmt: skip
    colors = {d: domain_color(d, i) for i, (d, _, _) in enumerate(lanes)}
    for node_id, (x, y) in positions.items():
        node = graph.nodes[node_id]
        stroke, _fill = domain_color(node.domain) if node.domain == SOURCES else colors[node.domain]
        dash = ' stroke-dasharray="4 3"' if node.domain == SOURCES else ""
        store = node_id.split("/", 1)[0]
        product = f" · port {node.port} of {node.product}" if node.product else ""
        weight = "2.6" if node.product else "1.2"
        badge = (f'<rect x="{x + NODE_W - 30:.0f}" y="{y - 7:.0f}" width="34" height="14" rx="7" fill="{stroke}"/>'
                 f'<text x="{x + NODE_W - 13:.0f}" y="{y + 3:.0f}" class="badge">port</text>') if node.product else ""  # fmt: skip
        out.append(f'<g class="node" data-dataset="{escape(node_id)}" data-domain="{escape(node.domain)}">'
                   f"<title>{escape(node_id)}{escape(product)}</title>"
                   f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="#fff" '
                   f'stroke="{stroke}" stroke-width="{weight}"{dash}/>'
                   f'<text x="{x + 10:.0f}" y="{y + 17:.0f}" class="node-label">{escape(_short(node.label))}</text>'
                   f'<text x="{x + 10:.0f}" y="{y + 31:.0f}" class="node-store">{escape(store)}</text>{badge}</g>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)
