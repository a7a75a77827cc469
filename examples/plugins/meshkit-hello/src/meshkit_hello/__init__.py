"""An example meshkit plugin.

- ``meshkit hello [NAME]`` greets, with the greeting from the ``hello_greeting`` config key;
- ``*.csv`` files in a job folder become steps: ``20_customers.csv`` loads the file into the
  table ``customers`` of the job's managed connection (replacing it), in step order.
"""

from __future__ import annotations

import click
import pyarrow.csv

import meshkit
from meshkit.cli.main import console, pass_meshkit
from meshkit.job.steps import StepType


@click.command("hello")
@click.argument("name", default="world")
@pass_meshkit
def hello(mk, name: str) -> None:
    """Greet NAME from the current workspace."""
    console.print(f"{mk.config.get('hello_greeting')}, {name}! (workspace {mk.workspace.name})")


def run_csv_step(context, step) -> None:
    """Load the step's CSV file into the table named after it (without the number prefix)."""
    table_name = step.path.stem.lstrip("0123456789_-") or step.path.stem
    try:
        table = pyarrow.csv.read_csv(step.path)
    except pyarrow.ArrowInvalid as exc:
        raise meshkit.UserError(f"Cannot read {step.name}: {exc}.", where=str(step.path),
                                hint="Check the file is CSV with a header line.") from None  # fmt: skip
    context.job_input.ingest(table, table_name, mode="overwrite")


@meshkit.hookimpl
def configure(config):
    config.add("hello_greeting", "Hello", "What `meshkit hello` says.")


@meshkit.hookimpl
def register_commands(cli):
    cli.add_command(hello)


@meshkit.hookimpl
def register_step_types():
    return [StepType(".csv", run_csv_step)]
