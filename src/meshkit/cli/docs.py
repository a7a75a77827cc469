"""``meshkit docs``: the workspace's documentation site, generated from the catalog, or served."""

from __future__ import annotations

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.core.hookspecs import hookimpl

DEFAULT_OUT = ".meshkit/docs"


@click.group("docs")
def docs_group() -> None:
    """A static site of the workspace: datasets, columns, lineage, products, quality, runs."""


@docs_group.command("generate")
@click.option("--out", type=click.Path(file_okay=False), default=DEFAULT_OUT, show_default=True,
              help="Folder of index.html (relative to the workspace).")  # fmt: skip
@click.option("--project-dir", type=click.Path(file_okay=False),
              help="A dbt project whose manifest.json and catalog.json to write (default: the workspace's models/).")  # fmt: skip
@click.option("--engine", "engine", default=None, metavar="NAME",
              help="The engine whose tables catalog.json describes (default: the workspace's).")  # fmt: skip
@pass_meshkit
def generate_command(mk, out: str, project_dir: str | None, engine: str | None) -> None:
    """Write the site: one self-contained index.html, no script, nothing fetched; and, as ``dbt docs
    generate`` does, the models' manifest.json and catalog.json in their target folder."""
    from meshkit.catalog.docs import write_site
    from meshkit.models import open_project
    from meshkit.models.models import write_docs_artifacts

    project = open_project(mk, project_dir)
    if project.nodes:
        for path in write_docs_artifacts(mk, project, engine):
            console.print(f"Wrote {path}", highlight=False)
    path = write_site(mk, mk.workspace.resolve(out))
    console.print(f"Wrote {path}", highlight=False)


@docs_group.command("serve")
@click.option("--out", type=click.Path(file_okay=False), default=DEFAULT_OUT, show_default=True)
@click.option(
    "--port", type=int, default=8080, show_default=True, help="Port on 127.0.0.1 (0: any free port)."
)
@pass_meshkit
def serve_command(mk, out: str, port: int) -> None:
    """Generate the site, then serve it on 127.0.0.1 until Ctrl-C."""
    import functools
    import http.server

    from meshkit.catalog.docs import write_site

    folder = write_site(mk, mk.workspace.resolve(out)).parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        console.print(
            f"Serving the docs of {mk.workspace.name} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


@hookimpl
def register_commands(cli):
    cli.add_command(docs_group)
