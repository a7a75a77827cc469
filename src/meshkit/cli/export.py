"""``meshkit export``: the workspace in the configuration of other systems (Trino)."""

from __future__ import annotations

from pathlib import Path

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.core.hookspecs import hookimpl


@click.group("export")
def export_group() -> None:
    """Export stores and access decisions to other systems."""


@export_group.command("trino")
@click.option("--output", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write catalogs/*.properties and rules.json into.")  # fmt: skip
@pass_meshkit
def trino_command(mk, output: Path) -> None:
    """Trino catalogs for the workspace's stores and file-based access rules computed from the policies.

    Credentials are written as ${ENV:...} references, never as values. Point Trino's
    access-control.properties at rules.json (access-control.name=file, security.config-file=...).
    """
    from meshkit.deploy.trino import export_trino

    exported = export_trino(mk)
    for path in exported.write(output):
        console.print(f"wrote {path}", highlight=False)
    for store, reason in exported.skipped.items():
        console.print(f"[yellow]skipped store `{store}`[/]: {reason}", highlight=False)
    tables = exported.rules["tables"]
    console.print(f"{len(exported.catalogs)} catalog(s), {len(tables)} table rule(s) "
                  f"({sum(1 for t in tables if t['privileges'])} granting SELECT).", highlight=False)  # fmt: skip


@hookimpl
def register_commands(cli):
    cli.add_command(export_group)
