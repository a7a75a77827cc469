"""``meshkit store``: what the workspace's stores hold."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core.hookspecs import hookimpl


@click.group("store")
def store_group() -> None:
    """The stores of meshkit.toml and the default ones (warehouse, files)."""


@store_group.command("list")
@pass_meshkit
def list_command(mk) -> None:
    """List the stores this workspace can name, with their type."""
    table = fitting_table("store", "type", "declared in", short=("type",))
    for name in mk.store_names():
        declared = name in mk.store_settings
        kind = mk.store(name).type
        table.add_row(escape(name), escape(str(kind)), "meshkit.toml" if declared else "default")
    console.print(table)


@store_group.command("assets")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print the names as a JSON list.")
@pass_meshkit
def assets_command(mk, store: str, as_json: bool) -> None:
    """List the assets (tables, files) in STORE."""
    names = sorted(mk.store(store).list_assets())
    if as_json:
        click.echo(json.dumps(names))
        return
    if not names:
        console.print(f"Store `{escape(store)}` holds no assets yet.")
        return
    for name in names:
        console.print(escape(name))


@hookimpl
def register_commands(cli):
    cli.add_command(store_group)
