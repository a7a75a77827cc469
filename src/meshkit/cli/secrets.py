"""``meshkit secrets``: set, get, list and delete the secrets of a job or of the workspace.

Values never reach the shell history unless typed on the command line: ``set KEY`` prompts for
the value with hidden input, and ``get`` masks it unless ``--reveal`` is given.
"""

from __future__ import annotations

import json

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.properties import check_set_usage, read_json_object
from meshkit.cli.remote import RemoteJob, refuse_reveal, with_remote_options
from meshkit.cli.tables import fitting_table
from meshkit.core.config import SECRET_MASK
from meshkit.core.errors import UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.job.properties import scope_label

job_option = click.option(
    "--job", default="", metavar="NAME", help="A job's secrets (default: the workspace's)."
)


def _missing(key: str, job: str) -> UserError:
    return UserError(
        f"No secret `{key}` in {scope_label(job)}.", hint="List them with `meshkit secrets list`."
    )


@click.group("secrets")
def secrets_group() -> None:
    """Secrets of data jobs: credentials read at run time, never printed in logs or errors.

    A job reads them with job_input.get_secret(...); specs refer to them as secret:NAME. Without
    --job, the commands act on the workspace's secrets.
    """


@secrets_group.command("set")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option(
    "--from-json", type=click.Path(exists=True, dir_okay=False), help="Set every key of a JSON object file."
)
@click.option(
    "--replace", is_flag=True, help="With --from-json: also delete the secrets the file does not hold."
)
@job_option
@with_remote_options
@pass_meshkit
def set_secret(mk, key, value, from_json, replace, job, remote, team, url) -> None:
    """Set secret KEY; without VALUE, prompt for it with hidden input (keeps it out of shell history)."""
    from meshkit.job.secrets import secrets_backend

    check_set_usage(key, value, from_json, value_required=False)
    if from_json:
        # NOTE: secrets are strings; other JSON values are kept as their JSON text.
        loaded = read_json_object(from_json, "secrets")
        updates = {k: v if isinstance(v, str) else json.dumps(v) for k, v in loaded.items()}
    else:
        if value is None:
            value = click.prompt(f"Value of secret {key}", hide_input=True, err=True)
        updates = {key: value}
    for secret in updates.values():
        mk.redactor.add(secret)
    if remote:
        service = RemoteJob(mk, job, team, url)
        for name in set(service.secret_names()) - set(updates) if replace else ():
            service.delete_secret(name)
        for name, secret in updates.items():
            service.set_secret(name, secret)
        console.print(f"Set {len(updates)} secret{'' if len(updates) == 1 else 's'} of deployed job `{job}`.")
        return
    backend = secrets_backend(mk)
    values = {} if replace else backend.get_all(job)
    values.update(updates)
    backend.set_all(job, values)
    console.print(f"Set {len(updates)} secret{'' if len(updates) == 1 else 's'} of {scope_label(job)}.")


@secrets_group.command("get")
@click.argument("key")
@click.option("--reveal", is_flag=True, help="Print the value instead of a mask.")
@job_option
@with_remote_options
@pass_meshkit
def get_secret(mk, key, reveal, job, remote, team, url) -> None:
    """Show whether secret KEY is set (its value with --reveal)."""
    from meshkit.job.secrets import secrets_backend

    if remote:
        if reveal:
            raise refuse_reveal()
        if key not in RemoteJob(mk, job, team, url).secret_names():
            raise _missing(key, job)
        click.echo(SECRET_MASK)
        return
    value = secrets_backend(mk).get(job, key)
    if value is None:
        raise _missing(key, job)
    click.echo(value if reveal else SECRET_MASK)


@secrets_group.command("list")
@job_option
@with_remote_options
@pass_meshkit
def list_secrets(mk, job, remote, team, url) -> None:
    """List the names of the secrets (never their values)."""
    from meshkit.job.secrets import secrets_backend

    names = sorted(
        RemoteJob(mk, job, team, url).secret_names() if remote else secrets_backend(mk).get_all(job)
    )
    if not names:
        console.print(f"No secrets in {scope_label(job)}.")
        return
    console.print(f"Secrets of {scope_label(job)} (names only):")
    table = fitting_table("name")
    for name in names:
        table.add_row(name)
    console.print(table)


@secrets_group.command("delete")
@click.argument("key")
@job_option
@with_remote_options
@pass_meshkit
def delete_secret(mk, key, job, remote, team, url) -> None:
    """Delete secret KEY."""
    from meshkit.job.secrets import secrets_backend

    if remote:
        service = RemoteJob(mk, job, team, url)
        if key not in service.secret_names():
            raise _missing(key, job)
        service.delete_secret(key)
        console.print(f"Deleted secret `{key}` of deployed job `{job}`.")
        return
    backend = secrets_backend(mk)
    values = backend.get_all(job)
    if key not in values:
        raise _missing(key, job)
    del values[key]
    backend.set_all(job, values)
    console.print(f"Deleted secret `{key}` of {scope_label(job)}.")


@hookimpl
def register_commands(cli):
    cli.add_command(secrets_group)
