"""The documentation site of a workspace (``meshkit docs generate``): one self-contained HTML page.

Like ``dbt docs`` for the whole mesh: the lineage drawing with domains as lanes, every dataset with
its columns (descriptions, tags, classification), profile and latest check results, the products
with their contracts, and the recent runs. Styles are the web UI's, inlined; there is no script and
nothing is fetched, so the file can be mailed, attached to a CI run or served as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, select_autoescape

from meshkit.catalog.catalog import Catalog
from meshkit.catalog.svg import legend, render_svg
from meshkit.core import humanize

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

HERE = Path(__file__).parent
STYLE = HERE.parent / "service" / "ui" / "static" / "app.css"


def anchor(name: str) -> str:
    """The in-page id of a dataset or product: ``warehouse/orders`` -> ``d-warehouse-orders``."""
    return "d-" + "".join(c if c.isalnum() else "-" for c in name)


def render_site(mk: Meshkit, runs: int = 30) -> str:
    """The workspace's documentation page as HTML."""
    catalog = Catalog(mk)
    graph = catalog.mesh()
    known = {d.id: d for d in catalog.datasets()}
    names = sorted(set(known) | set(graph.nodes))
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
    env.filters.update(since=humanize.since, duration=humanize.duration, number=humanize.count, anchor=anchor)
    svg = render_svg(graph, link="#{}", domains=catalog.domains()) if graph.nodes else ""
    for name in graph.nodes:  # in-page links: the drawing's hrefs point at the sections below
        svg = svg.replace(f'href="#{name}"', f'href="#{anchor(name)}"')
    datasets = [{"name": n, "dataset": known.get(n), "profile": catalog.profile(n), "quality": catalog.quality(n, limit=10),
                 "upstream": sorted({e.source for e in graph.table_edges if e.target == n}),
                 "downstream": sorted({e.target for e in graph.table_edges if e.source == n})} for n in names]  # fmt: skip
    return env.get_template("docs.html").render(
        workspace=mk.workspace.name,
        style=STYLE.read_text(),
        svg=svg,
        legend=legend(),
        datasets=datasets,
        products=catalog.products(),
        runs=mk.runs.list(limit=runs),
        generated=humanize.since,
    )


def write_site(mk: Meshkit, out: Path) -> Path:
    """Write ``index.html`` into ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(render_site(mk), encoding="utf-8")
    return path
