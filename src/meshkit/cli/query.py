"""``meshkit query``: governed SQL over catalog datasets, masked by the policies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core.hookspecs import hookimpl

if TYPE_CHECKING:
    import pyarrow as pa

    from meshkit.governance.decision import Subject


def subject_options(func):
    """``--user``, ``--role``, ``--team`` and ``--purpose``."""
    for option in reversed((
        click.option("--user", "-u", help="Who asks (default: $USER)."),
        click.option("--role", "-r", help="The role the subject acts in (default: the user's in meshkit.toml)."),
        click.option("--team", "-t", help="The subject's team (default: the user's in meshkit.toml)."),
        click.option("--purpose", "-p", help="Why the data is read: a purpose declared in policies/*.json and "
                                              "granted to the role (default: the declared default)."),
    )):  # fmt: skip
        func = option(func)
    return func


def make_subject(mk, user: str | None, role: str | None, team: str | None) -> Subject:
    """The subject of a command: ``user`` (default: $USER), whose role and team default to its
    ``[governance.subjects.USER]`` entry in ``meshkit.toml``."""
    import getpass

    from meshkit.governance.decision import Subject
    from meshkit.governance.governor import Governor

    user = user or getpass.getuser()
    entry = Governor.subjects_of(mk).get(user, {})
    return Subject(user=user, role=role or entry.get("role"), team=team or entry.get("team"))


def render_arrow(table: pa.Table, fmt: str, limit: int) -> None:
    """Print an Arrow table as a rich table, JSON lines or CSV."""
    if fmt == "json":
        for row in table.slice(0, limit).to_pylist():
            click.echo(json.dumps(row, default=str))
        return
    if fmt == "csv":
        import io

        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table.slice(0, limit), buffer)
        click.echo(buffer.getvalue().decode(), nl=False)
        return
    view = fitting_table(*table.column_names, show_lines=False)
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*("∅" if v is None else str(v) for v in row.values()))
    console.print(view)
    more = f", showing {limit}" if table.num_rows > limit else ""
    console.print(f"[dim]{table.num_rows} row(s){more}[/]")


@click.command("query")
@click.argument("sql")
@subject_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.option("--limit", type=int, default=100, show_default=True, help="Rows to print.")
@click.option(
    "--explain", is_flag=True, help="Print the decisions and the rewritten SQL instead of running it."
)
@pass_meshkit
def query_command(mk, sql, user, role, team, purpose, fmt, limit, explain) -> None:
    """Run SQL over catalog datasets as a subject, for a purpose, with every policy applied.

    Denied datasets fail, removed columns do not exist, redacted and digested columns are
    masked, row filters apply. Each decision is written to the audit log.
    """
    from meshkit.governance.query import GovernedSQL

    governed = GovernedSQL(mk)
    plan = governed.plan(sql, make_subject(mk, user, role, team), purpose)
    if explain:
        for decision in plan.decisions:
            console.print(f"[bold]{decision.dataset}[/]: {decision.summary()}", markup=True)
        console.print(plan.sql, markup=False, soft_wrap=True)
        return
    render_arrow(governed.run(plan), fmt, limit)


@hookimpl
def register_commands(cli):
    cli.add_command(query_command)
