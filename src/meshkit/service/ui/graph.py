"""Draw a pipeline run for the web pages: the lineage pages' layered layout (no edge through a node),
each node coloured by its status and a link to its run.

>>> svg = render_run_graph({"nodes": [
...     {"name": "load", "kind": "transfer", "target": "cities", "depends_on": [], "status": "succeeded",
...      "run_id": "r1", "attempts": 1},
...     {"name": "build", "kind": "build", "target": "all", "depends_on": ["load"], "status": "running",
...      "run_id": "r2", "attempts": 1}]})
>>> svg.count('class="node'), svg.count('class="edge'), 'href="/ui/runs/r2"' in svg
(2, 1, True)
"""

from __future__ import annotations

from html import escape
from typing import Any

from meshkit.catalog.layout import LANE_W, PAD, layout
from meshkit.pipelines.svg import COLOURS, OFF

LANE = "pipeline"
EDGE, EDGE_DONE = "#cbd5e1", "#64748b"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_run_graph(graph: dict[str, Any], link: str = "/ui/runs/{}") -> str:
    """An SVG of ``graph`` (:func:`meshkit.pipelines.runner.run_graph` or a spec's graph without statuses).

    A node with a ``run_id`` links to ``link`` formatted with it; an edge out of a succeeded node is drawn dark.
    """
    nodes = {n["name"]: n for n in graph["nodes"]}
    edges = [(dep, name) for name, n in nodes.items() for dep in n["depends_on"] if dep in nodes]
    placed = layout(list(nodes), edges, dict.fromkeys(nodes, LANE), [LANE])
    # NOTE: the layout keeps a band on the left for lane titles; a pipeline has one lane and no title
    shift = LANE_W
    width, height = placed.width - shift, max(placed.height, 2 * PAD)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pipeline-graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{shift} 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif" font-size="12" role="img" '
        f'aria-label="pipeline {escape(str(graph.get("name") or ""))}">',
        "<defs>" + "".join(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>'
            for kind, color in (("wait", EDGE), ("done", EDGE_DONE))) + "</defs>",
    ]  # fmt: skip
    for source, target, points in placed.edges:
        kind, color = ("done", EDGE_DONE) if nodes[source].get("status") == "succeeded" else ("wait", EDGE)
        out.append(f'<path class="edge {kind}" data-source="{escape(source)}" data-target="{escape(target)}" '
                   f'd="{placed.path(points)}" fill="none" stroke="{color}" stroke-width="1.6" '
                   f'marker-end="url(#arrow-{kind})"/>')  # fmt: skip
    for name, box in placed.nodes.items():
        node = nodes[name]
        status = node.get("status") or "none"
        fill, ink = COLOURS.get(status, OFF)
        attempts = node.get("attempts") or 0
        state = ("not run" if status == "none" else status.replace("_", " ")) + (
            f" · try {attempts}" if attempts > 1 else ""
        )
        does = f"{node['kind']} {node['target']}"
        tip = f"{name}: {state} · {does}" + (f"\n{node['error']}" if node.get("error") else "")
        drawn = (f'<g class="node status-{escape(status)}" data-node="{escape(name)}" data-status="{escape(status)}">'
                 f"<title>{escape(tip)}</title>"
                 f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="7" '
                 f'fill="{fill}" stroke="{ink}" stroke-width="1.3"/>'
                 f'<text x="{box.x + 10:.0f}" y="{box.y + 16:.0f}" fill="{ink}" font-weight="600">{escape(_clip(name, 26))}</text>'
                 f'<text x="{box.x + 10:.0f}" y="{box.y + 31:.0f}" fill="{ink}" font-size="11">'
                 f'{escape(_clip(f"{state} · {does}", 28))}</text></g>')  # fmt: skip
        if node.get("run_id"):
            drawn = f'<a href="{escape(link.format(node["run_id"]))}">{drawn}</a>'
        out.append(drawn)
    out.append("</svg>")
    return "\n".join(out)


def legend() -> str:
    """The node colours, as HTML beside a drawing."""
    shown = [("not run", OFF), ("submitted", COLOURS["submitted"]), ("running", COLOURS["running"]),
             ("succeeded", COLOURS["succeeded"]), ("failed", COLOURS["user_error"])]  # fmt: skip
    return '<p class="legend">' + " ".join(
        f'<svg width="22" height="12"><rect x="1" y="1" width="20" height="10" rx="3" fill="{fill}" stroke="{ink}"/>'
        f"</svg>{label}"
        for label, (fill, ink) in shown
    ) + "</p>"  # fmt: skip
