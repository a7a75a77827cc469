"""Draw a pipeline run as SVG: its nodes in dependency layers (left to right), coloured by status."""

from __future__ import annotations

from html import escape
from typing import Any

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 48, 60, 18, 12
#: Fill and text colour of a node by status (the UI's status badges).
COLOURS = {"succeeded": ("#dcfce7", "#166534"), "running": ("#dbeafe", "#1e40af"), "submitted": ("#fef3c7", "#92400e"),
           "user_error": ("#fee2e2", "#991b1b"), "platform_error": ("#fee2e2", "#991b1b")}  # fmt: skip
OFF = ("#f1f5f9", "#475569")


def render_graph(graph: dict[str, Any]) -> str:
    """An SVG of ``graph`` (:func:`meshkit.pipelines.runner.run_graph`): boxes per node, arrows per dependency."""
    nodes = graph["nodes"]
    by_name = {n["name"]: n for n in nodes}
    layer: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in layer:
            layer[name] = 1 + max((depth(d) for d in by_name[name]["depends_on"] if d in by_name), default=-1)
        return layer[name]

    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(depth(node["name"]), []).append(node["name"])
    where = {}
    for x, names in columns.items():
        for y, name in enumerate(names):
            where[name] = (PAD + x * (NODE_W + GAP_X), PAD + y * (NODE_H + GAP_Y))
    width = PAD * 2 + len(columns) * NODE_W + (len(columns) - 1) * GAP_X
    height = PAD * 2 + max(len(c) for c in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="pipeline-graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>']  # fmt: skip
    for node in nodes:
        x2, y2 = where[node["name"]]
        for dep in node["depends_on"]:
            if dep in where:
                x1, y1 = where[dep]
                parts.append(f'<line x1="{x1 + NODE_W}" y1="{y1 + NODE_H / 2}" x2="{x2 - 2}" y2="{y2 + NODE_H / 2}" '
                             'stroke="#94a3b8" stroke-width="1.5" marker-end="url(#arrow)"/>')  # fmt: skip
    for node in nodes:
        x, y = where[node["name"]]
        fill, ink = COLOURS.get(node["status"], OFF)
        attempts = f" · try {node['attempts']}" if node.get("attempts", 0) > 1 else ""
        label = f"{node['kind']} {node['target']}"
        parts.append(
            f'<g class="node status-{escape(node["status"])}" data-node="{escape(node["name"])}">'
            f"<title>{escape(node['name'])}: {escape(node['status'])}{escape(attempts)}"
            f"{(' - ' + escape(node['error'])) if node.get('error') else ''}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" stroke="{ink}"/>'
            f'<text x="{x + 10}" y="{y + 19}" fill="{ink}" font-weight="600">{escape(node["name"][:24])}</text>'
            f'<text x="{x + 10}" y="{y + 36}" fill="{ink}">{escape(node["status"].replace("_", " ") + attempts)}'
            f' · {escape(label[:18])}</text></g>'
        )  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
