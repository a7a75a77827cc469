"""``meshkit properties``: set, get, list and delete the properties of a job or of the workspace."""

from __future__ import annotations

import json
from typing import Any

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.remote import RemoteJob, with_remote_options
from meshkit.cli.tables import fitting_table
from meshkit.core.errors import UserError
from meshkit.core.files import read_text
from meshkit.core.hookspecs import hookimpl
from meshkit.job.properties import properties_backend, scope_label

job_option = click.option(
    "--job", default="", metavar="NAME", help="A job's properties (default: the workspace's)."
)


def read_json_object(path: str, what: str) -> dict[str, Any]:
    """The JSON object in file ``path``; a UserError naming the file otherwise."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(
            f"Invalid JSON: {exc.msg}.", where=f"{path}:{exc.lineno}", hint="Fix the file."
        ) from None
    if not isinstance(data, dict):
        raise UserError(
            f"The file must hold a JSON object of {what}, not a {type(data).__name__}.", where=path
        )
    return data


def check_set_usage(
    key: str | None, value: str | None, from_json: str | None, value_required: bool = True
) -> None:
    """``set KEY VALUE`` or ``set --from-json FILE``, not both."""
    if from_json and (key or value):
        raise click.UsageError("Give either KEY VALUE or --from-json FILE, not both.")
    if not from_json and (not key or (value_required and value is None)):
        raise click.UsageError("Give KEY VALUE, or --from-json FILE.")


def _backend(mk, job: str, remote: bool, team: str | None, url: str | None):
    return RemoteJob(mk, job, team, url) if remote else properties_backend(mk)


def show_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@click.group("properties")
def properties_group() -> None:
    """Properties of data jobs: small state and settings kept between runs.

    A job reads them with job_input.get_property(...). Without --job, the commands act on the
    workspace's properties, which every job sees.
    """


@properties_group.command("set")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option(
    "--from-json", type=click.Path(exists=True, dir_okay=False), help="Set every key of a JSON object file."
)
@click.option(
    "--replace", is_flag=True, help="With --from-json: also delete the properties the file does not hold."
)
@job_option
@with_remote_options
@pass_meshkit
def set_property(mk, key, value, from_json, replace, job, remote, team, url) -> None:
    """Set property KEY to VALUE (a string), or many from a JSON file."""
    check_set_usage(key, value, from_json)
    backend = _backend(mk, job, remote, team, url)
    updates = read_json_object(from_json, "properties") if from_json else {key: value}
    values = {} if replace else backend.get_all(job)
    values.update(updates)
    backend.set_all(job, values)
    console.print(f"Set {len(updates)} propert{'y' if len(updates) == 1 else 'ies'} of {scope_label(job)}.")


@properties_group.command("get")
@click.argument("key")
@job_option
@with_remote_options
@pass_meshkit
def get_property(mk, key, job, remote, team, url) -> None:
    """Print the value of property KEY."""
    values = _backend(mk, job, remote, team, url).get_all(job)
    if key not in values:
        raise UserError(
            f"No property `{key}` in {scope_label(job)}.", hint="List them with `meshkit properties list`."
        )
    click.echo(show_value(values[key]))


@properties_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@job_option
@with_remote_options
@pass_meshkit
def list_properties(mk, as_json, job, remote, team, url) -> None:
    """List properties and their values."""
    values = _backend(mk, job, remote, team, url).get_all(job)
    if as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    if not values:
        console.print(f"No properties in {scope_label(job)}.")
        return
    console.print(f"Properties of {scope_label(job)}:")
    table = fitting_table("key", "value")
    for name in sorted(values):
        table.add_row(name, show_value(values[name]))
    console.print(table)


@properties_group.command("delete")
@click.argument("key")
@job_option
@with_remote_options
@pass_meshkit
def delete_property(mk, key, job, remote, team, url) -> None:
    """Delete property KEY."""
    backend = _backend(mk, job, remote, team, url)
    values = backend.get_all(job)
    if key not in values:
        raise UserError(
            f"No property `{key}` in {scope_label(job)}.", hint="List them with `meshkit properties list`."
        )
    del values[key]
    backend.set_all(job, values)
    console.print(f"Deleted property `{key}` of {scope_label(job)}.")


@hookimpl
def register_commands(cli):
    cli.add_command(properties_group)
