"""``meshkit demo``: generate SmartPizza data and run the end-to-end demo."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click

from meshkit.cli.commands import status_text
from meshkit.cli.main import console
from meshkit.cli.tables import fitting_table
from meshkit.core.hookspecs import hookimpl


@click.group()
def demo() -> None:
    """SmartPizza: a pizza chain's data on the data-mesh pattern, end to end."""


@demo.command("generate")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=float,
    help="1 = 200 branches, 40,000 customers, 50,000 pizzas a day; 100 = the seed's daily volume.",
)
@click.option("--days", default=2, show_default=True, type=int, help="Days of orders to generate.")
@click.option("--seed", default=2024, show_default=True, type=int, help="Same seed, same data.")
@click.option("--start", default="2026-11-20", show_default=True, help="First day of orders (YYYY-MM-DD).")
@click.option(
    "--target",
    default="sqlite",
    show_default=True,
    metavar="sqlite|URL",
    help="Operational database: `sqlite` (OUT/operational.db), a sqlite:/// or a postgresql:// URL.",
)
@click.option("--schema", help="PostgreSQL schema for the operational tables (default: the search path).")
@click.option(
    "--out",
    default="smartpizza-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the raw files (and the SQLite database).",
)
def generate_cmd(
    scale: float, days: int, seed: int, start: str, target: str, schema: str | None, out: str
) -> None:
    """Generate SmartPizza data: an operational database and raw order and delivery files."""
    from meshkit.core.errors import ConfigError
    from meshkit.demo.generate import write_demo_data

    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"--start `{start}` is not a date.", hint="Write it as YYYY-MM-DD.") from None
    began = time.perf_counter()
    with console.status("Generating SmartPizza data...") as status:
        result = write_demo_data(out, scale=scale, days=days, seed=seed, start=first, target=target, schema=schema,
                                 progress=lambda what, rows: status.update(f"Wrote {what} ({rows:,} rows)"))  # fmt: skip
    table = fitting_table("table or file", "rows")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"Generated scale {scale:g} ({result.volumes.pizzas_per_day:,} pizzas a day, {days} day(s)) "
                  f"in {time.perf_counter() - began:.1f}s into [bold]{Path(out)}[/]")  # fmt: skip


@demo.command("run")
@click.option(
    "--scale", default=1.0, show_default=True, type=float, help="Data volume (see `demo generate`)."
)
@click.option("--days", default=2, show_default=True, type=int, help="Days of orders.")
@click.option(
    "--workspace",
    "destination",
    default="build/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Fresh folder the demo workspace is copied to (an earlier demo there is replaced).",
)
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, exists=True),
    help="The demo workspace to copy (default: examples/smartpizza of the source checkout).",
)
def run_cmd(scale: float, days: int, destination: str, source: str | None) -> None:
    """Run SmartPizza end to end: data, transfers, jobs, models, checks, products, governed reads."""
    from meshkit.demo.report import write_report
    from meshkit.demo.runner import run_demo

    with console.status("Starting the demo...") as status:
        result = run_demo(destination, scale=scale, days=days, source=source,
                          progress=lambda what: status.update(f"Running {what}..."))  # fmt: skip
        status.update("Writing the report...")
        report = write_report(result)
    render_summary(result, report)
    if not result.ok:
        raise click.exceptions.Exit(1)


def render_summary(result, report: Path) -> None:
    """One screen: every stage with status, rows, checks and time, then the totals."""
    table = fitting_table("stage", "domain", "status", "rows", "checks", "seconds")
    for s in result.stages:
        checks = (
            f"{s.checks_passed}/{s.checks_passed + s.checks_failed}"
            if s.checks_passed + s.checks_failed
            else ""
        )
        table.add_row(f"{s.kind} {s.name}", s.domain or "", status_text(s.status), f"{s.rows:,}" if s.rows else "",
                      checks, f"{s.seconds:.2f}")  # fmt: skip
    console.print(table)
    for s in result.stages:
        if not s.ok:
            console.print(f"[red]{s.kind} {s.name}:[/] {s.detail}", markup=True, highlight=False)
    passed, failed = result.checks
    verdict = "[green]Demo succeeded[/]" if result.ok else "[red]Demo failed[/]"
    console.print(f"{verdict}: {len(result.stages)} stages, {result.runs} runs, {result.rows:,} rows written, "
                  f"{passed}/{passed + failed} checks passed in {result.seconds:.1f}s.")  # fmt: skip
    console.print(f"Report: [bold]{report}[/]  Workspace: {result.workspace}")


@demo.command("serve")
@click.option(
    "--workspace",
    "destination",
    default="build/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="A workspace made by `meshkit demo run`.",
)
@click.option("--port", type=int, help="Port (default: config `service_port`).")
@click.pass_context
def serve_cmd(ctx: click.Context, destination: str, port: int | None) -> None:
    """Deploy the demo's jobs on their schedules and run the control service."""
    from meshkit.cli.service import server_cmd
    from meshkit.demo.deploy import deploy_demo_jobs

    ctx.obj.workspace_path = destination
    table = fitting_table("team", "job", "version", "schedule")
    for row in deploy_demo_jobs(ctx.obj.meshkit):
        table.add_row(row["team"], row["job"], str(row["version"]), row["schedule"] or "on demand")
    console.print(table)
    ctx.invoke(server_cmd, port=port)


@hookimpl
def register_commands(cli):
    cli.add_command(demo)
