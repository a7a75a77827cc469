"""``meshkit catalog``: search datasets and products, show one, draw its lineage."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.tree import Tree

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core.errors import UserError
from meshkit.core.hookspecs import hookimpl


@click.group("catalog")
def catalog_group() -> None:
    """The catalog: datasets, products, quality and lineage, filled by every run."""


@catalog_group.command("search")
@click.argument("text", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True)
@pass_meshkit
def search_command(mk, text, as_json) -> None:
    """Find datasets and products by name, description, column or tag (every word must match)."""
    from meshkit.catalog.catalog import Catalog

    hits = Catalog(mk).search(" ".join(text))
    if as_json:
        click.echo(json.dumps([h.__dict__ for h in hits], indent=2))
        return
    if not hits:
        raise UserError(
            f"Nothing in the catalog matches `{' '.join(text)}`.", hint="Try fewer or shorter words."
        )
    view = fitting_table("kind", "name", "matched", "description")
    for hit in hits:
        view.add_row(hit.kind, hit.name, "; ".join(hit.matched), hit.description or "")
    console.print(view)


@catalog_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_meshkit
def show_command(mk, name, as_json) -> None:
    """Describe a dataset: owner, tags, columns with their tags, latest quality, neighbours."""
    from meshkit.catalog.catalog import Catalog

    catalog = Catalog(mk)
    dataset = catalog.find(name)
    graph = catalog.lineage(dataset.id, depth=1)
    if as_json:
        data = {**dataset.as_dict(), "classified": dataset.classified}
        data["upstream"], data["downstream"] = graph.upstream(), graph.downstream()
        data["quality"] = [{**q, "at": q["at"].isoformat()} for q in catalog.quality(dataset.id)]
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console.print(
        f"[bold]{dataset.id}[/]" + (f"  (product {dataset.product})" if dataset.product else ""),
        highlight=False,
    )
    for label, value in (("description", dataset.description), ("owner", dataset.owner), ("domain", dataset.domain),
                         ("residency", dataset.residency), ("tags", ", ".join(dataset.tags)),
                         ("classification", dataset.classification), ("rows (last write)", dataset.rows),
                         ("updated", dataset.updated_at)):  # fmt: skip
        if value not in (None, ""):
            console.print(f"  {label}: {value}", highlight=False)
    view = fitting_table("column", "type", "classification / tags", "description")
    for column in dataset.columns:
        view.add_row(column.name, column.type or "", ", ".join(column.all_tags), column.description or "")
    console.print(view)
    if inherited := [f"    {c.name}: {label}" for c in dataset.columns for label in c.inherited_labels]:
        console.print("  tags inherited through lineage:", *inherited, sep="\n", soft_wrap=True)
    results = catalog.quality(dataset.id, limit=10)
    if results:
        passed = sum(r["passed"] for r in results)
        console.print(f"  latest checks: {passed}/{len(results)} passed")
    console.print(f"  upstream: {', '.join(graph.upstream()) or '-'}", highlight=False)
    console.print(f"  downstream: {', '.join(graph.downstream()) or '-'}", highlight=False)


@catalog_group.command("lineage")
@click.argument("name")
@click.option("--depth", type=int, default=10, show_default=True)
@click.option("--columns", is_flag=True, help="Also list column-level edges.")
@click.option(
    "--svg", "svg_path", type=click.Path(dir_okay=False), help="Write the graph as SVG to this file."
)
@pass_meshkit
def lineage_command(mk, name, depth, columns, svg_path) -> None:
    """Upstream and downstream datasets of NAME, as trees (and optionally an SVG graph)."""
    from meshkit.catalog.catalog import Catalog
    from meshkit.catalog.svg import render_svg

    catalog = Catalog(mk)
    graph = catalog.lineage(name if "/" in name else catalog.find(name).id, depth=depth)
    for title, direction in (
        ("upstream", lambda e: (e.target, e.source)),
        ("downstream", lambda e: (e.source, e.target)),
    ):
        tree = Tree(f"[bold]{graph.focus}[/] {title}")
        _grow(tree, graph.focus, graph, direction, {graph.focus})
        console.print(tree)
    if columns:
        view = fitting_table("source", "column", "target", "column", "transformation")
        for e in graph.edges:
            if e.source_column:
                view.add_row(e.source, e.source_column, e.target, e.target_column, e.transformation or "")
        console.print(view)
    if svg_path:
        Path(svg_path).write_text(render_svg(graph))
        console.print(f"Wrote {svg_path}")


def _grow(tree: Tree, node: str, graph, direction, seen: set[str]) -> None:
    for edge in graph.table_edges:
        origin, other = direction(edge)
        if origin == node:
            branch = tree.add(other + (" (cycle)" if other in seen else ""))
            if other not in seen:
                _grow(branch, other, graph, direction, seen | {other})


@hookimpl
def register_commands(cli):
    cli.add_command(catalog_group)
