"""Draw a lineage graph as SVG: one lane per domain, data flowing left to right (``layout.py``).

Edges that publish a product's ports (``publish``, ``product NAME``) are dashed and grey: they
say which product a dataset belongs to, not how rows moved. Every node can be a link, and carries
``data-dataset`` so a page script can show its column lineage.
"""

from __future__ import annotations

from html import escape

from meshkit.catalog.catalog import LineageGraph
from meshkit.catalog.layout import layout

SOURCES = "sources"
LANE_COLORS = [("#4338ca", "#eef2ff"), ("#ea580c", "#fff7ed"), ("#16a34a", "#f0fdf4"), ("#7c3aed", "#f5f3ff"),
               ("#0284c7", "#f0f9ff"), ("#db2777", "#fdf2f8"), ("#ca8a04", "#fefce8")]  # fmt: skip
SOURCE_COLORS = ("#64748b", "#f1f5f9")
FLOW, PUBLISH = "#475569", "#94a3b8"


def is_publish(transformation: str | None) -> bool:
    """An edge recorded by a product publish (``publish`` run, ``product NAME`` edges)."""
    return bool(transformation) and (transformation == "publish" or transformation.startswith("product "))


def _label(name: str, limit: int = 28) -> str:
    """The asset part of ``store/asset``, shortened for the box (the full name is its tooltip and page)."""
    asset = name.split("/", 1)[-1]
    return asset if len(asset) <= limit else asset[: limit - 1] + "…"


def render_svg(graph: LineageGraph, link: str | None = None, domains: dict[str, str] | None = None) -> str:
    """The graph as an SVG document; ``link`` (``/ui/catalog/datasets/{}``) makes nodes links.

    ``domains`` maps the catalog's datasets to their domain (lane); the others, sources outside the
    catalog, are drawn dashed in a ``sources`` lane at the bottom.
    """
    domains = domains or {}
    lane_of = {n: domains.get(n) or SOURCES for n in graph.nodes}
    lanes = sorted({v for v in lane_of.values() if v != SOURCES}) + [SOURCES]
    # NOTE: a pair of datasets linked by a real flow too is drawn as a flow
    flows = {(e.source, e.target) for e in graph.edges if e.source_column or not is_publish(e.transformation)}
    publish = {(e.source, e.target) for e in graph.edges} - flows
    placed = layout(graph.nodes, sorted(flows | publish), lane_of, lanes)
    width, height = placed.width, placed.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12" role="img" '
        f'aria-label="lineage of {escape(graph.focus or "the workspace")}">',
        "<defs>" + "".join(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>'
            for kind, color in (("flow", FLOW), ("publish", PUBLISH))) + "</defs>",
    ]  # fmt: skip
    colors = {}
    for i, (lane, y, h) in enumerate(placed.lanes):
        stroke, fill = SOURCE_COLORS if lane == SOURCES else LANE_COLORS[i % len(LANE_COLORS)]
        colors[lane] = stroke
        out.append(f'<g class="lane" data-domain="{escape(lane)}"><rect x="0" y="{y:.0f}" width="{width:.0f}" '
                   f'height="{h:.0f}" rx="8" fill="{fill}"/><rect x="0" y="{y:.0f}" width="5" height="{h:.0f}" '
                   f'fill="{stroke}"/><text x="14" y="{y + h / 2 + 4:.0f}" fill="{stroke}" font-weight="bold">'
                   f"{escape(lane)}</text></g>")  # fmt: skip
    for source, target, points in placed.edges:
        kind = "publish" if (source, target) in publish else "flow"
        color, dash = (PUBLISH, ' stroke-dasharray="5 4"') if kind == "publish" else (FLOW, "")
        out.append(f'<path class="edge {kind}" data-source="{escape(source)}" data-target="{escape(target)}" '
                   f'd="{placed.path(points)}" fill="none" stroke="{color}" stroke-width="1.5"{dash} '
                   f'marker-end="url(#arrow-{kind})"><title>{escape(source)} → {escape(target)}</title></path>')  # fmt: skip
    for name, box in sorted(placed.nodes.items()):
        focus = name == graph.focus
        stroke = colors.get(lane_of[name], FLOW)
        dash = ' stroke-dasharray="4 3"' if lane_of[name] == SOURCES else ""
        node = (f'<g class="node{" focus" if focus else ""}" data-dataset="{escape(name)}">'
                f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="6" '
                f'fill="{"#fde68a" if focus else "#fff"}" stroke="{stroke}" stroke-width="{2.2 if focus else 1.2}"{dash}/>'
                f'<text x="{box.x + 10:.0f}" y="{box.y + 17:.0f}" font-weight="bold">{escape(_label(name))}</text>'
                f'<text x="{box.x + 10:.0f}" y="{box.y + 31:.0f}" fill="#64748b">{escape(name.split("/", 1)[0])}</text>'
                f"<title>{escape(name)}</title></g>")  # fmt: skip
        if link:
            node = f'<a href="{escape(link.format(name))}">{node}</a>'
        out.append(node)
    out.append("</svg>")
    return "\n".join(out)


def legend() -> str:
    """What the lines mean, as HTML beside a drawing."""
    return (f'<p class="legend"><svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" stroke="{FLOW}" '
            f'stroke-width="2"/></svg> data flow (job, transfer, model) '
            f'<svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" stroke="{PUBLISH}" stroke-width="2" '
            f'stroke-dasharray="5 4"/></svg> published as a product port '
            f'<svg width="34" height="12"><rect x="1" y="1" width="32" height="10" rx="3" fill="#fff" '
            f'stroke="{SOURCE_COLORS[0]}" stroke-dasharray="4 3"/></svg> source outside the catalog</p>')  # fmt: skip
